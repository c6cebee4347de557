package minibatch

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/collect"
	"github.com/gnaudit/gnaudit/auditor/data"
	"github.com/gnaudit/gnaudit/auditor/internal/irtest"
	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/auditor/persample"
	"github.com/gnaudit/gnaudit/auditor/persample/collectsrc"
	"github.com/gnaudit/gnaudit/internal/approx"
)

// smallCNN: Conv(1→3, 3×3, pad 1) [→ BN] → Relu → Flatten → Gemm(3·6·6 → 4),
// input 1×6×6.
func smallCNN(bn bool) *ir.Model {
	b := irtest.New(13, 3, -1, 1, 6, 6)
	h := b.Op("Conv", irtest.Attrs("kernel_shape", irtest.Ints(3, 3), "pads", irtest.Ints(1, 1, 1, 1)),
		"x", b.Param("conv.w", 0.4, true, 3, 1, 3, 3), b.Param("conv.b", 0.1, true, 3))
	if bn {
		h = b.Op("BatchNormalization", irtest.Attrs("epsilon", irtest.Float(1e-5)), h,
			b.Param("bn.scale", 0.2, true, 3), b.Param("bn.bias", 0.1, true, 3),
			b.Param("bn.mean", 0.1, false, 3), b.Positive("bn.var", 0.5, 1.5, 3))
	}
	h = b.Op("Relu", nil, h)
	h = b.Op("Flatten", irtest.Attrs("axis", irtest.Int(1)), h)
	h = b.Op("Gemm", irtest.Attrs("transB", irtest.Int(1)), h, b.Param("fc.w", 0.2, true, 4, 108), b.Param("fc.b", 0.1, true, 4))
	return b.Output(h)
}

