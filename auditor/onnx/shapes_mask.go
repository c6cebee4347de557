package onnx

import (
	"slices"
	"sort"
	"strings"

	"github.com/gnaudit/gnaudit/auditor/ir"
)

// Shapes of the mask operators (comparisons, Not/And/Or/Xor, Where), Einsum
// and ReduceProd; inferMaskOps reports whether n is one of them.
func (a *analysis) inferMaskOps(n *ir.Node, x []ir.Dim, dt ir.DataType) bool {
	switch n.OpType {
	case "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor":
		if y := a.shapes[input(n, 1)]; x != nil && y != nil {
			a.setOut(n, 0, ir.Bool, broadcastSym(x, y))
		}
	case "Not":
		a.setOut(n, 0, ir.Bool, x)
	case "Where":
		y, z := a.shapes[input(n, 1)], a.shapes[input(n, 2)]
		if x != nil && y != nil && z != nil {
			a.setOut(n, 0, a.types[input(n, 1)], broadcastSym(broadcastSym(x, y), z))
		}
	case "Einsum":
		var ins [][]ir.Dim
		for k := range n.Inputs {
			s := a.shapes[input(n, k)]
			if s == nil {
				return true
			}
			ins = append(ins, s)
		}
		if s, ok := einsumDims(attrString(n, "equation", ""), ins); ok {
			a.setOut(n, 0, dt, s)
		}
	case "ReduceProd":
		if x == nil {
			return true
		}
		raw := attrInts(n, "axes")
		if input(n, 1) != "" {
			c := a.constOf(input(n, 1))
			if c == nil {
				return true
			}
			raw = c.ints()
		}
		keep := attrInt(n, "keepdims", 1) != 0
		var out []ir.Dim
		for d := range x {
			in := len(raw) == 0 && attrInt(n, "noop_with_empty_axes", 0) == 0
			for _, r := range raw {
				if ax, err := normAxis(r, len(x)); err == nil && ax == d {
					in = true
				}
			}
			switch {
			case !in:
				out = append(out, x[d])
			case keep:
				out = append(out, ir.Dim{Value: 1})
			}
		}
		if out == nil {
			out = []ir.Dim{}
		}
		a.setOut(n, 0, dt, out)
	default:
		return false
	}
	return true
}

// einsumDims is the output shape of an Einsum equation without ellipsis
// (explicit, or numpy's implicit output) on operands of the given shapes.
func einsumDims(eq string, ins [][]ir.Dim) ([]ir.Dim, bool) {
	s := strings.ReplaceAll(eq, " ", "")
	if strings.Contains(s, ".") {
		return nil, false
	}
	lhs, rhs, explicit := strings.Cut(s, "->")
	terms := strings.Split(lhs, ",")
	if len(terms) != len(ins) {
		return nil, false
	}
	dims := map[rune]ir.Dim{}
	count := map[rune]int{}
	for k, t := range terms {
		if len(t) != len(ins[k]) {
			return nil, false
		}
		for d, c := range []rune(t) {
			if _, ok := dims[c]; !ok || !dims[c].Known() {
				dims[c] = ins[k][d]
			}
			count[c]++
		}
	}
	if !explicit {
		var once []rune
		for c, n := range count {
			if n == 1 {
				once = append(once, c)
			}
		}
		sort.Slice(once, func(i, j int) bool { return once[i] < once[j] })
		rhs = string(once)
	}
	out := []ir.Dim{}
	for k, c := range []rune(rhs) {
		d, ok := dims[c]
		if !ok || slices.Contains([]rune(rhs)[:k], c) {
			return nil, false
		}
		out = append(out, d)
	}
	return out, true
}
