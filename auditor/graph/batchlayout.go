package graph

import (
	"fmt"

	"github.com/gnaudit/gnaudit/auditor/ir"
)

// Batch layouts other than a leading batch axis. PyTorch exports
// nn.MultiheadAttention sequence-first: a Transpose moves the batch to axis
// 1 ([T, B, D]), a Reshape merges it with the heads ([T, B·H, d]), another
// merges it into the rows of a matrix ([T·B, D]) and the graph transposes
// back to [B, T, D] afterwards. Samples still do not interact. A value with
// such a layout carries a bLayout (gval.bx); only the operators marked MovedBatch
// in the registry accept it, each checking that it does not combine elements of different
// samples, and every other operator refuses it (builder.data).

// bLayout places the batch in a value: the batch index of the element at
// index idx is (idx[axis] / inner) mod B, and the axis's size is a
// multiple of inner·B. A leading batch axis is {0, 1} with shape[0] = B
// (gval.bl, not a bLayout).
type bLayout struct{ axis, inner int }

// layoutOf returns where the batch is in v, if v depends on the batch.
func (b *builderBase) layoutOf(v *gval) (bLayout, bool) {
	switch {
	case v.bx != nil:
		return *v.bx, true
	case v.bl:
		return bLayout{0, 1}, true
	}
	return bLayout{}, false
}

// setLayout records layout l of v (of shape s): a leading batch axis when
// l is {0, 1} and s[0] is the batch.
func (b *builderBase) setLayout(v *gval, s []int, l bLayout) {
	if l.axis == 0 && l.inner == 1 && len(s) > 0 && s[0] == b.batch {
		v.bl, v.bx = true, nil
		return
	}
	v.bl, v.bx = false, &l
}

// batchStride is the flat distance between consecutive batch indices of a
// value of shape s with layout l.
func batchStride(s []int, l bLayout) int { return l.inner * prod(s[l.axis+1:]) }

// reshapeLayout finds the layout of a reshape of a value of shape in with
// layout l to out, if the batch index stays a function of one output
// axis.
func reshapeLayout(in []int, l bLayout, out []int, batch int) (bLayout, bool) {
	sb := batchStride(in, l)
	p := 1
	for a := len(out) - 1; a >= 0; a-- {
		if sb%p == 0 {
			inner := sb / p
			if out[a]%(inner*batch) == 0 {
				return bLayout{a, inner}, true
			}
		}
		p *= out[a]
		if p > sb {
			break
		}
	}
	return bLayout{}, false
}

// alignedLayout maps the layout of an operand of rank r to the output of
// rank ro of a broadcasting operator.
func alignedLayout(l bLayout, r, ro int) bLayout { return bLayout{l.axis + ro - r, l.inner} }

// broadcastLayout is the layout of the output (shape out) of a
// broadcasting elementwise operator on vs: every batch operand must place
// the batch on the same output axis, with that axis unbroadcast, and every
// other operand must have size 1 there.
func (b *builderBase) broadcastLayout(n *ir.Node, out []int, vs ...*gval) (bLayout, error) {
	var lay *bLayout
	for _, v := range vs {
		l, ok := b.layoutOf(v)
		if !ok {
			continue
		}
		al := alignedLayout(l, len(v.shape), len(out))
		if v.shape[l.axis] != out[al.axis] || (lay != nil && *lay != al) {
			return bLayout{}, b.refuse(n, fmt.Sprintf("batch operands of shapes %v do not line up", shapesOf(vs)))
		}
		lay = &al
	}
	for _, v := range vs {
		if _, ok := b.layoutOf(v); ok {
			continue
		}
		if d := lay.axis - (len(out) - len(v.shape)); d >= 0 && v.shape[d] != 1 {
			return bLayout{}, b.refuse(n, fmt.Sprintf("operand of fixed shape %v lines up with the batch (axis %d of %v)", v.shape, lay.axis, out))
		}
	}
	return *lay, nil
}

func shapesOf(vs []*gval) [][]int {
	r := make([][]int, len(vs))
	for k, v := range vs {
		r[k] = v.shape
	}
	return r
}

