package builtin_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gnaudit/gnaudit/internal/approx"
	"github.com/gnaudit/gnaudit/plugins/builtin"
	"github.com/gnaudit/gnaudit/plugins/synth"
)

func sparseExp(p float64) synth.Law {
	return func(r *rand.Rand) float64 {
		if r.Float64() < p {
			return r.ExpFloat64()
		}
		return 0
	}
}

// TestCalibratedShareAndSpine: a layer of 240 coordinates whose per-sample
// noise is sparse exponential with densities p log-uniform on [0.01, 1]
// (ρ/σ³ from ≈ 2 to ≈ 15), n = 100 mini-batches at B = 16, 64, 256 from a
// pool of 25 600 (disjoint batches). Known answers:
//   - the calibrated predicted pass rate follows the measured Shapiro–Wilk
//     pass rate within 8 points at every B (Monte Carlo SE ≈ 3 points);
//   - the Berry–Esseen "predicted share" is 0 at B = 16 (its structural
//     floor: it would need ρ/σ³ < 1.14 at n = 100) although most
//     coordinates pass;
//   - the paper's quantile spine t_B = Q_{p_B}(ρ/σ³) grows like √B: t_B/√B
//     varies by less than a factor 1.5 while t_B grows more than 2.5×;
//   - the recommended batch size reaches the target by construction.
func TestCalibratedShareAndSpine(t *testing.T) {
	const nc = 240
	laws := make([]synth.Law, nc)
	for c := range laws {
		laws[c] = sparseExp(0.01 * math.Pow(100, float64(c)/(nc-1)))
	}
	bs := []int{16, 64, 256}
	set, err := synth.Set(synth.Spec{Seed: 42, Pool: 25600, Batches: 100, BatchSizes: bs,
		Layers: []synth.LayerSpec{{Name: "sparse", Parameter: "sparse.weight", Laws: laws}}})
	if err != nil {
		t.Fatal(err)
	}
	res := runAll(t, set, nil)
	kb := res[builtin.KurtosisBoundName].Layer("sparse.weight")
	var spines []float64
	for _, b := range bs {
		cal := kb.Number(builtin.KeyCalibratedPercent, b)
		meas := kb.Number(builtin.KeyMeasuredNonDegeneratePercent, b)
		if want := res[builtin.NormalityName].Layer("sparse.weight").Number(builtin.KeyNonDegeneratePercent, b); meas != want {
			t.Fatalf("measured %v, normality says %v", meas, want)
		}
		spine, ratio := kb.Number(builtin.KeySpine, b), kb.Number(builtin.KeySpineOverSqrtB, b)
		t.Logf("B=%d: calibrated %.1f%% (i.i.d. %.1f%%), measured %.1f%%, Berry–Esseen share %.0f%%, spine t_B %.2f, t_B/√B %.3f",
			b, cal, kb.Number(builtin.KeyCalibratedIIDPercent, b), meas, kb.Number(builtin.KeyPredictedPercent, b), spine, ratio)
		approx.Abs(t, fmt.Sprintf("B=%d: calibrated Gaussian %% against the measured one", b), cal, meas, 8)
		if p := kb.Number(builtin.KeyPredictedPercent, b); b == 16 && p != 0 {
			t.Errorf("B=%d: Berry–Esseen predicted share %v, want its structural 0", b, p)
		}
		spines = append(spines, ratio)
		_ = spine
	}
	lo, hi := math.Min(spines[0], math.Min(spines[1], spines[2])), math.Max(spines[0], math.Max(spines[1], spines[2]))
	if hi/lo > 1.5 {
		t.Errorf("t_B/√B varies by %.2f× over B = %v: %v", hi/lo, bs, spines)
	}
	if g := kb.Number(builtin.KeySpine, 256) / kb.Number(builtin.KeySpine, 16); g < 2.5 {
		t.Errorf("spine grows %.2f× from B = 16 to 256, want ≈ 4 (√16)", g)
	}
	rb := int(kb.Number(builtin.KeyRecommendedBatchSize, 0))
	g1, _ := res[builtin.KurtosisBoundName].Layer("sparse.weight").Coord(builtin.KeySkewness, 0)
	g2, _ := res[builtin.KurtosisBoundName].Layer("sparse.weight").Coord(builtin.KeyExcessKurtosis, 0)
	if p := builtin.CalibratedPassRate(g1, g2, rb, 100, 0, 0.05); p < 0.9 {
		t.Errorf("recommended B = %d: pass rate %.3f < target 0.9", rb, p)
	}
	if p := builtin.CalibratedPassRate(g1, g2, rb-1, 100, 0, 0.05); p >= 0.9 {
		t.Errorf("recommended B = %d is not the smallest: B−1 gives %.3f", rb, p)
	}
	t.Logf("recommended batch size for a 90 %% pass rate at n = 100: %d", rb)
}

// TestTailNullShare: n = 200 mini-batches. A Gaussian layer has ≈ 5 % of
// its coordinates below the null 5 % quantile (and a median near 2); a
// layer with 25 % Cauchy coordinates (α = 1) among Gaussian ones keeps a
// Mohammadi median above 1.8 — indistinguishable from the null band by its
// median — while ≈ 25 % + 5 %·75 % = 28.75 % of its coordinates fall below
// the null quantile.
func TestTailNullShare(t *testing.T) {
	laws := append(synth.Repeat(300, synth.Gaussian), synth.Repeat(100, synth.Cauchy)...)
	set, err := synth.Set(synth.Spec{Seed: 5, Pool: 1600, Batches: 200, BatchSizes: []int{8},
		Layers: []synth.LayerSpec{
			{Name: "gauss", Parameter: "gauss.weight", Laws: synth.Repeat(400, synth.Gaussian)},
			{Name: "mix", Parameter: "mix.weight", Laws: laws},
		}})
	if err != nil {
		t.Fatal(err)
	}
	res := runAll(t, set, nil)[builtin.AlphaStableName]
	g, m := res.Layer("gauss.weight"), res.Layer("mix.weight")
	approx.Abs(t, "null Mohammadi 5 % quantile", g.Number(builtin.KeyNullMohammadiP05, 0), 1.50, 0.04)
	for _, k := range []string{builtin.KeyBelowNullMohammadi, builtin.KeyBelowNullMcCulloch} {
		if s := g.Number(k, 8); s < 2 || s > 9 {
			t.Errorf("Gaussian layer: %s = %.1f%%, want ≈ 5", k, s)
		}
		approx.Abs(t, "mixed layer: "+k, m.Number(k, 8), 28.75, 7)
	}
	if med := m.Number(builtin.KeyAlphaMohammadiMedian, 8); med < 1.8 {
		t.Errorf("mixed layer median %.2f; the test expects it to look Gaussian", med)
	}
	t.Logf("mixed layer: median α̂ %.2f (Mohammadi), below null 5 %%: %.1f%% / %.1f%%", m.Number(builtin.KeyAlphaMohammadiMedian, 8),
		m.Number(builtin.KeyBelowNullMohammadi, 8), m.Number(builtin.KeyBelowNullMcCulloch, 8))
}
