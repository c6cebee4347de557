package onnx

import (
	"fmt"
	"math"

	"github.com/gnaudit/gnaudit/auditor/float16"
	"github.com/gnaudit/gnaudit/auditor/ir"
)

// maxFoldElements bounds the size of a tensor that constant folding
// computes (a ConstantOfShape in a corrupt file could ask for anything).
const maxFoldElements = 1 << 20

// cval is a constant during folding: floats in f (any float type), integers
// and bools in i.
type cval struct {
	dt   ir.DataType
	dims []int64
	f    []float64
	i    []int64
}

func (c *cval) isFloat() bool { return isFloat(c.dt) }

func (c *cval) len() int {
	if c.isFloat() {
		return len(c.f)
	}
	return len(c.i)
}

// num returns element k as a float64.
func (c *cval) num(k int) float64 {
	if c.isFloat() {
		return c.f[k]
	}
	return float64(c.i[k])
}

// ints returns the elements as int64 (floats truncated).
func (c *cval) ints() []int64 {
	if !c.isFloat() {
		return c.i
	}
	out := make([]int64, len(c.f))
	for k, v := range c.f {
		out[k] = int64(v)
	}
	return out
}

func cvalOf(t *ir.Tensor) *cval {
	c := &cval{dt: t.Type, dims: append([]int64{}, t.Dims...)}
	switch {
	case t.F32 != nil:
		c.f = make([]float64, len(t.F32))
		for k, v := range t.F32 {
			c.f[k] = float64(v)
		}
	case t.F64 != nil:
		c.f = append([]float64{}, t.F64...)
	case isFloat(t.Type):
		c.f = []float64{}
	default:
		c.i = append([]int64{}, t.I64...)
	}
	return c
}

func (c *cval) tensor(name string) *ir.Tensor {
	t := &ir.Tensor{Name: name, Type: c.dt, Dims: append([]int64{}, c.dims...)}
	switch c.dt {
	case ir.Double:
		t.F64 = append([]float64{}, c.f...)
	case ir.Float, ir.Float16, ir.Bfloat16:
		t.F32 = make([]float32, len(c.f))
		for k, v := range c.f {
			t.F32[k] = float32(v)
		}
	default:
		t.I64 = append([]int64{}, c.i...)
	}
	return t
}

// newCval makes a zero constant of type dt with the given dims.
func newCval(dt ir.DataType, dims []int64) (*cval, error) {
	n, err := numElements(dims)
	if err != nil || n > maxFoldElements {
		return nil, errNoFold
	}
	c := &cval{dt: dt, dims: dims}
	if isFloat(dt) {
		c.f = make([]float64, n)
	} else {
		c.i = make([]int64, n)
	}
	return c, nil
}

// errNoFold means that a computation is valid but is not folded (too large,
// or a type the folder does not produce).
var errNoFold = fmt.Errorf("not folded")

// copyElem copies element from[k] of src to dst[j] (same type family).
func copyElem(dst *cval, j int, src *cval, k int) {
	if dst.isFloat() {
		dst.f[j] = src.num(k)
	} else {
		dst.i[j] = src.i[k]
	}
}

func strides(dims []int64) []int64 {
	s := make([]int64, len(dims))
	acc := int64(1)
	for k := len(dims) - 1; k >= 0; k-- {
		s[k] = acc
		acc *= dims[k]
	}
	return s
}

// normAxis maps a possibly negative axis into [0, rank).
func normAxis(a int64, rank int) (int, error) {
	if a < 0 {
		a += int64(rank)
	}
	if a < 0 || a >= int64(rank) {
		return 0, fmt.Errorf("axis %d out of range for rank %d", a, rank)
	}
	return int(a), nil
}

func castTo(c *cval, to ir.DataType) (*cval, error) {
	out := &cval{dt: to, dims: append([]int64{}, c.dims...)}
	switch {
	case isFloat(to):
		out.f = make([]float64, c.len())
		for k := range out.f {
			out.f[k] = roundTo(c.num(k), to)
		}
	case to == ir.Bool:
		out.i = make([]int64, c.len())
		for k := range out.i {
			if c.num(k) != 0 {
				out.i[k] = 1
			}
		}
	case elemSize(to) > 0:
		out.i = make([]int64, c.len())
		for k := range out.i {
			if c.isFloat() {
				v := c.f[k]
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return nil, fmt.Errorf("cannot cast %v to %v", v, to)
				}
				out.i[k] = int64(v) // truncation toward zero
			} else {
				out.i[k] = c.i[k]
			}
		}
		out.i = wrapInts(out.i, to)
	default:
		return nil, errNoFold
	}
	return out, nil
}

