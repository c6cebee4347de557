package collect

import (
	"math"
	"strings"
	"testing"
)

// TestPlan checks the estimate against the formulas of docs/collection.md
// worked out by hand for the base configuration: P = 6+40+1 = 47
// coordinates, T = 6+10+1 = 17 tested, L = 3, N = M = 60, n = 5, B = 4, 12
// (disjoint), 20 (overlapping: 5·20 > 60).
func TestPlan(t *testing.T) {
	cfg := baseConfig()
	e, err := Plan(cfg, specs())
	if err != nil {
		t.Fatal(err)
	}
	// members = 5·(4+12+20) = 180, overlapping 100.
	want := Memory{
		PerSample: 60 * 17 * 8,                               // 8160
		SumSq:     60 * 3 * 8,                                // 1440
		GradSums:  47 * 8,                                    // 376
		Moments:   10 * 17 * 8,                               // 1360 (with the segment sums)
		BatchSums: 3 * 5 * (17*12 + 4),                       // 3120
		Layout:    8*60 + 8*60 + 4*61 + 4*180 + 4*100 + 4*60, // 2564
		Total:     8160 + 1440 + 376 + 1360 + 3120 + 2564,    // 17020
	}
	if e.Scheme != SchemeInMemory || e.Memory != want || e.Tested != 17 || e.Params != 47 || e.Passes != 1 ||
		e.GradientSamples != 60 || e.MomentOps != 60*17 || e.BatchOps != 180*17 || e.ShardRows != 5 || e.ShardPool != 60 {
		t.Errorf("in-memory estimate %+v\nwant memory %+v", e, want)
	}
	if e.Overlap[0] || e.Overlap[1] || !e.Overlap[2] {
		t.Errorf("overlap %v", e.Overlap)
	}
	if got := e.Seconds(1e-3, 1e-9); got != 60*1e-3+float64(60*17+180*17)*1e-9 {
		t.Errorf("Seconds = %v", got)
	}
	// A budget below the in-memory total selects the two-pass scheme.
	cfg.MaxMemory = 10000
	e, err = Plan(cfg, specs())
	if err != nil || e.Scheme != SchemeTwoPass || e.Memory.Total != 17020-8160 || e.Passes != 2 || e.GradientSamples != 120 || e.CoordSamples != 60 {
		t.Errorf("two-pass estimate %+v, %v", e, err)
	}
	// The second pass asks for the tested coordinates only: its samples at
	// their own time.
	for _, c := range []struct{ full, coords, want float64 }{
		{1e-3, 1e-3, 120*1e-3 + float64(60*17+180*17)*1e-9},
		{1e-3, 0.25e-3, 60*1e-3 + 60*0.25e-3 + float64(60*17+180*17)*1e-9},
	} {
		if got := e.SecondsSplit(c.full, c.coords, 1e-9); math.Abs(got-c.want) > 1e-15*c.want {
			t.Errorf("two-pass SecondsSplit(%g, %g) = %v, want %v", c.full, c.coords, got, c.want)
		}
	}
	if e.Seconds(1e-3, 1e-9) != e.SecondsSplit(1e-3, 1e-3, 1e-9) {
		t.Errorf("two-pass Seconds %v ≠ SecondsSplit with equal times %v", e.Seconds(1e-3, 1e-9), e.SecondsSplit(1e-3, 1e-3, 1e-9))
	}
	// Below the two-pass total: a clear error before any gradient.
	cfg.MaxMemory = 5000
	_, err = Plan(cfg, specs())
	if err == nil || !strings.Contains(err.Error(), "the two-pass scheme needs about 8.7 KiB, over the memory budget of 4.9 KiB") {
		t.Errorf("over budget: %v", err)
	}
	f := newFake(1, 8, specs()...)
	if _, err := Collect(t.Context(), f, cfg); err == nil || len(f.requests) != 0 {
		t.Errorf("Collect over budget: %v, %d requests", err, len(f.requests))
	}
	// Without a budget, the in-memory store is bounded by DefaultInMemoryBytes.
	big := baseConfig()
	big.DataSize, big.Pool, big.CoordsPerLayer = 1<<22, 1<<22, 0
	huge := []LayerSpec{{Name: "fc", Parameter: "w", Shape: []int{100, 100}}}
	if e, err := Plan(big, huge); err != nil || e.Scheme != SchemeTwoPass {
		t.Errorf("large pool without budget: %v %v", e.Scheme, err)
	}
	// Shard 1 of 2 with a centre: rows [2,5), pool positions [24, 60).
	sh := baseConfig()
	sh.Centre, sh.Shard, sh.SourceBytes = &Centre{}, Shard{Index: 1, Count: 2}, 1000
	e, err = Plan(sh, specs())
	if err != nil {
		t.Fatal(err)
	}
	// members = 3·36 = 108, overlapping 60.
	wantC := Memory{Moments: 1360, Segments: 4 * 3 * 17 * 8, BatchSums: 3 * 3 * (17*12 + 4), Layout: 8*60 + 8*60 + 4*61 + 4*108 + 4*60 + 4*36, Source: 1000}
	wantC.Total = wantC.Moments + wantC.Segments + wantC.BatchSums + wantC.Layout + wantC.Source
	if e.Scheme != SchemeCentred || e.Memory != wantC || e.ShardRows != 3 || e.ShardPool != 36 || e.GradientSamples != 60 || e.MomentOps != 36*17 {
		t.Errorf("shard estimate %+v\nwant memory %+v", e, wantC)
	}
	s := e.String()
	for _, w := range []string{"scheme centred", "17 tested coordinates of 47", "this shard: 3 rows, 36 pool samples", "batch size 20: n·B > N"} {
		if !strings.Contains(s, w) {
			t.Errorf("plan text lacks %q:\n%s", w, s)
		}
	}
}
