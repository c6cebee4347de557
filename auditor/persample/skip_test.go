package persample

import (
	"fmt"
	"math/rand"
	"slices"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/graph"
	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/internal/approx"
)

// skipTol is the float32 tolerance of the skip path against the executor's
// batch gradient, relative to each tensor's largest value: Σ_i g_i summed
// in float64 from float32 per-sample products against the executor's
// float32 weight-gradient GEMM over all samples and positions (the
// differences seen are below 1e-6; 1e-5 leaves room for other BLAS
// kernels and orders).
const skipTol = 1e-5

// TestSkipMatchesNoSkip checks that passes which leave out the executor's
// batch weight gradient (graph.Net.LossGradSkip, skip.go) give the same
// loss, logits, coordinates, |g_i|², Σ_i g_i and whole gradients as the
// engine without it: float64 to 1e-12 of each tensor's scale, float32 to
// skipTol. The inputs span three passes of Batch plus an odd chunk (the
// second net), and every request is computed twice so that the skip path
// runs (it is learnt on the first pass of a request shape); the direct
// products in both layouts (mmExp.full and mmExp.fullT).
func TestSkipMatchesNoSkip(t *testing.T) {
	models := []struct {
		name     string
		m        func() *ir.Model
		wantSkip []string
	}{
		{"cnn", cnnModel, []string{"conv1.W", "conv2.W", "conv3.W"}},
		{"conv 3x3 pad 1 + bn", func() *ir.Model {
			return convCaseModel(convCase{c: 3, h: 7, w: 5, m: 4, kh: 3, kw: 3, attrs: at("pads", ais(1, 1, 1, 1)), bn: true})
		}, []string{"conv.W"}},
		{"conv stride 2 bias", func() *ir.Model {
			return convCaseModel(convCase{c: 2, h: 9, w: 8, m: 3, kh: 5, kw: 3, attrs: at("strides", ais(2, 2), "pads", ais(2, 1, 1, 0)), bias: true})
		}, []string{"conv.W"}},
		{"conv1d", conv1dModel, []string{"c.W"}},
		{"shared conv weight", sharedConvModel, nil},
		{"gemm only", tiedModel, nil},
		{"resnet20", func() *ir.Model { return zooModel(t, "resnet20") }, nil},
	}
	for _, md := range models {
		m := md.m()
		for _, mode := range []struct{ f64, trans bool }{{true, false}, {true, true}, {false, false}, {false, true}} {
			f64 := mode.f64
			tol := approx.Float64
			if !f64 {
				tol = skipTol
			}
			t.Run(fmt.Sprintf("%s/float64=%v/transposed=%v", md.name, f64, mode.trans), func(t *testing.T) {
				defer func(v bool) { transposeDirect = v }(transposeDirect)
				transposeDirect = mode.trans
				batch := 4
				ref := newSkipEngine(t, m, f64, batch, true)
				e := newSkipEngine(t, m, f64, batch, false)
				n := 3*batch + 3
				per := prod(e.InputShape())
				x, y := randInput(11, n*per), randLabels(12, n, e.Classes())
				r := rand.New(rand.NewSource(3))
				many, few := make([][]int, len(e.Params())), make([][]int, len(e.Params()))
				for k, p := range e.Params() {
					many[k] = randomCoords(r, p.Size, p.Size/2+1)
					few[k] = randomCoords(r, p.Size, 2)
				}
				for _, rq := range []struct {
					name string
					req  Request
				}{
					{"norms+many coords", Request{Norms: true, Coords: many}},
					{"norms+few coords", Request{Norms: true, Coords: few}},
					{"norms+full", Request{Norms: true, Full: true, Coords: few}},
				} {
					want, err := ref.Compute(x, y, rq.req)
					if err != nil {
						t.Fatal(err)
					}
					var first *Result
					for pass := 0; pass < 2; pass++ {
						got, err := e.Compute(x, y, rq.req)
						if err != nil {
							t.Fatal(err)
						}
						if pass == 0 {
							first = got
						} else {
							// the pass that learns the skip already sums
							// those parameters itself: the same numbers
							for k, p := range e.Params() {
								if !slices.Equal(got.Params[k].Sum, first.Params[k].Sum) || !slices.Equal(got.Params[k].SqNorm, first.Params[k].SqNorm) {
									t.Errorf("%s: %s: sums or norms of the skipped pass differ from the first pass's", rq.name, p.Name)
								}
							}
						}
						what := fmt.Sprintf("%s pass %d", rq.name, pass)
						if skipped := len(e.main.SkippedGrads()) > 0; pass == 1 && rq.req.Full && skipped != (md.wantSkip != nil || md.name == "resnet20") {
							t.Errorf("%s: the executor left out gradients: %v", what, skipped)
						}
						compareResults(t, what, e.Params(), got, want, tol)
					}
					if st := e.skips[e.main]; md.name != "resnet20" && rq.name == "norms+full" {
						var names []string
						for k := range st.ks {
							names = append(names, e.plans[k].info.Name)
						}
						slices.Sort(names)
						if !slices.Equal(names, md.wantSkip) {
							t.Errorf("%s: skipped %v, want %v", rq.name, names, md.wantSkip)
						}
					}
				}
				// another odd chunk replaces the second net: its record goes
				if _, err := e.Compute(x[:(batch+2)*per], y[:batch+2], Request{Norms: true}); err != nil {
					t.Fatal(err)
				}
				for n := range e.skips {
					if n != e.main && n != e.other {
						t.Errorf("a skip record of a replaced net is kept")
					}
				}
				if md.name == "resnet20" {
					// every convolution weight is computed directly for the
					// collector's request: all 21 are skipped
					if st := e.skips[e.main]; st == nil || len(st.ks) == 0 {
						t.Errorf("resnet20: nothing skipped")
					}
				}
			})
		}
	}
}

