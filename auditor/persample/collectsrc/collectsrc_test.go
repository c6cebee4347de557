package collectsrc

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/collect"
	"github.com/gnaudit/gnaudit/auditor/data"
	"github.com/gnaudit/gnaudit/auditor/npy"
	"github.com/gnaudit/gnaudit/auditor/onnx"
	"github.com/gnaudit/gnaudit/auditor/persample"
	"github.com/gnaudit/gnaudit/internal/approx"
)

const fixtures = "../../../testdata/torch/alexnet"

func load(t *testing.T, name string) *npy.Array {
	t.Helper()
	a, err := npy.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// setup returns a source over the 8 samples of the torch alexnet fixture
// (batches of 3) and the functorch per-sample gradients of every layer.
func setup(t *testing.T) (*Source, [][]float64) {
	t.Helper()
	m, err := onnx.Load(filepath.Join(fixtures, "opset13.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := persample.New(m, persample.Options{Batch: 3})
	if err != nil {
		t.Fatal(err)
	}
	x := load(t, "x.npy")
	pix := make([]float32, len(x.F64))
	for k, v := range x.F64 {
		pix[k] = float32(v)
	}
	lab := load(t, "labels.npy")
	labels := make([]int, len(lab.I64))
	for k, v := range lab.I64 {
		labels[k] = int(v)
	}
	ds, err := data.New("alexnet fixture", data.Shape{C: 3, H: 16, W: 16}, pix, labels, 10)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(e, ds)
	if err != nil {
		t.Fatal(err)
	}
	var ref [][]float64
	for _, l := range s.Layers() {
		ref = append(ref, load(t, "persample/"+l.Parameter+".npy").F64)
	}
	return s, ref
}

func maxAbs(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, math.Abs(x))
	}
	return m
}

// TestPerSampleBlocks: blocks cover the request in order; tested
// coordinates, |g_i|² and block sums equal functorch's per-sample
// gradients.
func TestPerSampleBlocks(t *testing.T) {
	s, ref := setup(t)
	layers := s.Layers()
	if len(layers) != 12 || layers[0].Parameter != "conv1.weight" || layers[0].Name != "conv1" || layers[0].Kind != "weight" || layers[1].Kind != "bias" {
		t.Fatalf("layers %+v", layers)
	}
	idx := []int{5, 0, 7, 2, 3, 1, 6}
	req := collect.Request{Indices: idx, Full: true}
	for _, l := range layers {
		req.Tested = append(req.Tested, []int{0, l.Size() / 2, l.Size() - 1})
	}
	next := 0
	err := s.PerSample(context.Background(), req, func(b collect.Block) error {
		if b.Offset != next || b.Rows < 1 || b.Rows > 3 {
			t.Fatalf("block at %d with %d rows, want offset %d", b.Offset, b.Rows, next)
		}
		next += b.Rows
		for l, lb := range b.Layers {
			n := layers[l].Size()
			scale := maxAbs(ref[l])
			sum := make([]float64, n)
			for r := 0; r < b.Rows; r++ {
				g := ref[l][idx[b.Offset+r]*n : (idx[b.Offset+r]+1)*n]
				sq := 0.0
				for j, v := range g {
					sq += v * v
					sum[j] += v
				}
				approx.Abs(t, fmt.Sprintf("%s row %d: |g|² (2e-4 of it)", layers[l].Parameter, b.Offset+r), lb.SumSq[r], sq, 2e-4*sq)
				for q, j := range req.Tested[l] {
					approx.Abs(t, fmt.Sprintf("%s row %d coordinate %d (1e-4 of max |g|)", layers[l].Parameter, b.Offset+r, j), lb.Tested[r*3+q], g[j], 1e-4*scale)
				}
			}
			for j := range sum {
				if !approx.Abs(t, fmt.Sprintf("%s block at %d: sum[%d] (3e-4 of max |g|)", layers[l].Parameter, b.Offset, j), lb.GradSum[j], sum[j], 1e-4*(3*scale)) {
					t.FailNow()
				}
			}
		}
		return nil
	})
	if err != nil || next != len(idx) {
		t.Fatalf("PerSample: %v after %d samples", err, next)
	}
}

// TestCentre runs the collector's first pass over the whole fixture: ḡ at
// the tested coordinates and |ḡ|² equal functorch's.
func TestCentre(t *testing.T) {
	s, ref := setup(t)
	cfg := collect.Config{Seed: 3, DataSize: 8, Pool: 8, Batches: 2, BatchSizes: []int{4}, CoordsPerLayer: 20}
	c, err := collect.ComputeCentre(context.Background(), s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for l, cl := range c.Layers {
		n := s.Layers()[l].Size()
		mean := make([]float64, n)
		for i := 0; i < 8; i++ {
			for j := range mean {
				mean[j] += ref[l][i*n+j] / 8
			}
		}
		norm := 0.0
		for _, v := range mean {
			norm += v * v
		}
		approx.Abs(t, cl.Parameter+": |ḡ|² (2e-4 of it)", cl.GradNormSq, norm, 2e-4*norm)
		for q, j := range cl.Coords {
			approx.Abs(t, fmt.Sprintf("%s coordinate %d: ḡ (1e-4 of max |g|)", cl.Parameter, j), cl.Mean[q], mean[j], 1e-4*maxAbs(ref[l]))
		}
	}
}

func TestErrors(t *testing.T) {
	s, _ := setup(t)
	req := collect.Request{Indices: []int{0, 1, 2, 3}, Tested: make([][]int, len(s.Layers()))}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.PerSample(ctx, req, func(collect.Block) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	stop := errors.New("stop")
	calls := 0
	if err := s.PerSample(context.Background(), req, func(collect.Block) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Errorf("fn error: %v after %d calls", err, calls)
	}
	if err := s.PerSample(context.Background(), collect.Request{Indices: []int{0}}, func(collect.Block) error { return nil }); err == nil {
		t.Error("no error for missing tested coordinates")
	}
	req.Indices = []int{0, 8}
	if err := s.PerSample(context.Background(), req, func(collect.Block) error { return nil }); err == nil {
		t.Error("no error for a sample outside the data set")
	}
	ds, err := data.New("small", data.Shape{C: 3, H: 8, W: 8}, make([]float32, 3*64), []int{1}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(s.e, ds); err == nil {
		t.Error("no error for a data set of the wrong shape")
	}
}
