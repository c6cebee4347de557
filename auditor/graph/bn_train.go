package graph

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/gnaudit/gnaudit/auditor/ir"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Train-mode BatchNormalization (Options.BatchNormTrain).
//
// In a net built with Options.BatchNormTrain, every BatchNormalization node
// normalises with the statistics of the batch in LossGrad, as
// torch.nn.BatchNorm*d in model.train() does: per channel c, over the
// m = N·P values of the batch (N samples, P spatial positions),
//
//	μ = (1/m) Σ x,  σ² = (1/m) Σ (x − μ)²,  x̂ = (x − μ)/√(σ² + ε),  y = γ x̂ + β
//
// and the backward pass is the exact derivative through μ and σ²:
//
//	dβ = Σ dy,  dγ = Σ dy·x̂,
//	dx = γ/√(σ² + ε) · (dy − (1/m) Σ dy − x̂ (1/m) Σ dy·x̂).
//
// Forward (and so Evaluate) keeps using the running statistics (eval mode,
// model.eval()). UpdateBatchNormStats folds the statistics of the last
// LossGrad into the running ones as torch does:
//
//	running_mean ← (1 − m) running_mean + m μ
//	running_var  ← (1 − m) running_var  + m σ² · m_c/(m_c − 1)   (unbiased)
//
// with torch's momentum m = 1 − the node's ONNX momentum attribute (ONNX
// default 0.9, i.e. torch's default 0.1; PyTorch exports its momentum that
// way). The running statistics are kept in float64 and written to their
// initializers (rounded to the graph's dtype) after every update.

// bnTrainRec is the state of one train-mode BatchNormalization node.
type bnTrainRec struct {
	node      string // ONNX node name
	meanName  string // running-mean initializer ("" when not an initializer)
	varName   string
	momentum  float64 // torch's momentum (1 − ONNX momentum)
	count     int     // m = N·P values per channel
	train     bool    // LossGrad: batch statistics; Forward: running ones
	have      bool    // mean/vr hold the statistics of a train-mode pass
	mean, vr  []float64
	invstd    []float64
	runMean   []float64 // float64 running statistics (nil: not updated)
	runVar    []float64
	setParams func(mean, vr []float64) // writes the running statistics to the graph
	// sync reloads an entry of mean/vr whose initializer was overwritten
	// since (Net.SetParam), so that the float64 copy follows it.
	sync func(mean, vr []float64)
}

// BatchNormStat describes a running statistic of a train-mode
// BatchNormalization: the initializer that holds it.
type BatchNormStat struct {
	Node  string // the BatchNormalization node
	Name  string // the initializer (running mean or variance)
	Shape []int
}

