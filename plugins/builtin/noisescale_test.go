package builtin_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/noise"
	"github.com/gnaudit/gnaudit/internal/approx"
	"github.com/gnaudit/gnaudit/plugins"
	"github.com/gnaudit/gnaudit/plugins/builtin"
)

// gradModel is a known per-sample gradient law in d dimensions:
// g = G + D∘z + a·w·u, z ~ N(0, I), w ~ N(0, 1), u a fixed unit vector, so
// that Σ = diag(D²) + a²·uuᵀ (not diagonal) and tr Σ = Σ D² + a².
type gradModel struct {
	G, D, u []float64
	a       float64
}

func newGradModel(r *rand.Rand, d int, bTrue float64) gradModel {
	m := gradModel{G: make([]float64, d), D: make([]float64, d), u: make([]float64, d), a: 3}
	nu := 0.0
	for j := range m.G {
		m.G[j] = 1 + 0.5*r.NormFloat64()
		m.D[j] = math.Exp(0.7 * r.NormFloat64())
		m.u[j] = m.G[j] + r.NormFloat64()
		nu += m.u[j] * m.u[j]
	}
	for j := range m.u {
		m.u[j] /= math.Sqrt(nu)
	}
	// Scale G so that tr Σ / |G|² = bTrue.
	g2 := 0.0
	for j := range m.G {
		g2 += m.G[j] * m.G[j]
	}
	s := math.Sqrt(m.trace() / bTrue / g2)
	for j := range m.G {
		m.G[j] *= s
	}
	return m
}

func (m gradModel) trace() float64 {
	t := m.a * m.a
	for _, d := range m.D {
		t += d * d
	}
	return t
}

func (m gradModel) draw(r *rand.Rand, dst []float64) {
	w := r.NormFloat64() * m.a
	for j := range dst {
		dst[j] = m.G[j] + m.D[j]*r.NormFloat64() + w*m.u[j]
	}
}

// poolLayer collects a noise.Layer from the pool rows g (N × d) as the
// audit does: sums over all coordinates, mini-batch rows of disjoint
// batches at the given batch sizes for the tested coordinates coords.
func poolLayer(r *rand.Rand, g [][]float64, coords []int, bs []int, batches int) noise.Layer {
	n, d := len(g), len(g[0])
	mean := make([]float64, d)
	sum := 0.0
	for _, row := range g {
		for j, v := range row {
			mean[j] += v
			sum += v * v
		}
	}
	gn := 0.0
	for j := range mean {
		mean[j] /= float64(n)
		gn += mean[j] * mean[j]
	}
	l := noise.Layer{Name: "l", Parameter: "l.weight", Kind: "weight", Shape: []int{d}, Size: d, Coords: coords,
		Mean: make([]float64, len(coords)), S2: make([]float64, len(coords)), S3: make([]float64, len(coords)),
		S4: make([]float64, len(coords)), A3: make([]float64, len(coords)),
		GradNormSq: gn, SumNormSq: sum, TraceCov: math.Max(0, sum/float64(n)-gn)}
	for c, j := range coords {
		l.Mean[c] = mean[j]
		for _, row := range g {
			x := row[j] - mean[j]
			l.S2[c] += x * x
		}
	}
	perm := r.Perm(n)
	for _, b := range bs {
		m := make([]float32, batches*len(coords))
		for s := 0; s < batches; s++ {
			for c, j := range coords {
				acc := 0.0
				for _, i := range perm[s*b : (s+1)*b] {
					acc += g[i][j]
				}
				m[s*len(coords)+c] = float32(acc/float64(b) - mean[j])
			}
		}
		l.MiniBatch = append(l.MiniBatch, m)
		l.Overlap = append(l.Overlap, batches*b > n)
	}
	return l
}

func noiseScaleOf(t *testing.T, set *noise.Set, params map[string]string) *plugins.LayerResult {
	t.Helper()
	d, _ := builtin.NoiseScale{}.Describe(context.Background())
	p, err := d.Resolve(params)
	if err != nil {
		t.Fatal(err)
	}
	s, err := builtin.NoiseScale{}.Start(context.Background(), &plugins.StartRequest{Set: plugins.InfoOf(set), Params: p})
	if err != nil {
		t.Fatal(err)
	}
	lr, err := s.Layer(context.Background(), &plugins.LayerInput{Layer: &set.Layers[0]})
	if err != nil {
		t.Fatal(err)
	}
	return lr
}

