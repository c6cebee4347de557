package graph

import (
	"math"
	"math/bits"
)

// Element-wise, broadcasting and data-movement kernels.

// iter walks an N-d index space in row-major order, carrying one offset per
// operand. Dimensions of size 1 are dropped and adjacent dimensions merged
// where every operand allows it, so the innermost loop is as long as possible.
type iter struct {
	shape   []int
	strides [][]int // [operand][dim]
}

func newIter(shape []int, strides ...[]int) iter {
	var it iter
	it.strides = make([][]int, len(strides))
	for d, n := range shape {
		if n == 1 {
			continue
		}
		k := len(it.shape)
		if k > 0 {
			merge := true
			for op, s := range strides {
				if it.strides[op][k-1] != s[d]*n {
					merge = false
					break
				}
			}
			if merge {
				it.shape[k-1] *= n
				for op, s := range strides {
					it.strides[op][k-1] = s[d]
				}
				continue
			}
		}
		it.shape = append(it.shape, n)
		for op, s := range strides {
			it.strides[op] = append(it.strides[op], s[d])
		}
	}
	return it
}

// rows calls fn once per innermost row with the operands' start offsets, the
// row length and the operands' innermost strides.
func (it iter) rows(fn func(off []int, n int, st []int)) {
	nop := len(it.strides)
	off := make([]int, nop)
	st := make([]int, nop)
	nd := len(it.shape)
	if nd == 0 {
		fn(off, 1, st)
		return
	}
	for op := range st {
		st[op] = it.strides[op][nd-1]
	}
	inner := it.shape[nd-1]
	if nd == 1 {
		fn(off, inner, st)
		return
	}
	idx := make([]int, nd-1)
	for {
		fn(off, inner, st)
		d := nd - 2
		for ; d >= 0; d-- {
			idx[d]++
			for op := range off {
				off[op] += it.strides[op][d]
			}
			if idx[d] < it.shape[d] {
				break
			}
			for op := range off {
				off[op] -= it.strides[op][d] * it.shape[d]
			}
			idx[d] = 0
		}
		if d < 0 {
			return
		}
	}
}

// contiguous returns the row-major strides of shape.
func contiguous(shape []int) []int {
	st := make([]int, len(shape))
	s := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = s
		s *= shape[i]
	}
	return st
}

// bcastStrides returns the strides with which an operand of shape s is read
// when broadcast to out (numpy rules: right-aligned, size-1 dims repeat).
func bcastStrides(s, out []int) []int {
	cs := contiguous(s)
	st := make([]int, len(out))
	off := len(out) - len(s)
	for d := range out {
		sd := d - off
		if sd < 0 || s[sd] == 1 {
			continue
		}
		st[d] = cs[sd]
	}
	return st
}

// Binary operator kinds.
const (
	binAdd = iota
	binSub
	binMul
	binDiv
)

var binNames = [...]string{"Add", "Sub", "Mul", "Div"}

// binFwd computes out = a op b with broadcasting; it is the iteration over
// out's shape with the operands' broadcast strides. Operands laid out
// like out (one contiguous row, as a residual Add's) are shared out to the
// workers in ranges, each element computed as in the row loop.
func binFwd[T float](kind int, out, a, b []T, it iter) {
	if len(it.shape) == 1 && it.strides[0][0] == 1 && it.strides[1][0] == 1 && it.strides[2][0] == 1 {
		parallel(it.shape[0], 1, 64, func(lo, hi int) {
			binFwdRow(kind, out[lo:hi], a[lo:hi], b[lo:hi], 1, 1)
		})
		return
	}
	it.rows(func(off []int, n int, st []int) {
		o, ia, ib := off[0], off[1], off[2]
		so, sa, sb := st[0], st[1], st[2]
		if so == 1 && sa <= 1 && sb <= 1 {
			binFwdRow(kind, out[o:o+n], a[ia:], b[ib:], sa, sb)
			return
		}
		switch kind {
		case binAdd:
			for k := 0; k < n; k++ {
				out[o+k*so] = a[ia+k*sa] + b[ib+k*sb]
			}
		case binSub:
			for k := 0; k < n; k++ {
				out[o+k*so] = a[ia+k*sa] - b[ib+k*sb]
			}
		case binMul:
			for k := 0; k < n; k++ {
				out[o+k*so] = a[ia+k*sa] * b[ib+k*sb]
			}
		case binDiv:
			for k := 0; k < n; k++ {
				out[o+k*so] = a[ia+k*sa] / b[ib+k*sb]
			}
		}
	})
}

