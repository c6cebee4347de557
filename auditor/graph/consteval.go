package graph

import (
	"fmt"

	"github.com/gnaudit/gnaudit/auditor/ir"
)

// cval is a value known when the graph is built: an integer or float
// initializer, a Constant, or the result of a constant subgraph such as
// Shape → Gather → Unsqueeze → Concat. Float types are held in f, integer
// and bool types in i.
type cval struct {
	typ   ir.DataType
	shape []int
	f     []float64
	i     []int64
}

func isFloatType(t ir.DataType) bool { return t == ir.Float || t == ir.Double }

func (c *cval) isFloat() bool { return isFloatType(c.typ) }

func (c *cval) len() int { return prod(c.shape) }

// ints returns the elements as integers (floats truncated).
func (c *cval) ints() []int64 {
	if !c.isFloat() {
		return c.i
	}
	r := make([]int64, len(c.f))
	for k, v := range c.f {
		r[k] = int64(v)
	}
	return r
}

// floats returns the elements as float64.
func (c *cval) floats() []float64 {
	if c.isFloat() {
		return c.f
	}
	r := make([]float64, len(c.i))
	for k, v := range c.i {
		r[k] = float64(v)
	}
	return r
}

func (c *cval) String() string {
	if c.len() > 8 {
		return fmt.Sprintf("%v%v", c.typ, c.shape)
	}
	if c.isFloat() {
		return fmt.Sprintf("%v%v%v", c.typ, c.shape, c.f)
	}
	return fmt.Sprintf("%v%v%v", c.typ, c.shape, c.i)
}

// newCval builds a cval of c's kind (float or integer) with shape s from the
// selected elements of c (idx[k] is the source index of element k).
func (c *cval) gather(s []int, idx []int) *cval {
	r := &cval{typ: c.typ, shape: s}
	if c.isFloat() {
		r.f = make([]float64, len(idx))
		for k, j := range idx {
			r.f[k] = c.f[j]
		}
	} else {
		r.i = make([]int64, len(idx))
		for k, j := range idx {
			r.i[k] = c.i[j]
		}
	}
	return r
}

func (c *cval) reshaped(s []int) *cval {
	r := *c
	r.shape = append([]int(nil), s...)
	return &r
}

