package graph

// Contiguous fast paths of the broadcasting binary kernels (binFwd,
// binGrad). They compute exactly what the strided loops compute: the same
// operation on the same operands, element by element, only without the
// per-element stride multiplications and bounds checks.

// binFwdRow computes out[k] = a[k·sa] op b[k·sb] for k < len(out), with
// strides sa, sb ∈ {0, 1} (0: the operand is broadcast along the row).
func binFwdRow[T float](kind int, out, a, b []T, sa, sb int) {
	n := len(out)
	switch {
	case sa == 1 && sb == 1:
		a, b := a[:n], b[:n]
		switch kind {
		case binAdd:
			if useElemAsm {
				k := addAsm(out, a, b)
				out, a, b = out[k:], a[k:], b[k:]
			}
			for k := range out {
				out[k] = a[k] + b[k]
			}
		case binSub:
			for k := range out {
				out[k] = a[k] - b[k]
			}
		case binMul:
			for k := range out {
				out[k] = a[k] * b[k]
			}
		case binDiv:
			for k := range out {
				out[k] = a[k] / b[k]
			}
		}
	case sa == 1: // b broadcast along the row
		a, bv := a[:n], b[0]
		switch kind {
		case binAdd:
			for k := range out {
				out[k] = a[k] + bv
			}
		case binSub:
			for k := range out {
				out[k] = a[k] - bv
			}
		case binMul:
			for k := range out {
				out[k] = a[k] * bv
			}
		case binDiv:
			for k := range out {
				out[k] = a[k] / bv
			}
		}
	case sb == 1: // a broadcast along the row
		av, b := a[0], b[:n]
		switch kind {
		case binAdd:
			for k := range out {
				out[k] = av + b[k]
			}
		case binSub:
			for k := range out {
				out[k] = av - b[k]
			}
		case binMul:
			for k := range out {
				out[k] = av * b[k]
			}
		case binDiv:
			for k := range out {
				out[k] = av / b[k]
			}
		}
	default: // both broadcast: one value
		var v T
		switch kind {
		case binAdd:
			v = a[0] + b[0]
		case binSub:
			v = a[0] - b[0]
		case binMul:
			v = a[0] * b[0]
		case binDiv:
			v = a[0] / b[0]
		}
		for k := range out {
			out[k] = v
		}
	}
}

// binGradFlat is binGrad for an operand that is not reduced when every
// operand the gradient reads is laid out like the output (one contiguous
// row after newIter's merging): Add's gradient (and Sub's of a) is a copy
// of g, Sub's of b its negation, Mul's the product with the other operand.
// It reports false, doing nothing, in every other case (Div, broadcast
// operands), which binGrad's general loop handles.
func binGradFlat[T float](kind, side int, dst, g, a, b []T, it iter) bool {
	if len(it.shape) > 1 {
		return false
	}
	n := 1
	if len(it.shape) == 1 {
		n = it.shape[0]
		// g and dst always have the output's layout; the other operand is
		// read only by Mul.
		for _, op := range []int{0, 3} {
			if it.strides[op][0] != 1 {
				return false
			}
		}
	}
	g, dst = g[:n], dst[:n]
	var other []T // Mul's other operand
	switch {
	case kind == binAdd || kind == binSub:
	case kind == binMul:
		op := 2
		other = b
		if side == 1 {
			other, op = a, 1
		}
		if len(it.shape) == 1 && it.strides[op][0] != 1 {
			return false
		}
		other = other[:n]
	default:
		return false
	}
	// element by element, so shared out to the workers in ranges
	parallel(n, 1, 64, func(lo, hi int) {
		g, dst := g[lo:hi], dst[lo:hi]
		switch {
		case kind == binAdd || (kind == binSub && side == 0):
			copy(dst, g)
		case kind == binSub:
			for k, v := range g {
				dst[k] = -v
			}
		default:
			// The product of two float32 values is exact in float64, so
			// rounding it to float32 gives the float32 product: T
			// arithmetic is what binGrad's float64 loop computes.
			other := other[lo:hi]
			for k, v := range g {
				dst[k] = v * other[k]
			}
		}
	})
	return true
}
