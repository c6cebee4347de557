package persample

import (
	"fmt"
	"strings"

	"github.com/gnaudit/gnaudit/auditor/graph"
	"github.com/gnaudit/gnaudit/auditor/ir"
)

// Methods a parameter's per-sample gradients are computed by (ParamInfo.Method
// lists the methods of its uses joined by "+").
const (
	MethodConv      = "conv"      // Conv weight: im2col of x_i times δ_i
	MethodGemm      = "gemm"      // Gemm B: α a_i δ_iᵀ (or its transpose)
	MethodMatMul    = "matmul"    // MatMul weight: A_iᵀ δ_i or δ_i X_iᵀ
	MethodBias      = "bias"      // Conv bias, Gemm C: sums of δ_i over the broadcast dims
	MethodBatchNorm = "batchnorm" // BatchNormalization scale (Σ δ x̂) and shift (Σ δ)
	MethodBinary    = "binary"    // Add/Sub/Mul/Div with a parameter operand
	MethodZero      = "zero"      // no influence on the loss: every gradient is 0
	MethodFallback  = "fallback"  // one batch-1 backward pass per sample
)

// use is one place where a parameter enters a layer: input slot of node,
// reached from the parameter through copy operators.
type use struct {
	node   *ir.Node
	slot   int
	input  string  // the value node.Inputs[slot] (the parameter or a copy of it)
	vidx   []int32 // parameter flat index → flat index in input; nil: identity
	method string  // one of the Method constants (never zero/fallback)
	// scatter, when the parameter reaches the input through a Gather with
	// constant indices: input flat index → parameter flat index.
	scatter []int32
}

// paramPlan says how the per-sample gradients of one parameter are computed.
type paramPlan struct {
	info ParamInfo
	uses []*use // the uses that reach the loss
}

// analysis holds what the planner knows about the graph.
type analysis struct {
	m     *ir.Model
	cons  map[string][]*ir.Node
	dep   map[string]bool // value depends on the data input (per sample)
	reach map[string]bool // value influences the logits
	net   *graph.Net      // the executor built for the model: shapes of its values
}

func newAnalysis(m *ir.Model, net *graph.Net, logits string) *analysis {
	a := &analysis{m: m, net: net, cons: m.Consumers(), dep: map[string]bool{net.InputName(): true}, reach: map[string]bool{logits: true}}
	for _, n := range m.Nodes {
		if n.OpType == "Shape" || n.OpType == "Size" {
			continue // known when the graph is built
		}
		d := false
		for _, in := range n.Inputs {
			d = d || (in != "" && a.dep[in])
		}
		if d {
			for _, o := range n.Outputs {
				if o != "" {
					a.dep[o] = true
				}
			}
		}
	}
	for k := len(m.Nodes) - 1; k >= 0; k-- {
		n := m.Nodes[k]
		r := false
		for _, o := range n.Outputs {
			r = r || (o != "" && a.reach[o])
		}
		if r {
			for _, in := range n.Inputs {
				if in != "" {
					a.reach[in] = true
				}
			}
		}
	}
	return a
}

// shape returns the shape of a value as the executor computes it (the
// registry's operators infer shapes when the graph is built).
func (a *analysis) shape(name string) ([]int, bool) {
	if t, ok := a.m.Initializers[name]; ok {
		s := make([]int, len(t.Dims))
		for k, d := range t.Dims {
			s[k] = int(d)
		}
		return s, true
	}
	return a.net.Shape(name)
}

// plan finds the uses of parameter name and decides its method.
func (a *analysis) plan(name string, shape []int) *paramPlan {
	p := &paramPlan{info: ParamInfo{Name: name, Shape: shape, Size: prod(shape), Kind: "other"}}
	var reasons []string
	type item struct {
		value string
		vidx  []int32
		via   []string
		src   []int32 // after a Gather: value index → parameter index (expand_ext.go)
	}
	queue := []item{{value: name}}
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		for _, n := range a.cons[it.value] {
			if !a.reachesLoss(n) {
				continue
			}
			for slot, in := range n.Inputs {
				if in != it.value {
					continue
				}
				if slot == 0 && len(n.Outputs) > 0 && n.Outputs[0] != "" && (it.src != nil || a.constGather(n)) && (graph.IsCopyOp(n.OpType) || n.OpType == "Gather") {
					src, err := a.throughSrc(n, it.value, it.vidx, it.src)
					if err != nil {
						reasons = append(reasons, err.Error())
						continue
					}
					queue = append(queue, item{value: n.Outputs[0], src: src, via: append(append([]string(nil), it.via...), n.OpType)})
					continue
				}
				if graph.IsCopyOp(n.OpType) && slot == 0 && len(n.Outputs) > 0 && n.Outputs[0] != "" {
					vidx, err := a.through(n, it.value, it.vidx)
					if err != nil {
						reasons = append(reasons, err.Error())
						continue
					}
					queue = append(queue, item{value: n.Outputs[0], vidx: vidx, via: append(append([]string(nil), it.via...), n.OpType)})
					continue
				}
				u := &use{node: n, slot: slot, input: in, vidx: it.vidx, scatter: it.src}
				if why := a.classify(u); why == "" && u.scatter != nil && u.method != MethodBinary && u.method != MethodExpand {
					reasons = append(reasons, fmt.Sprintf("%s %q input %d%s: a gathered parameter is expanded only elementwise", n.OpType, n.Name, slot, viaString(it.via)))
					continue
				} else if why != "" {
					reasons = append(reasons, fmt.Sprintf("%s %q input %d%s: %s", n.OpType, n.Name, slot, viaString(it.via), why))
					continue
				}
				p.uses = append(p.uses, u)
			}
		}
	}
	switch {
	case len(reasons) > 0:
		p.info.Method = MethodFallback
		p.info.Reason = strings.Join(reasons, "; ")
		p.uses = nil
	case len(p.uses) == 0:
		p.info.Method = MethodZero
		p.info.Reason = "the parameter does not influence the loss"
	default:
		var ms []string
		seen := map[string]bool{}
		for _, u := range p.uses {
			if !seen[u.method] {
				seen[u.method] = true
				ms = append(ms, u.method)
			}
		}
		p.info.Method = strings.Join(ms, "+")
	}
	// The layer and kind come from the first consumer that is not a copy.
	if n, slot := a.firstLeaf(name); n != nil {
		p.info.Layer = layerName(n)
		p.info.Kind = kindOf(n.OpType, slot)
	}
	return p
}

