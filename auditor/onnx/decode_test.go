package onnx

import (
	"encoding/binary"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/internal/onnxpb"
	onnxgo "github.com/owulveryck/onnx-go"
	"gonum.org/v1/gonum/graph"
	"google.golang.org/protobuf/proto"
)

func rawF16(v ...uint16) []byte {
	b := make([]byte, 2*len(v))
	for k, x := range v {
		binary.LittleEndian.PutUint16(b[2*k:], x)
	}
	return b
}

// TestDecodeFallbacks builds a model with the parts onnx-go v0.5.0 cannot
// decode and checks that they are read from the protobuf, with the values
// the ONNX format defines, while onnx-go still decodes the rest.
func TestDecodeFallbacks(t *testing.T) {
	m, rep := fallbackModel().decode(t)
	testFallbacks(t, m, rep)
}

// fallbackModel has the parts onnx-go does not decode.
func fallbackModel() *gb {
	return newGraph(13).input("x", 4).output("y").output("z").
		init(&onnxpb.TensorProto{Name: proto.String("half"), DataType: proto.Int32(int32(ir.Float16)), Dims: []int64{4},
			RawData: rawF16(0x3C00, 0xC000, 0x0001, 0x7BFF)}). // 1, -2, 2^-24, 65504
		init(&onnxpb.TensorProto{Name: proto.String("empty"), DataType: proto.Int32(int32(ir.Float)), Dims: []int64{0}}).
		init(&onnxpb.TensorProto{Name: proto.String("u8"), DataType: proto.Int32(int32(ir.Uint8)), Dims: []int64{2}, Int32Data: []int32{200, 7}}).
		init(&onnxpb.TensorProto{Name: proto.String("i8"), DataType: proto.Int32(int32(ir.Int8)), Dims: []int64{2}, RawData: []byte{0xff, 0x05}}).
		init(tensorF("w", []int64{4}, 1, 2, 3, 4)).
		node("Constant", nil, []string{"mask"}, onnxpb.TensorAttr("value", &onnxpb.TensorProto{DataType: proto.Int32(int32(ir.Bool)),
			Dims: []int64{3}, RawData: []byte{1, 0, 1}})).named("boolconst").
		node("Mul", []string{"x", "x"}, []string{"sq"}).named("square").
		node("Clip", []string{"sq", "", "w"}, []string{"c"}).named("clip").
		node("Add", []string{"c", "half"}, []string{"y"}).named("add").
		node("If", []string{"mask"}, []string{"z"}, &onnxpb.AttributeProto{Name: proto.String("then_branch"),
			Type: onnxpb.AttributeProto_GRAPH.Enum(), G: &onnxpb.GraphProto{Name: proto.String("sub")}}).named("if").
		node("Relu", []string{"y"}, []string{"r"}, &onnxpb.AttributeProto{Name: proto.String("legacy"), I: proto.Int64(7)}).named("relu")
}

