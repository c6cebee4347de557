package graph

import (
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/internal/approx"
)

// maskedAttention is a text model on int64 ids [B, 6]: Embedding, a
// padding mask pad = (ids == 0) or (ids > 6) computed from the ids, scores
// masked by Where(pad, −inf, scores) (torch's masked_fill) and, through
// Cast(bool→float), by Add of a −1e4·pad bias; Softmax, the weighted sum,
// and a mean over the tokens kept (Not(pad) cast to float).
func maskedAttention() *ir.Model {
	b := newModel(13, -1, 6)
	b.m.Inputs[0].Type = ir.Int64
	e := b.op("Gather", nil, b.param("emb", 1, true, 8, 4), "x") // [B, 6, 4]
	pad := b.op("Or", nil, b.op("Equal", nil, "x", b.ints("zero", 0)), b.op("Greater", nil, "x", b.ints("six", 6)))
	pad4 := b.op("Unsqueeze", at("axes", ais(1)), pad) // [B, 1, 6]
	q := b.op("MatMul", nil, e, b.param("wq", 0.6, true, 4, 4))
	sc := b.op("MatMul", nil, q, b.op("Transpose", at("perm", ais(0, 2, 1)), e)) // [B, 6, 6]
	inf := b.paramVals("ninf", []float32{float32(math.Inf(-1))}, false)
	sc = b.op("Where", nil, b.op("Cast", at("to", ai(int64(ir.Bool))), pad4), inf, sc)
	bias := b.op("Mul", nil, b.op("Cast", at("to", ai(int64(ir.Float))), pad4), b.paramVals("big", []float32{-1e4}, false))
	a := b.op("Softmax", at("axis", ai(-1)), b.op("Add", nil, sc, bias))
	o := b.op("MatMul", nil, a, e) // [B, 6, 4]
	keep := b.op("Unsqueeze", at("axes", ais(2)), b.op("Cast", at("to", ai(int64(ir.Float))), b.op("Not", nil, pad)))
	s := b.op("ReduceSum", at("axes", ais(1), "keepdims", ai(0)), b.op("Mul", nil, o, keep))
	cnt := b.op("ReduceSum", at("axes", ais(1), "keepdims", ai(0)), keep)
	return b.output(b.op("Gemm", at("transB", ai(1)), b.op("Div", nil, s, cnt), b.param("fc", 0.5, true, 3, 4)))
}

// maskedRef is an independent float64 forward of maskedAttention.
func maskedRef(net *Net, ids []float64, B int) []float64 {
	emb, wq, fc := net.Param("emb"), net.Param("wq"), net.Param("fc")
	const T, D = 6, 4
	out := make([]float64, 0, 3*B)
	for i := 0; i < B; i++ {
		var e [T][D]float64
		pad := make([]bool, T)
		for t := 0; t < T; t++ {
			id := int(ids[i*T+t])
			pad[t] = id == 0 || id > 6
			copy(e[t][:], emb[id*D:(id+1)*D])
		}
		var pool [D]float64
		kept := 0.0
		for t := 0; t < T; t++ {
			var q [D]float64
			for d := 0; d < D; d++ {
				for c := 0; c < D; c++ {
					q[d] += e[t][c] * wq[c*D+d]
				}
			}
			sc := make([]float64, T)
			mx := math.Inf(-1)
			for u := 0; u < T; u++ {
				if pad[u] {
					sc[u] = math.Inf(-1)
					continue
				}
				for d := 0; d < D; d++ {
					sc[u] += q[d] * e[u][d]
				}
				mx = math.Max(mx, sc[u])
			}
			z := 0.0
			for u := range sc {
				sc[u] = math.Exp(sc[u] - mx)
				z += sc[u]
			}
			if pad[t] {
				continue
			}
			kept++
			for u := range sc {
				for d := 0; d < D; d++ {
					pool[d] += sc[u] / z * e[u][d]
				}
			}
		}
		for c := 0; c < 3; c++ {
			v := 0.0
			for d := 0; d < D; d++ {
				v += fc[c*D+d] * pool[d] / kept
			}
			out = append(out, v)
		}
	}
	return out
}

// TestMaskedAttention: logits against the independent forward, every
// parameter gradient against finite differences (float64), masks not
// differentiated, and the same model refused nowhere at batch > 1.
func TestMaskedAttention(t *testing.T) {
	const B = 3
	net, err := Build(maskedAttention(), Options{Batch: B, Float64: true})
	if err != nil {
		t.Fatal(err)
	}
	ids := []float64{3, 1, 0, 0, 5, 2, 7, 4, 4, 1, 6, 2, 0, 2, 3, 3, 5, 6}
	labels := []int{0, 2, 1}
	z, err := net.Forward(ids)
	if err != nil {
		t.Fatal(err)
	}
	want := maskedRef(net, ids, B)
	for k := range want {
		if !approx.Within(t, fmt.Sprintf("logit %d against the reference", k), z[k], want[k], approx.Float64, approx.Float64) {
			t.FailNow()
		}
	}
	if _, err := net.LossGrad(ids, labels); err != nil {
		t.Fatal(err)
	}
	fdParams(t, net, ids, labels)
}

