package onnx

import (
	"container/heap"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/internal/onnxpb"
	onnxgo "github.com/owulveryck/onnx-go"
	"google.golang.org/protobuf/proto"
	"gorgonia.org/tensor"
)

// Report tells how a model was decoded: which parts came from onnx-go and
// which from gnaudit's own reading of the protobuf (onnxpb), and why.
type Report struct {
	// OnnxGo is true when onnx-go's decoder ran over the whole graph.
	OnnxGo bool `json:"onnx_go"`
	// OnnxGoNodes is the number of nodes whose operator, inputs, outputs and
	// attributes came from onnx-go (the others came from onnxpb).
	OnnxGoNodes int `json:"onnx_go_nodes"`
	// OnnxGoTensors is the number of initializers decoded by onnx-go.
	OnnxGoTensors int `json:"onnx_go_tensors"`
	// Fallbacks lists, one line each, what was read from onnxpb instead of
	// onnx-go and why.
	Fallbacks []string `json:"fallbacks"`
}

func (r *Report) fallback(format string, a ...any) {
	r.Fallbacks = append(r.Fallbacks, fmt.Sprintf(format, a...))
}

// Load reads and decodes an ONNX file.
func Load(path string) (*ir.Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	return Decode(data, path)
}

// Decode decodes the bytes of an ONNX model; name (usually the file path)
// is recorded in Model.Path and prefixes every error.
func Decode(data []byte, name string) (*ir.Model, error) {
	m, _, err := DecodeWithReport(data, name)
	return m, err
}

// DecodeWithReport is Decode that also tells which parts of the model
// onnx-go decoded and which were read from the protobuf directly.
func DecodeWithReport(data []byte, name string) (*ir.Model, *Report, error) {
	return decode(data, name, true)
}

// decode is the importer. With useOnnxGo false it reads everything from the
// protobuf (the tests compare both paths).
func decode(data []byte, name string, useOnnxGo bool) (m *ir.Model, rep *Report, err error) {
	label := name
	if label == "" {
		label = "<onnx>"
	}
	defer func() {
		if r := recover(); r != nil {
			m, rep, err = nil, nil, fmt.Errorf("%s: corrupt ONNX model (decoder panic: %v)", label, r)
		}
	}()
	pb := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(data, pb); err != nil {
		return nil, nil, fmt.Errorf("%s: not a valid ONNX file: %w", label, err)
	}
	if err := validate(pb); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", label, err)
	}
	rep = &Report{}
	var rec *recorder
	if useOnnxGo {
		rec = runOnnxGo(pb, rep)
	} else {
		rep.fallback("onnx-go not used (onnxpb-only decoding requested)")
	}
	m, err = build(pb, rec, rep)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", label, err)
	}
	m.Path = name
	return m, rep, nil
}

// validate checks the parts of the protobuf that both decoders rely on, so
// that neither meets a malformed tensor or a nameless initializer.
func validate(pb *onnxpb.ModelProto) error {
	g := pb.GetGraph()
	if g == nil {
		return fmt.Errorf("the model has no graph")
	}
	seen := map[string]bool{}
	for i, t := range g.GetInitializer() {
		if t.GetName() == "" {
			return fmt.Errorf("initializer #%d has no name", i)
		}
		if seen[t.GetName()] {
			return fmt.Errorf("initializer %q is defined twice", t.GetName())
		}
		seen[t.GetName()] = true
		if err := checkTensorProto(t); err != nil {
			return fmt.Errorf("initializer %q: %w", t.GetName(), err)
		}
	}
	if len(g.GetSparseInitializer()) > 0 {
		return fmt.Errorf("sparse initializers are not supported (%q)", g.GetSparseInitializer()[0].GetValues().GetName())
	}
	for i, n := range g.GetNode() {
		for _, a := range n.GetAttribute() {
			if kindOf(a) != onnxpb.AttributeProto_TENSOR {
				continue
			}
			if a.GetT() == nil {
				return fmt.Errorf("node %d (%s %q): attribute %q has no tensor", i, n.GetOpType(), n.GetName(), a.GetName())
			}
			if err := checkTensorProto(a.GetT()); err != nil {
				return fmt.Errorf("node %d (%s %q): attribute %q: %w", i, n.GetOpType(), n.GetName(), a.GetName(), err)
			}
		}
	}
	return nil
}