// batchNormTrain builds a train-mode BatchNormalization node.
func (b *builder[T]) batchNormTrain(n *ir.Node) error {
	for k := 1; k < len(n.Outputs); k++ {
		if n.Outputs[k] != "" {
			return b.errNode(n, "training-mode outputs (running mean/var, saved statistics) are not supported as graph values")
		}
	}
	ins, err := b.batchNormOperands(n)
	if err != nil {
		return err
	}
	x, C := ins[0], ins[0].shape[1]
	g := &bnGeom{n: x.shape[0], c: C, p: prod(x.shape[2:]), eps: attrDecimal(n, "epsilon", 1e-5)}
	m := g.n * g.p
	if m < 2 {
		return b.errNode(n, "train-mode BatchNormalization needs more than one value per channel (batch %d × %d positions); use eval mode or a larger batch", g.n, g.p)
	}
	mom := attrDecimal(n, "momentum", 0.9)
	if !(mom >= 0 && mom <= 1) {
		return b.errNode(n, "momentum %v outside [0, 1]", mom)
	}
	rec := &bnTrainRec{node: n.Name, momentum: 1 - mom, count: m,
		mean: make([]float64, C), vr: make([]float64, C), invstd: make([]float64, C)}
	if p, ok := b.params[n.Inputs[3]]; ok {
		rec.meanName = p.name
	}
	if p, ok := b.params[n.Inputs[4]]; ok {
		rec.varName = p.name
	}
	if rec.meanName != "" && rec.varName != "" {
		for _, other := range b.bnTrain {
			if other.meanName == rec.meanName || other.varName == rec.varName || other.meanName == rec.varName {
				return b.errNode(n, "running statistics %q/%q are shared with node %q; train mode cannot update them twice", rec.meanName, rec.varName, other.node)
			}
		}
		pm, pv := b.params[rec.meanName], b.params[rec.varName]
		rec.runMean, _ = toF64(pm.data)
		rec.runVar, _ = toF64(pv.data)
		rec.setParams = func(mean, vr []float64) {
			dm, dv := pm.data.Data().([]T), pv.data.Data().([]T)
			for c := range dm {
				dm[c] = T(mean[c])
				dv[c] = T(vr[c])
			}
		}
		rec.sync = func(mean, vr []float64) {
			dm, dv := pm.data.Data().([]T), pv.data.Data().([]T)
			for c := range dm {
				if T(mean[c]) != dm[c] {
					mean[c] = float64(dm[c])
				}
				if T(vr[c]) != dv[c] {
					vr[c] = float64(dv[c])
				}
			}
		}
	} else {
		b.note("BatchNormalization %q: running statistics are not initializers; train mode does not update them", n.Name)
	}
	b.bnTrain = append(b.bnTrain, rec)

	gx, gc := gshape(x.shape), gshape([]int{C})
	o := newKop[T]("BatchNormalizationTrain", n.Name, []tensor.Shape{gx, gc, gc, gc, gc}, gx, func(r []T, in [][]T) {
		if !rec.train {
			bnFwd(r, in[0], in[1], in[2], in[3], in[4], g)
			return
		}
		bnTrainFwd(r, in[0], in[1], in[2], g, rec)
	})
	sc := b.sc
	o.diff = func(ins gorgonia.Nodes, outN, grad *gorgonia.Node) (gorgonia.Nodes, error) {
		res := make(gorgonia.Nodes, 5)
		var err error
		if res[0], err = b.back(o.wrt[0], newKop[T]("BatchNormTrainGradX", n.Name, []tensor.Shape{gx, gc, gx}, gx, func(r []T, in [][]T) {
			bnTrainGradX(r, in[0], in[1], in[2], g, rec)
		}), ins[0], ins[1], grad); err != nil {
			return nil, err
		}
		if res[1], err = b.back(o.wrt[1], newKop[T]("BatchNormTrainGradScale", n.Name, []tensor.Shape{gx, gx}, gc, func(r []T, in [][]T) {
			bnTrainGradScale(r, in[0], in[1], g, rec)
		}), ins[0], grad); err != nil {
			return nil, err
		}
		if res[2], err = b.back(o.wrt[2], newKop[T]("BatchNormGradBias", n.Name, []tensor.Shape{gx}, gc, func(r []T, in [][]T) {
			channelSum(r, in[0], g.n, g.c, g.p, sc)
		}), grad); err != nil {
			return nil, err
		}
		return res, nil
	}
	v, err := b.mk(n, o, []bool{true, true, true, false, false}, ins...)
	if err != nil {
		return err
	}
	v.shape, v.bl = x.shape, x.bl
	b.set(n, 0, v)
	return nil
}

// attrDecimal returns a float attribute as the shortest decimal that
// rounds to its float32 value (0.9f → 0.9): ONNX stores attributes in
// float32, PyTorch's momentum 0.1 is exported as 0.9f, and 1 − 0.9f would
// be 0.10000002.
func attrDecimal(n *ir.Node, name string, def float64) float64 {
	a, ok := n.Attrs[name]
	if !ok {
		return def
	}
	v, err := strconv.ParseFloat(strconv.FormatFloat(float64(a.Float), 'g', -1, 32), 64)
	if err != nil {
		return float64(a.Float)
	}
	return v
}

