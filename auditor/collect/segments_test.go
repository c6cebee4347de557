package collect

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/noise"
)

// TestShardSegmentsExact: K shards merged with their segments equal the
// whole run bit for bit in every array (in-memory and two-pass whole runs,
// shards in any order, K = 2…5, pools whose spans have unequal lengths),
// and MergeSegments refuses segments that are not the set's.
func TestShardSegmentsExact(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pool   int
		scheme Scheme
		K      int
	}{{"in-memory K=3", 60, SchemeInMemory, 3}, {"two-pass K=2", 60, SchemeTwoPass, 2}, {"uneven spans K=5", 57, SchemeInMemory, 5}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig()
			cfg.Pool, cfg.Batches, cfg.BatchSizes = tc.pool, 7, []int{3, 8, 25} // 25 overlaps
			whole := cfg
			whole.Scheme = tc.scheme
			ws, err := Collect(context.Background(), newFake(5, 7, specs()...), whole)
			if err != nil {
				t.Fatal(err)
			}
			centre, err := ComputeCentre(context.Background(), newFake(5, 7, specs()...), cfg)
			if err != nil {
				t.Fatal(err)
			}
			var merged *noise.Set
			var segs []*Segments
			order := []int{tc.K - 1} // out of order
			for k := 0; k < tc.K-1; k++ {
				order = append(order, k)
			}
			for _, k := range order {
				c := cfg
				c.Centre, c.Shard = centre, Shard{Index: k, Count: tc.K}
				s, sg, err := CollectSegments(context.Background(), newFake(5, 4, specs()...), c)
				if err != nil || sg == nil {
					t.Fatalf("shard %d: %v, segments %v", k, err, sg)
				}
				segs = append(segs, sg)
				if merged == nil {
					merged = s
				} else if merged, err = noise.Merge(merged, s); err != nil {
					t.Fatal(err)
				}
			}
			if merged.Partial {
				t.Fatal("all shards merged: partial")
			}
			if err := MergeSegments(merged, segs); err != nil {
				t.Fatal(err)
			}
			for l := range ws.Layers {
				a, b := &ws.Layers[l], &merged.Layers[l]
				for name, p := range map[string][2][]float64{"mean": {a.Mean, b.Mean}, "s2": {a.S2, b.S2}, "s3": {a.S3, b.S3}, "s4": {a.S4, b.S4}, "a3": {a.A3, b.A3}} {
					for j := range p[0] {
						if math.Float64bits(p[0][j]) != math.Float64bits(p[1][j]) {
							t.Errorf("layer %d %s[%d]: whole %v, merged %v", l, name, j, p[0][j], p[1][j])
						}
					}
				}
				for k := range a.MiniBatch {
					for i := range a.MiniBatch[k] {
						if math.Float32bits(a.MiniBatch[k][i]) != math.Float32bits(b.MiniBatch[k][i]) {
							t.Fatalf("layer %d batch size %d value %d differs", l, ws.BatchSizes[k], i)
						}
					}
				}
			}
			// Refusals: a segment twice, one missing, another set's.
			if err := MergeSegments(merged, append(segs, segs[0])); err == nil || !strings.Contains(err.Error(), "held by two parts") {
				t.Errorf("duplicate segments: %v", err)
			}
			if err := MergeSegments(merged, segs[1:]); err == nil || !strings.Contains(err.Error(), "segments for the") {
				t.Errorf("missing segments: %v", err)
			}
			other := *segs[0]
			other.S2 = make([]float64, len(other.S2))
			for i := range other.S2 {
				other.S2[i] = 1e3
			}
			if err := MergeSegments(merged, append([]*Segments{&other}, segs[1:]...)); err == nil || !strings.Contains(err.Error(), "not this set's") {
				t.Errorf("foreign segments: %v", err)
			}
		})
	}
}

// TestSegmentsOnlyForFinishedShards: a whole run and a stopped shard
// return no segments.
func TestSegmentsOnlyForFinishedShards(t *testing.T) {
	cfg := baseConfig()
	if _, sg, err := CollectSegments(context.Background(), newFake(5, 7, specs()...), cfg); err != nil || sg != nil {
		t.Errorf("whole run: segments %v, %v", sg, err)
	}
	centre, err := ComputeCentre(context.Background(), newFake(5, 7, specs()...), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := cfg
	c.Centre, c.Shard = centre, Shard{Index: 0, Count: 2}
	n := 0
	c.Progress = func(Progress) {
		if n++; n == 2 {
			cancel()
		}
	}
	s, sg, err := CollectSegments(ctx, newFake(5, 4, specs()...), c)
	if err == nil || sg != nil || s == nil {
		t.Errorf("stopped shard: set %v, segments %v, err %v", s != nil, sg, err)
	}
}

func TestSegmentsBinary(t *testing.T) {
	sg := &Segments{Columns: 2, Rows: []int{3, 5}, S2: []float64{1, 2, 3, 4}, S3: []float64{-1, 0.5, math.Pi, 1e-300},
		S4: []float64{5, 6, 7, 8}, A3: []float64{9, 10, 11, 12}}
	b, err := sg.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got Segments
	if err := got.UnmarshalBinary(b); err != nil || !slicesEqual(got.Rows, sg.Rows) || got.S3[3] != 1e-300 || got.A3[1] != 10 {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if err := got.UnmarshalBinary(b[:len(b)-1]); err == nil || !strings.Contains(err.Error(), "need") {
		t.Errorf("truncated: %v", err)
	}
	if err := got.UnmarshalBinary(append([]byte("XXXXXXXX"), b[8:]...)); err == nil || !strings.Contains(err.Error(), "magic") {
		t.Errorf("bad magic: %v", err)
	}
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
