package onnx

import (
	"fmt"
	"strings"

	"github.com/gnaudit/gnaudit/auditor/ir"
)

// foldableOps are the operators FoldConstants evaluates when all their
// inputs are constants (none of them trainable).
var foldableOps = map[string]bool{
	"Constant": true, "Identity": true, "Cast": true, "Shape": true, "Gather": true,
	"Unsqueeze": true, "Squeeze": true, "Concat": true, "Slice": true, "Reshape": true,
	"Transpose": true, "ConstantOfShape": true, "Add": true, "Sub": true, "Mul": true,
	"Div": true, "Flatten": true,
}

// symv is a partially known integer scalar or vector, the value of a shape
// computation that depends on a symbolic dimension: each element is a known
// number, a named symbol (the Param of a dimension) or unknown.
type symv struct {
	elems  []sdim
	scalar bool
}

// sdim is one element of a symv: a known integer (which may be negative,
// like Reshape's -1), a symbol, or unknown.
type sdim struct {
	v     int64
	sym   string
	known bool
}

func num(v int64) sdim { return sdim{v: v, known: true} }

// sdimOf converts a dimension of a shape.
func sdimOf(d ir.Dim) sdim {
	if d.Known() {
		return num(d.Value)
	}
	return sdim{sym: d.Param}
}

// dim converts an element back to a shape dimension.
func (e sdim) dim() ir.Dim {
	if e.known && e.v >= 0 {
		return ir.Dim{Value: e.v}
	}
	return ir.Dim{Value: -1, Param: e.sym}
}

func (s *symv) known() bool {
	for _, d := range s.elems {
		if !d.known {
			return false
		}
	}
	return true
}

func (s *symv) cval() *cval {
	c := &cval{dt: ir.Int64, i: make([]int64, len(s.elems))}
	for k, d := range s.elems {
		c.i[k] = d.v
	}
	if !s.scalar {
		c.dims = []int64{int64(len(s.elems))}
	}
	return c
}

// analysis is one forward pass over a model: shape inference, constant
// evaluation and the tracking of partially known shape vectors.
type analysis struct {
	m         *ir.Model
	shapes    map[string][]ir.Dim
	types     map[string]ir.DataType
	consts    map[string]*cval
	syms      map[string]*symv
	trainable map[string]bool
	folded    map[*ir.Node]bool    // every output is a constant
	partial   map[*ir.Node]bool    // the outputs are partially known vectors
	reshape   map[*ir.Node][]int64 // Reshape target shapes resolved from a symv
	err       error                // the first inconsistency met
}

// unknownPrefix marks the symbols the analysis gives to the unnamed unknown
// dimensions of graph inputs, so that they can be matched like named ones.
const unknownPrefix = "?"

func analyze(m *ir.Model) *analysis {
	a := &analysis{m: m, shapes: map[string][]ir.Dim{}, types: map[string]ir.DataType{},
		consts: map[string]*cval{}, syms: map[string]*symv{}, trainable: map[string]bool{},
		folded: map[*ir.Node]bool{}, partial: map[*ir.Node]bool{}, reshape: map[*ir.Node][]int64{}}
	for _, t := range m.Trainable {
		a.trainable[t] = true
	}
	for _, v := range m.Inputs {
		a.types[v.Name] = v.Type
		if v.Shape == nil {
			continue
		}
		s := make([]ir.Dim, len(v.Shape))
		for k, d := range v.Shape {
			s[k] = d
			if !d.Known() && d.Param == "" {
				s[k] = ir.Dim{Value: -1, Param: fmt.Sprintf("%s%s:%d", unknownPrefix, v.Name, k)}
			}
		}
		a.shapes[v.Name] = s
	}
	for name, t := range m.Initializers {
		a.types[name] = t.Type
		a.shapes[name] = knownDims(t.Dims)
	}
	for _, n := range m.Nodes {
		a.visit(n)
	}
	return a
}

func knownDims(d []int64) []ir.Dim {
	s := make([]ir.Dim, len(d))
	for k, v := range d {
		s[k] = ir.Dim{Value: v}
	}
	return s
}

// constOf returns the value of a constant: a folded output or a
// non-trainable initializer (converted on first use).
func (a *analysis) constOf(name string) *cval {
	if c, ok := a.consts[name]; ok {
		return c
	}
	if t, ok := a.m.Initializers[name]; ok && !a.trainable[name] {
		c := cvalOf(t)
		a.consts[name] = c
		return c
	}
	return nil
}

