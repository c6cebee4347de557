package collect

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/noise"
)

// TestSaveLoadCollected saves a collected set and a partial shard and reads
// them back unchanged.
func TestSaveLoadCollected(t *testing.T) {
	cfg := baseConfig()
	set, err := Collect(context.Background(), newFake(2, 8, specs()...), cfg)
	if err != nil {
		t.Fatal(err)
	}
	centre, err := ComputeCentre(context.Background(), newFake(2, 8, specs()...), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Centre, cfg.Shard = centre, Shard{Index: 0, Count: 2}
	shard, err := Collect(context.Background(), newFake(2, 8, specs()...), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range []*noise.Set{set, shard} {
		dir := filepath.Join(t.TempDir(), "noise")
		if err := noise.Save(dir, s); err != nil {
			t.Fatal(err)
		}
		got, err := noise.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, s) {
			t.Errorf("set %d: round trip differs", i)
		}
	}
}

// BenchmarkAggregate measures the in-memory aggregation (moments and
// mini-batch sums) per coordinate update, the perOp of Estimate.Seconds.
func BenchmarkAggregate(b *testing.B) {
	spec := []LayerSpec{{Name: "fc", Parameter: "w", Shape: []int{64, 64}}}
	cfg := Config{Seed: 1, DataSize: 512, Pool: 512, Batches: 8, BatchSizes: []int{16, 64, 128}, CoordsPerLayer: 2048}
	f := newFake(1, 512, spec...)
	r, err := newRun(f, cfg)
	if err != nil {
		b.Fatal(err)
	}
	cs, err := r.centrePass(context.Background(), true, true)
	if err != nil {
		b.Fatal(err)
	}
	centre := r.centreOf(cs, cfg.Pool)
	e, _ := Plan(cfg, spec)
	b.ResetTimer()
	for range b.N {
		a := r.newAcc(flatMeans(centre))
		blk := Block{Offset: 0, Rows: cfg.Pool, Layers: []LayerBlock{{Tested: cs.store[0]}}}
		r.feed(a, blk, func(row int) int { return row }, func(row, l int) float64 { return 0 })
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(e.MomentOps+e.BatchOps), "ns/update")
}

// BenchmarkAddPeer is the peer of BenchmarkAggregate: the same number of
// coordinate updates as plain dst[i] += src[i] over one row (cache
// resident), on one goroutine — the floor for an update.
func BenchmarkAddPeer(b *testing.B) {
	cfg := Config{Seed: 1, DataSize: 512, Pool: 512, Batches: 8, BatchSizes: []int{16, 64, 128}, CoordsPerLayer: 2048}
	e, _ := Plan(cfg, []LayerSpec{{Name: "fc", Parameter: "w", Shape: []int{64, 64}}})
	updates := int(e.MomentOps + e.BatchOps)
	src, dst := make([]float64, 2048), make([]float64, 2048)
	for i := range src {
		src[i] = float64(i)
	}
	b.ResetTimer()
	for range b.N {
		for u := 0; u < updates; u += len(src) {
			for i, v := range src {
				dst[i] += v
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(updates), "ns/update")
}
