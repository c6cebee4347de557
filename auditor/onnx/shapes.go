package onnx

import (
	"github.com/gnaudit/gnaudit/auditor/ir"
)

var anyDim = ir.Dim{Value: -1}

// setOut records the type and shape of output k.
func (a *analysis) setOut(n *ir.Node, k int, dt ir.DataType, s []ir.Dim) {
	if k >= len(n.Outputs) || n.Outputs[k] == "" {
		return
	}
	a.types[n.Outputs[k]] = dt
	if s != nil {
		a.shapes[n.Outputs[k]] = s
	}
}

func sameDim(p, q ir.Dim) bool {
	if p.Known() || q.Known() {
		return p.Known() && q.Known() && p.Value == q.Value
	}
	return p.Param != "" && p.Param == q.Param
}

// broadcastSym is multidirectional broadcasting on partly symbolic shapes.
func broadcastSym(x, y []ir.Dim) []ir.Dim {
	r := max(len(x), len(y))
	out := make([]ir.Dim, r)
	for k := 0; k < r; k++ {
		p, q := ir.Dim{Value: 1}, ir.Dim{Value: 1}
		if k >= r-len(x) {
			p = x[k-(r-len(x))]
		}
		if k >= r-len(y) {
			q = y[k-(r-len(y))]
		}
		switch {
		case sameDim(p, q), q.Known() && q.Value == 1:
			out[k] = p
		case p.Known() && p.Value == 1:
			out[k] = q
		case p.Known():
			out[k] = p // q symbolic: it must equal p
		case q.Known():
			out[k] = q
		default:
			out[k] = anyDim
		}
	}
	return out
}

// product multiplies dims; the result is known when all are, a symbol when
// exactly one is symbolic and the rest multiply to 1, else unknown.
func product(ds []ir.Dim) ir.Dim {
	p := int64(1)
	var sym *ir.Dim
	for k := range ds {
		switch {
		case ds[k].Known():
			p *= ds[k].Value
		case ds[k].Param != "" && sym == nil:
			sym = &ds[k]
		default:
			return anyDim
		}
	}
	if sym == nil {
		return ir.Dim{Value: p}
	}
	if p == 1 {
		return *sym
	}
	return anyDim
}

// poolDims computes the spatial output sizes of Conv and the pools.
func poolDims(in []ir.Dim, kernel, pads, strides, dil []int64, autoPad string, ceil bool) []ir.Dim {
	nsp := len(kernel)
	out := make([]ir.Dim, nsp)
	for k := 0; k < nsp; k++ {
		d := in[k]
		if !d.Known() {
			out[k] = anyDim
			continue
		}
		s, dl := int64(1), int64(1)
		if k < len(strides) && strides[k] > 0 {
			s = strides[k]
		}
		if k < len(dil) && dil[k] > 0 {
			dl = dil[k]
		}
		ek := dl*(kernel[k]-1) + 1
		switch autoPad {
		case "SAME_UPPER", "SAME_LOWER":
			out[k] = ir.Dim{Value: (d.Value + s - 1) / s}
			continue
		case "VALID":
			pads = nil
		}
		pb, pe := int64(0), int64(0)
		if len(pads) == 2*nsp {
			pb, pe = pads[k], pads[k+nsp]
		}
		span := d.Value + pb + pe - ek
		if span < 0 {
			out[k] = anyDim
			continue
		}
		o := span/s + 1
		if ceil {
			o = (span+s-1)/s + 1
			if (o-1)*s >= d.Value+pb { // the last window must start inside
				o--
			}
		}
		out[k] = ir.Dim{Value: o}
	}
	return out
}