// roundTo rounds v to the precision of a float type (nearest, ties to even).
func roundTo(v float64, dt ir.DataType) float64 {
	switch dt {
	case ir.Float:
		return float64(float32(v))
	case ir.Float16:
		return float64(float16.ToFloat32(float16.FromFloat32(float32(v))))
	case ir.Bfloat16:
		return float64(float16.BFloat16ToFloat32(float16.BFloat16FromFloat32(float32(v))))
	}
	return v
}

// wrapInts reduces integers to the range of a narrower type.
func wrapInts(v []int64, dt ir.DataType) []int64 {
	for k, x := range v {
		switch dt {
		case ir.Int32:
			v[k] = int64(int32(x))
		case ir.Int16:
			v[k] = int64(int16(x))
		case ir.Int8:
			v[k] = int64(int8(x))
		case ir.Uint8:
			v[k] = int64(uint8(x))
		case ir.Uint16:
			v[k] = int64(uint16(x))
		case ir.Uint32:
			v[k] = int64(uint32(x))
		}
	}
	return v
}

func gatherC(data, idx *cval, axis int64) (*cval, error) {
	ax, err := normAxis(axis, len(data.dims))
	if err != nil {
		return nil, err
	}
	dims := append(append(append([]int64{}, data.dims[:ax]...), idx.dims...), data.dims[ax+1:]...)
	out, err := newCval(data.dt, dims)
	if err != nil {
		return nil, err
	}
	outer := int64(1)
	for _, d := range data.dims[:ax] {
		outer *= d
	}
	inner := int64(1)
	for _, d := range data.dims[ax+1:] {
		inner *= d
	}
	n := data.dims[ax]
	ind := idx.ints()
	j := 0
	for o := int64(0); o < outer; o++ {
		for _, x := range ind {
			if x < 0 {
				x += n
			}
			if x < 0 || x >= n {
				return nil, fmt.Errorf("index %d out of range [0, %d)", x, n)
			}
			for in := int64(0); in < inner; in++ {
				copyElem(out, j, data, int((o*n+x)*inner+in))
				j++
			}
		}
	}
	return out, nil
}

func concatC(parts []*cval, axis int64) (*cval, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("no inputs")
	}
	rank := len(parts[0].dims)
	ax, err := normAxis(axis, rank)
	if err != nil {
		return nil, err
	}
	dims := append([]int64{}, parts[0].dims...)
	dims[ax] = 0
	for _, p := range parts {
		if len(p.dims) != rank {
			return nil, fmt.Errorf("inputs of ranks %d and %d", rank, len(p.dims))
		}
		for k := range dims {
			if k != ax && p.dims[k] != dims[k] {
				return nil, fmt.Errorf("inputs of shapes %v and %v", parts[0].dims, p.dims)
			}
		}
		dims[ax] += p.dims[ax]
	}
	out, err := newCval(parts[0].dt, dims)
	if err != nil {
		return nil, err
	}
	outer := int64(1)
	for _, d := range dims[:ax] {
		outer *= d
	}
	j := 0
	for o := int64(0); o < outer; o++ {
		for _, p := range parts {
			block := p.dims[ax]
			for _, d := range p.dims[ax+1:] {
				block *= d
			}
			for k := int64(0); k < block; k++ {
				copyElem(out, j, p, int(o*block+k))
				j++
			}
		}
	}
	return out, nil
}

func transposeC(c *cval, perm []int64) (*cval, error) {
	rank := len(c.dims)
	if perm == nil {
		for k := rank - 1; k >= 0; k-- {
			perm = append(perm, int64(k))
		}
	}
	if len(perm) != rank {
		return nil, fmt.Errorf("perm %v for rank %d", perm, rank)
	}
	dims := make([]int64, rank)
	seen := make([]bool, rank)
	for k, p := range perm {
		if p < 0 || p >= int64(rank) || seen[p] {
			return nil, fmt.Errorf("invalid perm %v", perm)
		}
		seen[p] = true
		dims[k] = c.dims[p]
	}
	out, err := newCval(c.dt, dims)
	if err != nil {
		return nil, err
	}
	is := strides(c.dims)
	idx := make([]int64, rank)
	for j := 0; j < out.len(); j++ {
		src := int64(0)
		for k := range idx {
			src += idx[k] * is[perm[k]]
		}
		copyElem(out, j, c, int(src))
		for k := rank - 1; k >= 0; k-- {
			if idx[k]++; idx[k] < dims[k] {
				break
			}
			idx[k] = 0
		}
	}
	return out, nil
}

