// Package hessian measures the curvature and the gradient noise of an ONNX
// model at a checkpoint θ, for the dynamics analysis (docs/dynamics.md):
// Hessian-vector products of the regularised training loss
//
//	L(θ) = (1/N) Σ_i ℓ_i(θ) + (λ/2) |θ|²_D
//
// (ℓ_i the cross-entropy of sample i, D the weight-decayed coordinates) by
// float64 central finite differences of gradients computed by the executor
// (auditor/graph), their symmetry check uᵀHw = wᵀHu, the top eigenpairs of
// H by Lanczos with full reorthogonalisation, Hutchinson's estimate of
// tr H, and the per-sample gradient covariance C projected on the
// eigenvectors (from auditor/persample's exact per-sample gradients), with
// tr C and the alignment of C with H.
//
// All parameters are flattened into one vector in the executor's order of
// the trainable parameters (graph.Net.Params).
package hessian

import (
	"errors"
	"fmt"
	"math"

	"github.com/gnaudit/gnaudit/auditor/data"
	"github.com/gnaudit/gnaudit/auditor/graph"
	"github.com/gnaudit/gnaudit/auditor/ir"
)

// Options configure an Objective.
type Options struct {
	// WeightDecay is λ ≥ 0.
	WeightDecay float64
	// Decay says which trainable parameters are decayed (nil: all, as
	// torch.optim.SGD and auditor/train do).
	Decay func(name string, shape []int) bool
	// Batch is the executor batch of the gradient passes (default 128, at
	// most the number of samples). The samples are split into passes of
	// Batch plus one pass of the remainder.
	Batch int
	// Epsilon is the finite-difference step along a unit vector, relative
	// to max(1, |θ|) (default 1e-5).
	Epsilon float64
}

// Layout is the flat layout of the trainable parameters.
type Layout struct {
	Names   []string
	Shapes  [][]int
	Offsets []int // start of each parameter; Offsets[len] = Dim
	Decayed []bool
}

// Dim is the number of trainable coordinates.
func (l *Layout) Dim() int { return l.Offsets[len(l.Offsets)-1] }

// Objective evaluates the regularised loss and its gradient on a fixed
// set of samples in float64. It is not safe for concurrent use.
type Objective struct {
	Layout
	lambda  float64
	eps     float64
	nets    map[int]*graph.Net
	model   *ir.Model
	chunks  []chunk
	n       int
	theta   []float64
	scratch []float64
	// Passes counts the gradient evaluations (each over all samples).
	Passes int
}

type chunk struct {
	x []float64
	y []int
}

// New builds the objective of model m on the samples idx of ds (all of ds
// when idx is nil), starting at the model's weights.
func New(m *ir.Model, ds data.Dataset, idx []int, opt Options) (*Objective, error) {
	if opt.WeightDecay < 0 || math.IsNaN(opt.WeightDecay) {
		return nil, fmt.Errorf("weight decay %v: must be ≥ 0", opt.WeightDecay)
	}
	if idx == nil {
		idx = make([]int, ds.Len())
		for i := range idx {
			idx[i] = i
		}
	}
	if len(idx) == 0 {
		return nil, errors.New("hessian: no samples")
	}
	if opt.Batch <= 0 {
		opt.Batch = 128
	}
	opt.Batch = min(opt.Batch, len(idx))
	if opt.Epsilon <= 0 {
		opt.Epsilon = 1e-5
	}
	o := &Objective{lambda: opt.WeightDecay, eps: opt.Epsilon, nets: map[int]*graph.Net{}, model: m, n: len(idx)}
	for off := 0; off < len(idx); off += opt.Batch {
		b := min(opt.Batch, len(idx)-off)
		x, y, err := ds.Batch(idx[off:off+b], nil, nil)
		if err != nil {
			return nil, fmt.Errorf("hessian: samples: %w", err)
		}
		o.chunks = append(o.chunks, chunk{x, y})
		if _, err := o.net(b); err != nil {
			return nil, err
		}
	}
	net, _ := o.net(opt.Batch)
	o.Offsets = []int{0}
	for _, p := range net.Params() {
		if !p.Trainable {
			continue
		}
		size := 1
		for _, d := range p.Shape {
			size *= d
		}
		o.Names = append(o.Names, p.Name)
		o.Shapes = append(o.Shapes, p.Shape)
		o.Offsets = append(o.Offsets, o.Offsets[len(o.Offsets)-1]+size)
		o.Decayed = append(o.Decayed, opt.Decay == nil || opt.Decay(p.Name, p.Shape))
	}
	if len(o.Names) == 0 {
		return nil, errors.New("hessian: the model has no trainable parameters")
	}
	o.theta = make([]float64, o.Dim())
	for k, name := range o.Names {
		copy(o.theta[o.Offsets[k]:], net.Param(name))
	}
	o.scratch = make([]float64, o.Dim())
	return o, nil
}