// infer computes the output shapes of a node from its input shapes (for
// the operators gnaudit supports; others leave their outputs unknown).
func (a *analysis) infer(n *ir.Node) {
	x := a.shapes[input(n, 0)]
	dt := a.types[input(n, 0)]
	switch n.OpType {
	case "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Identity", "Clip",
		"Neg", "Exp", "Log", "Sqrt", "Abs", "Elu", "Selu", "Softplus", "Erf", "HardSigmoid":
		a.setOut(n, 0, dt, x)
	case "Dropout":
		a.setOut(n, 0, dt, x)
		a.setOut(n, 1, ir.Bool, x)
	case "Cast":
		a.setOut(n, 0, ir.DataType(attrInt(n, "to", 0)), x)
	case "BatchNormalization", "InstanceNormalization", "LayerNormalization":
		a.setOut(n, 0, dt, x)
	case "Add", "Sub", "Mul", "Div", "Pow", "PRelu":
		y := a.shapes[input(n, 1)]
		if x != nil && y != nil {
			a.setOut(n, 0, dt, broadcastSym(x, y))
		}
	case "Conv":
		w := a.shapes[input(n, 1)]
		if x == nil || w == nil || len(x) < 3 || len(w) != len(x) {
			return
		}
		kernel := attrInts(n, "kernel_shape")
		if kernel == nil {
			for _, d := range w[2:] {
				if !d.Known() {
					return
				}
				kernel = append(kernel, d.Value)
			}
		}
		if len(kernel) != len(x)-2 {
			return
		}
		s := append([]ir.Dim{x[0], w[0]}, poolDims(x[2:], kernel, attrInts(n, "pads"), attrInts(n, "strides"),
			attrInts(n, "dilations"), attrString(n, "auto_pad", "NOTSET"), false)...)
		a.setOut(n, 0, dt, s)
	case "MaxPool", "AveragePool":
		kernel := attrInts(n, "kernel_shape")
		if len(x) < 3 || len(kernel) != len(x)-2 {
			return
		}
		s := append([]ir.Dim{x[0], x[1]}, poolDims(x[2:], kernel, attrInts(n, "pads"), attrInts(n, "strides"),
			attrInts(n, "dilations"), attrString(n, "auto_pad", "NOTSET"), attrInt(n, "ceil_mode", 0) != 0)...)
		a.setOut(n, 0, dt, s)
		a.setOut(n, 1, ir.Int64, s)
	case "GlobalAveragePool", "GlobalMaxPool":
		if len(x) < 3 {
			return
		}
		s := []ir.Dim{x[0], x[1]}
		for range x[2:] {
			s = append(s, ir.Dim{Value: 1})
		}
		a.setOut(n, 0, dt, s)
	case "Gemm":
		y := a.shapes[input(n, 1)]
		if len(x) != 2 || len(y) != 2 {
			return
		}
		m, nn := x[0], y[1]
		if attrInt(n, "transA", 0) != 0 {
			m = x[1]
		}
		if attrInt(n, "transB", 0) != 0 {
			nn = y[0]
		}
		a.setOut(n, 0, dt, []ir.Dim{m, nn})
	case "MatMul":
		y := a.shapes[input(n, 1)]
		if len(x) == 0 || len(y) == 0 {
			return
		}
		xs, ys := x, y
		if len(xs) == 1 {
			xs = []ir.Dim{{Value: 1}, xs[0]}
		}
		if len(ys) == 1 {
			ys = []ir.Dim{ys[0], {Value: 1}}
		}
		s := broadcastSym(xs[:len(xs)-2], ys[:len(ys)-2])
		if len(x) > 1 {
			s = append(s, xs[len(xs)-2])
		}
		if len(y) > 1 {
			s = append(s, ys[len(ys)-1])
		}
		a.setOut(n, 0, dt, s)
	case "Flatten":
		if x == nil {
			return
		}
		ax, ok := flattenAxis(attrInt(n, "axis", 1), len(x))
		if !ok {
			return
		}
		a.setOut(n, 0, dt, []ir.Dim{product(x[:ax]), product(x[ax:])})
	case "Reshape":
		a.inferReshape(n, x, dt)
	case "Transpose":
		if x == nil {
			return
		}
		perm := attrInts(n, "perm")
		if perm == nil {
			for k := len(x) - 1; k >= 0; k-- {
				perm = append(perm, int64(k))
			}
		}
		if len(perm) != len(x) {
			return
		}
		s := make([]ir.Dim, len(x))
		for k, p := range perm {
			if p < 0 || p >= int64(len(x)) {
				return
			}
			s[k] = x[p]
		}
		a.setOut(n, 0, dt, s)
	case "Concat":
		if x == nil {
			return
		}
		ax, err := normAxis(attrInt(n, "axis", 0), len(x))
		if err != nil {
			return
		}
		s := append([]ir.Dim{}, x...)
		var along []ir.Dim
		for _, in := range n.Inputs {
			y := a.shapes[in]
			if len(y) != len(x) {
				return
			}
			along = append(along, y[ax])
			for k := range s {
				if k != ax && !s[k].Known() && y[k].Known() {
					s[k] = y[k]
				}
			}
		}
		s[ax] = ir.Dim{Value: 0}
		for _, d := range along {
			if !d.Known() {
				s[ax] = anyDim
				break
			}
			s[ax].Value += d.Value
		}
		a.setOut(n, 0, dt, s)
	case "Squeeze":
		axes, ok := a.intsFrom(n, "axes", 1)
		if x == nil || !ok {
			return
		}
		drop, err := squeezeAxes(x, axes)
		if err != nil {
			return
		}
		s := []ir.Dim{}
		for k, d := range x {
			if !drop[k] {
				s = append(s, d)
			}
		}
		a.setOut(n, 0, dt, s)
	case "Unsqueeze":
		axes, ok := a.intsFrom(n, "axes", 1)
		if x == nil || !ok || axes == nil {
			return
		}
		r := len(x) + len(axes)
		ones := make([]bool, r)
		for _, ax := range axes {
			k, err := normAxis(ax, r)
			if err != nil {
				return
			}
			ones[k] = true
		}
		s := make([]ir.Dim, 0, r)
		j := 0
		for k := 0; k < r; k++ {
			if ones[k] {
				s = append(s, ir.Dim{Value: 1})
			} else if j < len(x) {
				s = append(s, x[j])
				j++
			}
		}
		if len(s) == r {
			a.setOut(n, 0, dt, s)
		}
	case "Pad":
		pads, ok := a.intsFrom(n, "pads", 1)
		if x == nil || !ok || len(pads) != 2*len(x) {
			return
		}
		s := make([]ir.Dim, len(x))
		for k, d := range x {
			s[k] = d
			if p := pads[k] + pads[k+len(x)]; p != 0 {
				if d.Known() {
					s[k] = ir.Dim{Value: d.Value + p}
				} else {
					s[k] = anyDim
				}
			}
		}
		a.setOut(n, 0, dt, s)
	case "Shape":
		if x != nil {
			a.setOut(n, 0, ir.Int64, []ir.Dim{{Value: int64(len(x))}})
		}
	case "Gather":
		idx := a.shapes[input(n, 1)]
		if x == nil || idx == nil {
			return
		}
		ax, err := normAxis(attrInt(n, "axis", 0), len(x))
		if err != nil {
			return
		}
		s := append(append(append([]ir.Dim{}, x[:ax]...), idx...), x[ax+1:]...)
		a.setOut(n, 0, dt, s)
	case "ConstantOfShape":
		if c := a.constOf(input(n, 0)); c != nil {
			vt := ir.Float
			if at, ok := n.Attrs["value"]; ok && at.Tensor != nil {
				vt = at.Tensor.Type
			}
			a.setOut(n, 0, vt, knownDims(c.ints()))
		}
	default:
		a.inferMaskOps(n, x, dt) // shapes_mask.go
	}
}