func testFallbacks(t *testing.T, m *ir.Model, rep *Report) {
	if !rep.OnnxGo || rep.OnnxGoNodes != 6 || rep.OnnxGoTensors != 1 {
		t.Errorf("report %+v: onnx-go should decode all 6 nodes and the float initializer", rep)
	}
	wantFallbacks := []string{`initializer "half"`, `initializer "empty"`, `initializer "u8"`, `initializer "i8"`,
		`node Constant "boolconst": attribute "value"`, `node If "if": attribute "then_branch" (GRAPH)`, `node Relu "relu": attribute "legacy" (INT)`}
	all := strings.Join(rep.Fallbacks, "\n")
	for _, w := range wantFallbacks {
		if !strings.Contains(all, w) {
			t.Errorf("fallbacks lack %q:\n%s", w, all)
		}
	}
	check := func(name string, got *ir.Tensor, want ir.Tensor) {
		t.Helper()
		if got == nil || got.Type != want.Type || !reflect.DeepEqual(got.Dims, want.Dims) ||
			!reflect.DeepEqual(got.F32, want.F32) || !reflect.DeepEqual(got.I64, want.I64) {
			t.Errorf("%s = %+v, want %+v", name, got, want)
		}
	}
	check("half", m.Initializers["half"], ir.Tensor{Type: ir.Float16, Dims: []int64{4}, F32: []float32{1, -2, float32(math.Ldexp(1, -24)), 65504}})
	check("empty", m.Initializers["empty"], ir.Tensor{Type: ir.Float, Dims: []int64{0}, F32: []float32{}})
	check("u8", m.Initializers["u8"], ir.Tensor{Type: ir.Uint8, Dims: []int64{2}, I64: []int64{200, 7}})
	check("i8", m.Initializers["i8"], ir.Tensor{Type: ir.Int8, Dims: []int64{2}, I64: []int64{-1, 5}})
	check("w", m.Initializers["w"], ir.Tensor{Type: ir.Float, Dims: []int64{4}, F32: []float32{1, 2, 3, 4}})
	nodes := map[string]*ir.Node{}
	for _, n := range m.Nodes {
		nodes[n.Name] = n
	}
	check("bool constant", nodes["boolconst"].Attrs["value"].Tensor, ir.Tensor{Type: ir.Bool, Dims: []int64{3}, I64: []int64{1, 0, 1}})
	if got := nodes["square"].Inputs; !reflect.DeepEqual(got, []string{"x", "x"}) {
		t.Errorf("Mul inputs %q, want [x x]", got)
	}
	if got := nodes["clip"].Inputs; !reflect.DeepEqual(got, []string{"sq", "", "w"}) {
		t.Errorf("Clip inputs %q, want [sq \"\" w]", got)
	}
	if at := nodes["if"].Attrs["then_branch"]; at.Kind != ir.AttrOther || at.String != "GRAPH" {
		t.Errorf("graph attribute = %+v, want AttrOther GRAPH", at)
	}
	if at := nodes["relu"].Attrs["legacy"]; at.Kind != ir.AttrInt || at.Int != 7 {
		t.Errorf("untyped attribute = %+v, want int 7", at)
	}
}

// TestDecodeOrderAndNames: nodes are sorted topologically (file order among
// ready nodes), unnamed ones get OpType_index, repeated names get a suffix.
func TestDecodeOrderAndNames(t *testing.T) {
	b := newGraph(13).input("x", 2).output("y").
		node("Relu", []string{"b"}, []string{"y"}).                 // 0: needs b
		node("Sigmoid", []string{"x"}, []string{"a"}).named("act"). // 1
		node("Tanh", []string{"a"}, []string{"b"}).named("act").    // 2: same name
		node("Identity", []string{"x"}, []string{"unused"})         // 3
	m, _ := b.decode(t)
	var got []string
	for _, n := range m.Nodes {
		got = append(got, n.Name+":"+n.OpType)
	}
	want := []string{"act:Sigmoid", "act_2:Tanh", "Relu_0:Relu", "Identity_3:Identity"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("nodes %q, want %q", got, want)
	}
}

// TestDecodeErrors: malformed files give errors that name the file (and the
// tensor or node at fault), never panics.
func TestDecodeErrors(t *testing.T) {
	good := newGraph(13).input("x", 2).output("y").initF("w", 2).node("Mul", []string{"x", "w"}, []string{"y"})
	cases := []struct {
		name string
		edit func(b *gb)
		data []byte
		want string
	}{
		{name: "not protobuf", data: []byte("\xff\xff\xff\xff garbage"), want: "not a valid ONNX file"},
		{name: "no graph", data: []byte{}, want: "the model has no graph"},
		{name: "raw data length", edit: func(b *gb) {
			b.g.Initializer[0].FloatData = nil
			b.g.Initializer[0].RawData = []byte{1, 2, 3, 4, 5}
		}, want: `initializer "w": raw data of 5 bytes is not a whole number of float elements`},
		{name: "count mismatch", edit: func(b *gb) { b.g.Initializer[0].FloatData = []float32{1, 2, 3} }, want: `initializer "w": holds 3 values but dims [2] imply 2`},
		{name: "negative dim", edit: func(b *gb) { b.g.Initializer[0].Dims = []int64{-2} }, want: `initializer "w": dimension 0 is negative`},
		{name: "huge dims", edit: func(b *gb) { b.g.Initializer[0].Dims = []int64{1 << 40, 1 << 40} }, want: `initializer "w": dims`},
		{name: "no name", edit: func(b *gb) { b.g.Initializer[0].Name = nil }, want: "initializer #0 has no name"},
		{name: "duplicate", edit: func(b *gb) { b.initF("w", 2) }, want: `initializer "w" is defined twice`},
		{name: "external data", edit: func(b *gb) {
			b.g.Initializer[0].DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
		}, want: "external tensor data is not supported"},
		{name: "undefined type", edit: func(b *gb) { b.g.Initializer[0].DataType = proto.Int32(0) }, want: "element type is undefined"},
		{name: "produced twice", edit: func(b *gb) { b.node("Relu", []string{"x"}, []string{"y"}) }, want: `value "y" is produced by both`},
		{name: "writes an initializer", edit: func(b *gb) { b.node("Relu", []string{"x"}, []string{"w"}) }, want: `writes to initializer "w"`},
		{name: "cycle", edit: func(b *gb) {
			b.node("Relu", []string{"q"}, []string{"p"}).node("Relu", []string{"p"}, []string{"q"})
		}, want: "the graph has a cycle"},
		{name: "tensor attribute without tensor", edit: func(b *gb) {
			b.node("Constant", nil, []string{"k"}, &onnxpb.AttributeProto{Name: proto.String("value"), Type: onnxpb.AttributeProto_TENSOR.Enum()})
		}, want: `attribute "value" has no tensor`},
		{name: "sparse initializer", edit: func(b *gb) {
			b.g.SparseInitializer = []*onnxpb.SparseTensorProto{{Values: tensorF("sp", []int64{1}, 1)}}
		}, want: "sparse initializers are not supported"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := c.data
			if c.edit != nil {
				b := newGraph(13)
				b.m = proto.Clone(good.m).(*onnxpb.ModelProto)
				b.g = b.m.Graph
				c.edit(b)
				data = b.bytes(t)
			}
			m, err := Decode(data, "bad.onnx")
			if err == nil {
				t.Fatalf("decoded %+v, want an error", m)
			}
			if !strings.HasPrefix(err.Error(), "bad.onnx: ") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want bad.onnx: ...%s", err, c.want)
			}
		})
	}
}