func (o *Objective) net(b int) (*graph.Net, error) {
	if n, ok := o.nets[b]; ok {
		return n, nil
	}
	n, err := graph.Build(o.model, graph.Options{Batch: b, Float64: true})
	if err != nil {
		return nil, fmt.Errorf("hessian: building the float64 executor for batch %d: %w", b, err)
	}
	o.nets[b] = n
	return n, nil
}

// Samples is N, the number of samples of the loss.
func (o *Objective) Samples() int { return o.n }

// WeightDecay is λ.
func (o *Objective) WeightDecay() float64 { return o.lambda }

// Theta returns a copy of the checkpoint θ.
func (o *Objective) Theta() []float64 { return append([]float64(nil), o.theta...) }

// Split returns the parameters of the flat vector v by name.
func (o *Objective) Split(v []float64) map[string][]float64 {
	out := map[string][]float64{}
	for k, name := range o.Names {
		out[name] = v[o.Offsets[k]:o.Offsets[k+1]]
	}
	return out
}

// Grad computes the loss L(θ) and writes ∇L(θ) into dst (len Dim).
func (o *Objective) Grad(theta, dst []float64) (float64, error) {
	if len(theta) != o.Dim() || len(dst) != o.Dim() {
		return 0, fmt.Errorf("hessian: vectors of %d and %d values for %d parameters", len(theta), len(dst), o.Dim())
	}
	for _, n := range o.nets {
		for k, name := range o.Names {
			if err := n.SetParam(name, theta[o.Offsets[k]:o.Offsets[k+1]]); err != nil {
				return 0, fmt.Errorf("hessian: %s: %w", name, err)
			}
		}
	}
	clear(dst)
	loss := 0.0
	for _, c := range o.chunks {
		n := o.nets[len(c.y)]
		l, err := n.LossGrad(c.x, c.y)
		if err != nil {
			return 0, fmt.Errorf("hessian: gradient pass: %w", err)
		}
		loss += l
		for k, name := range o.Names {
			g := n.Grad(name)
			d := dst[o.Offsets[k]:o.Offsets[k+1]]
			for i := range d {
				d[i] += g[i]
			}
		}
	}
	o.Passes++
	inv := 1 / float64(o.n)
	loss *= inv
	for k := range o.Names {
		d := dst[o.Offsets[k]:o.Offsets[k+1]]
		th := theta[o.Offsets[k]:o.Offsets[k+1]]
		for i := range d {
			d[i] *= inv
			if o.Decayed[k] {
				d[i] += o.lambda * th[i]
				loss += 0.5 * o.lambda * th[i] * th[i]
			}
		}
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, fmt.Errorf("hessian: the loss is %v at this θ", loss)
	}
	return loss, nil
}

// HVP writes H u into dst, H the Hessian of L at the checkpoint, by the
// central difference (∇L(θ+εu) − ∇L(θ−εu)) / (2ε) with a step of
// Epsilon·max(1, |θ|) along u/|u|. It costs two gradient passes.
func (o *Objective) HVP(u, dst []float64) error {
	nu := norm(u)
	if nu == 0 {
		clear(dst)
		return nil
	}
	eps := o.eps * math.Max(1, norm(o.theta)) / nu
	tp := o.scratch
	for i := range tp {
		tp[i] = o.theta[i] + eps*u[i]
	}
	gp := make([]float64, o.Dim())
	if _, err := o.Grad(tp, gp); err != nil {
		return err
	}
	for i := range tp {
		tp[i] = o.theta[i] - eps*u[i]
	}
	if _, err := o.Grad(tp, dst); err != nil {
		return err
	}
	for i := range dst {
		dst[i] = (gp[i] - dst[i]) / (2 * eps)
	}
	return nil
}

func norm(v []float64) float64 { return math.Sqrt(dot(v, v)) }

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}