func prod(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// tensorToCval converts an initializer or a Constant's tensor.
func tensorToCval(t *ir.Tensor) (*cval, error) {
	c := &cval{typ: t.Type, shape: make([]int, len(t.Dims))}
	for k, d := range t.Dims {
		if d < 0 {
			return nil, fmt.Errorf("tensor %q has negative dimension %d", t.Name, d)
		}
		c.shape[k] = int(d)
	}
	n := c.len()
	switch {
	case t.Type == ir.Float:
		if len(t.F32) != n {
			return nil, fmt.Errorf("tensor %q: %d float values for shape %v", t.Name, len(t.F32), c.shape)
		}
		c.f = make([]float64, n)
		for k, v := range t.F32 {
			c.f[k] = float64(v)
		}
	case t.Type == ir.Double:
		if len(t.F64) != n {
			return nil, fmt.Errorf("tensor %q: %d double values for shape %v", t.Name, len(t.F64), c.shape)
		}
		c.f = append([]float64(nil), t.F64...)
	case t.Type == ir.Int64 || t.Type == ir.Int32 || t.Type == ir.Int8 || t.Type == ir.Uint8 || t.Type == ir.Bool:
		if len(t.I64) != n {
			return nil, fmt.Errorf("tensor %q: %d integer values for shape %v", t.Name, len(t.I64), c.shape)
		}
		c.i = append([]int64(nil), t.I64...)
	default:
		return nil, fmt.Errorf("tensor %q has unsupported dtype %v", t.Name, t.Type)
	}
	return c, nil
}

// evalCore evaluates the operators of evalConst (the entries' eval).
func evalCore(b *builderBase, n *ir.Node, ins []*cval) (*cval, error) {
	return b.evalConst(n, ins, b.shapeOf)
}

// normAxis maps a possibly negative axis into [0, rank).
func normAxis(a int64, rank int) (int, error) {
	if a < -int64(rank) || a >= int64(rank) {
		return 0, fmt.Errorf("axis %d out of range for rank %d", a, rank)
	}
	if a < 0 {
		a += int64(rank)
	}
	return int(a), nil
}

// evalConst evaluates node n on constant inputs ins (nil for absent
// optional inputs). shapeOf gives the shape of any value (for Shape/Size).
func (b *builderBase) evalConst(n *ir.Node, ins []*cval, shapeOf func(string) ([]int, bool)) (*cval, error) {
	in := func(k int) (*cval, error) {
		if k >= len(ins) || ins[k] == nil {
			return nil, fmt.Errorf("missing input %d", k)
		}
		return ins[k], nil
	}
	switch n.OpType {
	case "Constant":
		return constantAttr(n)
	case "Identity":
		return in(0)
	case "Shape", "Size":
		s, ok := shapeOf(n.Inputs[0])
		if !ok {
			return nil, fmt.Errorf("shape of %q unknown", n.Inputs[0])
		}
		if n.OpType == "Size" {
			return &cval{typ: ir.Int64, shape: []int{}, i: []int64{int64(prod(s))}}, nil
		}
		r := len(s)
		start, end := 0, r
		if a, ok := n.Attrs["start"]; ok {
			start = clampAxis(a.Int, r)
		}
		if a, ok := n.Attrs["end"]; ok {
			end = clampAxis(a.Int, r)
		}
		c := &cval{typ: ir.Int64, shape: []int{max(end-start, 0)}}
		for k := start; k < end; k++ {
			c.i = append(c.i, int64(s[k]))
		}
		return c, nil
	case "Cast":
		x, err := in(0)
		if err != nil {
			return nil, err
		}
		to := ir.DataType(n.Attrs["to"].Int)
		switch {
		case isFloatType(to):
			return &cval{typ: to, shape: x.shape, f: x.floats()}, nil
		case to == ir.Int64 || to == ir.Int32 || to == ir.Int8 || to == ir.Uint8:
			return &cval{typ: to, shape: x.shape, i: x.ints()}, nil
		case to == ir.Bool:
			v := x.floats()
			c := &cval{typ: to, shape: x.shape, i: make([]int64, len(v))}
			for k, e := range v {
				if e != 0 {
					c.i[k] = 1
				}
			}
			return c, nil
		}
		return nil, fmt.Errorf("Cast to %v not supported", to)
	case "Gather":
		x, err := in(0)
		if err != nil {
			return nil, err
		}
		ind, err := in(1)
		if err != nil {
			return nil, err
		}
		axis, err := normAxis(attrInt(n, "axis", 0), len(x.shape))
		if err != nil {
			return nil, err
		}
		outer := prod(x.shape[:axis])
		inner := prod(x.shape[axis+1:])
		dim := x.shape[axis]
		is := ind.ints()
		shape := append(append(append([]int{}, x.shape[:axis]...), ind.shape...), x.shape[axis+1:]...)
		idx := make([]int, 0, prod(shape))
		for o := 0; o < outer; o++ {
			for _, j := range is {
				if j < 0 {
					j += int64(dim)
				}
				if j < 0 || j >= int64(dim) {
					return nil, fmt.Errorf("Gather index %d out of range [0, %d)", j, dim)
				}
				for k := 0; k < inner; k++ {
					idx = append(idx, (o*dim+int(j))*inner+k)
				}
			}
		}
		return x.gather(shape, idx), nil
	case "Unsqueeze", "Squeeze":
		x, err := in(0)
		if err != nil {
			return nil, err
		}
		axes, err := axesOf(n, ins, b.opset)
		if err != nil {
			return nil, err
		}
		var s []int
		if n.OpType == "Unsqueeze" {
			s, err = unsqueezeShape(x.shape, axes)
		} else {
			s, err = squeezeShape(x.shape, axes)
		}
		if err != nil {
			return nil, err
		}
		return x.reshaped(s), nil
	case "Concat":
		if len(ins) == 0 {
			return nil, fmt.Errorf("no inputs")
		}
		x0, err := in(0)
		if err != nil {
			return nil, err
		}
		axis, err := normAxis(attrInt(n, "axis", 0), len(x0.shape))
		if err != nil {
			return nil, err
		}
		shape := append([]int(nil), x0.shape...)
		shape[axis] = 0
		for k := range ins {
			x, err := in(k)
			if err != nil {
				return nil, err
			}
			if len(x.shape) != len(shape) || x.isFloat() != x0.isFloat() {
				return nil, fmt.Errorf("Concat input %d: %v does not match %v", k, x, x0)
			}
			shape[axis] += x.shape[axis]
		}
		outer := prod(shape[:axis])
		inner := prod(shape[axis+1:])
		r := &cval{typ: x0.typ, shape: shape}
		for o := 0; o < outer; o++ {
			for _, x := range ins {
				w := x.shape[axis] * inner
				if r.isFloat() {
					r.f = append(r.f, x.f[o*w:(o+1)*w]...)
				} else {
					r.i = append(r.i, x.i[o*w:(o+1)*w]...)
				}
			}
		}
		return r, nil
	case "Reshape":
		x, err := in(0)
		if err != nil {
			return nil, err
		}
		sh, err := in(1)
		if err != nil {
			return nil, err
		}
		s, err := reshapeTarget(x.shape, sh.ints(), attrInt(n, "allowzero", 0) != 0)
		if err != nil {
			return nil, err
		}
		return x.reshaped(s), nil
	case "Flatten":
		x, err := in(0)
		if err != nil {
			return nil, err
		}
		s, err := flattenShape(x.shape, attrInt(n, "axis", 1))
		if err != nil {
			return nil, err
		}
		return x.reshaped(s), nil
	case "Slice":
		return sliceConst(n, ins, b.opset)
	case "Add", "Sub", "Mul", "Div":
		x, err := in(0)
		if err != nil {
			return nil, err
		}
		y, err := in(1)
		if err != nil {
			return nil, err
		}
		return binConst(n.OpType, x, y)
	case "ConstantOfShape":
		sh, err := in(0)
		if err != nil {
			return nil, err
		}
		s := make([]int, 0, sh.len())
		for _, d := range sh.ints() {
			if d < 0 {
				return nil, fmt.Errorf("negative dimension %d", d)
			}
			s = append(s, int(d))
		}
		if err := checkConst(s); err != nil {
			return nil, err
		}
		c := &cval{typ: ir.Float, shape: s, f: make([]float64, prod(s))}
		if a, ok := n.Attrs["value"]; ok && a.Tensor != nil {
			v, err := tensorToCval(a.Tensor)
			if err != nil {
				return nil, err
			}
			c.typ = v.typ
			if v.isFloat() {
				for k := range c.f {
					c.f[k] = v.f[0]
				}
			} else {
				c.f = nil
				c.i = make([]int64, prod(s))
				for k := range c.i {
					c.i[k] = v.i[0]
				}
			}
		}
		return c, nil
	}
	return nil, fmt.Errorf("operator %s has no build-time evaluation", n.OpType)
}

func clampAxis(a int64, r int) int {
	if a < 0 {
		a += int64(r)
	}
	if a < 0 {
		a = 0
	}
	if a > int64(r) {
		a = int64(r)
	}
	return int(a)
}

// constantAttr reads the value of a Constant node.
func constantAttr(n *ir.Node) (*cval, error) {
	for name, a := range n.Attrs {
		switch name {
		case "value":
			if a.Tensor == nil {
				return nil, fmt.Errorf("Constant without tensor")
			}
			return tensorToCval(a.Tensor)
		case "value_float":
			return &cval{typ: ir.Float, shape: []int{}, f: []float64{float64(a.Float)}}, nil
		case "value_floats":
			c := &cval{typ: ir.Float, shape: []int{len(a.Floats)}}
			for _, v := range a.Floats {
				c.f = append(c.f, float64(v))
			}
			return c, nil
		case "value_int":
			return &cval{typ: ir.Int64, shape: []int{}, i: []int64{a.Int}}, nil
		case "value_ints":
			return &cval{typ: ir.Int64, shape: []int{len(a.Ints)}, i: append([]int64(nil), a.Ints...)}, nil
		}
	}
	return nil, fmt.Errorf("Constant has no supported value attribute (sparse/string values are not supported)")
}

// binConst applies a numpy-broadcast arithmetic op to two constants.
func binConst(op string, x, y *cval) (*cval, error) {
	s, err := broadcastShape(x.shape, y.shape)
	if err != nil {
		return nil, err
	}
	if err := checkConst(s); err != nil {
		return nil, err
	}
	n := prod(s)
	xs, ys := bcastStrides(x.shape, s), bcastStrides(y.shape, s)
	idx := make([]int, len(s))
	xi, yi := make([]int, n), make([]int, n)
	for k := 0; k < n; k++ {
		a, b := 0, 0
		for d := range idx {
			a += idx[d] * xs[d]
			b += idx[d] * ys[d]
		}
		xi[k], yi[k] = a, b
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < s[d] {
				break
			}
			idx[d] = 0
		}
	}
	if x.isFloat() || y.isFloat() {
		typ := x.typ
		if !x.isFloat() {
			typ = y.typ
		}
		xf, yf := x.floats(), y.floats()
		r := &cval{typ: typ, shape: s, f: make([]float64, n)}
		for k := range r.f {
			a, b := xf[xi[k]], yf[yi[k]]
			switch op {
			case "Add":
				r.f[k] = a + b
			case "Sub":
				r.f[k] = a - b
			case "Mul":
				r.f[k] = a * b
			case "Div":
				r.f[k] = a / b
			}
		}
		return r, nil
	}
	r := &cval{typ: x.typ, shape: s, i: make([]int64, n)}
	for k := range r.i {
		a, b := x.i[xi[k]], y.i[yi[k]]
		switch op {
		case "Add":
			r.i[k] = a + b
		case "Sub":
			r.i[k] = a - b
		case "Mul":
			r.i[k] = a * b
		case "Div":
			if b == 0 {
				return nil, fmt.Errorf("integer division by zero")
			}
			r.i[k] = a / b
		}
	}
	return r, nil
}

