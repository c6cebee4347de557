package graph

import (
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gnaudit/gnaudit/auditor/ir"
)

// Fused backward pass of inference BatchNormalization.
//
// dx = gy·s, dscale = Σ gy·(x − mean)/√(var+eps) and dbias = Σ gy read gy
// once instead of three times: the BatchNormGradX kop computes dx and, in
// the same pass, the two per-channel sums (bnGradSums) into buffers owned
// by this backward pass; BatchNormGradScale and BatchNormGradBias take
// BatchNormGradX's output as an input, so they run after it in the same
// pass, and only finish the sums (C values). Nothing else reads the
// buffers.

// bnBackFused builds the three gradient kops of batchNorm's node n (geometry
// g, shapes gx of x and gc of a per-channel vector) for the inputs ins (x,
// scale, bias, mean, var) and the output's gradient; wrt[0] must be true.
func bnBackFused[T float](n *ir.Node, g *bnGeom, gx, gc tensor.Shape, wrt []bool, ins gorgonia.Nodes, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	sx, sg := make([]float64, g.c), make([]float64, g.c)
	if !wrt[1] {
		sx = nil
	}
	if !wrt[2] {
		sg = nil
	}
	res := make(gorgonia.Nodes, 5)
	dx, err := apply(newKop[T]("BatchNormGradX", n.Name, []tensor.Shape{gx, gc, gc, gc, gx}, gx, func(r []T, in [][]T) {
		bnGradSums(r, sx, sg, in[0], in[1], in[2], in[3], in[4], g)
	}), ins[0], ins[1], ins[3], ins[4], grad)
	if err != nil {
		return nil, err
	}
	res[0] = dx
	if wrt[1] {
		if res[1], err = apply(newKop[T]("BatchNormGradScale", n.Name, []tensor.Shape{gx, gc}, gc, func(r []T, in [][]T) {
			bnScaleFromSums(r, sx, in[1], g)
		}), dx, ins[4]); err != nil {
			return nil, err
		}
	}
	if wrt[2] {
		if res[2], err = apply(newKop[T]("BatchNormGradBias", n.Name, []tensor.Shape{gx}, gc, func(r []T, _ [][]T) {
			for c, v := range sg {
				r[c] = T(v)
			}
		}), dx); err != nil {
			return nil, err
		}
	}
	return res, nil
}