// sharedConvModel: one weight read by two convolutions (its batch gradient
// is a sum over both: never skipped).
func sharedConvModel() *ir.Model {
	b := newModel(13, -1, 3, 6, 6)
	w := b.param("shared.W", 0.3, true, 3, 3, 3, 3)
	h := b.op("Conv", at("pads", ais(1, 1, 1, 1)), "x", w)
	h = b.op("Relu", nil, h)
	h = b.op("Conv", at("pads", ais(1, 1, 1, 1)), h, w)
	h = b.op("Flatten", at("axis", ai(1)), h)
	return b.output(b.op("Gemm", at("transB", ai(1)), h, b.param("fc.W", 0.3, true, 4, 108)))
}

func newSkipEngine(t *testing.T, m *ir.Model, f64 bool, batch int, off bool) *Engine {
	t.Helper()
	defer func(v bool) { noSkip = v }(noSkip)
	noSkip = off
	e, err := New(m, Options{Float64: f64, Batch: batch, Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	e.noSkip = off
	return e
}

// compareResults compares every output of got with want.
func compareResults(t *testing.T, what string, params []ParamInfo, got, want *Result, tol float64) {
	t.Helper()
	approx.Rel(t, what+" loss", got.Loss, want.Loss, tol)
	approx.Slice(t, what+" logits", got.Logits, want.Logits, scaled(want.Logits, tol), 0)
	for k, p := range params {
		g, w := got.Params[k], want.Params[k]
		approx.Slice(t, what+" "+p.Name+" coordinates", g.Coords, w.Coords, scaled(w.Coords, tol), 0)
		approx.Slice(t, what+" "+p.Name+" squared norms", g.SqNorm, w.SqNorm, scaled(w.SqNorm, tol), 0)
		approx.Slice(t, what+" "+p.Name+" sums", g.Sum, w.Sum, scaled(w.Sum, tol), 0)
		if len(w.Full64) > 0 {
			approx.Slice(t, what+" "+p.Name+" full", g.Full64, w.Full64, scaled(w.Full64, tol), 0)
		}
		if len(w.Full32) > 0 {
			gf, wf := make([]float64, len(g.Full32)), make([]float64, len(w.Full32))
			for j := range gf {
				gf[j] = float64(g.Full32[j])
			}
			for j := range wf {
				wf[j] = float64(w.Full32[j])
			}
			approx.Slice(t, what+" "+p.Name+" full", gf, wf, scaled(wf, tol), 0)
		}
	}
}

// TestSkipLeavesLossGradUnchanged checks that after skipped passes the
// executor's own gradient (what fine-tuning reads through LossGrad and
// Grad) is bit for bit that of a fresh executor, and that a skipped pass
// does not hand out the left-out gradients.
func TestSkipLeavesLossGradUnchanged(t *testing.T) {
	for _, f64 := range []bool{true, false} {
		t.Run(fmt.Sprintf("float64=%v", f64), func(t *testing.T) {
			m := cnnModel()
			const batch = 4
			e := newSkipEngine(t, m, f64, batch, false)
			per := prod(e.InputShape())
			x, y := randInput(21, batch*per), randLabels(22, batch, e.Classes())
			req := Request{Norms: true, Full: true}
			for pass := 0; pass < 2; pass++ {
				if _, err := e.Compute(x, y, req); err != nil {
					t.Fatal(err)
				}
			}
			skipped := e.main.SkippedGrads()
			if len(skipped) == 0 {
				t.Fatal("the second pass skipped nothing")
			}
			for _, p := range skipped {
				if g := e.main.Grad(p); g != nil {
					t.Errorf("%s: Grad after a skipped pass = %d values, want nil", p, len(g))
				}
				if v := e.main.GradView(p); v != nil {
					t.Errorf("%s: GradView after a skipped pass is not nil", p)
				}
			}
			fresh, err := graph.Build(m, graph.Options{Batch: batch, Float64: f64})
			if err != nil {
				t.Fatal(err)
			}
			l1, err := e.main.LossGrad(x, y)
			if err != nil {
				t.Fatal(err)
			}
			l2, err := fresh.LossGrad(x, y)
			if err != nil {
				t.Fatal(err)
			}
			if l1 != l2 {
				t.Errorf("loss %v, fresh executor %v", l1, l2)
			}
			if s := e.main.SkippedGrads(); len(s) != 0 {
				t.Errorf("LossGrad left out %v", s)
			}
			for _, p := range e.Params() {
				if g, w := e.main.Grad(p.Name), fresh.Grad(p.Name); !slices.Equal(g, w) || len(g) != p.Size {
					t.Errorf("%s: LossGrad's gradient after skipped passes differs from a fresh executor's", p.Name)
				}
			}
		})
	}
}