// TestDecodeTruncated decodes every prefix of a real model: each gives a
// model or an error naming the file, never a panic.
func TestDecodeTruncated(t *testing.T) {
	data, err := os.ReadFile("testdata/tinycnn_opset13.onnx")
	if err != nil {
		t.Fatal(err)
	}
	errs := 0
	for n := 0; n < len(data); n++ {
		_, err := Decode(data[:n], "cut.onnx")
		if err != nil {
			errs++
			if !strings.HasPrefix(err.Error(), "cut.onnx: ") {
				t.Fatalf("prefix %d: error %q does not name the file", n, err)
			}
		}
	}
	if errs < len(data)/2 {
		t.Errorf("only %d of %d truncations rejected", errs, len(data))
	}
}

func TestLoadMissing(t *testing.T) {
	_, err := Load("testdata/does-not-exist.onnx")
	if err == nil || !strings.Contains(err.Error(), "testdata/does-not-exist.onnx") {
		t.Errorf("error %v, want one naming the file", err)
	}
}

// TestRecorderGraph: the recorder is a working gonum graph of the values
// as onnx-go builds it (edges from outputs to inputs, weight = index).
func TestRecorderGraph(t *testing.T) {
	data := newGraph(13).input("x", 2).input("z", 2).output("y").
		node("Sub", []string{"z", "x"}, []string{"y"}).bytes(t)
	rec := newRecorder()
	var _ graph.DirectedWeightedBuilder = rec
	if err := onnxgo.NewModel(rec).UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	byName := map[string]graph.Node{}
	for it := rec.Nodes(); it.Next(); {
		n := it.Node().(*valueNode)
		byName[n.GetName()] = n
	}
	y, x, z := byName["y"], byName["x"], byName["z"]
	if y == nil || x == nil || z == nil {
		t.Fatalf("nodes %v", byName)
	}
	if rec.From(y.ID()).Len() != 2 || rec.To(x.ID()).Len() != 1 || !rec.HasEdgeFromTo(y.ID(), z.ID()) || rec.HasEdgeFromTo(x.ID(), y.ID()) || !rec.HasEdgeBetween(x.ID(), y.ID()) {
		t.Errorf("graph structure wrong")
	}
	if e, ok := rec.Edge(y.ID(), x.ID()).(*valueEdge); !ok || e.Weight() != 1 {
		t.Errorf("edge y->x = %+v, want weight 1 (x is Sub's second input)", e)
	}
	if len(rec.ops) != 1 || rec.ops[0].op.Name != "Sub" {
		t.Errorf("ops %+v", rec.ops)
	}
	if ins, ok := rec.ops[0].inputs(); !ok || !reflect.DeepEqual(ins, []string{"z", "x"}) {
		t.Errorf("inputs %q", ins)
	}
}