// firstLeaf returns the first non-copy consumer reached from value name.
func (a *analysis) firstLeaf(name string) (*ir.Node, int) {
	for _, n := range a.cons[name] {
		for slot, in := range n.Inputs {
			if in != name {
				continue
			}
			if graph.IsCopyOp(n.OpType) && slot == 0 && len(n.Outputs) > 0 && n.Outputs[0] != "" {
				if l, s := a.firstLeaf(n.Outputs[0]); l != nil {
					return l, s
				}
				continue
			}
			return n, slot
		}
	}
	return nil, 0
}

func viaString(via []string) string {
	if len(via) == 0 {
		return ""
	}
	return " (via " + strings.Join(via, ", ") + ")"
}

func (a *analysis) reachesLoss(n *ir.Node) bool {
	for _, o := range n.Outputs {
		if o != "" && a.reach[o] {
			return true
		}
	}
	return false
}

// through maps the element order of a copy operator: vidx (parameter →
// input) becomes parameter → output. Only Transpose reorders elements.
func (a *analysis) through(n *ir.Node, in string, vidx []int32) ([]int32, error) {
	if n.OpType != "Transpose" {
		return vidx, nil
	}
	s, ok := a.shape(in)
	if !ok {
		return nil, fmt.Errorf("Transpose %q: the shape of its input %q is not known", n.Name, in)
	}
	perm := make([]int, len(s))
	if at, ok := n.Attrs["perm"]; ok {
		if len(at.Ints) != len(s) {
			return nil, fmt.Errorf("Transpose %q: perm %v does not match rank %d", n.Name, at.Ints, len(s))
		}
		for k, v := range at.Ints {
			perm[k] = int(v)
		}
	} else {
		for k := range perm {
			perm[k] = len(s) - 1 - k
		}
	}
	tm := transposeMap(s, perm)
	out := make([]int32, len(tm))
	for j := range out {
		src := j
		if vidx != nil {
			src = int(vidx[j])
		}
		out[j] = tm[src]
	}
	return out, nil
}

// transposeMap returns, for each flat index of an array of shape s, its flat
// index after Transpose(perm).
func transposeMap(s, perm []int) []int32 {
	r := len(s)
	os := make([]int, r) // output shape
	for k := range perm {
		os[k] = s[perm[k]]
	}
	ostr := make([]int, r) // output strides
	st := 1
	for k := r - 1; k >= 0; k-- {
		ostr[k] = st
		st *= os[k]
	}
	// stride in the output of each input axis
	istr := make([]int, r)
	for k := range perm {
		istr[perm[k]] = ostr[k]
	}
	n := prod(s)
	m := make([]int32, n)
	idx := make([]int, r)
	off := 0
	for j := 0; j < n; j++ {
		m[j] = int32(off)
		for k := r - 1; k >= 0; k-- {
			idx[k]++
			off += istr[k]
			if idx[k] < s[k] {
				break
			}
			off -= idx[k] * istr[k]
			idx[k] = 0
		}
	}
	return m
}

// classify decides the method of a use; it returns why there is none. The
// rule comes from the operator registry (graph.OpSpec.PerSample): an
// operator without one takes the batch-1 fallback for the registry's reason.
func (a *analysis) classify(u *use) string {
	n := u.node
	count := 0
	for _, x := range n.Inputs {
		if x == u.input {
			count++
		}
	}
	if count > 1 {
		return "the parameter is used twice by the same node"
	}
	spec, ok := graph.Lookup(n.OpType)
	if !ok {
		return "the operator is not in the registry"
	}
	if spec.PerSample == "" {
		return "no per-sample expansion for this operator (" + spec.Fallback + ")"
	}
	rule, ok := rules[spec.PerSample]
	if !ok {
		return fmt.Sprintf("the registry names per-sample rule %q, which this package does not implement", spec.PerSample)
	}
	return rule(a, u)
}

