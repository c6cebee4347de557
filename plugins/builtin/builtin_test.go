package builtin_test

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/noise"
	"github.com/gnaudit/gnaudit/auditor/stats"
	"github.com/gnaudit/gnaudit/internal/approx"
	"github.com/gnaudit/gnaudit/plugins"
	"github.com/gnaudit/gnaudit/plugins/builtin"
	"github.com/gnaudit/gnaudit/plugins/synth"
)

const nCoords = 400

// testSet: a Gaussian, a Cauchy, a dead (zero) and a Bernoulli(0.02) layer,
// n = 200 mini-batches, B = 8 and 32, disjoint batches (pool 6400).
func testSet(t testing.TB) *noise.Set {
	t.Helper()
	set, err := synth.Set(synth.Spec{
		Seed: 1, Pool: 6400, Batches: 200, BatchSizes: []int{8, 32},
		Layers: []synth.LayerSpec{
			{Name: "gauss", Parameter: "gauss.weight", Laws: synth.Repeat(nCoords, synth.Gaussian)},
			{Name: "cauchy", Parameter: "cauchy.weight", Laws: synth.Repeat(nCoords, synth.Cauchy)},
			{Name: "dead", Parameter: "dead.weight", Laws: synth.Repeat(50, synth.Zero)},
			{Name: "bern", Parameter: "bern.weight", Laws: synth.Repeat(100, synth.Bernoulli(0.02))},
			{Name: "exp", Parameter: "exp.weight", Laws: synth.Repeat(200, synth.Exponential)},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

var cached *noise.Set

func set(t testing.TB) *noise.Set {
	if cached == nil {
		cached = testSet(t)
	}
	return cached
}

func runAll(t *testing.T, s *noise.Set, params map[string]map[string]string) map[string]*plugins.Result {
	t.Helper()
	var cands []plugins.Candidate
	for _, a := range builtin.All() {
		cands = append(cands, plugins.Candidate{Analysis: a, Origin: "builtin"})
	}
	r := &plugins.Runner{Params: params}
	res, err := r.Run(context.Background(), s, cands)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*plugins.Result{}
	for _, x := range res {
		if x.Failed() {
			t.Fatalf("%v", x.Failure)
		}
		out[x.Description.Name] = x
	}
	return out
}

var results map[string]*plugins.Result

func all(t *testing.T) map[string]*plugins.Result {
	if results == nil {
		results = runAll(t, set(t), nil)
	}
	return results
}

func TestNormality(t *testing.T) {
	res := all(t)[builtin.NormalityName]
	s := set(t)
	for _, tc := range []struct {
		param      string
		lo, hi     float64
		degenerate float64
	}{
		// 400 Gaussian coordinates at α = 0.05: 95 % ± 2.2 (binomial s.d.
		// 1.1 %); bounds at ±4 s.d.
		{"gauss.weight", 90.6, 99.4, 0},
		// Cauchy mini-batch means are Cauchy: SW with n = 200 rejects
		// (almost) always.
		{"cauchy.weight", 0, 2, 0},
		{"dead.weight", 100, 100, 50},
	} {
		l := res.Layer(tc.param)
		for _, b := range s.BatchSizes {
			got := l.Number(builtin.KeyGaussianityPercent, b)
			if got < tc.lo || got > tc.hi {
				t.Errorf("%s B=%d: Gaussianity %.2f%%, want in [%v, %v]", tc.param, b, got, tc.lo, tc.hi)
			}
			if d := l.Number(builtin.KeyDegenerate, b); d != tc.degenerate {
				t.Errorf("%s B=%d: degenerate %v, want %v", tc.param, b, d, tc.degenerate)
			}
		}
	}
	// Exponential: skewed, finite variance; the CLT makes B = 32 clearly
	// more Gaussian than B = 8 (METHOD.md §3's trend).
	l := res.Layer("exp.weight")
	if g8, g32 := l.Number(builtin.KeyGaussianityPercent, 8), l.Number(builtin.KeyGaussianityPercent, 32); !(g32 > g8+10) {
		t.Errorf("Exponential: Gaussianity B=32 %.1f%% not above B=8 %.1f%% + 10", g32, g8)
	} else {
		t.Logf("Exponential: Gaussianity %.1f%% (B=8), %.1f%% (B=32)", g8, g32)
	}
	// The per-coordinate p-values are those of the SW test on each column,
	// and the percentage counts them.
	gl := &s.Layers[0]
	p, ok := res.Layer("gauss.weight").Coord(builtin.KeyPValue, 32)
	if !ok || len(p) != nCoords {
		t.Fatalf("p-values missing")
	}
	n := 0
	for c := range p {
		r, err := stats.ShapiroWilkTest(gl.Column(1, c, nil))
		if err != nil {
			t.Fatal(err)
		}
		if r.P != p[c] {
			t.Fatalf("coordinate %d: p %v, direct test %v", c, p[c], r.P)
		}
		if r.P > 0.05 {
			n++
		}
	}
	if got, want := res.Layer("gauss.weight").Number(builtin.KeyGaussianityPercent, 32), 100*float64(n)/nCoords; got != want {
		t.Errorf("percent %v, want %v", got, want)
	}
	// α is a parameter: at α = 0.5 about half the Gaussian coordinates fail.
	r2 := runAll(t, s, map[string]map[string]string{"normality": {"alpha": "0.5"}})
	if g := r2[builtin.NormalityName].Layer("gauss.weight").Number(builtin.KeyGaussianityPercent, 8); g < 40 || g > 60 {
		t.Errorf("α=0.5: Gaussianity %.1f%%, want ≈ 50%%", g)
	}
}

func TestKurtosisBound(t *testing.T) {
	res := all(t)[builtin.KurtosisBoundName]
	g := res.Layer("gauss.weight")
	q, _ := g.Get(builtin.KeyRhoSigma3Quantiles, 0)
	// E|Z|³ = 2√(2/π) = 1.5958 for a Gaussian; median over 400 coordinates
	// of pools of 6400 samples.
	approx.Abs(t, "Gaussian ρ/σ³ median", q.Array[2], 2*math.Sqrt(2/math.Pi), 0.02)
	k, _ := g.Get(builtin.KeySqrtKappaQuantiles, 0)
	approx.Abs(t, "Gaussian √κ median", k.Array[2], math.Sqrt(3), 0.03)
	// Bernoulli(p): ρ/σ³ = ((1−p)² + p²)/√(p(1−p)) = 6.864 at p = 0.02 (the
	// sample p varies: ±15 %).
	b := res.Layer("bern.weight")
	q, _ = b.Get(builtin.KeyRhoSigma3Quantiles, 0)
	pp := 0.02
	want := ((1-pp)*(1-pp) + pp*pp) / math.Sqrt(pp*(1-pp))
	approx.Rel(t, "Bernoulli ρ/σ³ median", q.Array[2], want, 0.15)
	// Per coordinate: exactly CentredSums on the layer's sums; √κ ≥ ρ/σ³.
	s := set(t)
	rho, _ := b.Coord(builtin.KeyRhoSigma3, 0)
	sk, _ := b.Coord(builtin.KeySqrtKappa, 0)
	l := &s.Layers[3]
	for c := range rho {
		cs := stats.CentredSums{N: float64(s.Pool), S2: l.S2[c], S3: l.S3[c], S4: l.S4[c], A3: l.A3[c]}
		if rho[c] != cs.Abs3Standardized() || sk[c] != cs.SqrtKurtosis() {
			t.Fatalf("coordinate %d: ρ/σ³ %v √κ %v, want %v %v", c, rho[c], sk[c], cs.Abs3Standardized(), cs.SqrtKurtosis())
		}
		if sk[c] < rho[c] {
			t.Fatalf("coordinate %d: √κ %v < ρ/σ³ %v", c, sk[c], rho[c])
		}
	}
	// Auto threshold c(0.05)/√200 = 1.3581/14.142 = 0.09603.
	approx.Abs(t, "auto threshold", g.Number(builtin.KeyThreshold, 0), 0.09603, 1e-4)
	// Gaussian: bound 0.4748·1.596/√B = 0.268 (B=8), 0.134 (B=32): above
	// the threshold, predicted 0 %. Dead layer: zero variance, predicted 100 %.
	for _, bs := range s.BatchSizes {
		if p := g.Number(builtin.KeyPredictedPercent, bs); p != 0 {
			t.Errorf("Gaussian B=%d predicted %v%%, want 0", bs, p)
		}
		if p := res.Layer("dead.weight").Number(builtin.KeyPredictedPercent, bs); p != 100 {
			t.Errorf("dead B=%d predicted %v%%, want 100", bs, p)
		}
		// The measured share is normality's.
		m := g.Number(builtin.KeyMeasuredPercent, bs)
		if want := all(t)[builtin.NormalityName].Layer("gauss.weight").Number(builtin.KeyGaussianityPercent, bs); m != want {
			t.Errorf("measured %v, normality says %v", m, want)
		}
		bq, _ := g.Get(builtin.KeyBoundQuantiles, bs)
		approx.Abs(t, fmt.Sprintf("B=%d: bound median", bs), bq.Array[2], stats.BerryEsseenBound(q0(t, g), bs), approx.Float64)
	}
	// With threshold 0.2 the Gaussian layer is predicted Gaussian at B=32
	// (0.134 < 0.2) and not at B=8 (0.268).
	r2 := runAll(t, s, map[string]map[string]string{"kurtosis-bound": {"threshold": "0.2"}})
	g2 := r2[builtin.KurtosisBoundName].Layer("gauss.weight")
	if p8, p32 := g2.Number(builtin.KeyPredictedPercent, 8), g2.Number(builtin.KeyPredictedPercent, 32); p8 != 0 || p32 != 100 {
		t.Errorf("threshold 0.2: predicted %v%% (B=8), %v%% (B=32), want 0, 100", p8, p32)
	}
}

func q0(t *testing.T, r *plugins.LayerResult) float64 {
	v, ok := r.Get(builtin.KeyRhoSigma3Quantiles, 0)
	if !ok {
		t.Fatal("no quantiles")
	}
	return v.Array[2]
}

func TestAlphaStable(t *testing.T) {
	res := all(t)[builtin.AlphaStableName]
	for _, tc := range []struct {
		param      string
		key        string
		want, tol  float64
		undefined  float64
		layerCoord int
	}{
		{"gauss.weight", builtin.KeyAlphaMcCullochMedian, 2, 0.08, 0, nCoords},
		{"gauss.weight", builtin.KeyAlphaMohammadiMedian, 2, 0.15, 0, nCoords},
		{"cauchy.weight", builtin.KeyAlphaMcCullochMedian, 1, 0.1, 0, nCoords},
		{"cauchy.weight", builtin.KeyAlphaMohammadiMedian, 1, 0.15, 0, nCoords},
		{"dead.weight", builtin.KeyAlphaMcCullochMedian, math.NaN(), 0, 50, 50},
	} {
		l := res.Layer(tc.param)
		for _, b := range []int{8, 32} {
			approx.Abs(t, fmt.Sprintf("%s %s B=%d", tc.param, tc.key, b), l.Number(tc.key, b), tc.want, tc.tol)
			if u := l.Number(builtin.KeyUndefinedMcCulloch, b); u != tc.undefined {
				t.Errorf("%s B=%d: %v undefined, want %v", tc.param, b, u, tc.undefined)
			}
			h, _ := l.Get(builtin.KeyAlphaMohammadiHist, b)
			if h.Hist.Total() != int64(tc.layerCoord) {
				t.Errorf("%s B=%d: histogram total %d, want %d", tc.param, b, h.Hist.Total(), tc.layerCoord)
			}
		}
	}
	// Per coordinate: the estimators on the column.
	s := set(t)
	a, _ := res.Layer("cauchy.weight").Coord(builtin.KeyAlphaMohammadi, 8)
	col := s.Layers[1].Column(0, 7, nil)
	if want, _ := stats.TailIndexMohammadi(col); a[7] != want {
		t.Errorf("coordinate 7: α %v, want %v", a[7], want)
	}
}

func TestNoiseScale(t *testing.T) {
	res := all(t)[builtin.NoiseScaleName]
	s := set(t)
	var tr, gn float64
	for i := range s.Layers {
		l := &s.Layers[i]
		r := res.Layer(l.Parameter)
		if got, want := r.Number(builtin.KeyBSimplePlugIn, 0), l.TraceCov/l.GradNormSq; got != want {
			t.Errorf("%s: plug-in B_simple %v, want %v", l.Parameter, got, want)
		}
		e := builtin.UnbiasedNoiseScaleFromTrace(l.TraceCov, l.GradNormSq, s.Pool, 0)
		if got := r.Number(builtin.KeyBSimple, 0); got != e.BSimple && !(math.IsNaN(got) && math.IsNaN(e.BSimple)) {
			t.Errorf("%s: B_simple %v, want %v", l.Parameter, got, e.BSimple)
		}
		tr += l.TraceCov
		gn += l.GradNormSq
	}
	m, _ := plugins.FindValue(res.Model, builtin.KeyBSimplePlugIn, 0)
	if m.Number != tr/gn {
		t.Errorf("model plug-in B_simple %v, want %v", m.Number, tr/gn)
	}
	m, _ = plugins.FindValue(res.Model, builtin.KeyBSimple, 0)
	// NaN here: the Cauchy layer's noise swamps every signal.
	if want := builtin.UnbiasedNoiseScaleFromTrace(tr, gn, s.Pool, 0).BSimple; m.Number != want && !(math.IsNaN(want) && math.IsNaN(m.Number)) {
		t.Errorf("model B_simple %v, want %v", m.Number, want)
	}
	// Gaussian layer: tr Σ ≈ 400 (unit variances), |ḡ|² = Σ (0.01 j)², j = 1…400.
	g := res.Layer("gauss.weight")
	want := 0.0
	for j := 1; j <= nCoords; j++ {
		want += 1e-4 * float64(j*j)
	}
	approx.Rel(t, "|ḡ|²", g.Number(builtin.KeyGradNormSq, 0), want, approx.Reference)
	approx.Rel(t, "tr Σ", g.Number(builtin.KeyTraceCov, 0), nCoords, 0.05)
	if !math.IsNaN(builtin.BSimple(1, 0)) {
		t.Error("B_simple with zero gradient should be NaN")
	}
}

func TestWorkersDoNotChangeResults(t *testing.T) {
	s := set(t)
	r1 := runAll(t, s, map[string]map[string]string{"normality": {"workers": "1"}, "alpha-stable": {"workers": "1"}})
	r3 := runAll(t, s, map[string]map[string]string{"normality": {"workers": "3"}, "alpha-stable": {"workers": "3"}})
	for _, name := range []string{builtin.NormalityName, builtin.AlphaStableName} {
		for li, l := range r1[name].Layers {
			for vi, v := range l.PerCoordinate {
				w := r3[name].Layers[li].PerCoordinate[vi]
				for i := range v.Array {
					if !(v.Array[i] == w.Array[i] || math.IsNaN(v.Array[i]) && math.IsNaN(w.Array[i])) {
						t.Fatalf("%s %s %s[%d]: %v vs %v", name, l.Parameter, v.Key, i, v.Array[i], w.Array[i])
					}
				}
			}
		}
	}
}

func TestStartErrors(t *testing.T) {
	ctx := context.Background()
	info := plugins.SetInfo{Pool: 10, Batches: 2, BatchSizes: []int{4}}
	d, _ := builtin.Normality{}.Describe(ctx)
	p, _ := d.Resolve(nil)
	if _, err := (builtin.Normality{}).Start(ctx, &plugins.StartRequest{Set: info, Params: p}); err == nil {
		t.Error("normality with 2 mini-batches should fail (SW needs 3)")
	}
	p, _ = d.Resolve(map[string]string{"alpha": "1.5"})
	info.Batches = 10
	if _, err := (builtin.Normality{}).Start(ctx, &plugins.StartRequest{Set: info, Params: p}); err == nil {
		t.Error("alpha 1.5 should fail")
	}
	d, _ = builtin.KurtosisBound{}.Describe(ctx)
	p, _ = d.Resolve(map[string]string{"threshold": "-1"})
	if _, err := (builtin.KurtosisBound{}).Start(ctx, &plugins.StartRequest{Set: info, Params: p}); err == nil {
		t.Error("negative threshold should fail")
	}
	if _, err := builtin.Lookup("nope"); err == nil {
		t.Error("Lookup of unknown name should fail")
	}
}