// sliceSpec is a resolved Slice: per dimension the first index, the count
// and the step.
type sliceSpec struct{ start, count, step []int }

// sliceArgs reads Slice's starts/ends/axes/steps (attributes before opset
// 10, inputs after; ins[k] may be nil for absent inputs).
func sliceArgs(n *ir.Node, ins []*cval, opset int64) (starts, ends, axes, steps []int64, err error) {
	if opset < 10 {
		starts, ends = n.Attrs["starts"].Ints, n.Attrs["ends"].Ints
		if a, ok := n.Attrs["axes"]; ok {
			axes = a.Ints
		}
		return
	}
	get := func(k int) []int64 {
		if k < len(ins) && ins[k] != nil {
			return ins[k].ints()
		}
		return nil
	}
	for k := 1; k < len(n.Inputs) && k <= 4; k++ {
		if n.Inputs[k] != "" && (k >= len(ins) || ins[k] == nil) {
			return nil, nil, nil, nil, fmt.Errorf("Slice input %d (%q) is not a build-time constant", k, n.Inputs[k])
		}
	}
	return get(1), get(2), get(3), get(4), nil
}

// resolveSlice clamps a Slice to shape as ONNX specifies.
func resolveSlice(shape []int, starts, ends, axes, steps []int64) (*sliceSpec, error) {
	r := len(shape)
	if len(starts) != len(ends) {
		return nil, fmt.Errorf("Slice: %d starts, %d ends", len(starts), len(ends))
	}
	if axes == nil {
		for k := range starts {
			axes = append(axes, int64(k))
		}
	}
	if len(axes) != len(starts) || (steps != nil && len(steps) != len(starts)) {
		return nil, fmt.Errorf("Slice: %d axes / %d steps for %d starts", len(axes), len(steps), len(starts))
	}
	sp := &sliceSpec{start: make([]int, r), count: append([]int(nil), shape...), step: make([]int, r)}
	for d := range sp.step {
		sp.step[d] = 1
	}
	for k, a := range axes {
		d, err := normAxis(a, r)
		if err != nil {
			return nil, err
		}
		dim := int64(shape[d])
		st := int64(1)
		if steps != nil {
			st = steps[k]
		}
		if st == 0 {
			return nil, fmt.Errorf("Slice step 0")
		}
		s, e := starts[k], ends[k]
		if s < 0 {
			s += dim
		}
		if e < 0 {
			e += dim
		}
		if st > 0 {
			s = min(max(s, 0), dim)
			e = min(max(e, 0), dim)
			sp.count[d] = int(max(0, (e-s+st-1)/st))
		} else {
			s = min(max(s, -1), dim-1)
			e = min(max(e, -1), dim-1)
			sp.count[d] = int(max(0, (s-e-st-1)/(-st)))
		}
		sp.start[d], sp.step[d] = int(s), int(st)
	}
	return sp, nil
}

