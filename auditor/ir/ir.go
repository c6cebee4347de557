// Package ir is gnaudit's intermediate representation of a neural network: the
// operators, values, shapes and parameters of an ONNX graph, decoded once and
// independent of any executor. The CPU executor (gorgonia), the GPU executor
// and the per-sample gradient expansion all read this form.
//
// Values are named as in the ONNX file. A node's optional input that the file
// leaves empty is the empty string "".
package ir

import "fmt"

// DataType is an ONNX TensorProto element type.
type DataType int32

// The element types gnaudit handles (numbers as in onnx.proto).
const (
	Undefined DataType = 0
	Float     DataType = 1
	Uint8     DataType = 2
	Int8      DataType = 3
	Uint16    DataType = 4
	Int16     DataType = 5
	Int32     DataType = 6
	Int64     DataType = 7
	String    DataType = 8
	Bool      DataType = 9
	Float16   DataType = 10
	Double    DataType = 11
	Uint32    DataType = 12
	Uint64    DataType = 13
	Bfloat16  DataType = 16
)

// String returns the ONNX name of the type.
func (d DataType) String() string {
	switch d {
	case Float:
		return "float"
	case Uint8:
		return "uint8"
	case Int8:
		return "int8"
	case Uint16:
		return "uint16"
	case Int16:
		return "int16"
	case String:
		return "string"
	case Float16:
		return "float16"
	case Uint32:
		return "uint32"
	case Uint64:
		return "uint64"
	case Bfloat16:
		return "bfloat16"
	case Int32:
		return "int32"
	case Int64:
		return "int64"
	case Bool:
		return "bool"
	case Double:
		return "double"
	}
	return fmt.Sprintf("dtype(%d)", int32(d))
}

// Dim is one dimension of a value's shape: a fixed size, or a symbolic one
// (Param non-empty, e.g. "batch"), or unknown (Value < 0 and Param empty).
type Dim struct {
	Value int64
	Param string
}

// Known reports whether the dimension has a fixed size.
func (d Dim) Known() bool { return d.Param == "" && d.Value >= 0 }

// Value describes a named tensor of the graph (input, output or intermediate).
type Value struct {
	Name  string
	Type  DataType
	Shape []Dim // nil when the file gives no shape
}

// Tensor is a constant tensor: an initializer or a Constant's value.
// Exactly one of the data slices is filled, according to Type
// (Float and Double are both held in F32/F64 as stored; Float16 and
// Bfloat16 are widened to F32; integer and bool types in I64, uint64 values
// above MaxInt64 wrapping). String tensors are not represented.
type Tensor struct {
	Name string
	Type DataType
	Dims []int64
	F32  []float32
	F64  []float64
	I64  []int64
}

// Len is the number of elements implied by Dims.
func (t *Tensor) Len() int {
	n := 1
	for _, d := range t.Dims {
		n *= int(d)
	}
	return n
}

// AttrKind tells which field of an Attr is set.
type AttrKind int

// Attribute kinds.
const (
	AttrInt AttrKind = iota + 1
	AttrFloat
	AttrString
	AttrInts
	AttrFloats
	AttrStrings
	AttrTensor
	// AttrOther is an attribute of a kind gnaudit does not represent (a
	// graph, a list of graphs or tensors, a sparse tensor, a type); String
	// holds the ONNX kind name, e.g. "GRAPH". No supported operator has one.
	AttrOther
)

// Attr is one attribute of a node.
type Attr struct {
	Kind    AttrKind
	Int     int64
	Float   float32
	String  string
	Ints    []int64
	Floats  []float32
	Strings []string
	Tensor  *Tensor
}

// Node is one operator application.
type Node struct {
	Name    string // the ONNX node name; may be empty in the file, then set to "<OpType>_<index>"
	OpType  string
	Domain  string // "" for the default ONNX domain
	Inputs  []string
	Outputs []string
	Attrs   map[string]Attr
}

// Model is a decoded ONNX model.
type Model struct {
	Path      string // file the model came from, for error messages ("" if none)
	Producer  string // producer_name and version, e.g. "pytorch 1.13.0"
	IRVersion int64
	Opset     int64   // opset of the default ONNX domain
	Inputs    []Value // graph inputs that are not initializers (the data inputs)
	Outputs   []Value
	// ValueInfo holds the shapes the file declares for intermediate values.
	ValueInfo map[string]Value
	Nodes     []*Node // in topological order
	// Initializers by name; InitOrder keeps the file's order.
	Initializers map[string]*Tensor
	InitOrder    []string
	// Trainable names the float initializers that are learnable parameters
	// (weights, biases, BatchNorm scale and shift), in file order. BatchNorm
	// running statistics and integer/shape constants are not trainable.
	// The decoder fills it with the registered ParamRule.
	Trainable []string
}

// ParamRule is the per-operator rule for parameters. The operator registry,
// auditor/graph, registers it at start (RegisterParamRule): which input
// slots of an operator hold a parameter is part of the operator's one
// description there.
type ParamRule struct {
	// Trainable names a model's trainable initializers, in file order
	// (Model.Trainable; graph.Trainable).
	Trainable func(*Model) []string
	// Through reports whether a parameter read as input 0 of an operator
	// passes through to the node's output 0 (layout or element-type
	// changes such as Reshape, Transpose, Cast).
	Through func(op string) bool
}

var paramRule *ParamRule

// RegisterParamRule installs the parameter rule; a second registration
// panics.
func RegisterParamRule(r ParamRule) {
	if paramRule != nil {
		panic("ir: parameter rule registered twice")
	}
	paramRule = &r
}

// RegisteredParamRule returns the registered rule; false when none is (a
// program that does not link auditor/graph).
func RegisteredParamRule() (ParamRule, bool) {
	if paramRule == nil {
		return ParamRule{}, false
	}
	return *paramRule, true
}

// Producers maps each value name to the node that produces it (graph inputs
// and initializers have none).
func (m *Model) Producers() map[string]*Node {
	p := make(map[string]*Node, len(m.Nodes))
	for _, n := range m.Nodes {
		for _, o := range n.Outputs {
			if o != "" {
				p[o] = n
			}
		}
	}
	return p
}

// Consumers maps each value name to the nodes that read it, in graph order.
func (m *Model) Consumers() map[string][]*Node {
	c := make(map[string][]*Node)
	for _, n := range m.Nodes {
		for _, in := range n.Inputs {
			if in != "" {
				c[in] = append(c[in], n)
			}
		}
	}
	return c
}