// symOf returns a partially known vector, or a small integer constant seen
// as one.
func (a *analysis) symOf(name string) *symv {
	if s, ok := a.syms[name]; ok {
		return s
	}
	c := a.constOf(name)
	if c == nil || c.isFloat() || len(c.dims) > 1 || c.len() > 64 {
		return nil
	}
	s := &symv{scalar: len(c.dims) == 0}
	for _, v := range c.i {
		s.elems = append(s.elems, num(v))
	}
	return s
}

func (a *analysis) fail(n *ir.Node, format string, args ...any) {
	if a.err == nil {
		a.err = fmt.Errorf("node %q (%s): %s", n.Name, n.OpType, fmt.Sprintf(format, args...))
	}
}

func (a *analysis) visit(n *ir.Node) {
	if n.Domain != "" || len(n.Outputs) == 0 || n.Outputs[0] == "" {
		return
	}
	if c, err := a.evalConst(n); err != nil {
		if err != errNoFold {
			a.fail(n, "%v", err)
		}
	} else if c != nil {
		a.folded[n] = true
		out := n.Outputs[0]
		a.consts[out] = c
		a.types[out] = c.dt
		a.shapes[out] = knownDims(c.dims)
		return
	}
	if s := a.evalSym(n); s != nil {
		out := n.Outputs[0]
		a.types[out] = ir.Int64
		if s.known() {
			a.folded[n] = true
			c := s.cval()
			a.consts[out] = c
			a.shapes[out] = knownDims(c.dims)
			return
		}
		a.partial[n] = true
		a.syms[out] = s
		if s.scalar {
			a.shapes[out] = []ir.Dim{}
		} else {
			a.shapes[out] = []ir.Dim{{Value: int64(len(s.elems))}}
		}
		return
	}
	a.infer(n)
}

// Attribute helpers.

func attrInt(n *ir.Node, name string, def int64) int64 {
	if at, ok := n.Attrs[name]; ok && at.Kind == ir.AttrInt {
		return at.Int
	}
	return def
}

func attrInts(n *ir.Node, name string) []int64 {
	if at, ok := n.Attrs[name]; ok && at.Kind == ir.AttrInts {
		return at.Ints
	}
	return nil
}

func attrString(n *ir.Node, name, def string) string {
	if at, ok := n.Attrs[name]; ok && at.Kind == ir.AttrString {
		return at.String
	}
	return def
}

// input returns input k's name, or "" when absent.
func input(n *ir.Node, k int) string {
	if k < len(n.Inputs) {
		return n.Inputs[k]
	}
	return ""
}

// intsFrom returns the integers of an attribute (older opsets) or of a
// constant input (newer ones); ok is false when neither is known. An absent
// attribute and absent input give (nil, true).
func (a *analysis) intsFrom(n *ir.Node, attr string, in int) ([]int64, bool) {
	if v := attrInts(n, attr); v != nil {
		return v, true
	}
	if _, ok := n.Attrs[attr]; ok {
		return []int64{}, true
	}
	name := input(n, in)
	if name == "" {
		return nil, true
	}
	c := a.constOf(name)
	if c == nil || c.isFloat() {
		return nil, false
	}
	return c.i, true
}

// constValueAttr returns a Constant node's value.
func constValueAttr(n *ir.Node) (*cval, error) {
	for name, at := range n.Attrs {
		switch name {
		case "value":
			if at.Tensor == nil {
				return nil, fmt.Errorf("attribute value holds no tensor")
			}
			return cvalOf(at.Tensor), nil
		case "value_float":
			return &cval{dt: ir.Float, f: []float64{float64(at.Float)}}, nil
		case "value_floats":
			c := &cval{dt: ir.Float, dims: []int64{int64(len(at.Floats))}, f: make([]float64, len(at.Floats))}
			for k, v := range at.Floats {
				c.f[k] = float64(v)
			}
			return c, nil
		case "value_int":
			return &cval{dt: ir.Int64, i: []int64{at.Int}}, nil
		case "value_ints":
			return &cval{dt: ir.Int64, dims: []int64{int64(len(at.Ints))}, i: append([]int64{}, at.Ints...)}, nil
		}
	}
	return nil, nil
}

