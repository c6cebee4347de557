//go:build gnaudit_cuda

package cuda

import (
	"context"
	"fmt"

	"github.com/gnaudit/gnaudit/auditor/collect"
	"github.com/gnaudit/gnaudit/auditor/data"
	"github.com/gnaudit/gnaudit/auditor/ir"
)

// Source implements collect.Source on the GPU: per-sample gradients of a
// model at fixed parameters, computed by a Net in blocks of its batch size,
// with only the tested coordinates, the per-sample squared norms and the
// block sums copied back to the host.
type Source struct {
	net    *Net
	ds     data.Dataset
	layers []collect.LayerSpec
	// scratch
	xf64 []float64
	y    []int
	x32  []float32
	idx  [][]int32
}

// NewSource lays model m out on device d with blocks of `batch` samples and
// serves the samples of ds (already adapted to the model input). Every
// trainable parameter must have a GPU expansion (Conv, Gemm/MatMul, per-channel
// bias Add, BatchNormalization); otherwise the error names the parameter.
func NewSource(d *Device, m *ir.Model, ds data.Dataset, batch int) (*Source, error) {
	net, err := d.NewNet(m, batch)
	if err != nil {
		return nil, err
	}
	s := &Source{net: net, ds: ds}
	for _, p := range m.Trainable {
		u, ok := net.owner[p]
		if !ok {
			net.Close()
			return nil, fmt.Errorf("cuda source: trainable parameter %q has no per-sample expansion on the GPU path (use the CPU engine)", p)
		}
		kind := u.role
		if kind != "weight" && kind != "bias" && kind != "bn_scale" && kind != "bn_shift" {
			kind = "other"
		}
		s.layers = append(s.layers, collect.LayerSpec{Name: u.l.node.Name, Parameter: p, Kind: kind, Shape: append([]int(nil), net.pshape[p]...)})
	}
	return s, nil
}

// Net returns the device net behind the source (to set parameters).
func (s *Source) Net() *Net { return s.net }

// Close frees the device memory.
func (s *Source) Close() { s.net.Close() }

// Layers lists the trainable parameters in the model's order.
func (s *Source) Layers() []collect.LayerSpec { return s.layers }

// PerSample implements collect.Source.
func (s *Source) PerSample(ctx context.Context, req collect.Request, fn func(collect.Block) error) error {
	if len(req.Tested) != len(s.layers) {
		return fmt.Errorf("cuda source: %d tested lists for %d layers", len(req.Tested), len(s.layers))
	}
	s.idx = s.idx[:0]
	for _, t := range req.Tested {
		ix := make([]int32, len(t))
		for i, v := range t {
			ix[i] = int32(v)
		}
		s.idx = append(s.idx, ix)
	}
	bs := s.net.Batch()
	blk := collect.Block{Layers: make([]collect.LayerBlock, len(s.layers))}
	for off := 0; off < len(req.Indices); off += bs {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("cuda source: %w", err)
		}
		rows := min(bs, len(req.Indices)-off)
		var err error
		s.xf64, s.y, err = s.ds.Batch(req.Indices[off:off+rows], s.xf64, s.y)
		if err != nil {
			return fmt.Errorf("cuda source: %w", err)
		}
		if cap(s.x32) < len(s.xf64) {
			s.x32 = make([]float32, len(s.xf64))
		}
		s.x32 = s.x32[:len(s.xf64)]
		for i, v := range s.xf64 {
			s.x32[i] = float32(v)
		}
		if _, err := s.net.LossGrad(s.x32, s.y); err != nil {
			return fmt.Errorf("cuda source: samples %d..%d: %w", off, off+rows-1, err)
		}
		blk.Offset, blk.Rows = off, rows
		for l, spec := range s.layers {
			tested, sq, sum, err := s.net.PerSample(spec.Parameter, s.idx[l])
			if err != nil {
				return fmt.Errorf("cuda source: %w", err)
			}
			lb := &blk.Layers[l]
			lb.Tested = toF64(lb.Tested, tested)
			if req.Full {
				lb.SumSq = append(lb.SumSq[:0], sq...)
				lb.GradSum = toF64(lb.GradSum, sum)
			} else {
				lb.SumSq, lb.GradSum = lb.SumSq[:0], lb.GradSum[:0]
			}
		}
		if err := fn(blk); err != nil {
			return err
		}
	}
	return nil
}

func toF64(dst []float64, src []float32) []float64 {
	dst = dst[:0]
	for _, v := range src {
		dst = append(dst, float64(v))
	}
	return dst
}