// strides returns the base offset and the strides with which the slice
// reads its input of shape.
func (sp *sliceSpec) strides(shape []int) (base int, st []int) {
	cs := contiguous(shape)
	st = make([]int, len(shape))
	for d := range shape {
		base += sp.start[d] * cs[d]
		st[d] = cs[d] * sp.step[d]
	}
	return
}

// sliceConst evaluates Slice on a constant.
func sliceConst(n *ir.Node, ins []*cval, opset int64) (*cval, error) {
	x := ins[0]
	if x == nil {
		return nil, fmt.Errorf("missing data")
	}
	starts, ends, axes, steps, err := sliceArgs(n, ins, opset)
	if err != nil {
		return nil, err
	}
	sp, err := resolveSlice(x.shape, starts, ends, axes, steps)
	if err != nil {
		return nil, err
	}
	base, st := sp.strides(x.shape)
	idx := make([]int, 0, prod(sp.count))
	if prod(sp.count) > 0 {
		newIter(sp.count, st).rows(func(off []int, n int, s []int) {
			for k := 0; k < n; k++ {
				idx = append(idx, base+off[0]+k*s[0])
			}
		})
	}
	return x.gather(sp.count, idx), nil
}

// broadcastShape returns numpy's broadcast of two shapes.
func broadcastShape(a, b []int) ([]int, error) {
	r := max(len(a), len(b))
	s := make([]int, r)
	for d := 0; d < r; d++ {
		x, y := 1, 1
		if k := d - (r - len(a)); k >= 0 {
			x = a[k]
		}
		if k := d - (r - len(b)); k >= 0 {
			y = b[k]
		}
		switch {
		case x == y, y == 1:
			s[d] = x
		case x == 1:
			s[d] = y
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast", a, b)
		}
	}
	return s, nil
}