// bnTrainFwd normalises x with its batch statistics, saving them in rec.
func bnTrainFwd[T float](y, x, scale, bias []T, g *bnGeom, rec *bnTrainRec) {
	m := float64(g.n * g.p)
	for c := 0; c < g.c; c++ {
		s := 0.0
		for i := 0; i < g.n; i++ {
			for _, v := range x[(i*g.c+c)*g.p:][:g.p] {
				s += float64(v)
			}
		}
		mu := s / m
		ss := 0.0
		for i := 0; i < g.n; i++ {
			for _, v := range x[(i*g.c+c)*g.p:][:g.p] {
				d := float64(v) - mu
				ss += d * d
			}
		}
		vr := ss / m
		inv := 1 / math.Sqrt(vr+g.eps)
		rec.mean[c], rec.vr[c], rec.invstd[c] = mu, vr, inv
		a := float64(scale[c]) * inv
		sh := float64(bias[c]) - mu*a
		for i := 0; i < g.n; i++ {
			src := x[(i*g.c+c)*g.p:][:g.p]
			dst := y[(i*g.c+c)*g.p:][:g.p]
			for k, v := range src {
				dst[k] = T(float64(v)*a + sh)
			}
		}
	}
	rec.have = true
}

// bnTrainGradX is dx of the batch-statistics normalisation.
func bnTrainGradX[T float](dx, x, scale, gy []T, g *bnGeom, rec *bnTrainRec) {
	m := float64(g.n * g.p)
	for c := 0; c < g.c; c++ {
		mu, inv := rec.mean[c], rec.invstd[c]
		sg, sgx := 0.0, 0.0
		for i := 0; i < g.n; i++ {
			xs := x[(i*g.c+c)*g.p:][:g.p]
			gs := gy[(i*g.c+c)*g.p:][:g.p]
			for k, v := range xs {
				d := float64(gs[k])
				sg += d
				sgx += d * (float64(v) - mu) * inv
			}
		}
		sg /= m
		sgx /= m
		a := float64(scale[c]) * inv
		for i := 0; i < g.n; i++ {
			xs := x[(i*g.c+c)*g.p:][:g.p]
			gs := gy[(i*g.c+c)*g.p:][:g.p]
			dst := dx[(i*g.c+c)*g.p:][:g.p]
			for k, v := range xs {
				xh := (float64(v) - mu) * inv
				dst[k] = T(a * (float64(gs[k]) - sg - xh*sgx))
			}
		}
	}
}

// bnTrainGradScale is dγ = Σ dy·x̂ with the batch statistics.
func bnTrainGradScale[T float](ds, x, gy []T, g *bnGeom, rec *bnTrainRec) {
	for c := 0; c < g.c; c++ {
		mu, inv := rec.mean[c], rec.invstd[c]
		acc := 0.0
		for i := 0; i < g.n; i++ {
			xs := x[(i*g.c+c)*g.p:][:g.p]
			gs := gy[(i*g.c+c)*g.p:][:g.p]
			for k, v := range xs {
				acc += float64(gs[k]) * (float64(v) - mu)
			}
		}
		ds[c] = T(acc * inv)
	}
}

// setBatchNormMode switches the train-mode BatchNormalization nodes between
// batch statistics (train) and running statistics.
func (n *Net) setBatchNormMode(train bool) {
	for _, r := range n.bnTrain {
		r.train = train
	}
}

// BatchNormTrain reports whether the net was built with train-mode
// BatchNormalization nodes (Options.BatchNormTrain and at least one node).
func (n *Net) BatchNormTrain() bool { return len(n.bnTrain) > 0 }

// BatchNormStats lists the running statistics (running mean, then running
// variance, per node in graph order) that UpdateBatchNormStats updates.
func (n *Net) BatchNormStats() []BatchNormStat {
	var out []BatchNormStat
	for _, r := range n.bnTrain {
		if r.runMean == nil {
			continue
		}
		out = append(out, BatchNormStat{Node: r.node, Name: r.meanName, Shape: []int{len(r.runMean)}},
			BatchNormStat{Node: r.node, Name: r.varName, Shape: []int{len(r.runVar)}})
	}
	return out
}

// BatchNormBatchStats returns the batch mean and the biased batch variance
// of train-mode node node from the last LossGrad (nil before one).
func (n *Net) BatchNormBatchStats(node string) (mean, variance []float64) {
	for _, r := range n.bnTrain {
		if r.node == node && r.have {
			return append([]float64(nil), r.mean...), append([]float64(nil), r.vr...)
		}
	}
	return nil, nil
}