// binGrad computes the gradient of out = a op b with respect to operand side
// (0 = a, 1 = b), summed over the dimensions along which that operand was
// broadcast. Operands of the iteration: g (out shape), a, b, dst. acc is a
// float64 accumulator of len(dst), used when the operand is reduced.
func binGrad[T float](kind, side int, dst, g, a, b []T, it iter, reduce bool, acc []float64) {
	if !reduce && binGradFlat(kind, side, dst, g, a, b, it) {
		return
	}
	if reduce {
		for i := range acc {
			acc[i] = 0
		}
	}
	it.rows(func(off []int, n int, st []int) {
		og, ia, ib, od := off[0], off[1], off[2], off[3]
		sg, sa, sb, sd := st[0], st[1], st[2], st[3]
		for k := 0; k < n; k++ {
			gv := float64(g[og+k*sg])
			var v float64
			switch kind {
			case binAdd:
				v = gv
			case binSub:
				if side == 0 {
					v = gv
				} else {
					v = -gv
				}
			case binMul:
				if side == 0 {
					v = gv * float64(b[ib+k*sb])
				} else {
					v = gv * float64(a[ia+k*sa])
				}
			case binDiv:
				bv := float64(b[ib+k*sb])
				if side == 0 {
					v = gv / bv
				} else {
					v = -gv * float64(a[ia+k*sa]) / (bv * bv)
				}
			}
			if reduce {
				acc[od+k*sd] += v
			} else {
				dst[od+k*sd] = T(v)
			}
		}
	})
	if reduce {
		for i, v := range acc {
			dst[i] = T(v)
		}
	}
}

// Unary operator kinds.
const (
	unRelu = iota
	unLeaky
	unSigmoid
	unTanh
	unClip
)

// unary holds a unary element-wise function and its parameters.
type unary struct {
	kind   int
	alpha  float64 // LeakyRelu slope
	lo, hi float64 // Clip bounds
}

func unaryFwd[T float](u unary, out, x []T) {
	cost := 1
	if u.kind == unSigmoid || u.kind == unTanh {
		cost = 16
	}
	parallel(len(x), cost, 64, func(lo, hi int) { unaryFwdRange(u, out[lo:hi], x[lo:hi]) })
}

func unaryFwdRange[T float](u unary, out, x []T) {
	switch u.kind {
	case unRelu:
		if reluFast(out, x, x) {
			return
		}
		for i, v := range x {
			if !(v <= 0) { // NaN passes, as in ONNX and PyTorch
				out[i] = v
			} else {
				out[i] = 0
			}
		}
	case unLeaky:
		a := T(u.alpha)
		for i, v := range x {
			if v >= 0 {
				out[i] = v
			} else {
				out[i] = a * v
			}
		}
	case unSigmoid:
		for i, v := range x {
			f := float64(v)
			if f >= 0 {
				out[i] = T(1 / (1 + math.Exp(-f)))
			} else {
				e := math.Exp(f)
				out[i] = T(e / (1 + e))
			}
		}
	case unTanh:
		for i, v := range x {
			out[i] = T(math.Tanh(float64(v)))
		}
	case unClip:
		clipFwd(out, x, T(u.lo), T(u.hi))
	}
}