// reshapeTarget resolves an ONNX Reshape target (0 copies the input's
// dimension unless allowzero, −1 is inferred).
func reshapeTarget(in []int, target []int64, allowZero bool) ([]int, error) {
	s := make([]int, len(target))
	infer := -1
	known := 1
	for k, t := range target {
		switch {
		case t == -1:
			if infer >= 0 {
				return nil, fmt.Errorf("Reshape target %v has two −1", target)
			}
			infer = k
			continue
		case t == 0 && !allowZero:
			if k >= len(in) {
				return nil, fmt.Errorf("Reshape target %v: 0 at %d beyond input rank %d", target, k, len(in))
			}
			s[k] = in[k]
		case t < 0:
			return nil, fmt.Errorf("Reshape target %v has negative dimension", target)
		default:
			s[k] = int(t)
		}
		known *= s[k]
	}
	total := prod(in)
	if infer >= 0 {
		if known == 0 || total%known != 0 {
			return nil, fmt.Errorf("Reshape of %v to %v: cannot infer −1", in, target)
		}
		s[infer] = total / known
	} else if known != total {
		return nil, fmt.Errorf("Reshape of %v (%d elements) to %v (%d elements)", in, total, target, known)
	}
	return s, nil
}

func flattenShape(in []int, axis int64) ([]int, error) {
	r := len(in)
	if axis < -int64(r) || axis > int64(r) {
		return nil, fmt.Errorf("Flatten axis %d out of range for rank %d", axis, r)
	}
	if axis < 0 {
		axis += int64(r)
	}
	return []int{prod(in[:axis]), prod(in[axis:])}, nil
}

