package collect

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/noise"
	"github.com/gnaudit/gnaudit/internal/approx"
)

// specs are three layers: a small conv-like weight tested in full, a larger
// one sampled down to 10 coordinates, and a scalar.
func specs() []LayerSpec {
	return []LayerSpec{
		{Name: "conv1", Parameter: "conv1.weight", Kind: "weight", Shape: []int{2, 1, 3}},
		{Name: "fc", Parameter: "fc.weight", Kind: "weight", Shape: []int{5, 8}},
		{Name: "fc", Parameter: "fc.bias", Kind: "bias", Shape: []int{1}},
	}
}

// baseConfig: the pool is the whole data set (so the moments do not depend
// on the draw), batch size 4 and 12 disjoint (5·12 = 60 ≤ 60), 20
// overlapping.
func baseConfig() Config {
	return Config{Model: "fake.onnx", Step: 3, Data: "fake data", Seed: 11, DataSize: 60, Pool: 60, Batches: 5,
		BatchSizes: []int{4, 12, 20}, CoordsPerLayer: 10, Workers: 3}
}

// checkAgainst compares a set's per-sample quantities with a reference.
func checkAgainst(t *testing.T, set *noise.Set, ref *reference, n int, exactTrace bool) {
	t.Helper()
	if set.Pool != n {
		t.Fatalf("pool %d, want %d", set.Pool, n)
	}
	for l, ly := range set.Layers {
		for c, j := range ly.Coords {
			if !approx.Close(ly.Mean[c], ref.mean[l][j], 1e-13, 1e-13) {
				t.Errorf("%s[%d]: mean %v, direct %v", ly.Parameter, j, ly.Mean[c], ref.mean[l][j])
			}
			for _, m := range []struct {
				name      string
				got, want float64
			}{{"S2", ly.S2[c], ref.s2[l][j]}, {"S3", ly.S3[c], ref.s3[l][j]}, {"S4", ly.S4[c], ref.s4[l][j]}, {"A3", ly.A3[c], ref.a3[l][j]}} {
				if !approx.Close(m.got, m.want, 1e-12*(ref.s2[l][j]+1e-300), 1e-12) {
					t.Errorf("%s[%d]: %s %v, direct %v", ly.Parameter, j, m.name, m.got, m.want)
				}
			}
		}
		if !approx.Close(ly.GradNormSq, ref.normSq[l], approx.Float64, approx.Float64) || !approx.Close(ly.SumNormSq, ref.sumNormSq[l], 0, approx.Float64) {
			t.Errorf("%s: |ḡ|² %v (direct %v), Σ|g|² %v (direct %v)", ly.Parameter, ly.GradNormSq, ref.normSq[l], ly.SumNormSq, ref.sumNormSq[l])
		}
		want := ref.trace[l]
		if !exactTrace { // around a foreign centre: E|g|² − |c|²
			want = ref.sumNormSq[l]/float64(n) - ref.normSq[l]
		}
		if !approx.Close(ly.TraceCov, want, 0, 1e-11) {
			t.Errorf("%s: trace %v, direct %v", ly.Parameter, ly.TraceCov, want)
		}
	}
}

// checkMiniBatches verifies every mini-batch row: the mean of the members'
// tested gradients minus ḡ (in float64, rounded to float32 once).
func checkMiniBatches(t *testing.T, f *fake, set *noise.Set, cfg Config, pool []int) {
	t.Helper()
	for ki, b := range set.BatchSizes {
		k := slices.Index(cfg.BatchSizes, b)
		rows, err := BatchRows(cfg, k)
		if err != nil {
			t.Fatal(err)
		}
		rowIDs := make([]int, set.Batches)
		for r := range rowIDs {
			rowIDs[r] = r
		}
		if set.Collection != nil && set.Collection.Rows != nil {
			rowIDs = set.Collection.Rows[ki]
		}
		for l, ly := range set.Layers {
			nc := len(ly.Coords)
			if len(ly.MiniBatch[ki]) != set.Batches*nc {
				t.Fatalf("%s B=%d: %d values", ly.Parameter, b, len(ly.MiniBatch[ki]))
			}
			if ly.Overlap[ki] != (cfg.Batches*b > cfg.Pool) {
				t.Errorf("%s B=%d: overlap flag %v", ly.Parameter, b, ly.Overlap[ki])
			}
			for r, row := range rowIDs {
				for c, j := range ly.Coords {
					s := 0.0
					for _, p := range rows[row] {
						s += f.grad(pool[p], l)[j]
					}
					want := float32(s/float64(b) - ly.Mean[c])
					got := ly.MiniBatch[ki][r*nc+c]
					if !approx.Close(float64(got), float64(want), approx.Float32, approx.Float32) {
						t.Fatalf("%s B=%d row %d coord %d: ξ_S %v, direct %v", ly.Parameter, b, row, j, got, want)
					}
				}
			}
		}
	}
}

