package persample

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/internal/approx"
)

// TestMatMulWeightFirst checks the expansion of Y = W·X (weight first, data
// [batch, nb, K, N] second; the executor refuses to batch it) against the
// naive sum g_i[m, k] = Σ_b Σ_n δ_i[b, m, n] X_i[b, k, n].
func TestMatMulWeightFirst(t *testing.T) {
	const B, nb, M, K, N = 3, 2, 4, 5, 3
	r := rand.New(rand.NewSource(1))
	rnd := func(n int) []float64 {
		v := make([]float64, n)
		for k := range v {
			v[k] = r.NormFloat64()
		}
		return v
	}
	X, D := rnd(B*nb*K*N), rnd(B*nb*M*N)
	ps := &pass{batch: B, shapes: map[string][]int{"W": {M, K}},
		vals: map[string]arr{"X": {shape: []int{B, nb, K, N}, v: X}, "W": {shape: []int{M, K}, v: rnd(M * K)}},
		ders: map[string]arr{"Y": {shape: []int{B, nb, M, N}, v: D}}}
	u := &use{node: &ir.Node{Name: "mm", OpType: "MatMul", Inputs: []string{"W", "X"}, Outputs: []string{"Y"}}, slot: 0, input: "W"}
	e, err := newMatMul[float64](ps, u)
	if err != nil {
		t.Fatal(err)
	}
	w := &worker[float64]{}
	for i := 0; i < B; i++ {
		want := make([]float64, M*K)
		for b := 0; b < nb; b++ {
			for m := 0; m < M; m++ {
				for k := 0; k < K; k++ {
					for n := 0; n < N; n++ {
						want[m*K+k] += D[((i*nb+b)*M+m)*N+n] * X[((i*nb+b)*K+k)*N+n]
					}
				}
			}
		}
		e.load(w, i)
		got := make([]float64, M*K)
		e.full(w, got)
		approx.Slice(t, fmt.Sprintf("sample %d", i), got, want, scaled(want, approx.Float64), 0)
		s := 0.0
		for _, v := range want {
			s += v * v
		}
		approx.Rel(t, fmt.Sprintf("sample %d: Gram norm", i), e.gramNorm(w), s, approx.Float64)
		for _, j := range []int{0, 7, M*K - 1} {
			approx.Rel(t, fmt.Sprintf("sample %d coordinate %d", i, j), e.dot(w, j), want[j], approx.Float64)
		}
	}
	// Shape errors are reported, not panics.
	ps.vals["X"] = arr{shape: []int{B, K * N}, v: X[:B*K*N]}
	if _, err := newMatMul[float64](ps, u); err == nil {
		t.Error("2-D data: no error")
	}
}

// TestTransposeMap checks the flat index map of Transpose against a direct
// computation on a 2×3×4 array.
func TestTransposeMap(t *testing.T) {
	s, perm := []int{2, 3, 4}, []int{2, 0, 1}
	m := transposeMap(s, perm)
	for a := 0; a < 2; a++ {
		for b := 0; b < 3; b++ {
			for c := 0; c < 4; c++ {
				in := (a*3+b)*4 + c
				out := (c*2+a)*3 + b // output shape [4, 2, 3]
				if int(m[in]) != out {
					t.Fatalf("element (%d,%d,%d): %d, want %d", a, b, c, m[in], out)
				}
			}
		}
	}
}

func TestBcastMap(t *testing.T) {
	m, step, err := bcastMap([]int{3, 1}, []int{5, 2, 3, 4})
	if err != nil {
		t.Fatal(err)
	}
	if step != 0 || len(m) != 24 || m[0] != 0 || m[3] != 0 || m[4] != 1 || m[11] != 2 || m[12] != 0 || m[23] != 2 {
		t.Errorf("map %v step %d", m, step)
	}
	if _, step, _ := bcastMap([]int{5, 1}, []int{5, 4}); step != 1 {
		t.Errorf("batch-sized operand: step %d, want 1", step)
	}
	if _, _, err := bcastMap([]int{3}, []int{5, 4}); err == nil {
		t.Error("no error for a non-broadcastable shape")
	}
}