// axesOf returns the axes of Squeeze/Unsqueeze: an attribute before opset 13,
// the optional second input from 13 on (nil when absent).
func axesOf(n *ir.Node, ins []*cval, opset int64) ([]int64, error) {
	if a, ok := n.Attrs["axes"]; ok {
		return a.Ints, nil
	}
	if len(n.Inputs) > 1 && n.Inputs[1] != "" {
		if len(ins) < 2 || ins[1] == nil {
			return nil, fmt.Errorf("axes input %q is not a build-time constant", n.Inputs[1])
		}
		return ins[1].ints(), nil
	}
	return nil, nil
}

func unsqueezeShape(in []int, axes []int64) ([]int, error) {
	r := len(in) + len(axes)
	mark := make([]bool, r)
	for _, a := range axes {
		d, err := normAxis(a, r)
		if err != nil {
			return nil, err
		}
		if mark[d] {
			return nil, fmt.Errorf("Unsqueeze axis %d repeated", a)
		}
		mark[d] = true
	}
	s := make([]int, 0, r)
	k := 0
	for d := 0; d < r; d++ {
		if mark[d] {
			s = append(s, 1)
		} else {
			s = append(s, in[k])
			k++
		}
	}
	return s, nil
}

func squeezeShape(in []int, axes []int64) ([]int, error) {
	mark := make([]bool, len(in))
	if axes == nil {
		for d, v := range in {
			mark[d] = v == 1
		}
	}
	for _, a := range axes {
		d, err := normAxis(a, len(in))
		if err != nil {
			return nil, err
		}
		if in[d] != 1 {
			return nil, fmt.Errorf("Squeeze axis %d has size %d", a, in[d])
		}
		mark[d] = true
	}
	s := []int{}
	for d, v := range in {
		if !mark[d] {
			s = append(s, v)
		}
	}
	return s, nil
}

// attrInt returns an int attribute or def.
func attrInt(n *ir.Node, name string, def int64) int64 {
	if a, ok := n.Attrs[name]; ok {
		return a.Int
	}
	return def
}

func attrFloat(n *ir.Node, name string, def float64) float64 {
	if a, ok := n.Attrs[name]; ok {
		return float64(a.Float)
	}
	return def
}

func attrInts(n *ir.Node, name string) []int64 {
	if a, ok := n.Attrs[name]; ok {
		return a.Ints
	}
	return nil
}

func attrString(n *ir.Node, name, def string) string {
	if a, ok := n.Attrs[name]; ok {
		return a.String
	}
	return def
}
