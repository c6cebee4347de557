package persample

import "testing"

// TestEinsumRule: Einsum weights in the attention and linear patterns
// (weight first or second, a weight letter contracted with the data, one
// kept in the output, a weight reached through Transpose) against batch-1
// backward passes in float64; an Einsum whose weight letter is summed in
// the weight alone takes the fallback with that reason.
func TestEinsumRule(t *testing.T) {
	b := newModel(12, -1, 3, 4)
	eq := func(e string, ins ...string) string { return b.op("Einsum", at("equation", astr(e)), ins...) }
	q := eq("btd,hed->bhte", "x", b.param("wq", 0.6, true, 2, 3, 4))
	k := eq("hed,btd->bhte", b.param("wk", 0.6, true, 2, 3, 4), "x")
	a := b.op("Softmax", at("axis", ai(-1)), eq("bhqe,bhke->bhqk", q, k))
	o := eq("bhqk,bhke->bhqe", a, q)
	y := eq("bhqe,dhe->bqd", o, b.op("Transpose", at("perm", ais(2, 0, 1)), b.param("wo", 0.6, true, 2, 3, 4)))
	lin := eq("bid,jd->bij", b.op("Tanh", nil, y), b.param("wl", 0.6, true, 2, 4))
	f := b.op("Flatten", nil, lin)
	m := b.output(b.op("Gemm", at("transB", ai(1)), f, b.param("fc", 0.5, true, 3, 6)))
	x := randInput(1, 5*12)
	lab := randLabels(2, 5, 3)
	ref := reference(t, m, x, lab)
	e, err := New(m, Options{Float64: true, Batch: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range e.Params() {
		want := MethodEinsum
		if p.Name == "fc" {
			want = MethodGemm
		}
		if p.Method != want {
			t.Errorf("%s: method %q (%s), want %q", p.Name, p.Method, p.Reason, want)
		}
	}
	req := Request{Full: true, Norms: true, Coords: [][]int{{0, 5, 23}, {1, 15}, {0, 11}, {2, 7}, {3}}}
	res, err := e.Compute(x, lab, req)
	if err != nil {
		t.Fatal(err)
	}
	checkAgainst(t, e.Params(), ref, res, req, 1e-9)

	// a weight letter summed in the weight alone: fallback, still right
	b = newModel(12, -1, 4)
	s := b.op("Einsum", at("equation", astr("bd,dk->bd")), "x", b.param("w", 0.6, true, 4, 2))
	m = b.output(b.op("Gemm", at("transB", ai(1)), s, b.param("fc", 0.5, true, 3, 4)))
	e, err = New(m, Options{Float64: true, Batch: 3})
	if err != nil {
		t.Fatal(err)
	}
	if p := e.Params()[0]; p.Method != MethodFallback || p.Reason == "" {
		t.Errorf("w: method %q (%s), want the fallback", p.Method, p.Reason)
	}
	x = randInput(3, 4*4)
	lab = randLabels(4, 4, 3)
	ref = reference(t, m, x, lab)
	res, err = e.Compute(x, lab, Request{Full: true})
	if err != nil {
		t.Fatal(err)
	}
	checkAgainst(t, e.Params(), ref, res, Request{Full: true}, 1e-9)
}