// rules implement the per-sample rules the registry names; each checks
// that the use has the form it expands and sets u.method, or says why not.
var rules = map[string]func(a *analysis, u *use) string{
	graph.RuleConv: func(a *analysis, u *use) string {
		dep := a.depOf(u.node)
		switch {
		case !dep(0):
			return "its data input does not depend on the sample"
		case dep(1) || dep(2):
			return "the weights depend on the sample"
		case u.slot == 1:
			u.method = MethodConv
		case u.slot == 2:
			u.method = MethodBias
		default:
			return "not a weight or bias slot"
		}
		return ""
	},
	graph.RuleGemm: func(a *analysis, u *use) string {
		n, dep := u.node, a.depOf(u.node)
		if !dep(0) || dep(1) || dep(2) {
			return "only Gemm(A = sample data, B = weight, C = bias) is expanded"
		}
		if attrInt(n, "transA", 0) != 0 {
			return "transA on the sample data"
		}
		switch u.slot {
		case 1:
			u.method = MethodGemm
		case 2:
			u.method = MethodBias
		default:
			return "not a weight or bias slot"
		}
		return ""
	},
	graph.RuleMatMul: func(a *analysis, u *use) string {
		dep := a.depOf(u.node)
		if u.slot > 1 || !dep(1-u.slot) || dep(u.slot) {
			return "only MatMul of sample data with a weight is expanded"
		}
		if s, ok := a.shape(u.input); ok {
			for _, d := range s[:max(0, len(s)-2)] {
				if d != 1 {
					return fmt.Sprintf("weight of shape %v with batch dimensions", s)
				}
			}
		}
		u.method = MethodMatMul
		return ""
	},
	graph.RuleBatchNorm: func(a *analysis, u *use) string {
		n, dep := u.node, a.depOf(u.node)
		if !dep(0) {
			return "its data input does not depend on the sample"
		}
		for k := 1; k < 5; k++ {
			if dep(k) {
				return "its parameters depend on the sample"
			}
		}
		if u.slot != 1 && u.slot != 2 {
			return "running statistics are not differentiated"
		}
		if len(n.Outputs) > 1 {
			for _, o := range n.Outputs[1:] {
				if o != "" {
					return "training-mode outputs"
				}
			}
		}
		u.method = MethodBatchNorm
		return ""
	},
	graph.RuleBinary: func(a *analysis, u *use) string {
		dep := a.depOf(u.node)
		if u.slot > 1 || !dep(1-u.slot) || dep(u.slot) {
			return "only a binary operator between sample data and a parameter is expanded"
		}
		u.method = MethodBinary
		return ""
	},
	graph.RuleLayerNorm:    classifyLayerNorm,
	graph.RuleInstanceNorm: classifyInstanceNorm,
	graph.RuleEmbedding:    classifyEmbedding,
	graph.RuleExpand:       classifyExpand,
	graph.RuleEinsum:       func(a *analysis, u *use) string { return a.classifyEinsum(u) },
}

// depOf reports, per input slot of n, whether the input depends on the
// sample (false for an absent input).
func (a *analysis) depOf(n *ir.Node) func(k int) bool {
	return func(k int) bool { return k < len(n.Inputs) && n.Inputs[k] != "" && a.dep[n.Inputs[k]] }
}

// layerName is a readable layer name for a node: PyTorch's "/conv1/Conv"
// becomes "conv1"; other names are kept.
func layerName(n *ir.Node) string {
	s := n.Name
	if strings.HasPrefix(s, "/") && strings.HasSuffix(s, "/"+n.OpType) && len(s) > len(n.OpType)+2 {
		return s[1 : len(s)-len(n.OpType)-1]
	}
	return s
}

// kindOf names the role of a parameter slot (see collect.LayerSpec.Kind),
// from the operator registry's OpSpec.Roles.
func kindOf(op string, slot int) string {
	if s, ok := graph.Lookup(op); ok && slot < len(s.Roles) && s.Roles[slot] != "" {
		return s.Roles[slot]
	}
	return "other"
}

func attrInt(n *ir.Node, name string, def int64) int64 {
	if a, ok := n.Attrs[name]; ok && a.Kind == ir.AttrInt {
		return a.Int
	}
	return def
}

func attrFloat(n *ir.Node, name string, def float64) float64 {
	if a, ok := n.Attrs[name]; ok && a.Kind == ir.AttrFloat {
		return float64(a.Float)
	}
	return def
}

func attrInts(n *ir.Node, name string) []int64 {
	if a, ok := n.Attrs[name]; ok && a.Kind == ir.AttrInts {
		return a.Ints
	}
	return nil
}

func attrString(n *ir.Node, name, def string) string {
	if a, ok := n.Attrs[name]; ok && a.Kind == ir.AttrString {
		return a.String
	}
	return def
}

func prod(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}