// matmulLayout is the layout of MatMul(a, bm) = out when one operand has a
// moved batch: the batch must be in a's rows or broadcast (batch)
// dimensions, bm a weight without that dimension, or both operands with
// the batch on the same batch dimension (attention).
func (b *builderBase) matmulLayout(n *ir.Node, a, bm *gval, out []int) (bLayout, error) {
	la, aok := b.layoutOf(a)
	lb, bok := b.layoutOf(bm)
	ra, rb := len(a.shape), len(bm.shape)
	switch {
	case aok && bok:
		if ra != rb || la != lb || la.axis >= ra-2 || a.shape[la.axis] != bm.shape[lb.axis] {
			return bLayout{}, b.refuse(n, fmt.Sprintf("the batch of %v and %v is not on the same matrix-product batch dimension", a.shape, bm.shape))
		}
		return alignedLayout(la, ra, len(out)), nil
	case bok:
		return bLayout{}, b.refuse(n, "the second operand depends on the batch")
	case ra < 2 || la.axis == ra-1:
		return bLayout{}, b.refuse(n, "the batch is on the contracted axis")
	}
	if la.axis < ra-2 {
		if d := la.axis - (ra - rb); d >= 0 && d < rb-2 && bm.shape[d] != 1 {
			return bLayout{}, b.refuse(n, fmt.Sprintf("the weight %v has a dimension along the batch", bm.shape))
		}
	}
	return alignedLayout(la, ra, len(out)), nil
}

// reshapeMoved builds a Reshape (or Flatten) of a batch value whose result
// does not keep the batch as leading axis; done is false when the usual
// path applies (the batch stays leading, or a file batch is rebatched).
func (b *builder[T]) reshapeMoved(n *ir.Node, x *gval, t []int64, allowZero bool) (done bool, err error) {
	l, _ := b.layoutOf(x)
	if x.bl && len(t) > 0 && b.fileBatch > 0 && t[0] == int64(b.fileBatch) {
		return false, nil // rebatched by the usual path
	}
	if x.bl && len(t) > 0 && ((t[0] == 0 && !allowZero) || t[0] == -1 || t[0] == int64(b.batch)) {
		out, err := reshapeTarget(x.shape, t, allowZero)
		if err != nil || (len(out) > 0 && out[0] == b.batch) {
			return false, nil
		}
	}
	out, err := reshapeTarget(x.shape, t, allowZero)
	if err != nil {
		return true, b.errNode(n, "%v", err)
	}
	nl, ok := reshapeLayout(x.shape, l, out, b.batch)
	if !ok {
		return true, b.refuse(n, fmt.Sprintf("Reshape of %v to %v mixes the batch with other axes", x.shape, out))
	}
	v, err := b.copyOp(n, x, out)
	if err != nil {
		return true, err
	}
	b.setLayout(v, out, nl)
	b.set(n, 0, v)
	return true, nil
}

// transposeLayout is the layout after Transpose(perm) (inv its inverse).
func transposeLayout(l bLayout, inv []int) bLayout { return bLayout{inv[l.axis], l.inner} }

// sliceKeepsBatch reports whether a resolved Slice leaves the batch axis
// whole.
func sliceKeepsBatch(sp *sliceSpec, shape []int, axis int) bool {
	return sp.start[axis] == 0 && sp.step[axis] == 1 && sp.count[axis] == shape[axis]
}

// BatchLeading reports whether the value name of the last build holds the
// batch as its leading axis (false for values the batch does not reach,
// and for values whose batch PyTorch's sequence-first attention moved).
func (n *Net) BatchLeading(name string) bool {
	v, ok := n.vals[name]
	return ok && (v.bl || n.batch == 1) && v.bx == nil
}

// BatchLayout says where the batch is in value name of the last build
// when it is not the leading axis: the batch index of the element at index
// idx is (idx[axis] / inner) mod Batch(). moved is false for a leading
// batch, for values the batch does not reach and for unknown names.
func (n *Net) BatchLayout(name string) (axis, inner int, moved bool) {
	v, ok := n.vals[name]
	if !ok || v.bx == nil {
		return 0, 0, false
	}
	return v.bx.axis, v.bx.inner, true
}