func meanSD(xs []float64) (float64, float64) {
	m := 0.0
	for _, x := range xs {
		m += x
	}
	m /= float64(len(xs))
	v := 0.0
	for _, x := range xs {
		v += (x - m) * (x - m)
	}
	return m, math.Sqrt(v / float64(len(xs)-1))
}

// TestNoiseScaleUnbiasedKnownAnswer: per-sample gradients with known
// tr Σ/|G|² = 400 (non-diagonal Σ), pools of N = 1500 from an infinite
// population, 60 seeds. The plug-in ratio is biased to ≈ B·N/(N+B) = 316;
// the unbiased estimate is within 3 standard errors of 400; the reported
// standard error matches the spread over seeds within 30 %, with all
// coordinates tested and with 100 of 300 sampled.
func TestNoiseScaleUnbiasedKnownAnswer(t *testing.T) {
	const d, n, reps, bTrue = 300, 1500, 60, 400.0
	r := rand.New(rand.NewPCG(15, 2))
	gm := newGradModel(r, d, bTrue)
	all := make([]int, d)
	for j := range all {
		all[j] = j
	}
	sub := r.Perm(d)[:100]
	sortInts(sub)
	g := make([][]float64, n)
	for i := range g {
		g[i] = make([]float64, d)
	}
	var est, plug, seAll, seSub []float64
	covered := 0
	for rep := 0; rep < reps; rep++ {
		for i := range g {
			gm.draw(r, g[i])
		}
		for k, coords := range [][]int{all, sub} {
			l := poolLayer(r, g, coords, []int{10, 40}, 30)
			set := &noise.Set{Version: noise.Version, Pool: n, Batches: 30, BatchSizes: []int{10, 40}, Layers: []noise.Layer{l}}
			lr := noiseScaleOf(t, set, nil)
			if k == 0 {
				est = append(est, lr.Number(builtin.KeyBSimple, 0))
				plug = append(plug, lr.Number(builtin.KeyBSimplePlugIn, 0))
				seAll = append(seAll, lr.Number(builtin.KeyBSimpleSE, 0))
				if lr.Number(builtin.KeyBSimpleLow, 0) <= bTrue && bTrue <= lr.Number(builtin.KeyBSimpleHigh, 0) {
					covered++
				}
			} else {
				seSub = append(seSub, lr.Number(builtin.KeyBSimpleSE, 0))
				if b := lr.Number(builtin.KeyBSimple, 0); b != est[len(est)-1] {
					t.Fatalf("B_simple depends on the tested coordinates: %v vs %v", b, est[len(est)-1])
				}
			}
		}
	}
	m, sd := meanSD(est)
	pm, _ := meanSD(plug)
	sa, _ := meanSD(seAll)
	ss, _ := meanSD(seSub)
	t.Logf("true %.0f: unbiased %.1f ± %.1f (sd over seeds), plug-in %.1f (predicted %.1f); mean SE all coords %.1f, 100 of 300 coords %.1f",
		bTrue, m, sd, pm, bTrue*n/(n+bTrue), sa, ss)
	approx.SE(t, "unbiased B_simple mean over seeds", m, bTrue, sd/math.Sqrt(reps), 3)
	approx.Abs(t, "plug-in B_simple mean against B·N/(N+B)", pm, bTrue*n/(n+bTrue), 0.05*bTrue)
	t.Logf("95 %% interval covers the true B in %d of %d seeds", covered, reps)
	if covered < reps*85/100 {
		t.Errorf("95 %% interval covers the true B in only %d of %d seeds", covered, reps)
	}
	for name, se := range map[string]float64{"all coordinates": sa, "100 of 300 coordinates": ss} {
		if se < 0.7*sd || se > 1.3*sd {
			t.Errorf("%s: mean reported SE %.1f, spread over seeds %.1f", name, se, sd)
		}
	}
}

func sortInts(xs []int) {
	for i := 1; i < len(xs); i++ {
		for j := i; j > 0 && xs[j] < xs[j-1]; j-- {
			xs[j], xs[j-1] = xs[j-1], xs[j]
		}
	}
}

