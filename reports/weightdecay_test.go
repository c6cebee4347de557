package reports_test

import (
	"math/rand/v2"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/noise"
	"github.com/gnaudit/gnaudit/internal/approx"
	"github.com/gnaudit/gnaudit/reports"
)

// TestAddWeightDecay: |G + λθ|² = |G|²_u + 2λ ḡ·θ + λ²|θ|² exactly when all
// coordinates are tested, and unbiased (mean over random coordinate
// samples within 1 %) when 50 of 400 are.
func TestAddWeightDecay(t *testing.T) {
	const d, lambda = 400, 5e-4
	r := rand.New(rand.NewPCG(15, 6))
	gbar := make([]float64, d)
	theta := make([]float32, d)
	dot, th2 := 0.0, 0.0
	for j := range gbar {
		gbar[j] = 1e-3 * r.NormFloat64()
		theta[j] = float32(0.5 + r.NormFloat64())
		dot += gbar[j] * float64(theta[j])
		th2 += float64(theta[j]) * float64(theta[j])
	}
	const tr, g2u = 2.0, 4e-4
	want := tr / (g2u + 2*lambda*dot + lambda*lambda*th2)
	mk := func(coords []int) (*reports.Checkpoint, *noise.Set) {
		l := noise.Layer{Parameter: "w", Size: d, Coords: coords, Mean: make([]float64, len(coords))}
		for c, j := range coords {
			l.Mean[c] = gbar[j]
		}
		ns := func() *reports.NoiseScale {
			return &reports.NoiseScale{TraceCovUnbiased: reports.Some(tr), GradNormSqUnbiased: reports.Some(g2u)}
		}
		cp := &reports.Checkpoint{Layers: []reports.Layer{{Parameter: "w", NoiseScale: ns()}}, NoiseScale: ns()}
		return cp, &noise.Set{Layers: []noise.Layer{l}}
	}
	all := make([]int, d)
	for j := range all {
		all[j] = j
	}
	cp, set := mk(all)
	if err := reports.AddWeightDecay(cp, set, map[string][]float32{"w": theta}, lambda); err != nil {
		t.Fatal(err)
	}
	approx.Rel(t, "layer B_simple with weight decay, all coordinates", cp.Layers[0].NoiseScale.BSimpleWeightDecay.Float(), want, approx.Float64)
	approx.Rel(t, "model B_simple with weight decay", cp.NoiseScale.BSimpleWeightDecay.Float(), want, approx.Float64)
	approx.Same(t, "model weight decay", cp.NoiseScale.WeightDecay.Float(), lambda)
	// 50 of 400: the denominator is unbiased.
	wantDen := g2u + 2*lambda*dot + lambda*lambda*th2
	sum := 0.0
	const reps = 2000
	for k := 0; k < reps; k++ {
		coords := r.Perm(d)[:50]
		cp, set := mk(coords)
		if err := reports.AddWeightDecay(cp, set, map[string][]float32{"w": theta}, lambda); err != nil {
			t.Fatal(err)
		}
		sum += tr / cp.Layers[0].NoiseScale.BSimpleWeightDecay.Float()
	}
	approx.Rel(t, "sampled coordinates: mean |G+λθ|²", sum/reps, wantDen, 0.01)
	// Wrong size: an error naming the parameter.
	if err := reports.AddWeightDecay(cp, set, map[string][]float32{"w": theta[:3]}, lambda); err == nil {
		t.Error("no error for a parameter of the wrong size")
	}
}
