package dynamics

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/gnaudit/gnaudit/auditor/dynamics/internal/hessian"
	"github.com/gnaudit/gnaudit/auditor/dynamics/internal/linear"
	"github.com/gnaudit/gnaudit/internal/approx"
)

// analyse on a trace of the exact linear model (H diagonal, C not): every
// per-mode figure and the lag-1 antisymmetry match the theory.
func TestAnalyseLinearTrace(t *testing.T) {
	h := []float64{4, 2, 1}
	c := mat.NewSymDense(3, []float64{2, 1.2, 0.6, 1.2, 1.5, 0.5, 0.6, 0.5, 1})
	p := linear.Params{LR: 0.1, Momentum: 0.5, Batch: 2}
	var ch mat.Cholesky
	ch.Factorize(c)
	var l mat.TriDense
	ch.LTo(&l)
	r := rand.New(rand.NewPCG(7, 7))
	const burn, steps = 2000, 400000
	tr := &trace{P: make([][]float64, 3), Q: make([][]float64, 3)}
	x, v, e := make([]float64, 3), make([]float64, 3), make([]float64, 3)
	for s := 0; s < burn+steps; s++ {
		for i := range e {
			e[i] = r.NormFloat64()
		}
		g := make([]float64, 3)
		xg, vv := 0.0, 0.0
		for i := 0; i < 3; i++ {
			xi := 0.0
			for j := 0; j <= i; j++ {
				xi += l.At(i, j) * e[j]
			}
			g[i] = h[i]*x[i] + xi/math.Sqrt(float64(p.Batch))
			xg += x[i] * g[i]
		}
		if s >= burn {
			for i := 0; i < 3; i++ {
				tr.P[i] = append(tr.P[i], x[i])
				tr.Q[i] = append(tr.Q[i], v[i])
			}
		}
		for i := 0; i < 3; i++ {
			v[i] = p.Momentum*v[i] - p.LR*g[i]
			x[i] += v[i]
			vv += v[i] * v[i]
		}
		if s >= burn {
			tr.XG = append(tr.XG, xg)
			tr.VV = append(tr.VV, vv)
			tr.Loss = append(tr.Loss, 0)
		}
	}
	cfg := Config{Batch: p.Batch, Blocks: 20, Burn: burn}
	got, err := analyse(chainSpec{Name: "main", LR: p.LR, Momentum: p.Momentum}, p, cfg, tr, h, &hessian.Noise{Cov: c}, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	within := func(name string, v Value, want, tol float64) {
		t.Helper()
		approx.Abs(t, name+" (4 SE + tol)", v.Est, want, 4*v.SE+tol)
	}
	within("FDR", got.FDR, 1, 0.005)
	for j, md := range got.Modes {
		within("mode FDR", md.FDR, 1, 0.01)
		within("Var/exact", md.RatioExact, 1, 0.01)
		within("detrended Var/exact", md.RatioDetrended, 1, 0.01)
		within("Var_v/exact", Value{Est: md.VarV.Est / float64(md.PredVarV), SE: md.VarV.SE / float64(md.PredVarV)}, 1, 0.01)
		if md.RatioExact.SE > 0.05 {
			t.Errorf("mode %d: SE %.3g too large for the test", j, md.RatioExact.SE)
		}
	}
	if got.Lag1AntisymPred < 0.02 {
		t.Fatalf("predicted antisymmetry %.3g: the test needs a clearly non-commuting case", got.Lag1AntisymPred)
	}
	within("lag-1 antisymmetry", got.Lag1Antisym, got.Lag1AntisymPred, 0.005)

	// a valley drifting along mode 0 inflates its variance, not the detrended one
	sd := math.Sqrt(float64(got.Modes[0].PredExact))
	n := float64(len(tr.P[0]))
	for i := range tr.P[0] {
		tr.P[0][i] += 10 * sd * float64(i) / n
	}
	drifted, err := analyse(chainSpec{Name: "main", LR: p.LR, Momentum: p.Momentum}, p, cfg, tr, h, &hessian.Noise{Cov: c}, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	md := drifted.Modes[0]
	if md.RatioExact.Est < 5 {
		t.Errorf("drifting mode: Var/exact %v, want ≥ 5", md.RatioExact)
	}
	approx.Abs(t, "drift of the drifting mode (added 10 sd)", md.Drift, 10*sd, 0.1*sd)
	within("detrended Var/exact of the drifting mode", md.RatioDetrended, 1, 0.01)
}