// TestNoiseScaleFinitePopulation: a data set of M = 2000 samples, pools of
// N = 1500 drawn without replacement. The target is the data set's own
// tr Σ_M/|G_M|²; with data_size = M the estimate is unbiased for it, with
// data_size = inf it is biased high, and with N = M it is the plug-in ratio.
func TestNoiseScaleFinitePopulation(t *testing.T) {
	const d, M, n, reps = 200, 2000, 1500, 40
	r := rand.New(rand.NewPCG(15, 3))
	gm := newGradModel(r, d, 1000)
	data := make([][]float64, M)
	mean := make([]float64, d)
	for i := range data {
		data[i] = make([]float64, d)
		gm.draw(r, data[i])
		for j, v := range data[i] {
			mean[j] += v / M
		}
	}
	var tr, g2 float64
	for _, row := range data {
		for j, v := range row {
			tr += (v - mean[j]) * (v - mean[j]) / M
		}
	}
	for _, v := range mean {
		g2 += v * v
	}
	target := tr / g2
	coords := []int{0, 1, 2, 3}
	var fpc, inf []float64
	pool := make([][]float64, n)
	for rep := 0; rep < reps; rep++ {
		for i, k := range r.Perm(M)[:n] {
			pool[i] = data[k]
		}
		l := poolLayer(r, pool, coords, []int{10}, 20)
		set := &noise.Set{Version: noise.Version, Pool: n, Batches: 20, BatchSizes: []int{10}, Layers: []noise.Layer{l},
			Collection: &noise.Collection{DataSize: M}}
		fpc = append(fpc, noiseScaleOf(t, set, nil).Number(builtin.KeyBSimple, 0))
		inf = append(inf, noiseScaleOf(t, set, map[string]string{"data_size": "inf"}).Number(builtin.KeyBSimple, 0))
	}
	mf, sf := meanSD(fpc)
	mi, _ := meanSD(inf)
	t.Logf("data set B = %.1f: with M %.1f ± %.1f, treating M as infinite %.1f", target, mf, sf, mi)
	approx.Within(t, "finite-population B_simple mean over seeds", mf, target, 3*sf/math.Sqrt(reps), approx.Reference)
	if !(mi > target*1.2) {
		t.Errorf("infinite-population estimate %.1f not biased high against %.1f", mi, target)
	}
	// N = M: the whole data set; the estimate is exact.
	l := poolLayer(r, data, coords, []int{10}, 20)
	set := &noise.Set{Version: noise.Version, Pool: M, Batches: 20, BatchSizes: []int{10}, Layers: []noise.Layer{l},
		Collection: &noise.Collection{DataSize: M}}
	approx.Rel(t, "B_simple with N = M (exact)", noiseScaleOf(t, set, nil).Number(builtin.KeyBSimple, 0), target, approx.Reference)
}

// TestNoiseScaleNoSignal: at a minimum (G = 0) the plug-in ratio is ≈ N
// whatever the noise (its mean a little above: E[1/χ²]); the unbiased |G|²_u is ≤ 0 about half of the time
// (flagged, B undefined) and otherwise small.
func TestNoiseScaleNoSignal(t *testing.T) {
	const d, n, reps = 100, 800, 40
	r := rand.New(rand.NewPCG(15, 4))
	gm := newGradModel(r, d, 100)
	for j := range gm.G {
		gm.G[j] = 0
	}
	g := make([][]float64, n)
	for i := range g {
		g[i] = make([]float64, d)
	}
	flagged := 0
	var plug []float64
	for rep := 0; rep < reps; rep++ {
		for i := range g {
			gm.draw(r, g[i])
		}
		all := make([]int, d)
		for j := range all {
			all[j] = j
		}
		l := poolLayer(r, g, all, []int{8}, 20)
		set := &noise.Set{Version: noise.Version, Pool: n, Batches: 20, BatchSizes: []int{8}, Layers: []noise.Layer{l}}
		lr := noiseScaleOf(t, set, nil)
		plug = append(plug, lr.Number(builtin.KeyBSimplePlugIn, 0))
		if lr.Number(builtin.KeyNoSignal, 0) == 1 {
			flagged++
			if !math.IsNaN(lr.Number(builtin.KeyBSimple, 0)) {
				t.Error("no signal but B_simple defined")
			}
			// No upper bound; the lower bound still says B is large.
			if lo, hi := lr.Number(builtin.KeyBSimpleLow, 0), lr.Number(builtin.KeyBSimpleHigh, 0); !math.IsNaN(hi) || !(lo > 0) {
				t.Errorf("no signal: bounds [%v, %v], want a positive lower bound and none above", lo, hi)
			}
		}
	}
	pm, _ := meanSD(plug)
	t.Logf("G = 0: plug-in mean %.0f (N = %d), flagged %d of %d", pm, n, flagged, reps)
	if pm < 0.9*n || pm > 1.25*n {
		t.Errorf("plug-in mean %.0f, want ≈ N = %d", pm, n)
	}
	if flagged < reps/4 || flagged > 3*reps/4 {
		t.Errorf("flagged %d of %d, want about half", flagged, reps)
	}
}
