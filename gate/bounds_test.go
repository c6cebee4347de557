package gate_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/gate"
	"github.com/gnaudit/gnaudit/internal/approx"
	"github.com/gnaudit/gnaudit/plugins"
	"github.com/gnaudit/gnaudit/plugins/builtin"
	"github.com/gnaudit/gnaudit/plugins/synth"
	"github.com/gnaudit/gnaudit/reports"
)

// countsReport: one layer with k of m non-degenerate passes (plus 5
// degenerate coordinates) at B = 64, and a noise scale tr Σ̂ = b,
// |G|²_u = 1 with SE(|G|²_u) = se (tr Σ̂ exact).
func countsReport(k, m int, b, se float64) *reports.Report {
	ns := &reports.NoiseScale{BSimple: n(b), TraceCovUnbiased: reports.Some(b), GradNormSqUnbiased: reports.Some(1),
		TraceCovSE: reports.Some(0), GradNormSqSE: reports.Some(se)}
	r := reports.New("test", reports.Model{File: "m.onnx"}, reports.Data{Name: "d"}, nil)
	l := reports.Layer{Name: "fc", Parameter: "fc.weight", Kind: "weight", Shape: []int{m + 5}, Size: m + 5, TestedCoordinates: m + 5,
		Gaussianity: []reports.Gaussianity{{BatchSize: 64, Percent: n(100 * float64(k+5) / float64(m+5)), Gaussian: k + 5, Degenerate: 5, Tested: m + 5}},
		NoiseScale:  ns}
	r.Checkpoints = []reports.Checkpoint{{Step: 1, Pool: 6400, Batches: 200, BatchSizes: []int{64}, Layers: []reports.Layer{l},
		NoiseScale: ns}}
	return r
}