// evalConst computes a node whose inputs are all constants. It returns
// (nil, nil) when the node is not foldable.
func (a *analysis) evalConst(n *ir.Node) (*cval, error) {
	if !foldableOps[n.OpType] {
		return nil, nil
	}
	if n.OpType == "Constant" {
		return constValueAttr(n)
	}
	if n.OpType == "Shape" {
		s := a.shapes[input(n, 0)]
		if s == nil {
			return nil, nil
		}
		v := shapeSym(s, n)
		if !v.known() {
			return nil, nil
		}
		return v.cval(), nil
	}
	var in []*cval
	for k, name := range n.Inputs {
		if name == "" {
			in = append(in, nil)
			continue
		}
		c := a.constOf(name)
		if c == nil {
			return nil, nil
		}
		_ = k
		in = append(in, c)
	}
	if len(in) == 0 || in[0] == nil {
		return nil, nil
	}
	x := in[0]
	switch n.OpType {
	case "Identity":
		return x, nil
	case "Cast":
		return castTo(x, ir.DataType(attrInt(n, "to", 0)))
	case "Gather":
		if len(in) < 2 || in[1] == nil || in[1].isFloat() {
			return nil, nil
		}
		return gatherC(x, in[1], attrInt(n, "axis", 0))
	case "Unsqueeze":
		axes, ok := a.intsFrom(n, "axes", 1)
		if !ok || axes == nil {
			return nil, nil
		}
		d, err := unsqueezeDims(x.dims, axes)
		if err != nil {
			return nil, err
		}
		return &cval{dt: x.dt, dims: d, f: x.f, i: x.i}, nil
	case "Squeeze":
		axes, ok := a.intsFrom(n, "axes", 1)
		if !ok {
			return nil, nil
		}
		drop, err := squeezeAxes(knownDims(x.dims), axes)
		if err != nil {
			return nil, err
		}
		var d []int64
		for k, v := range x.dims {
			if !drop[k] {
				d = append(d, v)
			}
		}
		return &cval{dt: x.dt, dims: d, f: x.f, i: x.i}, nil
	case "Flatten":
		ax, ok := flattenAxis(attrInt(n, "axis", 1), len(x.dims))
		if !ok {
			return nil, fmt.Errorf("axis %d out of range for rank %d", attrInt(n, "axis", 1), len(x.dims))
		}
		outer := int64(1)
		for _, d := range x.dims[:ax] {
			outer *= d
		}
		return &cval{dt: x.dt, dims: []int64{outer, int64(x.len()) / max(outer, 1)}, f: x.f, i: x.i}, nil
	case "Concat":
		for _, c := range in {
			if c == nil || c.isFloat() != x.isFloat() {
				return nil, nil
			}
		}
		return concatC(in, attrInt(n, "axis", 0))
	case "Slice":
		var starts, ends, axes, steps []int64
		if _, old := n.Attrs["starts"]; old {
			starts, ends, axes = attrInts(n, "starts"), attrInts(n, "ends"), attrInts(n, "axes")
		} else {
			get := func(k int) []int64 {
				if k < len(in) && in[k] != nil {
					return in[k].ints()
				}
				return nil
			}
			starts, ends, axes, steps = get(1), get(2), get(3), get(4)
			if starts == nil || ends == nil {
				return nil, nil
			}
		}
		return sliceC(x, starts, ends, axes, steps)
	case "Reshape":
		var shape []int64
		if v := attrInts(n, "shape"); v != nil { // opset < 5
			shape = v
		} else if len(in) > 1 && in[1] != nil {
			shape = in[1].ints()
		} else {
			return nil, nil
		}
		d, err := reshapeDims(x.dims, shape, attrInt(n, "allowzero", 0) != 0)
		if err != nil {
			return nil, err
		}
		return &cval{dt: x.dt, dims: d, f: x.f, i: x.i}, nil
	case "Transpose":
		return transposeC(x, attrInts(n, "perm"))
	case "ConstantOfShape":
		shape := x.ints()
		for _, d := range shape {
			if d < 0 {
				return nil, fmt.Errorf("negative dimension in shape %v", shape)
			}
		}
		val := &cval{dt: ir.Float, f: []float64{0}}
		if at, ok := n.Attrs["value"]; ok && at.Tensor != nil {
			val = cvalOf(at.Tensor)
			if val.len() != 1 {
				return nil, fmt.Errorf("value holds %d elements, want 1", val.len())
			}
		}
		out, err := newCval(val.dt, append([]int64{}, shape...))
		if err != nil {
			return nil, err
		}
		for k := 0; k < out.len(); k++ {
			copyElem(out, k, val, 0)
		}
		return out, nil
	case "Add", "Sub", "Mul", "Div":
		if len(in) != 2 || in[1] == nil {
			return nil, nil
		}
		return arithC(n.OpType, x, in[1])
	}
	return nil, nil
}

