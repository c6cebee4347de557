package dynamics

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/data"
	"github.com/gnaudit/gnaudit/auditor/dynamics/internal/hessian"
	"github.com/gnaudit/gnaudit/auditor/internal/irtest"
	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/auditor/train"
	"github.com/gnaudit/gnaudit/internal/approx"
)

// softmaxAtMinimum is an ONNX softmax regression (Gemm + cross-entropy)
// on n seeded samples, moved to the minimum of its loss with weight decay
// lambda by full-batch gradient descent.
func softmaxAtMinimum(t testing.TB, d, c, n int, lambda float64) (*ir.Model, data.Dataset) {
	t.Helper()
	b := irtest.New(13, 1, -1, int64(d))
	w := b.Param("fc.weight", 0.1, true, int64(c), int64(d))
	bias := b.Param("fc.bias", 0.1, true, int64(c))
	m := b.Output(b.Op("Gemm", irtest.Attrs("transB", irtest.Int(1)), "x", w, bias))
	r := rand.New(rand.NewPCG(5, 6))
	pix := make([]float32, n*d)
	lab := make([]int, n)
	for i := 0; i < n; i++ {
		lab[i] = r.IntN(c)
		for j := 0; j < d; j++ {
			pix[i*d+j] = float32(r.NormFloat64() + 0.7*float64((lab[i]+j)%c) - 0.7)
		}
	}
	ds, err := data.New("softmax", data.Shape{C: 1, H: 1, W: d}, pix, lab, c)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := hessian.New(m, ds, nil, hessian.Options{WeightDecay: lambda, Batch: n})
	if err != nil {
		t.Fatal(err)
	}
	theta := obj.Theta()
	g := make([]float64, len(theta))
	for it := 0; it < 3000; it++ {
		if _, err := obj.Grad(theta, g); err != nil {
			t.Fatal(err)
		}
		for i := range theta {
			theta[i] -= 1.0 * g[i]
		}
	}
	if gn := math.Sqrt(dotv(g, g)); gn > 1e-6 {
		t.Fatalf("gradient descent did not reach the minimum: |∇L| = %.3g", gn)
	}
	var ps []train.Param
	for name, v := range obj.Split(theta) {
		ps = append(ps, train.Param{Name: name, Value: v})
	}
	if m, err = train.WithParams(m, ps); err != nil {
		t.Fatal(err)
	}
	return m, ds
}