// kindOf returns an attribute's kind; files written before the type field
// existed (IR version 1) leave it UNDEFINED, and the kind is the one field set.
func kindOf(a *onnxpb.AttributeProto) onnxpb.AttributeProto_AttributeType {
	if k := a.GetType(); k != onnxpb.AttributeProto_UNDEFINED {
		return k
	}
	switch {
	case a.F != nil:
		return onnxpb.AttributeProto_FLOAT
	case a.I != nil:
		return onnxpb.AttributeProto_INT
	case a.S != nil:
		return onnxpb.AttributeProto_STRING
	case a.T != nil:
		return onnxpb.AttributeProto_TENSOR
	case a.G != nil:
		return onnxpb.AttributeProto_GRAPH
	case len(a.Floats) > 0:
		return onnxpb.AttributeProto_FLOATS
	case len(a.Ints) > 0:
		return onnxpb.AttributeProto_INTS
	case len(a.Strings) > 0:
		return onnxpb.AttributeProto_STRINGS
	case len(a.Tensors) > 0:
		return onnxpb.AttributeProto_TENSORS
	case len(a.Graphs) > 0:
		return onnxpb.AttributeProto_GRAPHS
	}
	return onnxpb.AttributeProto_UNDEFINED
}

// onnxGoAttr reports whether onnx-go v0.5.0 converts the attribute: it
// returns an error for graphs, lists of tensors and graphs, and the newer
// kinds, returns struct{}{} for an untyped attribute, and decodes a tensor
// only as well as it decodes initializers (see onnxGoReads).
func onnxGoAttr(a *onnxpb.AttributeProto) bool {
	switch a.GetType() {
	case onnxpb.AttributeProto_FLOAT, onnxpb.AttributeProto_INT, onnxpb.AttributeProto_STRING,
		onnxpb.AttributeProto_FLOATS, onnxpb.AttributeProto_INTS, onnxpb.AttributeProto_STRINGS:
		return true
	case onnxpb.AttributeProto_TENSOR:
		return onnxGoReads(a.GetT())
	}
	return false
}

