package graph

import (
	"fmt"
	"math"

	"github.com/gnaudit/gnaudit/auditor/ir"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Data-dependent masks: comparisons (Equal, Less, Greater, LessOrEqual,
// GreaterOrEqual), Not/And/Or/Xor, Where and Cast to bool or integer types
// on values computed at run time — a padding mask from int64 token ids
// (ids == 0) that feeds Where(mask, −inf, 0) before a Softmax. The
// executor holds every tensor in its float type: a bool or integer result
// is a tensor of exact integer values (0/1 for bool) that is never
// differentiated (gval.grad false). Integer ids (gval.ints) may be
// compared directly. Where differentiates its two branches: the gradient
// of an output element goes to the branch it was taken from.

// maskOperand is one input of a mask operator: a graph value or a
// build-time constant.
type maskOperand struct {
	v *gval // nil for a constant
	c *cval
}

func (o maskOperand) shape() []int {
	if o.v != nil {
		return o.v.shape
	}
	return o.c.shape
}

// maskInputs reads inputs 0 … k−1 of n: graph values (integer ids and
// moved batch layouts included: the caller checks the layout), parameters
// or constants of any dtype.
func (b *builder[T]) maskInputs(n *ir.Node, k int) ([]maskOperand, error) {
	if len(n.Inputs) != k {
		return nil, b.errNode(n, "want %d inputs, got %d", k, len(n.Inputs))
	}
	ops := make([]maskOperand, k)
	for i, name := range n.Inputs {
		if name == "" {
			return nil, b.errNode(n, "input %d missing", i)
		}
		if v, ok := b.vals[name]; ok {
			ops[i].v = v
			continue
		}
		if _, ok := b.params[name]; ok {
			v, err := b.data(n, i)
			if err != nil {
				return nil, err
			}
			ops[i].v = v
			continue
		}
		c, err := b.constIn(n, i)
		if err != nil {
			return nil, err
		}
		ops[i].c = c
	}
	return ops, nil
}

// maskShape broadcasts the operands (numpy rules) and materialises the
// constants as graph inputs; a constant whose elements are all equal
// (zeros_like of a batch-sized mask, say) becomes a scalar, so that it
// never lines up with the batch.
func (b *builder[T]) maskShape(n *ir.Node, ops []maskOperand) ([]int, []*gval, error) {
	var out []int
	for i, o := range ops {
		if i == 0 {
			out = o.shape()
			continue
		}
		var err error
		if out, err = broadcastShape(out, o.shape()); err != nil {
			return nil, nil, b.errNode(n, "%v", err)
		}
	}
	vs := make([]*gval, len(ops))
	for i, o := range ops {
		if o.v != nil {
			vs[i] = o.v
			continue
		}
		f := o.c.floats()
		s := o.c.shape
		if uniform(f) {
			f, s = f[:1], []int{}
		}
		node, _, err := b.newInput(fmt.Sprintf("const:%s@%s", n.Inputs[i], n.Name), s, toT[T](f))
		if err != nil {
			return nil, nil, b.errNode(n, "constant %q: %v", n.Inputs[i], err)
		}
		vs[i] = &gval{node: node, shape: s}
	}
	return out, vs, nil
}

// uniform reports whether every element of f equals the first (NaN never
// does).
func uniform(f []float64) bool {
	for _, v := range f {
		if v != f[0] {
			return false
		}
	}
	return len(f) > 0
}

// maskLayout sets the batch layout of v (shape out), the result of an
// elementwise operator on vs, with the rules of the binary operators: every
// batch operand places the batch on the same axis, and no operand of a
// fixed shape lines up with it.
func (b *builder[T]) maskLayout(n *ir.Node, v *gval, out []int, vs []*gval) error {
	v.shape = out
	if !b.track {
		return nil
	}
	moved := false
	for _, x := range vs {
		moved = moved || x.bx != nil
	}
	if moved {
		l, err := b.broadcastLayout(n, out, vs...)
		if err != nil {
			return err
		}
		b.setLayout(v, out, l)
		return nil
	}
	anyBL := false
	for _, x := range vs {
		anyBL = anyBL || x.bl
	}
	for _, x := range vs {
		switch {
		case x.bl && len(x.shape) == len(out):
			v.bl = true
		case x.bl:
			return b.refuse(n, fmt.Sprintf("a batch operand of shape %v is broadcast to %v", x.shape, out))
		case len(x.shape) == len(out) && len(out) > 0 && x.shape[0] != 1 && anyBL:
			return b.refuse(n, fmt.Sprintf("operand of fixed shape %v lines up with the batch dimension", x.shape))
		}
	}
	return nil
}

// maskFunc returns the elementwise function of a comparison or logical
// operator on float64 operands (bool results are 0 or 1).
func maskFunc(op string) (func(v []float64) float64, int, bool) {
	b2f := func(t bool) float64 {
		if t {
			return 1
		}
		return 0
	}
	switch op {
	case "Equal":
		return func(v []float64) float64 { return b2f(v[0] == v[1]) }, 2, true
	case "Less":
		return func(v []float64) float64 { return b2f(v[0] < v[1]) }, 2, true
	case "Greater":
		return func(v []float64) float64 { return b2f(v[0] > v[1]) }, 2, true
	case "LessOrEqual":
		return func(v []float64) float64 { return b2f(v[0] <= v[1]) }, 2, true
	case "GreaterOrEqual":
		return func(v []float64) float64 { return b2f(v[0] >= v[1]) }, 2, true
	case "And":
		return func(v []float64) float64 { return b2f(v[0] != 0 && v[1] != 0) }, 2, true
	case "Or":
		return func(v []float64) float64 { return b2f(v[0] != 0 || v[1] != 0) }, 2, true
	case "Xor":
		return func(v []float64) float64 { return b2f((v[0] != 0) != (v[1] != 0)) }, 2, true
	case "Not":
		return func(v []float64) float64 { return b2f(v[0] == 0) }, 1, true
	}
	return nil, 0, false
}

// maskOp builds a comparison or logical operator on graph values: a bool
// tensor (0/1) of the broadcast shape, not differentiated.
func (b *builder[T]) maskOp(n *ir.Node) error {
	f, arity, ok := maskFunc(n.OpType)
	if !ok {
		return b.errNode(n, "operator not supported")
	}
	ops, err := b.maskInputs(n, arity)
	if err != nil {
		return err
	}
	out, vs, err := b.maskShape(n, ops)
	if err != nil {
		return err
	}
	idx := make([][]int, len(vs))
	gs := make([]tensor.Shape, len(vs))
	for k, v := range vs {
		idx[k], gs[k] = bcastIndex(v.shape, out), gshape(v.shape)
	}
	o := newKop[T](n.OpType, n.Name, gs, gshape(out), func(r []T, in [][]T) {
		e := make([]float64, len(in))
		for j := range r {
			for k := range in {
				e[k] = float64(in[k][idx[k][j]])
			}
			r[j] = T(f(e))
		}
	})
	// never differentiated: every input is marked non-differentiable
	return b.maskResult(n, o, make([]bool, len(vs)), out, vs)
}

// maskResult applies o to vs and records the result (shape out, the
// layout of maskLayout) as n's output.
func (b *builder[T]) maskResult(n *ir.Node, o *kop[T], diffable []bool, out []int, vs []*gval) error {
	v, err := b.mk(n, o, diffable, vs...)
	if err != nil {
		return err
	}
	if err := b.maskLayout(n, v, out, vs); err != nil {
		return err
	}
	b.set(n, 0, v)
	return nil
}

// whereData builds Where(cond, x, y) with numpy broadcasting: cond a mask
// (a graph value or a constant, non-zero = true) and x, y graph values or
// constants of any dtype. The gradient of each output element flows to
// the branch it was taken from; cond is not differentiated.
func (b *builder[T]) whereData(n *ir.Node) error {
	ops, err := b.maskInputs(n, 3)
	if err != nil {
		return err
	}
	out, vs, err := b.maskShape(n, ops)
	if err != nil {
		return err
	}
	var idx [3][]int
	var gs [3]tensor.Shape
	for k, v := range vs {
		idx[k], gs[k] = bcastIndex(v.shape, out), gshape(v.shape)
	}
	gout := gshape(out)
	o := newKop[T]("Where", n.Name, gs[:], gout, func(r []T, in [][]T) {
		for k := range r {
			if in[0][idx[0][k]] != 0 {
				r[k] = in[1][idx[1][k]]
			} else {
				r[k] = in[2][idx[2][k]]
			}
		}
	})
	o.diff = func(cs gorgonia.Nodes, outN, grad *gorgonia.Node) (gorgonia.Nodes, error) {
		res := make(gorgonia.Nodes, 3)
		for s := 1; s <= 2; s++ {
			if !o.wrt[s] {
				continue
			}
			side := s
			nd, err := apply(newKop[T](fmt.Sprintf("WhereGrad%d", side), n.Name, []tensor.Shape{gs[0], gout}, gs[side], func(r []T, in [][]T) {
				whereGrad(r, in[0], in[1], idx[0], idx[side], side == 1)
			}), cs[0], grad)
			if err != nil {
				return nil, err
			}
			res[s] = nd
		}
		return res, nil
	}
	return b.maskResult(n, o, []bool{false, true, true}, out, vs)
}

// whereGrad sums the output gradient g into r (the gradient of one
// branch, broadcast by bi) where the condition selects that branch.
func whereGrad[T float](r, cond, g []T, ci, bi []int, first bool) {
	acc := make([]float64, len(r))
	for k, v := range g {
		if (cond[ci[k]] != 0) == first {
			acc[bi[k]] += float64(v)
		}
	}
	for k, v := range acc {
		r[k] = T(v)
	}
}

// castMask builds Cast of a graph value to bool or an integer type (a
// non-differentiable tensor of exact integer values: x ≠ 0 for bool,
// truncation toward zero otherwise); integer ids cast to an integer type
// and every cast to float or double are castData's.
func (b *builder[T]) castMask(n *ir.Node) error {
	to := ir.DataType(attrInt(n, "to", 0))
	x := b.vals[n.Inputs[0]]
	if isFloatType(to) || x == nil || (x.ints && to != ir.Bool) {
		return b.castData(n)
	}
	var f func(float64) float64
	switch to {
	case ir.Bool:
		f = func(v float64) float64 {
			if v != 0 {
				return 1
			}
			return 0
		}
	case ir.Int64, ir.Int32, ir.Int16, ir.Int8, ir.Uint8, ir.Uint16, ir.Uint32, ir.Uint64:
		f = math.Trunc
	default:
		return b.errNode(n, "Cast of a graph value to %v is not supported", to)
	}
	gs := gshape(x.shape)
	o := newKop[T]("Cast", n.Name, []tensor.Shape{gs}, gs, func(r []T, in [][]T) {
		for k, e := range in[0] {
			r[k] = T(f(float64(e)))
		}
	})
	v, err := b.mk(n, o, []bool{false}, x)
	if err != nil {
		return err
	}
	v.shape, v.bl, v.bx = x.shape, x.bl, x.bx
	b.set(n, 0, v)
	return nil
}

func init() {
	mask := func(op string, since int64, eval constFn) OpSpec {
		return OpSpec{Op: op, Family: "mask", Since: since, Shape: "numpy broadcast of the inputs", eval: eval,
			Fallback: "masks are not differentiated", Note: "on data: the result is 0/1 in the float type, never differentiated",
			build: with((*builder[float32]).maskOp, (*builder[float64]).maskOp)}
	}
	register(
		mask("Equal", 1, evalExt), mask("Less", 1, evalExt), mask("Greater", 1, evalExt), mask("LessOrEqual", 12, evalExt),
		mask("GreaterOrEqual", 12, evalExt), mask("Not", 1, evalExt), mask("And", 1, evalExt), mask("Or", 1, evalExt),
		mask("Xor", 1, nil),
		OpSpec{Op: "Where", Family: "mask", Since: 9, Shape: "numpy broadcast of the three inputs", eval: evalExt,
			Fallback: "no per-sample expansion of a selected parameter", Note: "the condition: a constant or a mask computed from the data",
			build: with((*builder[float32]).whereData, (*builder[float64]).whereData)},
	)
}
