package onnx

import (
	"fmt"
	"sort"
	"strings"

	"github.com/gnaudit/gnaudit/auditor/ir"
)

// MinOpset and MaxOpset bound the default-domain opsets gnaudit supports.
const (
	MinOpset = 7
	MaxOpset = 17
)

// OpInfo describes one operator gnaudit supports.
type OpInfo struct {
	OpType string
	// Attrs are the attributes gnaudit honours; any other is an error.
	Attrs []string
	// ShapeOnly operators are supported only inside constant shape
	// computations, which FoldConstants evaluates away.
	ShapeOnly bool
	// Note states restrictions.
	Note string
}

// SupportedOps lists the operators of the default ONNX domain that gnaudit
// imports and executes, for opsets MinOpset..MaxOpset, sorted by name.
var SupportedOps = []OpInfo{
	{OpType: "Add"},
	{OpType: "AveragePool", Attrs: []string{"auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides"}},
	{OpType: "BatchNormalization", Attrs: []string{"epsilon", "momentum", "spatial", "training_mode"},
		Note: "inference form only: one output, spatial=1, training_mode=0"},
	{OpType: "Cast", Attrs: []string{"to", "saturate"}, ShapeOnly: true},
	{OpType: "Clip", Attrs: []string{"min", "max"}, Note: "min and max: attributes before opset 11, optional inputs from 11"},
	{OpType: "Concat", Attrs: []string{"axis"}},
	{OpType: "Constant", Attrs: []string{"value", "value_float", "value_floats", "value_int", "value_ints"},
		Note: "numeric values only; folded into initializers"},
	{OpType: "ConstantOfShape", Attrs: []string{"value"}, ShapeOnly: true},
	{OpType: "Conv", Attrs: []string{"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"}},
	{OpType: "Div"},
	{OpType: "Dropout", Attrs: []string{"ratio", "seed"}, Note: "identity at inference; training_mode must be a constant false and the mask output unused"},
	{OpType: "Flatten", Attrs: []string{"axis"}},
	{OpType: "Gather", Attrs: []string{"axis"}, ShapeOnly: true},
	{OpType: "Gemm", Attrs: []string{"alpha", "beta", "transA", "transB"}},
	{OpType: "GlobalAveragePool"},
	{OpType: "Identity"},
	{OpType: "LeakyRelu", Attrs: []string{"alpha"}},
	{OpType: "LogSoftmax", Attrs: []string{"axis"}},
	{OpType: "MatMul"},
	{OpType: "MaxPool", Attrs: []string{"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"},
		Note: "the Indices output must be unused"},
	{OpType: "Mul"},
	{OpType: "Pad", Attrs: []string{"mode", "pads", "value"}, Note: "constant mode; pads and value must be constants"},
	{OpType: "Relu"},
	{OpType: "Reshape", Attrs: []string{"allowzero"}, Note: "the shape must be constant after FoldConstants"},
	{OpType: "Shape", Attrs: []string{"start", "end"}, ShapeOnly: true},
	{OpType: "Sigmoid"},
	{OpType: "Slice", Attrs: []string{"starts", "ends", "axes"}, ShapeOnly: true},
	{OpType: "Softmax", Attrs: []string{"axis"}},
	{OpType: "Squeeze", Attrs: []string{"axes"}, Note: "axes: attribute before opset 13, constant input from 13"},
	{OpType: "Sub"},
	{OpType: "Tanh"},
	{OpType: "Transpose", Attrs: []string{"perm"}},
	{OpType: "Unsqueeze", Attrs: []string{"axes"}, Note: "axes: attribute before opset 13, constant input from 13"},
}

var opIndex = func() map[string]*OpInfo {
	idx := map[string]*OpInfo{}
	for k := range SupportedOps {
		idx[SupportedOps[k].OpType] = &SupportedOps[k]
	}
	return idx
}()

// SupportedOpTypes returns the names of the supported operators, sorted.
func SupportedOpTypes() []string {
	names := make([]string, len(SupportedOps))
	for k, o := range SupportedOps {
		names[k] = o.OpType
	}
	sort.Strings(names)
	return names
}

// IsSupported reports whether a default-domain operator type is supported.
func IsSupported(opType string) bool { return opIndex[opType] != nil }

// NodeError is a problem Check found in one node.
type NodeError struct {
	Node   string // the node's name
	OpType string
	Opset  int64 // the model's default-domain opset
	Msg    string
	// ListSupported appends the list of supported operators to Error().
	ListSupported bool
}

// Short is the message without the list of supported operators.
func (e *NodeError) Short() string {
	return fmt.Sprintf("node %q (%s, opset %d): %s", e.Node, e.OpType, e.Opset, e.Msg)
}