// TestConvUsesExecutorColumns checks that Conv weights are expanded on the
// executor's own buffers (its δ and kept column matrix), in float32 and
// float64, so that TestMatchesBatch1Passes and the PyTorch fixtures test
// that path.
func TestConvUsesExecutorColumns(t *testing.T) {
	for _, f64 := range []bool{false, true} {
		e, err := New(handModels[0].m(), Options{Float64: f64, Batch: 3})
		if err != nil {
			t.Fatal(err)
		}
		per := prod(e.InputShape())
		if _, err := e.main.LossGrad(randInput(1, 3*per), randLabels(2, 3, e.Classes())); err != nil {
			t.Fatal(err)
		}
		ps := newPass(e.main, e.shapes)
		convs := 0
		for _, p := range e.plans {
			for _, u := range p.uses {
				if u.method != MethodConv {
					continue
				}
				convs++
				var ok bool
				if f64 {
					_, ok, err = newConvView[float64](ps, u)
				} else {
					_, ok, err = newConvView[float32](ps, u)
				}
				if err != nil || !ok {
					t.Errorf("Float64 %v: %s: no view (%v)", f64, p.info.Name, err)
				}
			}
		}
		if convs == 0 {
			t.Fatal("no convolution in the model")
		}
	}
}

// TestGramsAll checks the batch-wide Gram matrices of a convolution view
// against naiveGram on each sample's patch matrix copied out (Rᵀ_i,
// cols×p), for several patch sizes (p = 4: two rows per sweep, and an odd
// number of rows) and two groups.
func TestGramsAll(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	const B, G, cols = 5, 2, 7
	for _, P := range []int{1, 2, 3, 4, 5, 8} {
		ld := B * P
		colm := make([]float64, G*cols*ld)
		for k := range colm {
			colm[k] = r.NormFloat64()
		}
		e := &mmExp[float64]{groups: G, cols: cols, p: P, ld: ld, colm: colm, g2: make([]float64, B*G*P*P)}
		e.gramsAll(0, 2)
		e.gramsAll(2, B)
		rt := make([]float64, cols*P)
		want := make([]float64, P*P)
		for i := 0; i < B; i++ {
			for g := 0; g < G; g++ {
				for c := 0; c < cols; c++ {
					copy(rt[c*P:(c+1)*P], colm[(g*cols+c)*ld+i*P:])
				}
				naiveGram(P, cols, rt, want)
				got := e.g2[(i*G+g)*P*P:][:P*P]
				for a := 0; a < P; a++ {
					for b := a; b < P; b++ {
						if !approx.Abs(t, fmt.Sprintf("P %d sample %d group %d: G[%d,%d]", P, i, g, a, b), got[a*P+b], want[a*P+b], approx.Float64) {
							t.FailNow()
						}
					}
				}
			}
		}
	}
}

// naiveGram is the reference lᵀl (upper triangle) of row-major l (r×p).
func naiveGram(p, r int, l, c []float64) {
	for a := 0; a < p; a++ {
		for b := a; b < p; b++ {
			s := 0.0
			for k := 0; k < r; k++ {
				s += l[k*p+a] * l[k*p+b]
			}
			c[a*p+b] = s
		}
	}
}

// TestSmallGram checks lᵀl by smallGram (p = 4: gram4) against naiveGram.
func TestSmallGram(t *testing.T) {
	rng := rand.New(rand.NewSource(10))
	for _, dims := range [][2]int{{1, 5}, {3, 7}, {4, 1}, {4, 9}, {4, 256}, {8, 10}} {
		p, r := dims[0], dims[1]
		l := make([]float64, r*p)
		for k := range l {
			l[k] = rng.NormFloat64()
		}
		got, want := make([]float64, p*p), make([]float64, p*p)
		smallGram(p, r, l, got)
		naiveGram(p, r, l, want)
		for a := 0; a < p; a++ {
			for b := a; b < p; b++ {
				approx.Abs(t, fmt.Sprintf("p %d r %d: c[%d,%d]", p, r, a, b), got[a*p+b], want[a*p+b], approx.Float64)
			}
		}
	}
}