// reluFast sets out[i] = v[i] where x[i] > 0 or x[i] is NaN, else 0 (ReLU
// with v = x, its gradient with v = g), without branches on the data
// (random signs would mispredict half of them). A NaN input gives a NaN
// output, as ONNX's max(x, 0) and PyTorch's relu do (a NaN weight must not
// be hidden), and passes the gradient, as PyTorch's threshold_backward
// (x <= 0 ? 0 : g). It reports false for an element type it does not
// handle.
func reluFast[T float](out, x, v []T) bool {
	switch out := any(out).(type) {
	case []float32:
		x, v := any(x).([]float32), any(v).([]float32)
		v = v[:len(x)]
		out = out[:len(x)]
		if useElemAsm {
			k := reluAsm(out, x, v)
			out, x, v = out[k:], x[k:], v[k:]
		}
		for i, xi := range x {
			// x > 0 iff its bit pattern lies in [1, +Inf's pattern]; NaN
			// iff its magnitude's pattern lies above +Inf's. Both tests
			// are the borrow of a 64-bit subtraction (bit 63), so the
			// loop has no branch: an `if` here compiled to a jump that
			// random signs mispredicted (19 % of a resnet20 step).
			b := uint64(math.Float32bits(xi))
			pos := (b - 1) & 0xffffffff // b = 0 wraps to 2³²−1: not positive
			m := uint32(0) - uint32(((pos-0x7f800000)|(0x7f800000-b&0x7fffffff))>>63)
			out[i] = math.Float32frombits(math.Float32bits(v[i]) & m)
		}
		return true
	case []float64:
		x, v := any(x).([]float64), any(v).([]float64)
		v = v[:len(x)]
		out = out[:len(x)]
		for i, xi := range x {
			b := math.Float64bits(xi)
			_, pos := bits.Sub64(b-1, 0x7ff0000000000000, 0)                  // 1 iff 0 < x ≤ +Inf
			_, nan := bits.Sub64(0x7ff0000000000000, b&0x7fffffffffffffff, 0) // 1 iff NaN
			m := -(pos | nan)
			out[i] = math.Float64frombits(math.Float64bits(v[i]) & m)
		}
		return true
	}
	return false
}

// clipFwd computes min(max(x, lo), hi) (all hi when lo > hi, as ONNX says).
func clipFwd[T float](out, x []T, lo, hi T) {
	for i, v := range x {
		if v < lo {
			v = lo
		}
		if v > hi {
			v = hi
		}
		out[i] = v
	}
}

// clipGrad computes dx (g where lo < x < hi, else 0) and, if wanted, the
// gradients of the bounds: dlo = Σ g over x < lo, dhi = Σ g over x > hi
// (when lo > hi every element takes hi).
func clipGrad[T float](dx, x, g []T, lo, hi T) (dlo, dhi float64) {
	for i, v := range x {
		switch {
		case lo > hi:
			dx[i] = 0
			dhi += float64(g[i])
		case v < lo:
			dx[i] = 0
			dlo += float64(g[i])
		case v > hi:
			dx[i] = 0
			dhi += float64(g[i])
		case v == lo || v == hi:
			dx[i] = 0
		default:
			dx[i] = g[i]
		}
	}
	return
}

// unaryGrad computes dx from the input x, the output y and the output's
// gradient g. The conventions at kinks are PyTorch's: Relu'(0) = 0,
// LeakyRelu'(0) = alpha (torch tests x > 0), Clip' = 0 at the bounds.
func unaryGrad[T float](u unary, dx, x, y, g []T) {
	if u.kind == unClip {
		clipGrad(dx, x, g, T(u.lo), T(u.hi))
		return
	}
	parallel(len(dx), 1, 64, func(lo, hi int) {
		var xs, ys []T
		if len(x) > 0 {
			xs = x[lo:hi]
		}
		if len(y) > 0 {
			ys = y[lo:hi]
		}
		unaryGradRange(u, dx[lo:hi], xs, ys, g[lo:hi])
	})
}