// runOnnxGo decodes the model with onnx-go into a recorder. onnx-go gets a
// copy of the graph that leaves out what it cannot handle, so that one such
// part does not stop it for the whole file:
//   - the types of graph inputs, outputs and value_info (it allocates a dense
//     tensor for every declared shape, rejects non-tensor and float16 types,
//     and drops symbolic dimensions): gnaudit reads them from onnxpb;
//   - initializers and tensor attributes it does not decode (onnxGoReads);
//   - attributes of kinds it does not convert (onnxGoAttr).
//
// A decoder error or panic is caught; the operations recorded before it are
// used and the rest is read from onnxpb.
func runOnnxGo(pb *onnxpb.ModelProto, rep *Report) (rec *recorder) {
	g := pb.GetGraph()
	if len(g.GetNode()) == 0 || len(g.GetOutput()) == 0 {
		rep.fallback("onnx-go rejects graphs without nodes or outputs: whole graph read from onnxpb")
		return nil
	}
	cg := &onnxpb.GraphProto{Name: g.Name}
	names := func(vs []*onnxpb.ValueInfoProto) []*onnxpb.ValueInfoProto {
		out := make([]*onnxpb.ValueInfoProto, len(vs))
		for i, v := range vs {
			out[i] = &onnxpb.ValueInfoProto{Name: v.Name}
		}
		return out
	}
	cg.Input, cg.Output, cg.ValueInfo = names(g.GetInput()), names(g.GetOutput()), names(g.GetValueInfo())
	for _, t := range g.GetInitializer() {
		if onnxGoReads(t) {
			cg.Initializer = append(cg.Initializer, t)
		} else {
			rep.fallback("initializer %q (%v, dims %v): read from onnxpb (onnx-go does not decode it)",
				t.GetName(), ir.DataType(t.GetDataType()), t.GetDims())
		}
	}
	for _, n := range g.GetNode() {
		keep := n.GetAttribute()
		for _, a := range n.GetAttribute() {
			if !onnxGoAttr(a) {
				keep = nil
				break
			}
		}
		if keep == nil && len(n.GetAttribute()) > 0 {
			for _, a := range n.GetAttribute() {
				if onnxGoAttr(a) {
					keep = append(keep, a)
				} else {
					rep.fallback("node %s %q: attribute %q (%v) read from onnxpb (onnx-go does not convert it)",
						n.GetOpType(), n.GetName(), a.GetName(), kindOf(a))
				}
			}
		}
		cg.Node = append(cg.Node, &onnxpb.NodeProto{Input: n.GetInput(), Output: n.GetOutput(), Name: n.Name,
			OpType: n.OpType, Domain: n.Domain, Attribute: keep})
	}
	cp := &onnxpb.ModelProto{IrVersion: pb.IrVersion, OpsetImport: pb.GetOpsetImport(), Graph: cg}
	data, err := proto.Marshal(cp)
	if err != nil {
		rep.fallback("cannot re-encode the graph for onnx-go (%v): whole graph read from onnxpb", err)
		return nil
	}
	rec = newRecorder()
	err = func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("onnx-go panicked: %v", r)
			}
		}()
		return onnxgo.NewModel(rec).UnmarshalBinary(data)
	}()
	if err != nil {
		rep.fallback("onnx-go stopped after %d of %d nodes (%v): the rest read from onnxpb", len(rec.ops), len(g.GetNode()), err)
	} else {
		rep.OnnxGo = true
	}
	return rec
}