func dotv(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// The known-answer test of the issue: on the softmax regression at its
// minimum the stationary FDR ratio is 1 and the per-mode variances tend to
// the linear model's as η → 0.
func TestSoftmaxRegressionStationary(t *testing.T) {
	const lambda = 0.01
	m, ds := softmaxAtMinimum(t, 4, 3, 200, lambda)
	cfg := Config{LR: 0.1, LR2: 0.025, Momentum: 0.9, Batch: 16, WeightDecay: lambda, Steps: 10000, Burn: 2000, Blocks: 20,
		SGD: true, K: 3, Probes: 20, Float64: true, Seed: 3}
	res, err := Run(context.Background(), m, ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Complete || len(res.Chains) != 3 {
		t.Fatalf("complete %v, %d chains", res.Complete, len(res.Chains))
	}
	if res.Static.GradNorm > 1e-4 || res.Static.Symmetry > 1e-6 {
		t.Errorf("at the minimum: |∇L| = %.3g, HVP asymmetry %.3g", res.Static.GradNorm, res.Static.Symmetry)
	}
	worst := map[string]float64{}
	for _, ch := range res.Chains {
		if ch.Diverged != "" {
			t.Fatalf("chain %s diverged: %s", ch.Name, ch.Diverged)
		}
		approx.Abs(t, fmt.Sprintf("chain %s (η %g, μ %g): FDR ratio (4 SE + 0.01)", ch.Name, ch.LR, ch.Momentum), ch.FDR.Est, 1, 4*ch.FDR.SE+0.01)
		if ch.FDR.SE > 0.1 {
			t.Errorf("chain %s (η %g, μ %g): FDR ratio %v, SE above 0.1", ch.Name, ch.LR, ch.Momentum, ch.FDR)
		}
		t.Logf("chain %s: lag-1 antisymmetry %v, predicted %.4g", ch.Name, ch.Lag1Antisym, ch.Lag1AntisymPred)
		approx.Abs(t, fmt.Sprintf("chain %s: lag-1 antisymmetry against its prediction (4 SE + 0.01)", ch.Name), ch.Lag1Antisym.Est, ch.Lag1AntisymPred, 4*ch.Lag1Antisym.SE+0.01)
		for j, md := range ch.Modes {
			d := math.Abs(md.RatioExact.Est - 1)
			approx.Abs(t, fmt.Sprintf("chain %s mode %d: mode FDR (4 SE + 0.05)", ch.Name, j), md.FDR.Est, 1, 4*md.FDR.SE+0.05)
			t.Logf("chain %s η=%g μ=%g mode %d h=%.4g: FDR %v, Var/exact %v, Var/small-η %v, Var_v/exact %.3f", ch.Name, ch.LR, ch.Momentum, j, md.H,
				md.FDR, md.RatioExact, md.RatioSmall, md.VarV.Est/float64(md.PredVarV))
			worst[ch.Name] = math.Max(worst[ch.Name], d-3*md.RatioExact.SE)
		}
	}
	// the anharmonic error shrinks with η: within 10 % (beyond 3 SE) at η = 0.05
	if worst["lr2"] > 0.1 {
		t.Errorf("η = 0.05: worst per-mode Var/exact beyond 3 SE off by %.3f", worst["lr2"])
	}
	if res.Trace == nil {
		t.Errorf("no trace law")
	} else {
		approx.Abs(t, fmt.Sprintf("trace law ratio %+v (4 SE + 0.15)", res.Trace), res.Trace.Ratio.Est, 1, 4*res.Trace.Ratio.SE+0.15)
	}
	if res.SGD == nil || res.SGD.Skipped != "" || len(res.SGD.Ratios) != 3 {
		t.Fatalf("momentum vs SGD: %+v", res.SGD)
	}
	for j, r := range res.SGD.Ratios {
		approx.Abs(t, fmt.Sprintf("mode %d: Var_mom/Var_SGD %v against its prediction (4 SE + 0.1)", j, r), r.Est, float64(res.SGD.Predicted[j]), 4*r.SE+0.1)
	}
	// the gate figures of the new keys: momentum vs SGD against its
	// prediction, the commutator with its jackknife SE, the mode ratios
	g := res.Gates
	if v := g.MomentumSGDWorst; !(v.SE > 0) {
		t.Errorf("momentum_sgd_worst %v: SE not positive", v)
	} else {
		approx.Abs(t, "momentum_sgd_worst (4 SE + 0.1)", v.Est, 1, 4*v.SE+0.1)
	}
	if v := g.Commutator; !(v.SE > 0) || v.Est != res.Static.Alignment.Commutator || float64(res.Static.Alignment.CommutatorSE) != v.SE {
		t.Errorf("commutator %v (static %+v)", v, res.Static.Alignment)
	}
	if v := g.ModeRatioWorst; !(v.SE > 0) || math.IsNaN(g.ModeRatioSmallWorst.Est) || math.IsNaN(g.ModeRatioIsoWorst.Est) {
		t.Errorf("mode ratio gates %v %v %v", v, g.ModeRatioSmallWorst, g.ModeRatioIsoWorst)
	}
	if _, err := json.Marshal(res); err != nil {
		t.Errorf("json: %v", err)
	}
	t.Logf("gates %+v", res.Gates)
}

// A cancelled run returns what it measured, marked incomplete, with gate
// keys that say "not measured" (null in JSON) rather than zeros.
func TestCancelledRunIsPartial(t *testing.T) {
	m, ds := softmaxAtMinimum(t, 3, 3, 60, 0.01)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cfg := Defaults()
	cfg.Batch, cfg.Steps, cfg.K, cfg.Probes = 8, 100, 2, 2
	res, err := Run(ctx, m, ds, cfg)
	if err == nil || res == nil || res.Complete {
		t.Fatalf("err %v, result %v", err, res)
	}
	if len(res.Static.Eigen) != 2 || !math.IsNaN(res.Gates.FDRRatio.Est) {
		t.Errorf("partial: %d eigenpairs, FDR gate %v", len(res.Static.Eigen), res.Gates.FDRRatio)
	}
	b, err := json.Marshal(res)
	if err != nil || !strings.Contains(string(b), `"fdr_ratio":{"value":null`) {
		t.Errorf("json %v: %.300s", err, b)
	}
	if md := Markdown(res); !strings.Contains(md, "PARTIAL") {
		t.Errorf("markdown lacks the partial banner")
	}
}