// inferReshape computes a Reshape's output shape from a constant or
// partially known target shape.
func (a *analysis) inferReshape(n *ir.Node, x []ir.Dim, dt ir.DataType) {
	var target []sdim
	if v := attrInts(n, "shape"); v != nil {
		for _, d := range v {
			target = append(target, num(d))
		}
	} else if s := a.symOf(input(n, 1)); s != nil && !s.scalar {
		target = s.elems
	} else {
		return
	}
	allowZero := attrInt(n, "allowzero", 0) != 0
	out := make([]ir.Dim, len(target))
	neg := -1
	for k, d := range target {
		switch {
		case d.known && d.v == -1:
			if neg >= 0 {
				return
			}
			neg = k
		case d.known && d.v == 0 && !allowZero:
			if k >= len(x) {
				return
			}
			out[k] = x[k]
		case d.known && d.v < 0:
			return
		default:
			out[k] = d.dim()
		}
	}
	if neg < 0 {
		a.setOut(n, 0, dt, out)
		return
	}
	if x == nil {
		return
	}
	// Cancel the output's dims against the input's: what is left of the
	// input is the -1 dimension.
	rest := append([]ir.Dim{}, x...)
	known := int64(1)
	for k, d := range out {
		if k == neg {
			continue
		}
		matched := false
		for j := range rest {
			if !d.Known() && sameDim(rest[j], d) {
				rest = append(rest[:j], rest[j+1:]...)
				matched = true
				break
			}
		}
		if matched {
			continue
		}
		if !d.Known() {
			out[neg] = anyDim
			a.setOut(n, 0, dt, out)
			return
		}
		known *= d.Value
	}
	out[neg] = anyDim
	var sym *ir.Dim
	kp := int64(1)
	for j := range rest {
		switch {
		case rest[j].Known():
			kp *= rest[j].Value
		case rest[j].Param != "" && sym == nil:
			sym = &rest[j]
		default:
			a.setOut(n, 0, dt, out)
			return
		}
	}
	switch {
	case sym == nil && known > 0 && kp%known == 0:
		out[neg] = ir.Dim{Value: kp / known}
	case sym != nil && kp == known:
		out[neg] = *sym
	}
	a.setOut(n, 0, dt, out)
}

// flattenAxis maps Flatten's axis, in [-rank, rank], to [0, rank].
func flattenAxis(a int64, rank int) (int, bool) {
	if a < 0 {
		a += int64(rank)
	}
	return int(a), a >= 0 && a <= int64(rank)
}
