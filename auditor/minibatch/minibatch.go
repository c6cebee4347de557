// Package minibatch is the mini-batch noise engine: a collect.BatchSource
// that computes true mini-batch gradients on the CPU executor, B samples in
// one forward/backward pass with train-mode BatchNorm (batch statistics,
// as SGD in model.train() sees them), for collect.CollectMiniBatch.
//
// The per-sample engine (auditor/persample) gives the per-sample gradients
// g_i of an eval-mode network and forms ξ_S = mean_{i∈S} g_i − ḡ; this
// engine forms ξ_S = g_S − ḡ from the gradient g_S of the batch itself.
// Without BatchNorm the two are the same number (tested); with train-mode
// BatchNorm only this engine measures the noise that SGD sees. See
// docs/collection.md for when to use which.
package minibatch

import (
	"context"
	"fmt"
	"slices"

	"github.com/gnaudit/gnaudit/auditor/collect"
	"github.com/gnaudit/gnaudit/auditor/data"
	"github.com/gnaudit/gnaudit/auditor/graph"
	"github.com/gnaudit/gnaudit/auditor/ir"
)

// Options configure a Source.
type Options struct {
	// Float64 runs the executor in float64 (for checks).
	Float64 bool
	// BatchNormEval keeps BatchNorm in eval mode (running statistics):
	// then samples do not interact and the engine reproduces the
	// per-sample engine's mini-batch noise. Off by default.
	BatchNormEval bool
	// Layers are the layer specs to report (e.g. the per-sample engine's,
	// so that the two sets have the same layers); nil derives them from
	// the model's trainable parameters (layer = parameter, kind "other").
	Layers []collect.LayerSpec
	// MaxMemory bounds the tensors of each executor the engine builds
	// (graph.Options.MaxMemory; 0: the machine's memory).
	MaxMemory int64
}

// Source is the mini-batch engine on one model and data set. It builds one
// executor per batch size on demand (keeping the last one) and is not safe
// for concurrent use.
type Source struct {
	m         *ir.Model
	ds        data.Dataset
	opt       Options
	layers    []collect.LayerSpec
	overrides map[string][]float64
	net       *graph.Net
	perSample int64 // executor bytes per sample (estimate)
	fixed     int64 // initializer bytes
	x         []float64
	y         []int
}

// New opens the engine for m over ds (collect indices are positions in ds).
func New(m *ir.Model, ds data.Dataset, opt Options) (*Source, error) {
	if m == nil {
		return nil, fmt.Errorf("minibatch: nil model")
	}
	one, err := graph.Build(m, graph.Options{Batch: 1, Float64: opt.Float64, MaxMemory: opt.MaxMemory})
	if err != nil {
		return nil, fmt.Errorf("minibatch: %w", err)
	}
	in := append([]int{1}, one.InputShape()...)
	if err := ds.Check(in, one.Classes()); err != nil {
		return nil, fmt.Errorf("minibatch: %w", err)
	}
	s := &Source{m: m, ds: ds, opt: opt, overrides: map[string][]float64{}, perSample: one.ValueBytes()}
	shapes := map[string][]int{}
	for _, p := range one.Params() {
		shapes[p.Name] = p.Shape
		k := int64(8)
		for _, d := range p.Shape {
			k *= int64(d)
		}
		s.fixed += k
	}
	if opt.Layers != nil {
		for _, l := range opt.Layers {
			sh, ok := shapes[l.Parameter]
			if !ok || !slices.Equal(sh, l.Shape) {
				return nil, fmt.Errorf("minibatch: layer %q: parameter %q (shape %v) is not a float initializer of that shape in the model", l.Name, l.Parameter, l.Shape)
			}
		}
		s.layers = slices.Clone(opt.Layers)
	} else {
		for _, p := range one.Params() {
			if p.Trainable {
				s.layers = append(s.layers, collect.LayerSpec{Name: p.Name, Parameter: p.Name, Kind: "other", Shape: p.Shape})
			}
		}
	}
	if len(s.layers) == 0 {
		return nil, fmt.Errorf("minibatch: the model has no trainable parameters")
	}
	return s, nil
}

// Layers implements collect.BatchSource.
func (s *Source) Layers() []collect.LayerSpec { return slices.Clone(s.layers) }

// SetParam sets an initializer (a trainable parameter or a BatchNorm
// running statistic) for the next batches.
func (s *Source) SetParam(name string, v []float64) error {
	if s.net != nil {
		if err := s.net.SetParam(name, v); err != nil {
			return fmt.Errorf("minibatch: %w", err)
		}
	} else if _, ok := s.m.Initializers[name]; !ok {
		return fmt.Errorf("minibatch: SetParam: unknown initializer %q", name)
	}
	s.overrides[name] = slices.Clone(v)
	return nil
}

// ExecutorBytes implements collect.BatchSource: the graph values and their
// derivatives at batch size batch (an estimate from the batch-1 graph).
func (s *Source) ExecutorBytes(batch int) int64 { return int64(batch)*s.perSample + s.fixed }

// netFor returns the executor of batch size b.
func (s *Source) netFor(b int) (*graph.Net, error) {
	if s.net != nil && s.net.Batch() == b {
		return s.net, nil
	}
	s.net = nil // free the previous one first
	n, err := graph.Build(s.m, graph.Options{Batch: b, Float64: s.opt.Float64, BatchNormTrain: !s.opt.BatchNormEval, MaxMemory: s.opt.MaxMemory})
	if err != nil {
		return nil, fmt.Errorf("minibatch: batch %d: %w", b, err)
	}
	for name, v := range s.overrides {
		if err := n.SetParam(name, v); err != nil {
			return nil, fmt.Errorf("minibatch: %w", err)
		}
	}
	s.net = n
	return n, nil
}

// BatchGrad implements collect.BatchSource: one forward/backward pass of
// the samples idx (train-mode BatchNorm unless Options.BatchNormEval; the
// running statistics are not updated).
func (s *Source) BatchGrad(ctx context.Context, idx []int, grads [][]float64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(grads) != len(s.layers) {
		return fmt.Errorf("minibatch: %d gradient buffers for %d layers", len(grads), len(s.layers))
	}
	net, err := s.netFor(len(idx))
	if err != nil {
		return err
	}
	s.x, s.y, err = s.ds.Batch(idx, s.x, s.y)
	if err != nil {
		return fmt.Errorf("minibatch: %w", err)
	}
	if _, err := net.LossGrad(s.x, s.y); err != nil {
		return fmt.Errorf("minibatch: batch of %d: %w", len(idx), err)
	}
	inv := 1 / float64(len(idx))
	for l, ls := range s.layers {
		g := net.Grad(ls.Parameter)
		if len(g) != len(grads[l]) {
			return fmt.Errorf("minibatch: layer %q: gradient of %d values, buffer %d", ls.Parameter, len(g), len(grads[l]))
		}
		for j, v := range g {
			grads[l][j] = v * inv
		}
	}
	return nil
}