// UpdateBatchNormStats folds the batch statistics of the last LossGrad into
// the running statistics (see the train-mode notes in bn_train.go); the
// next passes use the new values. It is an error before a LossGrad, and
// calling it twice after one LossGrad updates twice.
func (n *Net) UpdateBatchNormStats() error {
	for _, r := range n.bnTrain {
		if r.runMean == nil {
			continue
		}
		if !r.have || !n.lastFull {
			return errors.New("graph: UpdateBatchNormStats: no train-mode pass (LossGrad) to take the batch statistics from")
		}
		r.sync(r.runMean, r.runVar)
		mo := r.momentum
		unb := float64(r.count) / float64(r.count-1)
		for c := range r.runMean {
			r.runMean[c] = (1-mo)*r.runMean[c] + mo*r.mean[c]
			r.runVar[c] = (1-mo)*r.runVar[c] + mo*r.vr[c]*unb
		}
		r.setParams(r.runMean, r.runVar)
	}
	return nil
}

// BatchNormStat returns the float64 running statistic name (nil if name is
// not a running statistic of a train-mode node). A value set with SetParam
// since is taken over.
func (n *Net) BatchNormStat(name string) []float64 {
	for _, r := range n.bnTrain {
		if r.runMean != nil {
			r.sync(r.runMean, r.runVar)
		}
		switch name {
		case r.meanName:
			if r.runMean != nil {
				return append([]float64(nil), r.runMean...)
			}
		case r.varName:
			if r.runVar != nil {
				return append([]float64(nil), r.runVar...)
			}
		}
	}
	return nil
}

// SetBatchNormStat overwrites a running statistic (float64 copy and
// initializer).
func (n *Net) SetBatchNormStat(name string, v []float64) error {
	for _, r := range n.bnTrain {
		if r.runMean == nil || (name != r.meanName && name != r.varName) {
			continue
		}
		dst := r.runMean
		if name == r.varName {
			dst = r.runVar
		}
		if len(v) != len(dst) {
			return fmt.Errorf("graph: SetBatchNormStat: %q has %d values, got %d", name, len(dst), len(v))
		}
		copy(dst, v)
		r.setParams(r.runMean, r.runVar)
		return nil
	}
	return fmt.Errorf("graph: SetBatchNormStat: %q is not a running statistic of a train-mode BatchNormalization", name)
}

// ValueBytes estimates the executor's memory for its values: every graph
// value and its derivative, at the dtype's size (initializers excluded).
func (n *Net) ValueBytes() int64 {
	size := int64(4)
	if n.dtype == tensor.Float64 {
		size = 8
	}
	var elems int64
	for _, v := range n.vals {
		elems += 2 * int64(prod(v.shape))
	}
	return elems * size
}

// batchNormOperands checks a BatchNormalization node's attributes and
// operands (X with a channel axis; scale, B, mean and var of shape [C]) and
// returns them, in train and inference mode alike.
func (b *builder[T]) batchNormOperands(n *ir.Node) ([]*gval, error) {
	if attrInt(n, "spatial", 1) != 1 {
		return nil, b.errNode(n, "spatial=0 is not supported")
	}
	if len(n.Inputs) != 5 {
		return nil, b.errNode(n, "want 5 inputs, got %d", len(n.Inputs))
	}
	ins := make([]*gval, 5)
	for k := range ins {
		v, err := b.data(n, k)
		if err != nil {
			return nil, err
		}
		ins[k] = v
	}
	x := ins[0]
	if len(x.shape) < 2 {
		return nil, b.errNode(n, "input shape %v has no channel dim", x.shape)
	}
	C := x.shape[1]
	for k := 1; k < 5; k++ {
		if len(ins[k].shape) != 1 || ins[k].shape[0] != C {
			return nil, b.errNode(n, "input %q has shape %v, want [%d]", n.Inputs[k], ins[k].shape, C)
		}
	}
	return ins, nil
}