// TestSmallGramRows checks r·rᵀ by smallGramRows against the naive sum for
// odd and even row lengths.
func TestSmallGramRows(t *testing.T) {
	rng := rand.New(rand.NewSource(8))
	for _, dims := range [][2]int{{1, 1}, {1, 256}, {3, 7}, {8, 10}} {
		p, n := dims[0], dims[1]
		r := make([]float64, p*n)
		for k := range r {
			r[k] = rng.NormFloat64()
		}
		c := make([]float64, p*p)
		smallGramRows(p, n, r, c)
		for a := 0; a < p; a++ {
			for b := a; b < p; b++ {
				want := 0.0
				for k := 0; k < n; k++ {
					want += r[a*n+k] * r[b*n+k]
				}
				if !approx.Abs(t, fmt.Sprintf("p %d n %d: c[%d,%d]", p, n, a, b), c[a*p+b], want, approx.Float64) {
					t.FailNow()
				}
			}
		}
	}
}

// TestConvViewMatchesIm2row checks the expansion of Conv weights on the
// executor's buffers against the per-sample paths used when the executor
// does not keep the column matrix (Rᵀ_i by im2colSample, and R_i by
// im2row, convIm2rowRef): whole gradients, Gram norms, dot products and row
// products, for every convolution of the hand models (groups, strides,
// padding, 1-D), in float64.
func TestConvViewMatchesIm2row(t *testing.T) {
	for _, ref := range []bool{false, true} {
		convIm2rowRef = ref
		t.Run(fmt.Sprintf("im2row=%v", ref), testConvViewMatchesIm2row)
	}
	convIm2rowRef = false
}

func testConvViewMatchesIm2row(t *testing.T) {
	const B = 3
	convs := 0
	defer func() {
		if convs < 3 {
			t.Errorf("%d convolutions compared, want at least 3", convs)
		}
	}()
	for _, hm := range handModels {
		e, err := New(hm.m(), Options{Float64: true, Batch: B})
		if err != nil {
			t.Fatal(err)
		}
		per := prod(e.InputShape())
		if _, err := e.main.LossGrad(randInput(3, B*per), randLabels(4, B, e.Classes())); err != nil {
			t.Fatal(err)
		}
		ps := newPass(e.main, e.shapes)
		for _, p := range e.plans {
			for _, u := range p.uses {
				if u.method != MethodConv {
					continue
				}
				v, ok, err := newConvView[float64](ps, u)
				if err != nil || !ok {
					t.Fatalf("%s %s: no view (%v)", hm.name, p.info.Name, err)
				}
				c, err := newConvIm2row[float64](ps, u)
				if err != nil {
					t.Fatal(err)
				}
				convs++
				size := v.size()
				coords := []int{0, size / 3, size / 2, size - 1}
				sv, sc := v.newRowSel(coords), c.newRowSel(coords)
				wv, wc := &worker[float64]{}, &worker[float64]{}
				gv, gc := make([]float64, size), make([]float64, size)
				for i := 0; i < B; i++ {
					v.load(wv, i)
					c.load(wc, i)
					v.full(wv, gv)
					c.full(wc, gc)
					approx.Slice(t, fmt.Sprintf("%s %s sample %d: view full gradient against im2row", hm.name, p.info.Name, i), gv, gc, scaled(gc, approx.Float64), 0)
					approx.Within(t, fmt.Sprintf("%s %s sample %d: view Gram norm against im2row", hm.name, p.info.Name, i), v.gramNorm(wv), c.gramNorm(wc), 0, 1e-10)
					rv, rc := make([]float64, len(coords)), make([]float64, len(coords))
					v.selRows(wv, sv, rv)
					c.selRows(wc, sc, rc)
					for q, j := range coords {
						b := c.dot(wc, j)
						what := fmt.Sprintf("%s %s sample %d coordinate %d: ", hm.name, p.info.Name, i, j)
						approx.Within(t, what+"view dot against im2row", v.dot(wv, j), b, approx.Float64, approx.Float64)
						approx.Within(t, what+"view selected row against im2row dot", rv[q], b, approx.Float64, approx.Float64)
						approx.Within(t, what+"im2row selected row against its dot", rc[q], b, approx.Float64, approx.Float64)
					}
				}
			}
		}
	}
}
