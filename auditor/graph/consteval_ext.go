package graph

import (
	"fmt"
	"math"

	"github.com/gnaudit/gnaudit/auditor/ir"
)

// Build-time evaluation of the shape and mask logic that dynamic-batch
// exports compute from Shape (x.expand(n, -1, -1), masks): comparison,
// Not, Where, Expand, Range and a few arithmetic functions on constants.

// evalExt evaluates the operators of evalConstExt (the entries' eval).
func evalExt(_ *builderBase, n *ir.Node, ins []*cval) (*cval, error) { return evalConstExt(n, ins) }

// evalConstExt evaluates comparisons, logic, Where, Expand, Range and
// a few arithmetic and layout operators on constants.
func evalConstExt(n *ir.Node, ins []*cval) (*cval, error) {
	for k, c := range ins {
		if c == nil && n.Inputs[k] != "" {
			return nil, fmt.Errorf("missing input %d", k)
		}
	}
	if len(ins) == 0 || ins[0] == nil {
		if n.OpType != "Range" {
			return nil, fmt.Errorf("missing input 0")
		}
	}
	switch n.OpType {
	case "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or":
		if len(ins) != 2 {
			return nil, fmt.Errorf("want 2 inputs")
		}
		return mapConst(ins, ir.Bool, func(v []float64) float64 {
			a, b := v[0], v[1]
			var t bool
			switch n.OpType {
			case "Equal":
				t = a == b
			case "Less":
				t = a < b
			case "Greater":
				t = a > b
			case "LessOrEqual":
				t = a <= b
			case "GreaterOrEqual":
				t = a >= b
			case "And":
				t = a != 0 && b != 0
			case "Or":
				t = a != 0 || b != 0
			}
			if t {
				return 1
			}
			return 0
		})
	case "Max", "Min":
		typ := ins[0].typ
		return mapConst(ins, typ, func(v []float64) float64 {
			r := v[0]
			for _, x := range v[1:] {
				if n.OpType == "Max" {
					r = math.Max(r, x)
				} else {
					r = math.Min(r, x)
				}
			}
			return r
		})
	case "Where":
		if len(ins) != 3 {
			return nil, fmt.Errorf("want 3 inputs")
		}
		typ := ins[1].typ
		return mapConst(ins, typ, func(v []float64) float64 {
			if v[0] != 0 {
				return v[1]
			}
			return v[2]
		})
	case "Not", "Neg", "Abs", "Sqrt", "Floor", "Ceil":
		typ := ins[0].typ
		if n.OpType == "Not" {
			typ = ir.Bool
		}
		return mapConst(ins[:1], typ, func(v []float64) float64 {
			switch n.OpType {
			case "Not":
				if v[0] == 0 {
					return 1
				}
				return 0
			case "Neg":
				return -v[0]
			case "Abs":
				return math.Abs(v[0])
			case "Sqrt":
				return math.Sqrt(v[0])
			case "Floor":
				return math.Floor(v[0])
			}
			return math.Ceil(v[0])
		})
	case "Pow":
		return mapConst(ins, ins[0].typ, func(v []float64) float64 { return math.Pow(v[0], v[1]) })
	case "ScatterND":
		if len(ins) != 3 || attrString(n, "reduction", "none") != "none" {
			return nil, fmt.Errorf("only ScatterND with 3 inputs and reduction none is evaluated")
		}
		data, ind, upd := ins[0], ins[1], ins[2]
		if len(ind.shape) == 0 || data.isFloat() != upd.isFloat() {
			return nil, fmt.Errorf("ScatterND: indices %v, data %v, updates %v", ind.shape, data, upd)
		}
		k := ind.shape[len(ind.shape)-1]
		if k > len(data.shape) {
			return nil, fmt.Errorf("ScatterND: index depth %d for rank %d", k, len(data.shape))
		}
		slice := prod(data.shape[k:])
		r := &cval{typ: data.typ, shape: data.shape, f: append([]float64(nil), data.f...), i: append([]int64(nil), data.i...)}
		st := contiguous(data.shape)
		is := ind.ints()
		nIdx := len(is) / max(k, 1)
		if upd.len() != nIdx*slice {
			return nil, fmt.Errorf("ScatterND: %d updates for %d indices of %d elements", upd.len(), nIdx, slice)
		}
		for q := 0; q < nIdx; q++ {
			off := 0
			for d := 0; d < k; d++ {
				j := is[q*k+d]
				if j < 0 {
					j += int64(data.shape[d])
				}
				if j < 0 || j >= int64(data.shape[d]) {
					return nil, fmt.Errorf("ScatterND index %d out of range for dimension %d", is[q*k+d], data.shape[d])
				}
				off += int(j) * st[d]
			}
			if r.isFloat() {
				copy(r.f[off:off+slice], upd.f[q*slice:(q+1)*slice])
			} else {
				copy(r.i[off:off+slice], upd.i[q*slice:(q+1)*slice])
			}
		}
		return r, nil
	case "Mod":
		if len(ins) != 2 {
			return nil, fmt.Errorf("want 2 inputs")
		}
		fmod := attrInt(n, "fmod", 0) != 0
		for _, d := range ins[1].floats() {
			if d == 0 && !ins[1].isFloat() {
				return nil, fmt.Errorf("integer Mod by zero")
			}
		}
		return mapConst(ins, ins[0].typ, func(v []float64) float64 {
			r := math.Mod(v[0], v[1])
			if !fmod && r != 0 && (r < 0) != (v[1] < 0) {
				r += v[1] // the sign of the divisor (integer Mod)
			}
			return r
		})
	case "Expand":
		if len(ins) != 2 {
			return nil, fmt.Errorf("want 2 inputs")
		}
		t := make([]int, 0, ins[1].len())
		for _, d := range ins[1].ints() {
			t = append(t, int(d))
		}
		s, err := broadcastShape(ins[0].shape, t)
		if err != nil {
			return nil, err
		}
		return ins[0].gather(s, bcastIndex(ins[0].shape, s)), nil
	case "Transpose":
		x := ins[0]
		r := len(x.shape)
		perm := make([]int, r)
		if p := attrInts(n, "perm"); p != nil {
			if len(p) != r {
				return nil, fmt.Errorf("perm %v for rank %d", p, r)
			}
			for k, v := range p {
				perm[k] = int(v)
			}
		} else {
			for k := range perm {
				perm[k] = r - 1 - k
			}
		}
		out := make([]int, r)
		for k, p := range perm {
			if p < 0 || p >= r {
				return nil, fmt.Errorf("perm %v", perm)
			}
			out[k] = x.shape[p]
		}
		// element k of the output reads x at the permuted index.
		xs := contiguous(x.shape)
		st := make([]int, r)
		for k, p := range perm {
			st[k] = xs[p]
		}
		idx := make([]int, 0, prod(out))
		it := make([]int, r)
		for k := 0; k < prod(out); k++ {
			o := 0
			for d := range it {
				o += it[d] * st[d]
			}
			idx = append(idx, o)
			for d := r - 1; d >= 0; d-- {
				it[d]++
				if it[d] < out[d] {
					break
				}
				it[d] = 0
			}
		}
		return x.gather(out, idx), nil
	case "ReduceProd":
		return reduceProdConst(n, ins)
	case "Range":
		if len(ins) != 3 || ins[0] == nil || ins[1] == nil || ins[2] == nil {
			return nil, fmt.Errorf("want 3 inputs")
		}
		start, limit, delta := ins[0].floats()[0], ins[1].floats()[0], ins[2].floats()[0]
		if delta == 0 {
			return nil, fmt.Errorf("Range with delta 0")
		}
		cnt := int(math.Max(math.Ceil((limit-start)/delta), 0))
		if cnt > 1<<24 {
			return nil, fmt.Errorf("Range of %d elements", cnt)
		}
		r := &cval{typ: ins[0].typ, shape: []int{cnt}}
		for k := 0; k < cnt; k++ {
			v := start + float64(k)*delta
			if r.isFloat() {
				r.f = append(r.f, v)
			} else {
				r.i = append(r.i, int64(v))
			}
		}
		return r, nil
	}
	return nil, fmt.Errorf("no build-time evaluation for %s", n.OpType)
}

// mapConst applies f elementwise to the numpy-broadcast inputs; the result
// has dtype typ.
func mapConst(ins []*cval, typ ir.DataType, f func([]float64) float64) (*cval, error) {
	var s []int
	for k, c := range ins {
		if k == 0 {
			s = c.shape
			continue
		}
		var err error
		if s, err = broadcastShape(s, c.shape); err != nil {
			return nil, err
		}
	}
	idx := make([][]int, len(ins))
	vals := make([][]float64, len(ins))
	for k, c := range ins {
		idx[k] = bcastIndex(c.shape, s)
		vals[k] = c.floats()
	}
	r := &cval{typ: typ, shape: append([]int(nil), s...)}
	v := make([]float64, len(ins))
	for e := 0; e < prod(s); e++ {
		for k := range ins {
			v[k] = vals[k][idx[k][e]]
		}
		x := f(v)
		if r.isFloat() {
			r.f = append(r.f, x)
		} else {
			r.i = append(r.i, int64(x))
		}
	}
	return r, nil
}