func evalOn(t *testing.T, policy string, r *reports.Report) *gate.Result {
	t.Helper()
	p, err := gate.ParsePolicy([]byte(policy), "gates.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res, err := gate.Evaluate(p, r)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestBoundsKnownAnswers: 70 of 100 non-degenerate passes against 80 %:
// exact binomial p = 0.011249 (scipy.stats.binom.cdf(70, 100, 0.8)), a
// single check at α = 0.05 fails, and its Clopper–Pearson upper bound is
// 77.508 % (scipy.stats.beta.ppf(0.95, 71, 30)). Against 75 % it passes
// (p = 0.16). The measured value is the non-degenerate pass rate (70 %,
// not 71.4 % with the degenerate ones). B_simple = 1200/|G|²_u with
// |G|²_u = 1 ± 0.05 against 1000: the lower bound 1200/(1 + 0.05·z) equals
// 1000 at z = 4, p = Φ(−4) = 3.167·10⁻⁵; at α = 0.05 it is
// 1200/(1 + 0.05·1.6449) = 1108.8. With no signal (|G|²_u = −0.02 ± 0.05)
// the lower bound is 1200/(−0.02 + 0.05z), 19 277 at α = 0.05: a gate at 10⁶
// passes (z* = 0.424), one at 100 fails; with |G|²_u = −0.02 ± 0.01 even the
// upper bound of |G|² is below 0 and the gate at 10⁶ fails too.
func TestBoundsKnownAnswers(t *testing.T) {
	res := evalOn(t, "min_gaussianity: [{layer: '*', batch_size: 64, percent: 80}]", countsReport(70, 100, 500, 50))
	c := res.Checks[0]
	if c.Pass || float64(c.Measured) != 70 || c.Level.Float() != 0.05 {
		t.Errorf("70/100 vs 80 %%: %+v", c)
	}
	approx.Abs(t, "70/100 vs 80 %: p (scipy binom.cdf)", c.PValue.Float(), 0.011248978720991624, approx.Reference)
	approx.Abs(t, "70/100 vs 80 %: upper bound (scipy)", c.Bound.Float(), 77.50767756286134, 1e-6)
	if !strings.Contains(c.Message, "upper 95 % bound 77.5077 < 80") {
		t.Errorf("message %q", c.Message)
	}
	if res := evalOn(t, "min_gaussianity: [{layer: '*', batch_size: 64, percent: 75}]", countsReport(70, 100, 500, 50)); !res.Checks[0].Pass {
		t.Errorf("70/100 vs 75 %% failed: %+v", res.Checks[0])
	}
	res = evalOn(t, "max_noise_scale: [{layer: model, value: 1000}]", countsReport(70, 100, 1200, 0.05))
	c = res.Checks[0]
	if c.Pass {
		t.Errorf("B_simple 1200, |G|² = 1 ± 0.05 vs 1000 passed: %+v", c)
	}
	approx.Rel(t, "B_simple 1200, |G|² = 1 ± 0.05 vs 1000: p = Φ(−4)", c.PValue.Float(), 0.5*math.Erfc(4/math.Sqrt2), 1e-6)
	approx.Abs(t, "B_simple 1200, |G|² = 1 ± 0.05 vs 1000: bound", c.Bound.Float(), 1200/(1+0.05*1.6448536269514722), 1e-6)
	for _, tc := range []struct {
		se   float64
		thr  string
		pass bool
	}{{0.05, "1e6", true}, {0.05, "100", false}, {0.01, "1e6", false}} {
		r := countsReport(70, 100, 1200, tc.se)
		ns := r.Checkpoints[0].NoiseScale
		ns.BSimple, ns.GradNormSqUnbiased, ns.NoSignal = n(math.NaN()), reports.Some(-0.02), true
		c := evalOn(t, "max_noise_scale: [{layer: model, value: "+tc.thr+"}]", r).Checks[0]
		if c.Pass != tc.pass || !strings.Contains(c.Message, "no signal") && tc.pass {
			t.Errorf("no signal ± %v vs %s: %+v", tc.se, tc.thr, c)
		}
		if tc.pass {
			approx.Abs(t, "no signal: p = Φ(−0.424)", c.PValue.Float(), 0.5*math.Erfc(0.424/math.Sqrt2), 1e-3) // z* = 0.424 is rounded
		}
	}
	// Point comparison on request: the old behaviour.
	res = evalOn(t, "compare: point\nmin_gaussianity: [{layer: '*', batch_size: 64, percent: 75}]", countsReport(70, 100, 500, 50))
	if res.Checks[0].Pass || res.Checks[0].PValue.Set || !strings.Contains(res.Method, "point") {
		t.Errorf("compare: point: %+v (%s)", res.Checks[0], res.Method)
	}
}

// TestHolmAcrossChecks: two checks with p = 0.011 and 0.028 (40 of 100 vs
// 50 %: binom.cdf(40, 100, 0.5) = 0.02844): Holm compares the smaller with
// 0.025 (fails) and the larger with 0.05 (fails); with correction: none
// both at 0.05.
func TestHolmAcrossChecks(t *testing.T) {
	r := countsReport(70, 100, 500, 50)
	l2 := r.Checkpoints[0].Layers[0]
	l2.Parameter, l2.Name = "fc2.weight", "fc2"
	l2.Gaussianity = []reports.Gaussianity{{BatchSize: 64, Percent: n(45), Gaussian: 45, Degenerate: 5, Tested: 105}}
	r.Checkpoints[0].Layers = append(r.Checkpoints[0].Layers, l2)
	res := evalOn(t, "min_gaussianity: [{layer: fc.weight, batch_size: 64, percent: 80}, {layer: fc2.weight, batch_size: 64, percent: 50}]", r)
	a, b := res.Checks[0], res.Checks[1]
	if a.Level.Float() != 0.025 || b.Level.Float() != 0.05 || a.Pass || b.Pass {
		t.Errorf("Holm: %+v\n%+v", a, b)
	}
	approx.Abs(t, "Holm: p of 40/100 vs 50 % (scipy binom.cdf)", b.PValue.Float(), 0.02844396682049044, approx.Reference)
	if !strings.Contains(res.Method, "Holm") || !strings.Contains(res.Method, "≤ 0.05") {
		t.Errorf("method %q", res.Method)
	}
	var x strings.Builder
	if err := res.WriteJUnit(&x); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(x.String(), `<property name="method" value="confidence bounds`) || !strings.Contains(x.String(), "(Holm), p = ") {
		t.Errorf("JUnit does not say how:\n%s", x.String())
	}
}

// TestJUnitNamesUnique: the two tail-index estimators, and two rules on the
// same layer, give distinct test-case names.
func TestJUnitNamesUnique(t *testing.T) {
	res := eval(t, `
min_tail_index_median:
  - {layer: conv1.weight, batch_size: 128, value: 1.9}
  - {layer: conv1.weight, batch_size: 128, value: 1.92, estimator: mcculloch}
  - {layer: conv1.weight, batch_size: 128, value: 1.5, estimator: mcculloch}`)
	var b strings.Builder
	if err := res.WriteJUnit(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`name="conv1.weight B=128 step 500 (mohammadi)"`, `name="conv1.weight B=128 step 500 (mcculloch)"`, `name="conv1.weight B=128 step 500 (mcculloch) #2"`} {
		if strings.Count(b.String(), want) != 1 {
			t.Errorf("JUnit has %d × %s:\n%s", strings.Count(b.String(), want), want, b.String())
		}
	}
}

// healthyAudit runs normality over a synthetic noise set of 4 layers × 256
// exactly Gaussian coordinates at B = 1…4 (n = 200) and builds the report:
// a healthy run whose true pass rate is the ceiling 95 % everywhere.
func healthyAudit(t testing.TB, seed uint64) *reports.Report {
	var layers []synth.LayerSpec
	for i := 0; i < 4; i++ {
		layers = append(layers, synth.LayerSpec{Name: fmt.Sprintf("l%d", i), Parameter: fmt.Sprintf("l%d.weight", i), Laws: synth.Repeat(256, synth.Gaussian)})
	}
	set, err := synth.Set(synth.Spec{Seed: seed, Pool: 800, Batches: 200, BatchSizes: []int{1, 2, 3, 4}, Layers: layers})
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&plugins.Runner{}).Run(context.Background(), set, []plugins.Candidate{{Analysis: builtin.Normality{}, Origin: "builtin"}})
	if err != nil {
		t.Fatal(err)
	}
	r := reports.New("test", reports.Model{File: "synthetic"}, reports.Data{Name: "synthetic"}, nil)
	r.Checkpoints = []reports.Checkpoint{reports.BuildCheckpoint(set, res, reports.BuildOptions{})}
	return r
}

// healthyPolicy has 16 min_gaussianity checks (4 layers × 4 batch sizes)
// at percent p.
func healthyPolicy(p float64, extra string) string {
	var b strings.Builder
	b.WriteString(extra + "min_gaussianity:\n")
	for _, bs := range []int{1, 2, 3, 4} {
		fmt.Fprintf(&b, "  - {layer: \"*\", batch_size: %d, percent: %g}\n", bs, p)
	}
	return b.String()
}

// TestFalseFailureRate measures the gates' false-failure rate on healthy
// synthetic audits (docs/METHOD.md, "Gates"): 16 Gaussianity checks at the
// threshold 93 % (each point check fails ≈ 5–9 % of healthy runs) and at
// the true rate 95 % (the worst case for a healthy run). Point estimates
// fail most healthy runs; confidence bounds with Holm fail at most α = 5 %.
// The default run uses 8 seeded audits (a smoke test of the pipeline);
// GNAUDIT_GATE_FFR=1 runs 300 (the figures in the docs):
//
//	GNAUDIT_GATE_FFR=1 go test -run FalseFailure -v ./gate
func TestFalseFailureRate(t *testing.T) {
	audits := 8
	if os.Getenv("GNAUDIT_GATE_FFR") != "" {
		audits = 300
	}
	type pol struct {
		name string
		text string
	}
	pols := []pol{
		{"point, 93 %", healthyPolicy(93, "compare: point\n")},
		{"bounds + Holm, 93 %", healthyPolicy(93, "")},
		{"point, 95 % (true rate)", healthyPolicy(95, "compare: point\n")},
		{"bounds + Holm, 95 % (true rate)", healthyPolicy(95, "")},
		{"bounds, no correction, 95 %", healthyPolicy(95, "correction: none\n")},
	}
	fails := make([]int, len(pols))
	var parsed []*gate.Policy
	for _, p := range pols {
		pp, err := gate.ParsePolicy([]byte(p.text), p.name)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, pp)
	}
	for s := 0; s < audits; s++ {
		r := healthyAudit(t, uint64(1000+s))
		for i, p := range parsed {
			res, err := gate.Evaluate(p, r)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Checks) != 16 {
				t.Fatalf("%d checks", len(res.Checks))
			}
			if !res.Passed() {
				fails[i]++
			}
		}
	}
	for i, p := range pols {
		t.Logf("%-32s false-failure rate %d/%d = %.3f", p.name, fails[i], audits, float64(fails[i])/float64(audits))
	}
	rate := func(i int) float64 { return float64(fails[i]) / float64(audits) }
	// Holm at the true rate: ≤ α in expectation (binomial slack for the
	// sample of audits); at 93 % essentially never.
	if rate(3) > 0.05+2.5*math.Sqrt(0.05*0.95/float64(audits))+1.0/float64(audits) || rate(1) > 0.05+1.0/float64(audits) {
		t.Errorf("bounds + Holm false-failure rates %.3f (95 %%), %.3f (93 %%)", rate(3), rate(1))
	}
	if rate(0) < 0.25 || rate(2) < 0.75 {
		t.Errorf("point estimates fail healthy runs only %.3f / %.3f of the time: the test lost its contrast", rate(0), rate(2))
	}
}