// build assembles the ir.Model from the protobuf and what onnx-go recorded.
func build(pb *onnxpb.ModelProto, rec *recorder, rep *Report) (*ir.Model, error) {
	g := pb.GetGraph()
	m := &ir.Model{
		Producer:     strings.TrimSpace(pb.GetProducerName() + " " + pb.GetProducerVersion()),
		IRVersion:    pb.GetIrVersion(),
		ValueInfo:    map[string]ir.Value{},
		Initializers: map[string]*ir.Tensor{},
	}
	for _, o := range pb.GetOpsetImport() {
		if o.GetDomain() == "" || o.GetDomain() == "ai.onnx" {
			m.Opset = o.GetVersion()
		}
	}
	if m.Opset == 0 && len(pb.GetOpsetImport()) == 0 && pb.GetIrVersion() < 3 {
		m.Opset = 1 // before IR version 3 there were no opset imports: opset 1
	}

	// Initializers: the tensors onnx-go decoded, the others from onnxpb.
	goTensors := map[string]tensor.Tensor{}
	if rec != nil {
		for _, v := range rec.order {
			if v.t != nil {
				goTensors[v.name] = v.t
			}
		}
	}
	for _, tp := range g.GetInitializer() {
		var t *ir.Tensor
		if gt, ok := goTensors[tp.GetName()]; ok && onnxGoReads(tp) {
			var err error
			if t, err = tensorFromGorgonia(gt, tp); err != nil {
				rep.fallback("initializer %q: %v: read from onnxpb", tp.GetName(), err)
				t = nil
			} else {
				rep.OnnxGoTensors++
			}
		} else if rec != nil && onnxGoReads(tp) {
			rep.fallback("initializer %q: onnx-go did not deliver it: read from onnxpb", tp.GetName())
		}
		if t == nil {
			var err error
			if t, err = tensorFromProto(tp); err != nil {
				return nil, fmt.Errorf("initializer %q: %w", tp.GetName(), err)
			}
		}
		m.Initializers[t.Name] = t
		m.InitOrder = append(m.InitOrder, t.Name)
	}

	// Nodes: operator, inputs, outputs and attributes from onnx-go where it
	// recorded the node consistently with the file, else from onnxpb; names
	// and domains always from onnxpb (onnx-go does not pass them on).
	for k, np := range g.GetNode() {
		n := &ir.Node{Name: np.GetName(), OpType: np.GetOpType(), Domain: np.GetDomain()}
		if n.Domain == "ai.onnx" {
			n.Domain = ""
		}
		var op *recordedOp
		if rec != nil && k < len(rec.ops) {
			op = &rec.ops[k]
		}
		if op != nil {
			if err := fromOnnxGo(n, np, op); err != nil {
				rep.fallback("node %d (%s %q): %v: read from onnxpb", k, np.GetOpType(), np.GetName(), err)
				op = nil
			} else {
				rep.OnnxGoNodes++
			}
		}
		if op == nil {
			n.Inputs = append([]string{}, np.GetInput()...)
			n.Outputs = append([]string{}, np.GetOutput()...)
			n.Attrs = map[string]ir.Attr{}
		}
		// Attributes onnx-go did not convert (all of them without onnx-go).
		for _, a := range np.GetAttribute() {
			if _, done := n.Attrs[a.GetName()]; done {
				continue
			}
			at, err := attrFromProto(a)
			if err != nil {
				return nil, fmt.Errorf("node %d (%s %q): attribute %q: %w", k, np.GetOpType(), np.GetName(), a.GetName(), err)
			}
			n.Attrs[a.GetName()] = at
		}
		m.Nodes = append(m.Nodes, n)
	}

	// Graph inputs (the initializers among them are parameters, not data),
	// outputs and declared intermediate shapes: onnxpb only.
	for _, v := range g.GetInput() {
		if _, isInit := m.Initializers[v.GetName()]; !isInit {
			m.Inputs = append(m.Inputs, valueFromProto(v))
		}
	}
	for _, v := range g.GetOutput() {
		m.Outputs = append(m.Outputs, valueFromProto(v))
	}
	for _, v := range g.GetValueInfo() {
		m.ValueInfo[v.GetName()] = valueFromProto(v)
	}

	nameNodes(m)
	if err := sortNodes(m); err != nil {
		return nil, err
	}
	// The trainable rule is per operator: the operator registry
	// (auditor/graph) registers it.
	rule, ok := ir.RegisteredParamRule()
	if !ok {
		return nil, errors.New("no trainable-parameter rule registered (a program that decodes models links auditor/graph)")
	}
	m.Trainable = rule.Trainable(m)
	return m, nil
}

// fromOnnxGo fills a node from onnx-go's record, checking it against the
// NodeProto it came from.
func fromOnnxGo(n *ir.Node, np *onnxpb.NodeProto, op *recordedOp) error {
	if op.op.Name != np.GetOpType() {
		return fmt.Errorf("onnx-go recorded operator %q", op.op.Name)
	}
	for _, o := range op.outputs {
		n.Outputs = append(n.Outputs, o.name)
	}
	if !slices.Equal(n.Outputs, np.GetOutput()) {
		return fmt.Errorf("onnx-go recorded outputs %q, the file has %q", n.Outputs, np.GetOutput())
	}
	ins, ok := op.inputs()
	switch {
	case !ok && len(np.GetOutput()) == 0:
		// onnx-go adds no edges for a node without outputs: its inputs are
		// known only from the file.
		ins = append([]string{}, np.GetInput()...)
	case !ok:
		return fmt.Errorf("onnx-go recorded an incomplete input list")
	case len(np.GetInput()) == 0 && len(ins) == 1 && ins[0] == np.GetName()+"/input":
		// onnx-go gives an input-less node (Constant) a fake input value.
		ins = []string{}
	}
	if !slices.Equal(ins, np.GetInput()) {
		return fmt.Errorf("onnx-go recorded inputs %q, the file has %q", ins, np.GetInput())
	}
	n.Inputs = ins
	n.Attrs = map[string]ir.Attr{}
	pbAttrs := map[string]*onnxpb.AttributeProto{}
	for _, a := range np.GetAttribute() {
		pbAttrs[a.GetName()] = a
	}
	for name, v := range op.op.Attributes {
		pa, ok := pbAttrs[name]
		if !ok {
			return fmt.Errorf("onnx-go recorded attribute %q that the file lacks", name)
		}
		a, err := attrFromOnnxGo(v, pa)
		if err != nil {
			return fmt.Errorf("attribute %q: %w", name, err)
		}
		n.Attrs[name] = a
	}
	return nil
}