func (e *NodeError) Error() string {
	if e.ListSupported {
		return e.Short() + "; supported operators: " + strings.Join(SupportedOpTypes(), ", ")
	}
	return e.Short()
}

// Check reports everything in m that gnaudit cannot execute: an opset out
// of range, operators outside SupportedOps or of another domain, unknown
// attributes or unsupported attribute values, values nothing defines, and
// operands that must be constant but are not after FoldConstants (which
// Check applies to a copy: m is not changed). Each error names the node, its
// operator and the model's opset; an unsupported operator's error lists the
// supported ones. An empty result means the model is supported.
func Check(m *ir.Model) []error {
	var errs []error
	add := func(n *ir.Node, format string, a ...any) {
		errs = append(errs, &NodeError{Node: n.Name, OpType: n.OpType, Opset: m.Opset, Msg: fmt.Sprintf(format, a...)})
	}
	addList := func(n *ir.Node, format string, a ...any) {
		errs = append(errs, &NodeError{Node: n.Name, OpType: n.OpType, Opset: m.Opset, Msg: fmt.Sprintf(format, a...), ListSupported: true})
	}
	switch {
	case m.Opset == 0:
		errs = append(errs, fmt.Errorf("the model imports no opset of the default ONNX domain (supported: %d-%d)", MinOpset, MaxOpset))
	case m.Opset < MinOpset || m.Opset > MaxOpset:
		errs = append(errs, fmt.Errorf("model opset %d (default domain) is outside the supported range %d-%d", m.Opset, MinOpset, MaxOpset))
	}
	defined := map[string]bool{"": true}
	for _, v := range m.Inputs {
		defined[v.Name] = true
	}
	for name := range m.Initializers {
		defined[name] = true
	}
	for _, n := range m.Nodes {
		for _, in := range n.Inputs {
			if !defined[in] {
				add(n, "input %q is not defined by any node, initializer or graph input", in)
			}
		}
		for _, o := range n.Outputs {
			defined[o] = true
		}
		if n.Domain != "" {
			addList(n, "operator domain %q is not supported (only the default ONNX domain)", n.Domain)
			continue
		}
		info := opIndex[n.OpType]
		if info == nil {
			addList(n, "operator not supported")
			continue
		}
		allowed := map[string]bool{}
		for _, a := range info.Attrs {
			allowed[a] = true
		}
		names := make([]string, 0, len(n.Attrs))
		for a := range n.Attrs {
			names = append(names, a)
		}
		sort.Strings(names)
		for _, a := range names {
			at := n.Attrs[a]
			switch {
			case !allowed[a]:
				list := "none"
				if len(info.Attrs) > 0 {
					list = strings.Join(info.Attrs, ", ")
				}
				add(n, "attribute %q is not supported (supported: %s)", a, list)
			case at.Kind == ir.AttrOther:
				add(n, "attribute %q of kind %s is not supported", a, at.String)
			}
		}
		for _, msg := range checkNode(n, m.Opset) {
			add(n, "%s", msg)
		}
	}
	for _, v := range m.Outputs {
		if !defined[v.Name] {
			errs = append(errs, fmt.Errorf("graph output %q is not defined by any node, initializer or input", v.Name))
		}
	}
	return append(errs, checkFolded(m)...)
}

