// Package collectsrc adapts the per-sample gradient engine
// (auditor/persample) to the noise collector's collect.Source: the
// collector asks for the per-sample gradients of samples of a data set at
// its tested coordinates, with |g_i|² and Σ g_i over all coordinates, and
// the engine computes them in batched passes of Engine.Batch samples.
package collectsrc

import (
	"context"
	"fmt"

	"github.com/gnaudit/gnaudit/auditor/collect"
	"github.com/gnaudit/gnaudit/auditor/data"
	"github.com/gnaudit/gnaudit/auditor/persample"
)

// Source is a collect.Source computing per-sample gradients of a model on
// a data set with a persample.Engine. It is not safe for concurrent use.
type Source struct {
	e      *persample.Engine
	ds     data.Dataset
	layers []collect.LayerSpec
	x      []float64
	y      []int
	res    persample.Result
}

var _ collect.Source = (*Source)(nil)

// New returns the source of engine e on data set ds; the data set must fit
// the model's input and classes (see data.Dataset.Check).
func New(e *persample.Engine, ds data.Dataset) (*Source, error) {
	if e == nil {
		return nil, fmt.Errorf("collectsrc: nil engine")
	}
	if err := ds.Check(append([]int{-1}, e.InputShape()...), e.Classes()); err != nil {
		return nil, fmt.Errorf("collectsrc: %w", err)
	}
	s := &Source{e: e, ds: ds}
	for _, p := range e.Params() {
		s.layers = append(s.layers, collect.LayerSpec{Name: p.Layer, Parameter: p.Name, Kind: p.Kind, Shape: p.Shape})
	}
	if len(s.layers) == 0 {
		return nil, fmt.Errorf("collectsrc: the model has no trainable parameters")
	}
	return s, nil
}

// Layers lists the model's trainable parameters (persample.Engine.Params).
func (s *Source) Layers() []collect.LayerSpec { return s.layers }

// PerSample computes the gradients of req.Indices in blocks of the
// engine's batch size.
func (s *Source) PerSample(ctx context.Context, req collect.Request, fn func(collect.Block) error) error {
	if len(req.Tested) != len(s.layers) {
		return fmt.Errorf("collectsrc: tested coordinates for %d layers, the model has %d", len(req.Tested), len(s.layers))
	}
	preq := persample.Request{Coords: req.Tested, Norms: req.Full}
	B := s.e.Batch()
	blk := collect.Block{Layers: make([]collect.LayerBlock, len(s.layers))}
	for off := 0; off < len(req.Indices); off += B {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("collectsrc: %w", err)
		}
		rows := min(B, len(req.Indices)-off)
		var err error
		s.x, s.y, err = s.ds.Batch(req.Indices[off:off+rows], s.x, s.y)
		if err != nil {
			return fmt.Errorf("collectsrc: samples %d–%d of the request: %w", off, off+rows-1, err)
		}
		if err := s.e.ComputeInto(s.x, s.y, preq, &s.res); err != nil {
			return fmt.Errorf("collectsrc: samples %d–%d of the request: %w", off, off+rows-1, err)
		}
		blk.Offset, blk.Rows = off, rows
		for l := range s.layers {
			p := &s.res.Params[l]
			blk.Layers[l] = collect.LayerBlock{Tested: p.Coords}
			if req.Full {
				blk.Layers[l].SumSq, blk.Layers[l].GradSum = p.SqNorm, p.Sum
			}
		}
		if err := fn(blk); err != nil {
			return err
		}
	}
	return nil
}