// attrFromOnnxGo converts an attribute value as onnx-go gives it; pa is the
// attribute in the file, which must be of the same kind.
func attrFromOnnxGo(v any, pa *onnxpb.AttributeProto) (ir.Attr, error) {
	var a ir.Attr
	var want onnxpb.AttributeProto_AttributeType
	switch x := v.(type) {
	case float32:
		a, want = ir.Attr{Kind: ir.AttrFloat, Float: x}, onnxpb.AttributeProto_FLOAT
	case int64:
		a, want = ir.Attr{Kind: ir.AttrInt, Int: x}, onnxpb.AttributeProto_INT
	case string:
		a, want = ir.Attr{Kind: ir.AttrString, String: x}, onnxpb.AttributeProto_STRING
	case []float32:
		a, want = ir.Attr{Kind: ir.AttrFloats, Floats: append([]float32{}, x...)}, onnxpb.AttributeProto_FLOATS
	case []int64:
		a, want = ir.Attr{Kind: ir.AttrInts, Ints: append([]int64{}, x...)}, onnxpb.AttributeProto_INTS
	case []string:
		a, want = ir.Attr{Kind: ir.AttrStrings, Strings: append([]string{}, x...)}, onnxpb.AttributeProto_STRINGS
	case tensor.Tensor:
		t, err := tensorFromGorgonia(x, pa.GetT())
		if err != nil {
			return a, err
		}
		a, want = ir.Attr{Kind: ir.AttrTensor, Tensor: t}, onnxpb.AttributeProto_TENSOR
	default:
		return a, fmt.Errorf("onnx-go gave a value of type %T", v)
	}
	if kindOf(pa) != want {
		return a, fmt.Errorf("onnx-go gave a %v, the file has a %v", want, kindOf(pa))
	}
	return a, nil
}

// attrFromProto converts an attribute with gnaudit's own reader.
func attrFromProto(pa *onnxpb.AttributeProto) (ir.Attr, error) {
	k := kindOf(pa)
	switch k {
	case onnxpb.AttributeProto_FLOAT:
		return ir.Attr{Kind: ir.AttrFloat, Float: pa.GetF()}, nil
	case onnxpb.AttributeProto_INT:
		return ir.Attr{Kind: ir.AttrInt, Int: pa.GetI()}, nil
	case onnxpb.AttributeProto_STRING:
		return ir.Attr{Kind: ir.AttrString, String: string(pa.GetS())}, nil
	case onnxpb.AttributeProto_FLOATS:
		return ir.Attr{Kind: ir.AttrFloats, Floats: append([]float32{}, pa.GetFloats()...)}, nil
	case onnxpb.AttributeProto_INTS:
		return ir.Attr{Kind: ir.AttrInts, Ints: append([]int64{}, pa.GetInts()...)}, nil
	case onnxpb.AttributeProto_STRINGS:
		ss := make([]string, len(pa.GetStrings()))
		for i, s := range pa.GetStrings() {
			ss[i] = string(s)
		}
		return ir.Attr{Kind: ir.AttrStrings, Strings: ss}, nil
	case onnxpb.AttributeProto_TENSOR:
		t, err := tensorFromProto(pa.GetT())
		if err != nil {
			return ir.Attr{}, err
		}
		return ir.Attr{Kind: ir.AttrTensor, Tensor: t}, nil
	}
	return ir.Attr{Kind: ir.AttrOther, String: k.String()}, nil
}