// checkNode checks attribute values and operand counts of one node.
func checkNode(n *ir.Node, opset int64) []string {
	var bad []string
	badf := func(format string, a ...any) { bad = append(bad, fmt.Sprintf(format, a...)) }
	usedOutputs := func(from int) {
		for k := from; k < len(n.Outputs); k++ {
			if n.Outputs[k] != "" {
				badf("output %d (%q) is not supported", k, n.Outputs[k])
			}
		}
	}
	switch n.OpType {
	case "Conv", "MaxPool", "AveragePool":
		switch p := attrString(n, "auto_pad", "NOTSET"); p {
		case "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID":
		default:
			badf("auto_pad %q is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID", p)
		}
		if n.OpType != "Conv" {
			if _, ok := n.Attrs["kernel_shape"]; !ok {
				badf("attribute kernel_shape is required")
			}
		}
		if n.OpType == "MaxPool" {
			if attrInt(n, "storage_order", 0) != 0 {
				badf("storage_order=1 is not supported")
			}
			usedOutputs(1)
		}
	case "BatchNormalization":
		if at, ok := n.Attrs["spatial"]; ok && at.Int != 1 {
			badf("spatial=%d is not supported (per-activation normalisation)", at.Int)
		}
		if attrInt(n, "training_mode", 0) != 0 {
			badf("training_mode=1 is not supported (export the model in eval mode)")
		}
		if len(n.Inputs) != 5 {
			badf("%d inputs, want 5 (X, scale, B, mean, var)", len(n.Inputs))
		}
		usedOutputs(1)
	case "Pad":
		if mode := attrString(n, "mode", "constant"); mode != "constant" {
			badf("mode %q is not supported (only constant)", mode)
		}
	case "Unsqueeze":
		_, attr := n.Attrs["axes"]
		switch {
		case opset < 13 && !attr:
			badf("attribute axes is required before opset 13")
		case opset >= 13 && attr:
			badf("attribute axes is not allowed from opset 13 (axes is an input)")
		case opset >= 13 && len(n.Inputs) < 2:
			badf("input axes is required from opset 13")
		}
	case "Squeeze":
		if _, attr := n.Attrs["axes"]; attr && opset >= 13 {
			badf("attribute axes is not allowed from opset 13 (axes is an input)")
		}
	case "Cast":
		switch to := ir.DataType(attrInt(n, "to", 0)); to {
		case ir.Float, ir.Double, ir.Int32, ir.Int64, ir.Bool, ir.Int8, ir.Uint8, ir.Int16, ir.Uint16, ir.Uint32, ir.Uint64, ir.Float16, ir.Bfloat16:
		default:
			badf("cast to %v is not supported", to)
		}
	case "Constant":
		if len(n.Attrs) != 1 {
			badf("needs exactly one value attribute, has %d", len(n.Attrs))
		}
		if at, ok := n.Attrs["value"]; ok && (at.Kind != ir.AttrTensor || at.Tensor == nil) {
			badf("attribute value is not a tensor")
		}
	}
	return bad
}

// constOperands lists, per operator, the inputs that must be constant.
var constOperands = map[string][]int{
	"Reshape": {1}, "Unsqueeze": {1}, "Squeeze": {1}, "Pad": {1, 2}, "Dropout": {2},
}

// checkFolded folds a copy of m and reports what is still not constant.
func checkFolded(m *ir.Model) []error {
	c := cloneModel(m)
	if err := FoldConstants(c); err != nil {
		return []error{err}
	}
	var errs []error
	add := func(n *ir.Node, format string, a ...any) {
		errs = append(errs, &NodeError{Node: n.Name, OpType: n.OpType, Opset: m.Opset, Msg: fmt.Sprintf(format, a...)})
	}
	for _, n := range c.Nodes {
		if n.Domain != "" {
			continue
		}
		if info := opIndex[n.OpType]; info != nil && info.ShapeOnly {
			add(n, "supported only in shape computations that fold to constants, and this one depends on run-time data")
			continue
		}
		for _, k := range constOperands[n.OpType] {
			if k >= len(n.Inputs) || n.Inputs[k] == "" {
				continue
			}
			t, ok := c.Initializers[n.Inputs[k]]
			if !ok {
				add(n, "input %d (%q) must be a constant after constant folding", k, n.Inputs[k])
				continue
			}
			if n.OpType == "Dropout" && k == 2 && len(t.I64) > 0 && t.I64[0] != 0 {
				add(n, "training_mode=true is not supported")
			}
		}
		if n.OpType == "Dropout" {
			for k := 1; k < len(n.Outputs); k++ {
				if n.Outputs[k] != "" && isUsed(c, n.Outputs[k]) {
					add(n, "the mask output %q is used, which is not supported", n.Outputs[k])
				}
			}
		}
	}
	return errs
}

func isUsed(m *ir.Model, v string) bool {
	for _, o := range m.Outputs {
		if o.Name == v {
			return true
		}
	}
	for _, n := range m.Nodes {
		for _, in := range n.Inputs {
			if in == v {
				return true
			}
		}
	}
	return false
}

// cloneModel copies m deeply enough for FoldConstants to rewrite the copy:
// nodes, their input lists and the initializer map are new; tensors,
// attributes and value infos are shared (FoldConstants does not modify them).
func cloneModel(m *ir.Model) *ir.Model {
	c := *m
	c.Nodes = make([]*ir.Node, len(m.Nodes))
	for k, n := range m.Nodes {
		nn := *n
		nn.Inputs = append([]string{}, n.Inputs...)
		nn.Outputs = append([]string{}, n.Outputs...)
		c.Nodes[k] = &nn
	}
	c.Initializers = make(map[string]*ir.Tensor, len(m.Initializers))
	for k, t := range m.Initializers {
		c.Initializers[k] = t
	}
	c.InitOrder = append([]string{}, m.InitOrder...)
	c.Trainable = append([]string{}, m.Trainable...)
	c.Inputs = append([]ir.Value{}, m.Inputs...)
	c.Outputs = append([]ir.Value{}, m.Outputs...)
	return &c
}