func TestCollectInMemoryAgainstDirect(t *testing.T) {
	cfg := baseConfig()
	f := newFake(5, 7, specs()...)
	set, err := Collect(context.Background(), f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := set.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(f.requests) != 1 || !f.requests[0].Full || set.Collection.Scheme != "in-memory" || set.Partial {
		t.Fatalf("requests %d, scheme %s, partial %v", len(f.requests), set.Collection.Scheme, set.Partial)
	}
	pool := f.requests[0].Indices
	if !slices.Equal(pool, PoolIndices(cfg)) {
		t.Fatal("the source was not asked for the pool in pool order")
	}
	sorted := slices.Sorted(slices.Values(pool))
	for i, v := range sorted {
		if v != i {
			t.Fatalf("pool of the whole data set is not a permutation: %v", sorted)
		}
	}
	// Tested coordinates: all of conv1 (6) and the bias, 10 sorted distinct
	// of fc.weight's 40.
	if got := set.Layers[0].Coords; !slices.Equal(got, []int{0, 1, 2, 3, 4, 5}) {
		t.Errorf("conv1 coords %v", got)
	}
	fc := set.Layers[1].Coords
	if len(fc) != 10 || !slices.IsSorted(fc) || slices.Compact(slices.Clone(fc)) == nil || fc[0] < 0 || fc[9] >= 40 {
		t.Errorf("fc coords %v", fc)
	}
	if len(slices.Compact(slices.Clone(fc))) != 10 {
		t.Errorf("fc coords repeat: %v", fc)
	}
	if set.Model != "fake.onnx" || set.Step != 3 || set.Seed != 11 || set.Batches != 5 || !slices.Equal(set.BatchSizes, cfg.BatchSizes) ||
		set.Collection.Data != "fake data" || set.Collection.PoolSize != 60 || set.Collection.DataSize != 60 {
		t.Errorf("metadata %+v %+v", set, set.Collection)
	}
	ref := direct(f, pool, nil)
	checkAgainst(t, set, ref, 60, true)
	checkMiniBatches(t, f, set, cfg, pool)
	// A degenerate coordinate (σ = 0) has zero noise.
	if ly := set.Layers[1]; slices.Contains(ly.Coords, 8) {
		c := slices.Index(ly.Coords, 8)
		if ly.S2[c] != 0 || ly.MiniBatch[0][c] != 0 {
			t.Errorf("degenerate coordinate: S2 %v ξ %v", ly.S2[c], ly.MiniBatch[0][c])
		}
	}
}

// TestSchemesAgree: the three schemes give the same set, bit for bit (the
// same additions in the same order), apart from the scheme's name. Only the
// first pass's block size must be the same: |ḡ|² is computed from the
// source's per-block gradient sums, whose grouping changes the rounding.
func TestSchemesAgree(t *testing.T) {
	cfg := baseConfig()
	f := newFake(5, 13, specs()...)
	mem, err := Collect(context.Background(), f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg2 := cfg
	cfg2.Scheme = SchemeTwoPass
	f2 := newFake(5, 13, specs()...)
	f2.blocks = []int{13, 4}
	two, err := Collect(context.Background(), f2, cfg2)
	if err != nil {
		t.Fatal(err)
	}
	if len(f2.requests) != 2 || !f2.requests[0].Full || f2.requests[1].Full {
		t.Errorf("two-pass requests: %d, full %v", len(f2.requests), f2.requests[0].Full)
	}
	centre, err := ComputeCentre(context.Background(), newFake(5, 13, specs()...), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg3 := cfg
	cfg3.Centre = centre
	cen, err := Collect(context.Background(), newFake(5, 9, specs()...), cfg3)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*noise.Set{two, cen} {
		got := *s
		col := *s.Collection
		col.Scheme = "in-memory"
		got.Collection = &col
		if !reflect.DeepEqual(&got, mem) {
			t.Errorf("scheme %s differs from in-memory", s.Collection.Scheme)
			for l := range mem.Layers {
				a, b := mem.Layers[l], s.Layers[l]
				t.Logf("%s: mean %v/%v s2 %v/%v trace %v/%v", a.Parameter, a.Mean[0], b.Mean[0], a.S2[0], b.S2[0], a.TraceCov, b.TraceCov)
			}
		}
	}
}

func TestBatchLayout(t *testing.T) {
	cfg := Config{Seed: 2, DataSize: 100, Pool: 97, Batches: 8, BatchSizes: []int{5, 12, 13, 40}}
	for k, b := range cfg.BatchSizes {
		rows, err := BatchRows(cfg, k)
		if err != nil {
			t.Fatal(err)
		}
		overlap := cfg.Batches*b > cfg.Pool
		seen := map[int]int{}
		for r, row := range rows {
			if len(row) != b || !slices.IsSorted(row) || len(slices.Compact(slices.Clone(row))) != b {
				t.Fatalf("B=%d row %d: %v", b, r, row)
			}
			for _, p := range row {
				if p < 0 || p >= cfg.Pool {
					t.Fatalf("B=%d row %d: position %d", b, r, p)
				}
				seen[p]++
			}
		}
		shared := 0
		for _, c := range seen {
			if c > 1 {
				shared++
			}
		}
		if !overlap && shared > 0 {
			t.Errorf("B=%d (n·B = %d ≤ %d): batches share %d samples", b, cfg.Batches*b, cfg.Pool, shared)
		}
		if overlap && shared == 0 {
			t.Errorf("B=%d: overlapping draws share nothing", b)
		}
		again, _ := BatchRows(cfg, k)
		if !reflect.DeepEqual(rows, again) {
			t.Errorf("B=%d: layout not reproducible", b)
		}
	}
	if _, err := BatchRows(cfg, 4); err == nil {
		t.Error("bad batch-size index: no error")
	}
	// Over many rows, overlapping draws are uniform over the pool.
	u := Config{Seed: 9, DataSize: 10, Pool: 10, Batches: 4000, BatchSizes: []int{3}}
	rows, _ := BatchRows(u, 0)
	counts := make([]float64, 10)
	for _, row := range rows {
		for _, p := range row {
			counts[p]++
		}
	}
	chi := 0.0
	for _, c := range counts {
		chi += (c - 1200) * (c - 1200) / 1200
	}
	if chi > 27.88 { // 0.999 quantile, 9 degrees of freedom
		t.Errorf("overlapping draws not uniform: chi-square %v, counts %v", chi, counts)
	}
}

// TestPoolDraw: a pool smaller than the data set holds distinct indices
// and the moments are those of exactly those samples.
func TestPoolDraw(t *testing.T) {
	cfg := baseConfig()
	cfg.DataSize, cfg.Pool, cfg.BatchSizes = 500, 40, []int{2, 8}
	f := newFake(8, 16, specs()...)
	set, err := Collect(context.Background(), f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	pool := f.requests[0].Indices
	if len(pool) != 40 || len(slices.Compact(slices.Sorted(slices.Values(pool)))) != 40 || slices.Max(pool) >= 500 {
		t.Fatalf("pool %v", pool)
	}
	checkAgainst(t, set, direct(f, pool, nil), 40, true)
	checkMiniBatches(t, f, set, cfg, pool)
	cfg.Seed++
	other := PoolIndices(cfg)
	if slices.Equal(other, pool) {
		t.Error("the pool does not depend on the seed")
	}
}

func TestShardsMerge(t *testing.T) {
	cfg := baseConfig()
	cfg.Batches, cfg.BatchSizes = 6, []int{3, 10, 25} // 25 overlaps
	whole, err := Collect(context.Background(), newFake(5, 7, specs()...), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The same first-pass blocks as the whole run: |ḡ|² is then identical.
	centre, err := ComputeCentre(context.Background(), newFake(5, 7, specs()...), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var parts []*noise.Set
	for k := 0; k < 3; k++ {
		c := cfg
		c.Centre, c.Shard = centre, Shard{Index: k, Count: 3}
		f := newFake(5, 5, specs()...)
		s, err := Collect(context.Background(), f, c)
		if err != nil {
			t.Fatal(err)
		}
		if !s.Partial || s.Batches != 2 || !strings.Contains(s.Collection.Reason, "shard") {
			t.Fatalf("shard %d: partial %v batches %d reason %q", k, s.Partial, s.Batches, s.Collection.Reason)
		}
		if want := [][2]int{{20 * k, 20 * (k + 1)}}; !reflect.DeepEqual(s.Collection.PoolRanges, want) || s.Pool != 20 {
			t.Errorf("shard %d: pool ranges %v, pool %d", k, s.Collection.PoolRanges, s.Pool)
		}
		// Disjoint batch sizes need no sample outside the shard's range;
		// the overlapping one does.
		if n := len(f.requests[0].Indices); n <= 20 {
			t.Errorf("shard %d asked for %d samples (the overlapping batch size needs more than its 20)", k, n)
		}
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, s)
	}
	m01, err := noise.Merge(parts[0], parts[1])
	if err != nil {
		t.Fatal(err)
	}
	if !m01.Partial {
		t.Error("two of three shards: not partial")
	}
	all, err := noise.Merge(parts[2], m01) // order does not matter
	if err != nil {
		t.Fatal(err)
	}
	if all.Partial || all.Pool != 60 || all.Batches != 6 || all.Collection.Rows != nil || all.Collection.PoolRanges != nil {
		t.Fatalf("merged: partial %v pool %d batches %d %+v", all.Partial, all.Pool, all.Batches, all.Collection)
	}
	for l := range whole.Layers {
		a, b := whole.Layers[l], all.Layers[l]
		if !reflect.DeepEqual(a.Mean, b.Mean) || !reflect.DeepEqual(a.MiniBatch, b.MiniBatch) || a.GradNormSq != b.GradNormSq || !reflect.DeepEqual(a.Overlap, b.Overlap) {
			t.Errorf("%s: merged centre or mini-batches differ from the whole run", a.Parameter)
		}
		for c := range a.Coords {
			for _, m := range [][2]float64{{a.S2[c], b.S2[c]}, {a.S3[c], b.S3[c]}, {a.S4[c], b.S4[c]}, {a.A3[c], b.A3[c]}} {
				if !approx.Close(m[1], m[0], 1e-13*(a.S2[c]+1e-300), 1e-13) {
					t.Errorf("%s coord %d: merged sum %v, whole %v", a.Parameter, a.Coords[c], m[1], m[0])
				}
			}
		}
		if !approx.Close(b.TraceCov, a.TraceCov, 0, approx.Float64) || !approx.Close(b.SumNormSq, a.SumNormSq, 0, 1e-13) {
			t.Errorf("%s: merged trace %v, whole %v", a.Parameter, b.TraceCov, a.TraceCov)
		}
	}
	checkAgainst(t, all, direct(newFake(5, 1, specs()...), PoolIndices(cfg), nil), 60, true)

	// Refusals.
	if _, err := noise.Merge(parts[0], parts[0]); err == nil || !strings.Contains(err.Error(), "share pool positions") {
		t.Errorf("merging a shard with itself: %v", err)
	}
	other := *parts[1]
	ol := slices.Clone(other.Layers)
	ol[0].Mean = slices.Clone(ol[0].Mean)
	ol[0].Mean[0] += 1e-15
	other.Layers = ol
	if _, err := noise.Merge(parts[0], &other); err == nil || !strings.Contains(err.Error(), "different centres") {
		t.Errorf("different centres: %v", err)
	}
	seeded := *parts[1]
	seeded.Seed++
	if _, err := noise.Merge(parts[0], &seeded); err == nil || !strings.Contains(err.Error(), "different collections") {
		t.Errorf("different seeds: %v", err)
	}
	if _, err := noise.Merge(whole, parts[0]); err == nil {
		t.Error("a whole set merged with one of its shards")
	}
}

func TestConfigErrors(t *testing.T) {
	ok := baseConfig()
	cases := []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.Pool = 0 }, "pool of 0"},
		{func(c *Config) { c.DataSize = 10 }, "pool of 60 samples from a data set of 10"},
		{func(c *Config) { c.Batches = 0 }, "0 mini-batches"},
		{func(c *Config) { c.BatchSizes = nil }, "no batch sizes"},
		{func(c *Config) { c.BatchSizes = []int{4, 4} }, "ascending"},
		{func(c *Config) { c.BatchSizes = []int{61} }, "pool = 60"},
		{func(c *Config) { c.CoordsPerLayer = -1 }, "-1 coordinates"},
		{func(c *Config) { c.Scheme = "magic" }, `unknown scheme "magic"`},
		{func(c *Config) { c.Scheme = SchemeCentred }, "needs a centre"},
		{func(c *Config) { c.Shard = Shard{Index: 0, Count: 2} }, "needs the pool's centre"},
		{func(c *Config) { c.Shard = Shard{Index: 3, Count: 2} }, "shard 3 of 2"},
		{func(c *Config) { c.Centre = &Centre{}; c.Shard = Shard{Index: 0, Count: 6} }, "6 shards for 5 mini-batches"},
		{func(c *Config) { c.Centre = &Centre{Seed: 1} }, "is not this collection's"},
	}
	for _, c := range cases {
		cfg := ok
		c.mod(&cfg)
		_, err := Collect(context.Background(), newFake(1, 8, specs()...), cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
	dup := append(specs(), LayerSpec{Name: "x", Parameter: "fc.bias", Shape: []int{2}})
	if _, err := Collect(context.Background(), newFake(1, 8, dup...), ok); err == nil || !strings.Contains(err.Error(), "repeated") {
		t.Errorf("duplicate parameter: %v", err)
	}
	bad := []LayerSpec{{Name: "x", Parameter: "p", Shape: []int{3, 0}}}
	if _, err := Collect(context.Background(), newFake(1, 8, bad...), ok); err == nil || !strings.Contains(err.Error(), "non-positive dimension") {
		t.Errorf("empty shape: %v", err)
	}
}

func TestSourceErrors(t *testing.T) {
	cfg := baseConfig()
	f := newFake(1, 8, specs()...)
	f.fail = errors.New("device lost")
	if _, err := Collect(context.Background(), f, cfg); err == nil || !strings.Contains(err.Error(), "device lost") {
		t.Errorf("source failure: %v", err)
	}
	for _, c := range []struct {
		corrupt func(*Block)
		want    string
	}{
		{func(b *Block) { b.Offset++ }, "expected offset 0"},
		{func(b *Block) { b.Layers = b.Layers[:2] }, "2 layers, expected 3"},
		{func(b *Block) { b.Layers[1].Tested = b.Layers[1].Tested[1:] }, `layer "fc.weight": 79 tested values for 8 rows × 10 coordinates`},
		{func(b *Block) { b.Layers[2].SumSq = nil }, `layer "fc.bias": full request answered with 0 squared norms`},
	} {
		f := newFake(1, 8, specs()...)
		f.corrupt = c.corrupt
		if _, err := Collect(context.Background(), f, cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
	n := newFake(1, 8, specs()...)
	n.nan = 17
	if _, err := Collect(context.Background(), n, cfg); err == nil || !strings.Contains(err.Error(), `layer "conv1.weight", coordinate 0`) {
		t.Errorf("NaN gradient: %v", err)
	}
	short := &shortSource{fake: newFake(1, 8, specs()...)}
	if _, err := Collect(context.Background(), short, cfg); err == nil || !strings.Contains(err.Error(), "delivered 56 of 60") {
		t.Errorf("short source: %v", err)
	}
}

// shortSource drops the last block.
type shortSource struct{ *fake }

func (s *shortSource) PerSample(ctx context.Context, req Request, fn func(Block) error) error {
	return s.fake.PerSample(ctx, req, func(b Block) error {
		if b.Offset+b.Rows == len(req.Indices) {
			return nil
		}
		return fn(b)
	})
}

func TestCancel(t *testing.T) {
	cfg := baseConfig()
	cfg.Pool, cfg.DataSize, cfg.Batches, cfg.BatchSizes = 120, 120, 10, []int{3, 6, 12, 20}
	// In-memory, stopped after 48 of 120 samples: an exact collection of
	// those 48, centred on their own mean.
	ctx, cancel := context.WithCancel(context.Background())
	f := newFake(3, 8, specs()...)
	f.cancel, f.cancelAt = cancel, 48
	set, err := Collect(ctx, f, cfg)
	if !errors.Is(err, context.Canceled) || !IsPartial(err) || set == nil {
		t.Fatalf("in-memory stop: %v %v", set, err)
	}
	if err := set.Validate(); err != nil {
		t.Fatal(err)
	}
	c := set.Collection
	if !set.Partial || !c.OwnCentre || set.Pool != 48 || !reflect.DeepEqual(c.PoolRanges, [][2]int{{0, 48}}) {
		t.Fatalf("partial set: pool %d %+v", set.Pool, c)
	}
	pool := f.requests[0].Indices
	checkAgainst(t, set, direct(f, pool[:48], nil), 48, true)
	// Rows complete within the first 48 positions: row r of B starts at
	// 12r; B=3,6,12 have rows 0..3 complete (4 each), B=20 (overlapping,
	// n·B = 200 > 120) almost surely none: keep 3 batch sizes × 4 rows.
	if set.Batches != 4 || !slices.Equal(set.BatchSizes, []int{3, 6, 12}) {
		t.Errorf("kept %d rows of batch sizes %v (rows %v)", set.Batches, set.BatchSizes, c.Rows)
	}
	checkMiniBatches(t, f, set, cfg, pool)
	if _, err := noise.Merge(set, set); err == nil || !strings.Contains(err.Error(), "own mean") {
		t.Errorf("merging own-centre sets: %v", err)
	}

	// Two-pass stopped in its first pass keeps nothing.
	ctx, cancel = context.WithCancel(context.Background())
	f = newFake(3, 8, specs()...)
	f.cancel, f.cancelAt = cancel, 16
	cfg2 := cfg
	cfg2.Scheme = SchemeTwoPass
	if set, err := Collect(ctx, f, cfg2); set != nil || !IsPartial(err) || !strings.Contains(err.Error(), "keeps nothing") {
		t.Errorf("two-pass first-pass stop: %v %v", set, err)
	}
	// Stopped in the second pass: moments of the first 64 samples around
	// the whole pool's ḡ.
	ctx, cancel = context.WithCancel(context.Background())
	f = newFake(3, 8, specs()...)
	f.cancel, f.cancelAt = cancel, 120+64
	set, err = Collect(ctx, f, cfg2)
	if !IsPartial(err) || set == nil || set.Pool != 64 || set.Collection.OwnCentre || !set.Partial {
		t.Fatalf("two-pass second-pass stop: %v %v", set, err)
	}
	full := direct(f, pool, nil)
	checkAgainst(t, set, direct(f, pool[:64], full.mean), 64, false)
	checkMiniBatches(t, f, set, cfg, pool)
	if err := set.Validate(); err != nil {
		t.Error(err)
	}
	// Stopped at once: nothing.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if set, err := Collect(ctx, newFake(3, 8, specs()...), cfg); set != nil || !IsPartial(err) {
		t.Errorf("cancelled before start: %v %v", set, err)
	}
}

func TestCommonRows(t *testing.T) {
	mk := func(ns ...int) [][]int {
		out := make([][]int, len(ns))
		for i, n := range ns {
			for j := 0; j < n; j++ {
				out[i] = append(out[i], j)
			}
		}
		return out
	}
	for _, c := range []struct {
		counts []int
		rows   int
		keep   []int
	}{
		{[]int{10, 10, 9}, 9, []int{0, 1, 2}},
		{[]int{100, 2, 50}, 50, []int{0, 2}},
		{[]int{100, 40, 41}, 40, []int{0, 1, 2}},
		{[]int{2, 1, 0}, 0, []int{}},
		{[]int{6, 3}, 3, []int{0, 1}}, // 6·1 = 3·2: the tie keeps more batch sizes
	} {
		rows, keep := commonRows(mk(c.counts...))
		if rows != c.rows || !slices.Equal(keep, c.keep) {
			t.Errorf("commonRows(%v) = %d %v, want %d %v", c.counts, rows, keep, c.rows, c.keep)
		}
	}
}

func TestProgress(t *testing.T) {
	cfg := baseConfig()
	cfg.Scheme = SchemeTwoPass
	var seen []Progress
	cfg.Progress = func(p Progress) { seen = append(seen, p) }
	if _, err := Collect(context.Background(), newFake(1, 16, specs()...), cfg); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 8 { // 4 blocks per pass
		t.Fatalf("%d progress calls", len(seen))
	}
	last := seen[len(seen)-1]
	if last.Pass != 2 || last.Passes != 2 || last.Done != last.Total || last.Total != 60 || last.ETA != 0 || last.Phase != "gradients" {
		t.Errorf("last progress %+v", last)
	}
	if seen[0].Phase != "centre" || seen[0].Done != 16 || (seen[0].ETA <= 0 && seen[0].Elapsed > 0) {
		t.Errorf("first progress %+v", seen[0])
	}
	for i := 1; i < len(seen); i++ {
		if seen[i].Pass == seen[i-1].Pass && seen[i].Done <= seen[i-1].Done {
			t.Errorf("progress not increasing: %+v after %+v", seen[i], seen[i-1])
		}
	}
	cfg.Scheme = SchemeInMemory
	seen = nil
	if _, err := Collect(context.Background(), newFake(1, 16, specs()...), cfg); err != nil {
		t.Fatal(err)
	}
	if last := seen[len(seen)-1]; last.Phase != "aggregate" || last.Done != 60 {
		t.Errorf("in-memory last progress %+v", last)
	}
}
