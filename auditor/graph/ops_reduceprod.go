package graph

import (
	"fmt"
	"slices"
	"sort"

	"github.com/gnaudit/gnaudit/auditor/ir"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ReduceProd on graph values (any axes, keepdims) and on constants.

// prodGroups describes a reduction: idx maps each input element to its
// output element; out is the output shape.
type prodGroups struct {
	idx []int
	m   int
	out []int
}

// prodShape returns the reduction of shape xs over axes (sorted, unique;
// nil with noop: none).
func prodShape(xs []int, axes []int, keep bool) prodGroups {
	kshape := append([]int(nil), xs...)
	var out []int
	for d := range xs {
		if slices.Contains(axes, d) {
			kshape[d] = 1
			if keep {
				out = append(out, 1)
			}
			continue
		}
		out = append(out, xs[d])
	}
	return prodGroups{idx: bcastIndex(kshape, xs), m: prod(out), out: out}
}

// prodFwd writes the product of each group of x into r.
func prodFwd[T float](r, x []T, g prodGroups) {
	acc := make([]float64, g.m)
	for j := range acc {
		acc[j] = 1
	}
	for k, v := range x {
		acc[g.idx[k]] *= float64(v)
	}
	for j, v := range acc {
		r[j] = T(v)
	}
}

// prodGrad writes ∂/∂x of Σ_j gy[j]·Π_{k∈j} x[k] into dx: the product of
// the other elements of the group, computed without dividing by x[k] so
// that zeros are exact (one zero: only it gets a gradient, the product of
// the others; two or more: none).
func prodGrad[T float](dx, x, gy []T, g prodGroups) {
	nz := make([]float64, g.m) // product of the non-zero elements
	zeros := make([]int, g.m)
	for j := range nz {
		nz[j] = 1
	}
	for k, v := range x {
		if v == 0 {
			zeros[g.idx[k]]++
		} else {
			nz[g.idx[k]] *= float64(v)
		}
	}
	for k, v := range x {
		j := g.idx[k]
		switch {
		case zeros[j] == 0:
			dx[k] = T(float64(gy[j]) * nz[j] / float64(v))
		case zeros[j] == 1 && v == 0:
			dx[k] = T(float64(gy[j]) * nz[j])
		default:
			dx[k] = 0
		}
	}
}

// reduceProd builds ReduceProd over any axes of a graph value.
func (b *builder[T]) reduceProd(n *ir.Node) error {
	x, err := b.data(n, 0)
	if err != nil {
		return err
	}
	axes, noop, err := b.reduceAxes(n, len(x.shape))
	if err != nil {
		return b.errNode(n, "%v", err)
	}
	if noop {
		axes = nil
	}
	keep := attrInt(n, "keepdims", 1) != 0
	if b.track && x.bl && slices.Contains(axes, 0) {
		return b.refuse(n, "ReduceProd over the batch axis")
	}
	g := prodShape(x.shape, axes, keep)
	gx, gout := gshape(x.shape), gshape(g.out)
	o := newKop[T]("ReduceProd", n.Name, []tensor.Shape{gx}, gout, func(r []T, in [][]T) { prodFwd(r, in[0], g) })
	o.diff = func(ins gorgonia.Nodes, outN, grad *gorgonia.Node) (gorgonia.Nodes, error) {
		nd, err := apply(newKop[T]("ReduceProdGrad", n.Name, []tensor.Shape{gx, gout}, gx, func(r []T, in [][]T) {
			prodGrad(r, in[0], in[1], g)
		}), ins[0], grad)
		return gorgonia.Nodes{nd}, err
	}
	v, err := b.mk(n, o, nil, x)
	if err != nil {
		return err
	}
	v.shape, v.bl = g.out, x.bl && len(g.out) > 0 && (keep || !slices.Contains(axes, 0))
	b.set(n, 0, v)
	return nil
}

// reduceProdConst evaluates ReduceProd on a constant (axes from the
// attribute, or input 1 from opset 18; keepdims; noop_with_empty_axes).
func reduceProdConst(n *ir.Node, ins []*cval) (*cval, error) {
	x := ins[0]
	var raw []int64
	if len(ins) > 1 && ins[1] != nil {
		raw = ins[1].ints()
	} else {
		raw = attrInts(n, "axes")
	}
	var axes []int
	switch {
	case len(raw) == 0 && attrInt(n, "noop_with_empty_axes", 0) != 0:
	case len(raw) == 0:
		for d := range x.shape {
			axes = append(axes, d)
		}
	default:
		for _, a := range raw {
			d, err := normAxis(a, len(x.shape))
			if err != nil {
				return nil, fmt.Errorf("ReduceProd axes %v: %w", raw, err)
			}
			if !slices.Contains(axes, d) {
				axes = append(axes, d)
			}
		}
		sort.Ints(axes)
	}
	g := prodShape(x.shape, axes, attrInt(n, "keepdims", 1) != 0)
	r := make([]float64, g.m)
	prodFwd(r, x.floats(), g)
	c := &cval{typ: x.typ, shape: g.out}
	if c.isFloat() {
		c.f = r
	} else {
		c.i = make([]int64, len(r))
		for k, v := range r {
			c.i[k] = int64(v)
		}
	}
	return c, nil
}

func init() {
	register(OpSpec{Op: "ReduceProd", Family: "reduce", Attrs: []string{"axes", "keepdims", "noop_with_empty_axes"},
		Shape: "the input's with the axes removed (kept as 1 with keepdims)", eval: evalExt,
		Fallback: "no per-sample expansion of a reduced parameter", Note: "axes: attribute before opset 18, input from 18",
		build: with((*builder[float32]).reduceProd, (*builder[float64]).reduceProd)})
}
