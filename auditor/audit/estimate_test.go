package audit

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/collect"
)

// TestCollectionSeconds checks the plan's collection estimate: the
// per-sample time of requests with norms and sums for every gradient of
// the in-memory scheme, and that of a coordinates-only request for the
// two-pass scheme's second pass, with the collector's updates at
// collect.PerOpSeconds.
func TestCollectionSeconds(t *testing.T) {
	const full, coords = 2e-3, 0.5e-3
	for _, c := range []struct {
		name     string
		est      collect.Estimate
		asked    []bool
		want     float64
		wantPerC float64
	}{
		{"in-memory", collect.Estimate{GradientSamples: 100, MomentOps: 1000, BatchOps: 3000}, []bool{true},
			100*full + 4000*collect.PerOpSeconds, full},
		{"two-pass", collect.Estimate{GradientSamples: 200, CoordSamples: 100, MomentOps: 1000, BatchOps: 3000}, []bool{true, false},
			100*full + 100*coords + 4000*collect.PerOpSeconds, coords},
		{"centred", collect.Estimate{GradientSamples: 60, MomentOps: 600}, []bool{true},
			60*full + 600*collect.PerOpSeconds, full},
	} {
		t.Run(c.name, func(t *testing.T) {
			var asked []bool
			secs, pf, pc, err := collectionSeconds(c.est, func(f bool) (float64, error) {
				asked = append(asked, f)
				if f {
					return full, nil
				}
				return coords, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(asked, c.asked) {
				t.Errorf("measured requests with Full %v, want %v", asked, c.asked)
			}
			if math.Abs(secs-c.want) > 1e-12*c.want || pf != full || pc != c.wantPerC {
				t.Errorf("collectionSeconds = %v (per sample %v, coordinates only %v), want %v (%v, %v)", secs, pf, pc, c.want, full, c.wantPerC)
			}
		})
	}
	boom := errors.New("boom")
	if _, _, _, err := collectionSeconds(collect.Estimate{GradientSamples: 2, CoordSamples: 1}, func(f bool) (float64, error) {
		if !f {
			return 0, boom
		}
		return 1, nil
	}); !errors.Is(err, boom) {
		t.Errorf("a failed coordinates-only measurement: %v, want %v", err, boom)
	}
}

// recordingSource is a collect.Source that records the requests and
// delivers zero gradients in blocks of rows samples.
type recordingSource struct {
	layers []collect.LayerSpec
	rows   int
	reqs   []collect.Request
}

func (s *recordingSource) Layers() []collect.LayerSpec { return s.layers }

func (s *recordingSource) PerSample(_ context.Context, req collect.Request, fn func(collect.Block) error) error {
	s.reqs = append(s.reqs, req)
	for off := 0; off < len(req.Indices); off += s.rows {
		b := collect.Block{Offset: off, Rows: min(s.rows, len(req.Indices)-off), Layers: make([]collect.LayerBlock, len(s.layers))}
		for l, spec := range s.layers {
			b.Layers[l].Tested = make([]float64, b.Rows*len(req.Tested[l]))
			if req.Full {
				b.Layers[l].SumSq, b.Layers[l].GradSum = make([]float64, b.Rows), make([]float64, spec.Size())
			}
		}
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

// TestMeasurePerSampleAsksCollectionsRequest checks that the plan times
// the request the collection makes: the collection's tested coordinates
// (collect.TestedCoords, a random draw per layer, not the first ones),
// norms and sums as asked, the pool's first 16 engine batches (here the
// whole pool of 30: a source this fast never fills measureMinTime).
func TestMeasurePerSampleAsksCollectionsRequest(t *testing.T) {
	layers := []collect.LayerSpec{
		{Name: "conv", Parameter: "conv.W", Kind: "weight", Shape: []int{4, 3, 3, 3}},
		{Name: "conv", Parameter: "conv.b", Kind: "bias", Shape: []int{4}},
		{Name: "fc", Parameter: "fc.W", Kind: "weight", Shape: []int{10, 64}},
	}
	cfg := Defaults()
	cfg.Collect.EngineBatch = 4
	r := &runner{cfg: cfg, cc: collect.Config{Seed: 3, DataSize: 50, Pool: 30, Batches: 2, BatchSizes: []int{4}, CoordsPerLayer: 7}}
	src := &recordingSource{layers: layers, rows: 4}
	for _, full := range []bool{true, false} {
		src.reqs = nil
		per, err := r.measurePerSample(t.Context(), src, full)
		if err != nil {
			t.Fatal(err)
		}
		if len(src.reqs) != 1 {
			t.Fatalf("Full %v: %d requests, want 1", full, len(src.reqs))
		}
		req := src.reqs[0]
		if req.Full != full {
			t.Errorf("request Full %v, want %v", req.Full, full)
		}
		if want := collect.PoolIndices(r.cc); !slices.Equal(req.Indices, want) {
			t.Errorf("Full %v: indices %v, want the whole pool %v", full, req.Indices, want)
		}
		want := collect.TestedCoords(r.cc, layers)
		for l := range layers {
			if !slices.Equal(req.Tested[l], want[l]) {
				t.Errorf("Full %v: layer %s: tested %v, want the collection's %v", full, layers[l].Parameter, req.Tested[l], want[l])
			}
		}
		if first := []int{0, 1, 2, 3, 4, 5, 6}; slices.Equal(want[0], first) {
			t.Errorf("the collection's coordinates of conv.W are the first ones %v: the test does not tell them apart", first)
		}
		if per < 0 || math.IsNaN(per) {
			t.Errorf("per-sample time %v", per)
		}
	}
}