// fdParams compares every trainable parameter's gradient of the last
// LossGrad(x, labels) with central finite differences of the loss.
func fdParams(t *testing.T, net *Net, x []float64, labels []int) {
	t.Helper()
	const h = 1e-6
	for _, p := range net.Params() {
		if !p.Trainable {
			continue
		}
		g := append([]float64(nil), net.Grad(p.Name)...)
		v := net.Param(p.Name)
		gmax := 0.0
		for _, e := range g {
			gmax = math.Max(gmax, math.Abs(e))
		}
		for c := range v {
			w := append([]float64(nil), v...)
			w[c] += h
			_ = net.SetParam(p.Name, w)
			zp, err := net.Forward(x)
			if err != nil {
				t.Fatal(err)
			}
			w[c] -= 2 * h
			_ = net.SetParam(p.Name, w)
			zm, _ := net.Forward(x)
			_ = net.SetParam(p.Name, v)
			fd := (refLoss(zp, labels, net.Classes()) - refLoss(zm, labels, net.Classes())) / (2 * h)
			// within 1e-6 of the gradient's scale or 1e-4 of the difference
			approx.Abs(t, fmt.Sprintf("%s[%d]: analytic against finite difference", p.Name, c), g[c], fd, math.Max(1e-6*math.Max(1, gmax), 1e-4*math.Abs(fd)))
		}
	}
}

// TestFDWhereData: Where(x > 0, h, h·q) on float data, the mask computed
// from the input: the gradient of each element goes to the branch taken
// (input and parameters against finite differences).
func TestFDWhereData(t *testing.T) {
	for _, c := range []fdCase{
		{"where_greater", 3, func() *ir.Model {
			b := newModel(13, -1, 3, 4)
			h := b.op("Mul", nil, "x", b.param("p", 1, true, 3, 4))
			m := b.op("Greater", nil, "x", b.paramVals("z", []float32{0.1}, false))
			y := b.op("Where", nil, m, h, b.op("Mul", nil, h, b.param("q", 1, true, 4)))
			return b.output(b.op("Gemm", at("transB", ai(1)), b.op("Flatten", nil, y), b.param("w", 0.5, true, 3, 12)))
		}},
		{"where_not_and_lessorequal", 2, func() *ir.Model {
			b := newModel(13, -1, 3, 4)
			h := b.op("Mul", nil, "x", b.param("p", 1, true, 3, 4))
			m := b.op("And", nil, b.op("Not", nil, b.op("LessOrEqual", nil, "x", b.paramVals("lo", []float32{-0.5}, false))),
				b.op("Cast", at("to", ai(int64(ir.Bool))), b.op("Less", nil, h, b.paramVals("hi", []float32{0.8}, false))))
			y := b.op("Where", nil, m, b.param("c", 1, true, 4), h) // a parameter branch broadcast over the batch
			return b.output(b.op("Gemm", at("transB", ai(1)), b.op("Flatten", nil, y), b.param("w", 0.5, true, 3, 12)))
		}},
	} {
		t.Run(c.name, func(t *testing.T) { fdCheck(t, c.build(), c.batch, 12) })
	}
}

// TestMaskRefusals: a mask operand of a fixed, non-uniform shape that
// lines up with the batch is refused; a uniform one (zeros_like) is a
// scalar and builds.
func TestMaskRefusals(t *testing.T) {
	mk := func(vals []int64) *ir.Model {
		b := newModel(13, -1, 4)
		c := b.op("Reshape", nil, b.ints("c", vals...), b.ints("s", 2, 4)) // a build-time constant [2, 4]
		y := b.op("Where", nil, b.op("Greater", nil, "x", b.paramVals("z", []float32{0}, false)), "x", c)
		return b.output(y)
	}
	if _, err := Build(mk([]int64{1, 2, 3, 4, 5, 6, 7, 8}), Options{Batch: 2}); err == nil || !strings.Contains(err.Error(), "lines up with the batch") {
		t.Errorf("non-uniform fixed operand: error %v", err)
	}
	if _, err := Build(mk(make([]int64, 8)), Options{Batch: 2}); err != nil {
		t.Errorf("uniform fixed operand: %v", err)
	}
}

// TestCastMask: Cast of data to bool is x ≠ 0 and to int64 truncates,
// neither differentiated.
func TestCastMask(t *testing.T) {
	b := newModel(13, -1, 4)
	h := b.op("Mul", nil, "x", b.param("p", 1, true, 4))
	cb := b.op("Cast", at("to", ai(int64(ir.Float))), b.op("Cast", at("to", ai(int64(ir.Bool))), h))
	ci := b.op("Cast", at("to", ai(int64(ir.Float))), b.op("Cast", at("to", ai(int64(ir.Int64))), h))
	y := b.op("Add", nil, b.op("Add", nil, cb, ci), h)
	m := b.output(y)
	net, err := Build(m, Options{Batch: 2, Float64: true})
	if err != nil {
		t.Fatal(err)
	}
	p := net.Param("p")
	x := []float64{0, 2.7, -1.5, 0.2, 3, 0, -0.9, 1}
	z, err := net.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range x {
		h := v * p[k%4]
		want := math.Trunc(h) + h
		if h != 0 {
			want++
		}
		approx.Abs(t, fmt.Sprintf("[%d]", k), z[k], want, approx.Float64)
	}
	rng := rand.New(rand.NewSource(1))
	labels := []int{rng.Intn(4), rng.Intn(4)}
	if _, err := net.LossGrad(x, labels); err != nil {
		t.Fatal(err)
	}
	fdParams(t, net, x, labels)
}