// shapeSym is the value of a Shape node on a value of shape s.
func shapeSym(s []ir.Dim, n *ir.Node) *symv {
	v := &symv{elems: []sdim{}}
	for _, d := range shapeSlice(s, attrInt(n, "start", 0), n.Attrs["end"], len(s)) {
		v.elems = append(v.elems, sdimOf(d))
	}
	return v
}

// shapeSlice applies Shape's start and end attributes (opset 15).
func shapeSlice(s []ir.Dim, start int64, endAttr ir.Attr, rank int) []ir.Dim {
	end := int64(rank)
	if endAttr.Kind == ir.AttrInt {
		end = endAttr.Int
	}
	if start < 0 {
		start += int64(rank)
	}
	if end < 0 {
		end += int64(rank)
	}
	start, end = clamp(start, 0, int64(rank)), clamp(end, 0, int64(rank))
	if end < start {
		end = start
	}
	return append([]ir.Dim{}, s[start:end]...)
}

// evalSym computes shape arithmetic on partially known vectors: Shape of a
// value whose shape is partly symbolic, and Gather, Unsqueeze, Squeeze,
// Concat, Slice, Cast, Identity and Add/Sub/Mul/Div on such vectors.
func (a *analysis) evalSym(n *ir.Node) *symv {
	switch n.OpType {
	case "Shape":
		s := a.shapes[input(n, 0)]
		if s == nil {
			return nil
		}
		return shapeSym(s, n)
	case "Identity", "Cast":
		x := a.syms[input(n, 0)]
		if x == nil {
			return nil
		}
		if n.OpType == "Cast" {
			if to := ir.DataType(attrInt(n, "to", 0)); to != ir.Int64 && to != ir.Int32 {
				return nil
			}
		}
		return x
	case "Gather":
		x := a.syms[input(n, 0)]
		idx := a.constOf(input(n, 1))
		if x == nil || x.scalar || idx == nil || idx.isFloat() || len(idx.dims) > 1 || attrInt(n, "axis", 0) != 0 {
			return nil
		}
		out := &symv{scalar: len(idx.dims) == 0}
		for _, k := range idx.i {
			if k < 0 {
				k += int64(len(x.elems))
			}
			if k < 0 || k >= int64(len(x.elems)) {
				a.fail(n, "index %d out of range for a shape of rank %d", k, len(x.elems))
				return nil
			}
			out.elems = append(out.elems, x.elems[k])
		}
		return out
	case "Unsqueeze":
		x := a.syms[input(n, 0)]
		axes, ok := a.intsFrom(n, "axes", 1)
		if x == nil || !ok || !x.scalar || len(axes) != 1 || (axes[0] != 0 && axes[0] != -1) {
			return nil
		}
		return &symv{elems: x.elems}
	case "Squeeze":
		x := a.syms[input(n, 0)]
		axes, ok := a.intsFrom(n, "axes", 1)
		if x == nil || !ok || x.scalar || len(x.elems) != 1 || (axes != nil && (len(axes) != 1 || (axes[0] != 0 && axes[0] != -1))) {
			return nil
		}
		return &symv{elems: x.elems, scalar: true}
	case "Concat":
		if ax := attrInt(n, "axis", 0); ax != 0 && ax != -1 {
			return nil
		}
		out := &symv{elems: []sdim{}}
		any := false
		for _, in := range n.Inputs {
			if a.syms[in] != nil {
				any = true
			}
			s := a.symOf(in)
			if s == nil || s.scalar {
				return nil
			}
			out.elems = append(out.elems, s.elems...)
		}
		if !any {
			return nil
		}
		return out
	case "Slice":
		x := a.syms[input(n, 0)]
		if x == nil || x.scalar {
			return nil
		}
		var starts, ends, axes, steps []int64
		if _, old := n.Attrs["starts"]; old {
			starts, ends, axes = attrInts(n, "starts"), attrInts(n, "ends"), attrInts(n, "axes")
		} else {
			var ok1, ok2, ok3, ok4 bool
			starts, ok1 = a.intsFrom(n, "", 1)
			ends, ok2 = a.intsFrom(n, "", 2)
			axes, ok3 = a.intsFrom(n, "", 3)
			steps, ok4 = a.intsFrom(n, "", 4)
			if !ok1 || !ok2 || !ok3 || !ok4 {
				return nil
			}
		}
		if len(starts) != 1 || len(ends) != 1 || (axes != nil && (len(axes) != 1 || (axes[0] != 0 && axes[0] != -1))) || (steps != nil && len(steps) != 1) {
			return nil
		}
		step := int64(1)
		if steps != nil {
			step = steps[0]
		}
		b, _, cnt, err := sliceRange(starts[0], ends[0], step, int64(len(x.elems)))
		if err != nil {
			a.fail(n, "%v", err)
			return nil
		}
		out := &symv{elems: []sdim{}}
		for k := int64(0); k < cnt; k++ {
			out.elems = append(out.elems, x.elems[b+k*step])
		}
		return out
	case "Add", "Sub", "Mul", "Div":
		x, y := a.symOf(input(n, 0)), a.symOf(input(n, 1))
		if x == nil || y == nil || (a.syms[input(n, 0)] == nil && a.syms[input(n, 1)] == nil) {
			return nil
		}
		if len(x.elems) == 0 || len(y.elems) == 0 || (len(x.elems) != len(y.elems) && len(x.elems) != 1 && len(y.elems) != 1) {
			return nil
		}
		l := max(len(x.elems), len(y.elems))
		out := &symv{scalar: x.scalar && y.scalar}
		for k := 0; k < l; k++ {
			p, q := x.elems[min(k, len(x.elems)-1)], y.elems[min(k, len(y.elems)-1)]
			out.elems = append(out.elems, symArith(n.OpType, p, q))
		}
		return out
	}
	return nil
}