// sliceC implements Slice on a constant.
func sliceC(c *cval, starts, ends, axes, steps []int64) (*cval, error) {
	rank := len(c.dims)
	st := make([]int64, rank)
	step := make([]int64, rank)
	dims := append([]int64{}, c.dims...)
	for k := range step {
		step[k] = 1
	}
	if axes == nil {
		for k := range starts {
			axes = append(axes, int64(k))
		}
	}
	if len(ends) != len(starts) || len(axes) != len(starts) || (steps != nil && len(steps) != len(starts)) {
		return nil, fmt.Errorf("starts %v, ends %v, axes %v, steps %v differ in length", starts, ends, axes, steps)
	}
	for k, a := range axes {
		ax, err := normAxis(a, rank)
		if err != nil {
			return nil, err
		}
		s := int64(1)
		if steps != nil {
			s = steps[k]
		}
		b, e, n, err := sliceRange(starts[k], ends[k], s, c.dims[ax])
		if err != nil {
			return nil, err
		}
		st[ax], step[ax], dims[ax] = b, s, n
		_ = e
	}
	out, err := newCval(c.dt, dims)
	if err != nil {
		return nil, err
	}
	is := strides(c.dims)
	idx := make([]int64, rank)
	for j := 0; j < out.len(); j++ {
		src := int64(0)
		for k := range idx {
			src += (st[k] + idx[k]*step[k]) * is[k]
		}
		copyElem(out, j, c, int(src))
		for k := rank - 1; k >= 0; k-- {
			if idx[k]++; idx[k] < dims[k] {
				break
			}
			idx[k] = 0
		}
	}
	return out, nil
}

// sliceRange clamps a Slice range on a dimension of size n as ONNX does and
// returns the first index, the clamped end and the number of elements.
func sliceRange(start, end, step, n int64) (int64, int64, int64, error) {
	if step == 0 {
		return 0, 0, 0, fmt.Errorf("slice step 0")
	}
	if n == 0 {
		return 0, 0, 0, nil
	}
	if start < 0 {
		start += n
	}
	if end < 0 {
		end += n
	}
	if step > 0 {
		start = clamp(start, 0, n)
		end = clamp(end, 0, n)
		if end <= start {
			return start, end, 0, nil
		}
		return start, end, (end - start + step - 1) / step, nil
	}
	start = clamp(start, 0, n-1)
	end = clamp(end, -1, n-1)
	if start <= end {
		return start, end, 0, nil
	}
	return start, end, (start - end - step - 1) / (-step), nil
}

func clamp(v, lo, hi int64) int64 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// broadcastDims computes the multidirectional broadcast of two known shapes.
func broadcastDims(a, b []int64) ([]int64, error) {
	r := len(a)
	if len(b) > r {
		r = len(b)
	}
	out := make([]int64, r)
	for k := 0; k < r; k++ {
		x, y := int64(1), int64(1)
		if k >= r-len(a) {
			x = a[k-(r-len(a))]
		}
		if k >= r-len(b) {
			y = b[k-(r-len(b))]
		}
		switch {
		case x == y, y == 1:
			out[k] = x
		case x == 1:
			out[k] = y
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast", a, b)
		}
	}
	return out, nil
}