func images(t *testing.T, n int) data.Dataset {
	r := rand.New(rand.NewSource(5))
	pix := make([]float32, n*36)
	for i := range pix {
		pix[i] = float32(r.NormFloat64())
	}
	lab := make([]int, n)
	for i := range lab {
		lab[i] = r.Intn(4)
	}
	ds, err := data.New("random", data.Shape{C: 1, H: 6, W: 6}, pix, lab, 4)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func config(ds data.Dataset) collect.Config {
	// B = 2, 5 disjoint (n·B ≤ N) and B = 16 overlapping; 12 tested
	// coordinates of the large layers.
	return collect.Config{Model: "cnn", Seed: 7, DataSize: ds.Len(), Pool: 60, Batches: 10,
		BatchSizes: []int{2, 5, 16}, CoordsPerLayer: 12}
}

// Without BatchNorm the mini-batch engine's noise equals the per-sample
// engine's (float64 executors: to rounding), on the same pool, coordinates
// and rows, disjoint and overlapping batch sizes alike; so do ḡ and |ḡ|².
func TestMiniBatchEqualsPerSampleWithoutBN(t *testing.T) {
	for _, f64 := range []bool{true, false} {
		m := smallCNN(false)
		ds := images(t, 80)
		cfg := config(ds)
		pe, err := persample.New(m, persample.Options{Float64: f64, Batch: 7})
		if err != nil {
			t.Fatal(err)
		}
		ps, err := collectsrc.New(pe, ds)
		if err != nil {
			t.Fatal(err)
		}
		want, err := collect.Collect(context.Background(), ps, cfg)
		if err != nil {
			t.Fatal(err)
		}
		mb, err := New(m, ds, Options{Float64: f64, Layers: ps.Layers()})
		if err != nil {
			t.Fatal(err)
		}
		got, err := collect.CollectMiniBatch(context.Background(), mb, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got.Collection.Scheme != string(collect.SchemeMiniBatch) || got.Pool != want.Pool || got.Batches != want.Batches {
			t.Fatalf("set header: scheme %q pool %d batches %d; want mini-batch, %d, %d", got.Collection.Scheme, got.Pool, got.Batches, want.Pool, want.Batches)
		}
		// Tolerances: float64 — 1e-9 of the layer's largest |g|; float32 —
		// float32 rounding of the batch gradient (1e-4 of the scale).
		tol := 1e-9
		if !f64 {
			tol = 2e-4
		}
		worst := 0.0
		for l := range want.Layers {
			wl, gl := &want.Layers[l], &got.Layers[l]
			if wl.Parameter != gl.Parameter || len(wl.Coords) != len(gl.Coords) {
				t.Fatalf("layer %d: %s/%d coords vs %s/%d", l, gl.Parameter, len(gl.Coords), wl.Parameter, len(wl.Coords))
			}
			scale := 0.0
			for _, v := range wl.Mean {
				scale = math.Max(scale, math.Abs(v))
			}
			for k := range want.BatchSizes {
				for _, v := range wl.MiniBatch[k] {
					scale = math.Max(scale, math.Abs(float64(v)))
				}
			}
			for c := range wl.Coords {
				if wl.Coords[c] != gl.Coords[c] {
					t.Fatalf("layer %s: coordinates differ", wl.Parameter)
				}
				worst = math.Max(worst, approx.Diff(gl.Mean[c], wl.Mean[c])/scale)
				approx.Abs(t, fmt.Sprintf("float64=%v layer %s coord %d: ḡ against the per-sample engine's", f64, wl.Parameter, wl.Coords[c]), gl.Mean[c], wl.Mean[c], tol*scale)
			}
			approx.Rel(t, fmt.Sprintf("float64=%v layer %s: |ḡ|² against the per-sample engine's", f64, wl.Parameter), gl.GradNormSq, wl.GradNormSq, 10*tol)
			for k := range want.BatchSizes {
				for i, v := range wl.MiniBatch[k] {
					worst = math.Max(worst, approx.Diff(float64(gl.MiniBatch[k][i]), float64(v))/scale)
					// the values are stored in float32
					if !approx.Abs(t, fmt.Sprintf("float64=%v layer %s, B=%d, entry %d: mini-batch engine against the per-sample engine", f64, wl.Parameter, want.BatchSizes[k], i), float64(gl.MiniBatch[k][i]), float64(v), math.Max(tol, approx.Float32)*scale) {
						t.FailNow()
					}
				}
			}
		}
		t.Logf("float64=%v: largest difference between the engines, relative to the layer's scale: %.2g", f64, worst)
	}
}

// On a BatchNorm model the mini-batch engine runs (train-mode statistics:
// its noise differs from the per-sample engine's eval-mode one), the set
// validates, and the plan states n·B samples per batch size.
func TestMiniBatchWithBN(t *testing.T) {
	m := smallCNN(true)
	ds := images(t, 80)
	cfg := config(ds)
	mb, err := New(m, ds, Options{})
	if err != nil {
		t.Fatal(err)
	}
	est, err := collect.PlanMiniBatch(cfg, mb)
	if err != nil {
		t.Fatal(err)
	}
	if est.Samples != 60+10*(2+5+16) || est.BatchSamples[2] != 160 || len(est.Chunks) != 4 {
		t.Errorf("plan: %d samples (%v per batch size), chunks %v", est.Samples, est.BatchSamples, est.Chunks)
	}
	set, err := collect.CollectMiniBatch(context.Background(), mb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := set.Validate(); err != nil {
		t.Fatal(err)
	}
	ev, err := New(m, ds, Options{BatchNormEval: true})
	if err != nil {
		t.Fatal(err)
	}
	eset, err := collect.CollectMiniBatch(context.Background(), ev, cfg)
	if err != nil {
		t.Fatal(err)
	}
	same := true
	for l := range set.Layers {
		for i, v := range set.Layers[l].MiniBatch[0] {
			if approx.Diff(float64(v), float64(eset.Layers[l].MiniBatch[0][i])) > 1e-6 {
				same = false
			}
		}
		if set.Layers[l].TraceCov <= 0 {
			t.Errorf("layer %s: effective trace %v", set.Layers[l].Parameter, set.Layers[l].TraceCov)
		}
	}
	if same {
		t.Error("train-mode and eval-mode BatchNorm give the same mini-batch noise")
	}
	// A budget below the executor's need is refused before any work.
	cfg.MaxMemory = 1000
	if _, err := collect.CollectMiniBatch(context.Background(), mb, cfg); err == nil {
		t.Error("a run over the memory budget was not refused")
	}
	// Cancellation.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cfg.MaxMemory = 0
	if _, err := collect.CollectMiniBatch(ctx, mb, cfg); err == nil {
		t.Error("a cancelled run returned no error")
	}
}

// With B₀ = 1 and n = N rows (every pool sample once), the effective
// per-sample moments are the per-sample ones: S2, S3, S4 and tr Σ equal the
// per-sample engine's; A3 is its Cauchy–Schwarz bound √(S2·S4) ≥ A3.
func TestEffectiveMomentsAtBatchOne(t *testing.T) {
	m := smallCNN(false)
	ds := images(t, 40)
	cfg := collect.Config{Model: "cnn", Seed: 3, DataSize: ds.Len(), Pool: 20, Batches: 20, BatchSizes: []int{1, 4}, CoordsPerLayer: 6}
	pe, err := persample.New(m, persample.Options{Float64: true})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := collectsrc.New(pe, ds)
	if err != nil {
		t.Fatal(err)
	}
	want, err := collect.Collect(context.Background(), ps, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := New(m, ds, Options{Float64: true, Layers: ps.Layers()})
	if err != nil {
		t.Fatal(err)
	}
	got, err := collect.CollectMiniBatch(context.Background(), mb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for l := range want.Layers {
		w, g := &want.Layers[l], &got.Layers[l]
		for c := range w.Coords {
			if w.S2[c] == 0 {
				continue
			}
			for _, p := range []struct {
				name string
				a, b float64
			}{{"S2", g.S2[c], w.S2[c]}, {"S4", g.S4[c], w.S4[c]}} {
				approx.RelFloor(t, fmt.Sprintf("layer %s coord %d: %s against the per-sample engine's", w.Parameter, w.Coords[c], p.name), p.a, p.b, approx.Reference, 1e-300)
			}
			approx.Abs(t, fmt.Sprintf("layer %s coord %d: S3 against the per-sample engine's", w.Parameter, w.Coords[c]), g.S3[c], w.S3[c], 1e-9*math.Pow(w.S2[c], 1.5))
			if g.A3[c] < w.A3[c]*(1-1e-12) {
				t.Errorf("layer %s coord %d: A3 bound %v below the per-sample A3 %v", w.Parameter, w.Coords[c], g.A3[c], w.A3[c])
			}
		}
		approx.RelFloor(t, fmt.Sprintf("layer %s: tr Σ against the per-sample engine's", w.Parameter), g.TraceCov, w.TraceCov, approx.Reference, 1e-300)
	}
}

// cancelSource cancels its context after a number of batches.
type cancelSource struct {
	*Source
	left   int
	cancel func()
}

func (c *cancelSource) BatchGrad(ctx context.Context, idx []int, g [][]float64) error {
	if c.left--; c.left < 0 {
		c.cancel()
	}
	return c.Source.BatchGrad(ctx, idx, g)
}

// Ctrl-C during the second batch size keeps the first one whole.
func TestMiniBatchCancelKeepsDoneSizes(t *testing.T) {
	m := smallCNN(true)
	ds := images(t, 80)
	cfg := config(ds)
	mb, err := New(m, ds, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// centre: 4 chunks; B = 2: 10 rows; then 3 rows of B = 5.
	cs := &cancelSource{Source: mb, left: 4 + 10 + 3, cancel: cancel}
	set, err := collect.CollectMiniBatch(ctx, cs, cfg)
	if err == nil || ctx.Err() == nil {
		t.Fatalf("no cancellation error: %v", err)
	}
	if set == nil || !set.Partial || len(set.BatchSizes) != 1 || set.BatchSizes[0] != 2 || set.Batches != 10 {
		t.Fatalf("partial set %+v", set)
	}
	if err := set.Validate(); err != nil {
		t.Fatal(err)
	}
}