func unaryGradRange[T float](u unary, dx, x, y, g []T) {
	switch u.kind {
	case unRelu:
		if reluFast(dx, x, g) {
			return
		}
		for i, v := range x {
			if !(v <= 0) {
				dx[i] = g[i]
			} else {
				dx[i] = 0
			}
		}
	case unLeaky:
		a := T(u.alpha)
		for i, v := range x {
			if v > 0 {
				dx[i] = g[i]
			} else {
				dx[i] = a * g[i]
			}
		}
	case unSigmoid:
		for i, v := range y {
			dx[i] = g[i] * v * (1 - v)
		}
	case unTanh:
		for i, v := range y {
			dx[i] = g[i] * (1 - v*v)
		}
	case unClip:
		clipGrad(dx, x, g, T(u.lo), T(u.hi))
	}
}

// transposeKern writes out = x permuted: out dim d is x dim perm[d].
func transposeKern[T float](out, x []T, xshape, perm []int) {
	xs := contiguous(xshape)
	oshape := make([]int, len(perm))
	ist := make([]int, len(perm))
	for d, p := range perm {
		oshape[d] = xshape[p]
		ist[d] = xs[p]
	}
	it := newIter(oshape, contiguous(oshape), ist)
	it.rows(func(off []int, n int, st []int) {
		o, i := off[0], off[1]
		so, si := st[0], st[1]
		for k := 0; k < n; k++ {
			out[o+k*so] = x[i+k*si]
		}
	})
}

// padKern writes out = x padded by begin/end (negative values crop) with the
// constant value.
func padKern[T float](out, x []T, xshape, begin, end []int, value T) {
	r := len(xshape)
	oshape := make([]int, r)
	for d := range xshape {
		oshape[d] = xshape[d] + begin[d] + end[d]
	}
	for i := range out {
		out[i] = value
	}
	region := make([]int, r)
	oOff, xOff := 0, 0
	os, xs := contiguous(oshape), contiguous(xshape)
	for d := 0; d < r; d++ {
		ob := max(begin[d], 0)
		xb := max(-begin[d], 0)
		region[d] = xshape[d] - xb - max(-end[d], 0)
		if region[d] <= 0 {
			return
		}
		oOff += ob * os[d]
		xOff += xb * xs[d]
	}
	it := newIter(region, os, xs)
	it.rows(func(off []int, n int, st []int) {
		o, i := oOff+off[0], xOff+off[1]
		so, si := st[0], st[1]
		for k := 0; k < n; k++ {
			out[o+k*so] = x[i+k*si]
		}
	})
}

// concatKern copies the inputs next to each other along axis.
func concatKern[T float](out []T, ins [][]T, shapes [][]int, axis int) {
	outer := 1
	for d := 0; d < axis; d++ {
		outer *= shapes[0][d]
	}
	rest := 1
	for d := axis + 1; d < len(shapes[0]); d++ {
		rest *= shapes[0][d]
	}
	total := 0
	for _, s := range shapes {
		total += s[axis]
	}
	off := 0
	for i, in := range ins {
		w := shapes[i][axis] * rest
		for o := 0; o < outer; o++ {
			copy(out[o*total*rest+off:o*total*rest+off+w], in[o*w:(o+1)*w])
		}
		off += w
	}
}

// sliceAxisKern copies the block [start, start+size) along axis of x (shape
// xshape) into out.
func sliceAxisKern[T float](out, x []T, xshape []int, axis, start, size int) {
	outer := 1
	for d := 0; d < axis; d++ {
		outer *= xshape[d]
	}
	rest := 1
	for d := axis + 1; d < len(xshape); d++ {
		rest *= xshape[d]
	}
	w := size * rest
	for o := 0; o < outer; o++ {
		src := x[(o*xshape[axis]+start)*rest:]
		copy(out[o*w:(o+1)*w], src[:w])
	}
}
