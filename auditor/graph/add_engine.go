package graph

import "gorgonia.org/tensor"

// addEngine is the tensor engine of the kops' output buffers. The one
// gorgonia operation on them is the Add of gorgonia's gradient
// accumulation (ReduceAdd, where a value feeds several nodes: resnet20's
// residual joins), which gorgonia's standard engine computes on one
// goroutine; addEngine computes it, a[i] + b[i] element by element as the
// standard engine does, in parallel ranges, when both operands and the
// result are whole float tensors of one shape and dtype, into a reused
// tensor or (unsafe) into a. Everything else is the standard engine's.
type addEngine struct{ tensor.StdEng }

// Add implements tensor.Adder.
func (e addEngine) Add(a, b tensor.Tensor, opts ...tensor.FuncOpt) (tensor.Tensor, error) {
	if r, ok := parAdd(a, b, opts); ok {
		return r, nil
	}
	return e.StdEng.Add(a, b, opts...)
}

// parAdd computes a + b as addEngine.Add does and reports true, or does
// nothing and reports false for the cases it leaves to the standard engine.
func parAdd(a, b tensor.Tensor, opts []tensor.FuncOpt) (tensor.Tensor, bool) {
	da, ok := a.(*tensor.Dense)
	if !ok || !whole(da) {
		return nil, false
	}
	db, ok := b.(*tensor.Dense)
	if !ok || !whole(db) || !db.Shape().Eq(da.Shape()) || db.Dtype() != da.Dtype() {
		return nil, false
	}
	fo := tensor.ParseFuncOpts(opts...)
	reuse, incr := fo.IncrReuse()
	if incr || fo.As() != (tensor.Dtype{}) {
		return nil, false
	}
	dst := da
	switch {
	case reuse != nil:
		if dst, ok = reuse.(*tensor.Dense); !ok || !whole(dst) || !dst.Shape().Eq(da.Shape()) || dst.Dtype() != da.Dtype() {
			return nil, false
		}
	case fo.Safe():
		return nil, false
	}
	switch av := da.Data().(type) {
	case []float32:
		addPar(dst.Data().([]float32), av, db.Data().([]float32))
	case []float64:
		addPar(dst.Data().([]float64), av, db.Data().([]float64))
	default:
		return nil, false
	}
	return dst, true
}

// whole reports whether t is a plain dense tensor: not a view, not masked,
// its data in row-major order.
func whole(t *tensor.Dense) bool {
	return !t.IsView() && !t.IsMasked() && !t.RequiresIterator() && t.DataOrder().IsRowMajor() && t.DataOrder().IsContiguous()
}

// addPar sets dst = a + b element by element, in parallel ranges.
func addPar[T float](dst, a, b []T) {
	a, b = a[:len(dst)], b[:len(dst)]
	parallel(len(dst), 1, 64, func(lo, hi int) {
		d, x, y := dst[lo:hi], a[lo:hi], b[lo:hi]
		for k := range d {
			d[k] = x[k] + y[k]
		}
	})
}
