package collect

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"
)

// slowSource delays every block of a fake: warm before the first block of
// a request, perRow per sample of every block.
type slowSource struct {
	*fake
	warm, perRow time.Duration
	rows         []int // rows delivered per request
}

func (s *slowSource) PerSample(ctx context.Context, req Request, fn func(Block) error) error {
	s.rows = append(s.rows, 0)
	first := true
	return s.fake.PerSample(ctx, req, func(b Block) error {
		if first {
			time.Sleep(s.warm)
			first = false
		}
		time.Sleep(time.Duration(b.Rows) * s.perRow)
		s.rows[len(s.rows)-1] += b.Rows
		return fn(b)
	})
}

// TestMeasurePerSample checks the timing pass: the collection's request on
// the pool's first engine batches, the warm-up block left out, timed
// blocks until minTime, and errors named.
func TestMeasurePerSample(t *testing.T) {
	const perRow = 2 * time.Millisecond
	for _, c := range []struct {
		name     string
		scheme   Scheme
		full     bool
		minTime  time.Duration
		wantRows int // delivered
	}{
		{"in-memory, stop after one timed block", SchemeInMemory, true, 0, 6},
		{"in-memory, all 16 blocks", SchemeInMemory, true, time.Hour, 48},
		{"two-pass coordinates only", SchemeTwoPass, false, time.Hour, 48},
		{"centred", SchemeCentred, true, 0, 6},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := baseConfig()
			cfg.Scheme = c.scheme
			if c.scheme == SchemeCentred {
				centre, err := ComputeCentre(t.Context(), newFake(5, 4, specs()...), cfg)
				if err != nil {
					t.Fatal(err)
				}
				cfg.Centre = centre
			}
			src := &slowSource{fake: newFake(5, 3, specs()...), warm: 100 * time.Millisecond, perRow: perRow}
			per, err := MeasurePerSample(t.Context(), src, cfg, 3, c.full, c.minTime)
			if err != nil {
				t.Fatal(err)
			}
			if len(src.requests) != 1 {
				t.Fatalf("%d requests, want 1", len(src.requests))
			}
			req := src.requests[0]
			if want := PoolIndices(cfg)[:16*3]; !slices.Equal(req.Indices, want) || req.Full != c.full {
				t.Errorf("request %v (Full %v), want the pool's first 16 engine batches %v (Full %v)", req.Indices, req.Full, want, c.full)
			}
			if !reflect.DeepEqual(req.Tested, TestedCoords(cfg, specs())) {
				t.Errorf("tested %v, want the collection's %v", req.Tested, TestedCoords(cfg, specs()))
			}
			if src.rows[0] != c.wantRows {
				t.Errorf("%d samples delivered, want %d", src.rows[0], c.wantRows)
			}
			// The warm-up (100 ms) is left out: a sample costs perRow plus
			// the fake's and the collector's work, far under 25 ms.
			if per < perRow.Seconds() || per > 0.025 {
				t.Errorf("%.4f s per sample, want about %v (the warm-up left out)", per, perRow)
			}
		})
	}
	t.Run("one block", func(t *testing.T) {
		cfg := baseConfig()
		src := &slowSource{fake: newFake(5, 64, specs()...), perRow: perRow}
		per, err := MeasurePerSample(t.Context(), src, cfg, 64, true, 0)
		if err != nil {
			t.Fatal(err)
		}
		if src.rows[0] != 60 || per < perRow.Seconds() {
			t.Errorf("%d rows at %.4f s per sample, want the whole pool of 60, timed", src.rows[0], per)
		}
	})
	boom := errors.New("boom")
	f := newFake(5, 4, specs()...)
	f.fail = boom
	if _, err := MeasurePerSample(t.Context(), f, baseConfig(), 4, true, 0); !errors.Is(err, boom) {
		t.Errorf("a failing source: %v, want %v", err, boom)
	}
	if _, err := MeasurePerSample(t.Context(), newFake(5, 4, specs()...), baseConfig(), 0, true, 0); err == nil {
		t.Error("an engine batch of 0: no error")
	}
	bad := newFake(5, 4, specs()...)
	bad.corrupt = func(b *Block) { b.Layers[1].SumSq = nil }
	if _, err := MeasurePerSample(t.Context(), bad, baseConfig(), 4, true, 0); err == nil {
		t.Error("a block without norms: no error")
	}
}

// TestGradSumWorkers checks that the full-gradient sums do not depend on
// the number of workers that add them (each coordinate is added in block
// order whatever the split): a layer of 150,000 coordinates, split over 1
// and 3 workers, gives the same centre bit for bit.
func TestGradSumWorkers(t *testing.T) {
	sp := []LayerSpec{
		{Name: "fc", Parameter: "fc.weight", Kind: "weight", Shape: []int{3, 50000}},
		{Name: "fc", Parameter: "fc.bias", Kind: "bias", Shape: []int{3}},
	}
	cfg := Config{Seed: 2, DataSize: 12, Pool: 12, Batches: 2, BatchSizes: []int{4}, CoordsPerLayer: 10}
	var got []*Centre
	for _, w := range []int{1, 3} {
		cfg.Workers = w
		c, err := ComputeCentre(t.Context(), newFake(9, 5, sp...), cfg)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, c)
	}
	if !reflect.DeepEqual(got[0], got[1]) {
		t.Errorf("centre with 1 worker %+v, with 3 %+v", got[0].Layers[0].GradNormSq, got[1].Layers[0].GradNormSq)
	}
	if got[0].Layers[0].GradNormSq == 0 {
		t.Error("|ḡ|² is 0: the test adds nothing")
	}
}