// valueFromProto converts a ValueInfoProto. Symbolic dimensions keep their
// name (Value -1); dimensions with neither value nor name are unknown (-1).
func valueFromProto(v *onnxpb.ValueInfoProto) ir.Value {
	out := ir.Value{Name: v.GetName()}
	tt := v.GetType().GetTensorType()
	if tt == nil {
		return out
	}
	out.Type = ir.DataType(tt.GetElemType())
	if tt.GetShape() == nil {
		return out
	}
	out.Shape = make([]ir.Dim, len(tt.GetShape().GetDim()))
	for i, d := range tt.GetShape().GetDim() {
		switch x := d.GetValue().(type) {
		case *onnxpb.TensorShapeProto_Dimension_DimValue:
			out.Shape[i] = ir.Dim{Value: x.DimValue}
		case *onnxpb.TensorShapeProto_Dimension_DimParam:
			out.Shape[i] = ir.Dim{Value: -1, Param: x.DimParam}
		default:
			out.Shape[i] = ir.Dim{Value: -1}
		}
	}
	return out
}

// nameNodes gives every node a unique name: an empty name becomes
// "<OpType>_<index>" (index: the node's position in the file), and a name
// that an earlier node already uses gets "_<index>" appended.
func nameNodes(m *ir.Model) {
	given := map[string]bool{}
	for _, n := range m.Nodes {
		given[n.Name] = true
	}
	used := map[string]bool{}
	for i, n := range m.Nodes {
		name := n.Name
		if name == "" {
			name = fmt.Sprintf("%s_%d", n.OpType, i)
		}
		for used[name] || (name != n.Name && given[name]) {
			name = fmt.Sprintf("%s_%d", name, i)
		}
		used[name] = true
		n.Name = name
	}
}

// sortNodes orders the nodes topologically, keeping the file order among
// nodes that are ready together. A value produced twice or a cycle is an
// error. Inputs that nothing defines are left for the executor (graph.Check) to report.
func sortNodes(m *ir.Model) error {
	producer := map[string]int{}
	for i, n := range m.Nodes {
		for _, o := range n.Outputs {
			if o == "" {
				continue
			}
			if j, dup := producer[o]; dup {
				return fmt.Errorf("value %q is produced by both node %q and node %q", o, m.Nodes[j].Name, n.Name)
			}
			if _, isInit := m.Initializers[o]; isInit {
				return fmt.Errorf("node %q (%s) writes to initializer %q", n.Name, n.OpType, o)
			}
			producer[o] = i
		}
	}
	pending := make([]int, len(m.Nodes))
	users := make([][]int, len(m.Nodes))
	for i, n := range m.Nodes {
		deps := map[int]bool{}
		for _, in := range n.Inputs {
			if j, ok := producer[in]; ok && in != "" {
				deps[j] = true
			}
		}
		for j := range deps {
			users[j] = append(users[j], i)
		}
		pending[i] = len(deps)
	}
	ready := &intHeap{}
	for i, p := range pending {
		if p == 0 {
			heap.Push(ready, i)
		}
	}
	sorted := make([]*ir.Node, 0, len(m.Nodes))
	for ready.Len() > 0 {
		i := heap.Pop(ready).(int)
		sorted = append(sorted, m.Nodes[i])
		for _, u := range users[i] {
			if pending[u]--; pending[u] == 0 {
				heap.Push(ready, u)
			}
		}
	}
	if len(sorted) != len(m.Nodes) {
		for i, p := range pending {
			if p > 0 {
				return fmt.Errorf("the graph has a cycle through node %q (%s)", m.Nodes[i].Name, m.Nodes[i].OpType)
			}
		}
	}
	m.Nodes = sorted
	return nil
}

type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