// symArith combines two elements of partially known vectors.
func symArith(op string, p, q sdim) sdim {
	if p.known && q.known {
		switch op {
		case "Add":
			return num(p.v + q.v)
		case "Sub":
			return num(p.v - q.v)
		case "Mul":
			return num(p.v * q.v)
		default:
			if q.v != 0 {
				return num(p.v / q.v)
			}
		}
		return sdim{}
	}
	switch {
	case q.known && q.v == 0 && (op == "Add" || op == "Sub"),
		q.known && q.v == 1 && (op == "Mul" || op == "Div"):
		return p
	case p.known && p.v == 0 && op == "Add", p.known && p.v == 1 && op == "Mul":
		return q
	}
	return sdim{}
}

// resolveReshape turns a partially known Reshape target into a constant
// shape using ONNX's special values: an element equal to the data's own
// dimension at the same position becomes 0 ("copy the input dimension";
// only when allowzero is 0), and a single remaining unknown element becomes
// -1 ("infer from the element count"). ok is false when that is not enough.
func resolveReshape(target []sdim, data []ir.Dim, allowZero bool) ([]int64, bool) {
	out := make([]int64, len(target))
	unresolved := -1
	hasNeg := false
	for k, d := range target {
		switch {
		case d.known:
			out[k] = d.v
			hasNeg = hasNeg || d.v == -1
		case d.sym != "" && !allowZero && k < len(data) && data[k].Param == d.sym:
			out[k] = 0
		default:
			if unresolved >= 0 {
				return nil, false
			}
			unresolved = k
		}
	}
	if unresolved >= 0 {
		if hasNeg {
			return nil, false
		}
		out[unresolved] = -1
	}
	return out, true
}