// arithC evaluates Add, Sub, Mul or Div with broadcasting. Integer division
// truncates toward zero; an integer division by zero is an error.
func arithC(op string, a, b *cval) (*cval, error) {
	if a.isFloat() != b.isFloat() {
		return nil, fmt.Errorf("operands of types %v and %v", a.dt, b.dt)
	}
	dims, err := broadcastDims(a.dims, b.dims)
	if err != nil {
		return nil, err
	}
	out, err := newCval(a.dt, dims)
	if err != nil {
		return nil, err
	}
	as, bs := bstrides(a.dims, dims), bstrides(b.dims, dims)
	idx := make([]int64, len(dims))
	for j := 0; j < out.len(); j++ {
		ka, kb := 0, 0
		for k := range idx {
			ka += int(idx[k] * as[k])
			kb += int(idx[k] * bs[k])
		}
		if out.isFloat() {
			x, y := a.f[ka], b.f[kb]
			var v float64
			switch op {
			case "Add":
				v = x + y
			case "Sub":
				v = x - y
			case "Mul":
				v = x * y
			default:
				v = x / y
			}
			out.f[j] = roundTo(v, a.dt)
		} else {
			x, y := a.i[ka], b.i[kb]
			switch op {
			case "Add":
				out.i[j] = x + y
			case "Sub":
				out.i[j] = x - y
			case "Mul":
				out.i[j] = x * y
			default:
				if y == 0 {
					return nil, fmt.Errorf("integer division by zero")
				}
				out.i[j] = x / y
			}
		}
		for k := len(dims) - 1; k >= 0; k-- {
			if idx[k]++; idx[k] < dims[k] {
				break
			}
			idx[k] = 0
		}
	}
	if !out.isFloat() {
		out.i = wrapInts(out.i, out.dt)
	}
	return out, nil
}

// bstrides returns the strides of a shape broadcast to out (0 on
// broadcast dimensions).
func bstrides(in, out []int64) []int64 {
	s := make([]int64, len(out))
	is := strides(in)
	off := len(out) - len(in)
	for k := range in {
		if in[k] != 1 {
			s[off+k] = is[k]
		}
	}
	return s
}

// reshapeDims resolves a Reshape target shape against a known input shape.
func reshapeDims(in []int64, shape []int64, allowZero bool) ([]int64, error) {
	total := int64(1)
	for _, d := range in {
		total *= d
	}
	out := make([]int64, len(shape))
	neg := -1
	known := int64(1)
	for k, s := range shape {
		switch {
		case s == -1:
			if neg >= 0 {
				return nil, fmt.Errorf("shape %v has two -1", shape)
			}
			neg = k
			continue
		case s == 0 && !allowZero:
			if k >= len(in) {
				return nil, fmt.Errorf("shape %v copies dimension %d of a rank-%d input", shape, k, len(in))
			}
			out[k] = in[k]
		case s < 0:
			return nil, fmt.Errorf("invalid dimension %d in shape %v", s, shape)
		default:
			out[k] = s
		}
		known *= out[k]
	}
	if neg >= 0 {
		if known == 0 || total%known != 0 {
			return nil, fmt.Errorf("cannot reshape %v to %v", in, shape)
		}
		out[neg] = total / known
	} else if known != total {
		return nil, fmt.Errorf("cannot reshape %v (%d elements) to %v", in, total, shape)
	}
	return out, nil
}

// unsqueezeDims inserts 1s at the given axes (relative to the output rank).
func unsqueezeDims(in []int64, axes []int64) ([]int64, error) {
	r := len(in) + len(axes)
	ones := make([]bool, r)
	for _, a := range axes {
		ax, err := normAxis(a, r)
		if err != nil {
			return nil, err
		}
		if ones[ax] {
			return nil, fmt.Errorf("repeated axis %d", a)
		}
		ones[ax] = true
	}
	out := make([]int64, 0, r)
	k := 0
	for j := 0; j < r; j++ {
		if ones[j] {
			out = append(out, 1)
		} else {
			out = append(out, in[k])
			k++
		}
	}
	return out, nil
}

// squeezeAxes returns the axes Squeeze removes (all 1-dims when axes is nil).
func squeezeAxes(in []ir.Dim, axes []int64) (map[int]bool, error) {
	drop := map[int]bool{}
	if axes == nil {
		for k, d := range in {
			if !d.Known() {
				return nil, fmt.Errorf("squeeze without axes on a shape with unknown dimensions")
			}
			if d.Value == 1 {
				drop[k] = true
			}
		}
		return drop, nil
	}
	for _, a := range axes {
		ax, err := normAxis(a, len(in))
		if err != nil {
			return nil, err
		}
		if in[ax].Known() && in[ax].Value != 1 {
			return nil, fmt.Errorf("cannot squeeze axis %d of size %d", a, in[ax].Value)
		}
		drop[ax] = true
	}
	return drop, nil
}