// TestFalseFailureRateBinomial is the same measurement on healthy audits
// whose pass counts are drawn from their exact law, Binomial(256, 0.95) per
// check (independent Shapiro–Wilk tests of Gaussian columns), without
// running the tests: 2000 audits by default, 20 000 with GNAUDIT_GATE_FFR=1
// (the precise figures of the docs).
func TestFalseFailureRateBinomial(t *testing.T) {
	audits := 2000
	if os.Getenv("GNAUDIT_GATE_FFR") != "" {
		audits = 20000
	}
	r := rand.New(rand.NewPCG(15, 5))
	rep := healthyAudit(t, 1)
	pols := map[string]*gate.Policy{}
	for _, name := range []string{"point 93", "holm 93", "point 95", "holm 95"} {
		extra := ""
		if strings.HasPrefix(name, "point") {
			extra = "compare: point\n"
		}
		p, err := gate.ParsePolicy([]byte(healthyPolicy(map[bool]float64{true: 93, false: 95}[strings.HasSuffix(name, "93")], extra)), name)
		if err != nil {
			t.Fatal(err)
		}
		pols[name] = p
	}
	fails := map[string]int{}
	cp := &rep.Checkpoints[0]
	for a := 0; a < audits; a++ {
		for li := range cp.Layers {
			for k := range cp.Layers[li].Gaussianity {
				g := &cp.Layers[li].Gaussianity[k]
				pass := 0
				for c := 0; c < 256; c++ {
					if r.Float64() < 0.95 {
						pass++
					}
				}
				g.Gaussian, g.Degenerate, g.Tested = pass, 0, 256
				g.Percent = n(100 * float64(pass) / 256)
				g.NonDegenerate = reports.Some(float64(g.Percent))
			}
		}
		for name, p := range pols {
			res, _ := gate.Evaluate(p, rep)
			if !res.Passed() {
				fails[name]++
			}
		}
	}
	for _, name := range []string{"point 93", "holm 93", "point 95", "holm 95"} {
		t.Logf("%s: false-failure rate %.4f", name, float64(fails[name])/float64(audits))
	}
	if f := float64(fails["holm 95"]) / float64(audits); f > 0.05+2.5*math.Sqrt(0.05*0.95/float64(audits)) {
		t.Errorf("Holm at the true rate: false-failure rate %.4f > 0.05", f)
	}
	if f := float64(fails["point 93"]) / float64(audits); f < 0.5 {
		t.Errorf("point estimates at 93 %%: %.4f, expected 1 − (1 − 0.0933)^16 = 0.79 (scipy binom.cdf(238, 256, 0.95) = 0.0933)", f)
	}
}