// FoldConstants rewrites m in place so that the gorgonia executor finds
// constants where it needs them:
//
//   - Constant nodes, and nodes of foldableOps whose inputs are all
//     constants that are not trainable, are evaluated; their outputs become
//     initializers (named as the values) and the nodes are removed.
//   - Shape computations over a symbolic (batch) dimension, such as
//     PyTorch's Shape -> Gather -> Unsqueeze -> Concat -> Reshape flatten,
//     are tracked element by element. A Reshape target that comes out of
//     such a chain is replaced by a new int64 initializer named
//     "<reshape node>/shape" in which the element equal to the data's own
//     symbolic dimension at the same position is 0 (ONNX: copy that input
//     dimension) and a single other unknown element is -1 (ONNX: infer it).
//     For view(x.size(0), -1) on a [batch, C, H, W] value this gives
//     [0, -1]. A Reshape with allowzero=1 gets no 0s.
//   - Shape-computation nodes left without consumers are removed, as are
//     non-trainable initializers that only they read.
//
// Trainable is not changed: folding never reads a trainable initializer
// (other than through Shape), and values of Constant nodes are not
// trainable. A constant computation that is invalid (a Reshape to an
// incompatible shape, an index out of range) is an error naming the node.
// A shape chain that cannot be resolved is left in place for Check to
// report.
func FoldConstants(m *ir.Model) error {
	a := analyze(m)
	if a.err != nil {
		return fmt.Errorf("%s: constant folding: %w", modelLabel(m), a.err)
	}
	graphOut := map[string]bool{}
	for _, v := range m.Outputs {
		graphOut[v.Name] = true
	}
	consumedBefore := map[string]bool{}
	for _, n := range m.Nodes {
		for _, in := range n.Inputs {
			consumedBefore[in] = true
		}
	}
	removed := map[*ir.Node]bool{}
	for n := range a.folded {
		keep := false
		for _, o := range n.Outputs {
			keep = keep || graphOut[o]
		}
		if !keep {
			removed[n] = true
		}
	}
	taken := map[string]bool{}
	for name := range m.Initializers {
		taken[name] = true
	}
	for _, n := range m.Nodes {
		for _, o := range n.Outputs {
			taken[o] = true
		}
		for _, in := range n.Inputs {
			taken[in] = true
		}
	}
	for _, v := range m.Inputs {
		taken[v.Name] = true
	}
	// Reshape targets resolved from symbolic shape vectors.
	for _, n := range m.Nodes {
		if removed[n] || n.OpType != "Reshape" || len(n.Inputs) < 2 {
			continue
		}
		s := a.syms[n.Inputs[1]]
		if s == nil {
			continue
		}
		shape, ok := resolveReshape(s.elems, a.shapes[n.Inputs[0]], attrInt(n, "allowzero", 0) != 0)
		if !ok {
			continue
		}
		name := n.Name + "/shape"
		for k := 1; taken[name]; k++ {
			name = fmt.Sprintf("%s/shape_%d", n.Name, k)
		}
		taken[name] = true
		m.Initializers[name] = &ir.Tensor{Name: name, Type: ir.Int64, Dims: []int64{int64(len(shape))}, I64: shape}
		m.InitOrder = append(m.InitOrder, name)
		n.Inputs[1] = name
	}
	// Remove shape-computation nodes nobody reads any more.
	for changed := true; changed; {
		changed = false
		used := map[string]bool{}
		for _, n := range m.Nodes {
			if !removed[n] {
				for _, in := range n.Inputs {
					used[in] = true
				}
			}
		}
		for n := range a.partial {
			if removed[n] {
				continue
			}
			dead := true
			for _, o := range n.Outputs {
				if used[o] || graphOut[o] {
					dead = false
				}
			}
			if dead {
				removed[n] = true
				changed = true
			}
		}
	}
	// Materialise the folded values that remaining nodes read.
	used := map[string]bool{}
	var kept []*ir.Node
	for _, n := range m.Nodes {
		if removed[n] {
			continue
		}
		kept = append(kept, n)
		for _, in := range n.Inputs {
			used[in] = true
		}
	}
	for _, n := range m.Nodes {
		if !removed[n] || !a.folded[n] {
			continue
		}
		o := n.Outputs[0]
		if !used[o] {
			continue
		}
		if _, exists := m.Initializers[o]; exists {
			continue
		}
		m.Initializers[o] = a.consts[o].tensor(o)
		m.InitOrder = append(m.InitOrder, o)
	}
	m.Nodes = kept
	// Drop the non-trainable initializers only removed nodes read.
	isInput := map[string]bool{}
	for _, v := range m.Inputs {
		isInput[v.Name] = true
	}
	var order []string
	for _, name := range m.InitOrder {
		if consumedBefore[name] && !used[name] && !graphOut[name] && !a.trainable[name] && !isInput[name] {
			delete(m.Initializers, name)
			continue
		}
		order = append(order, name)
	}
	m.InitOrder = order
	return nil
}

func modelLabel(m *ir.Model) string {
	if m.Path != "" {
		return m.Path
	}
	return "<onnx>"
}

// InferShapes returns the shape of every value whose shape it can infer
// from the graph inputs' declared shapes, the initializers and constant
// shape computations, for the supported operators. Symbolic dimensions keep
// their names (e.g. "batch" flows from the input to every value whose
// leading dimension it is); unknown dimensions are -1. m is not changed.
func InferShapes(m *ir.Model) map[string][]ir.Dim {
	a := analyze(m)
	out := make(map[string][]ir.Dim, len(a.shapes))
	for name, s := range a.shapes {
		c := make([]ir.Dim, len(s))
		for k, d := range s {
			c[k] = d
			if strings.HasPrefix(d.Param, unknownPrefix) {
				c[k] = ir.Dim{Value: -1}
			}
		}
		out[name] = c
	}
	return out
}
