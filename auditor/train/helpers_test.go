package train

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/auditor/onnx"
	"github.com/gnaudit/gnaudit/internal/onnxpb"
)

// pbb builds small ONNX models (opset 13) for tests.
type pbb struct {
	nodes []*onnxpb.NodeProto
	inits []*onnxpb.TensorProto
	rng   *rand.Rand
	// raw stores float initializers as raw_data (else float_data).
	raw bool
}

func newPBB(seed uint64, raw bool) *pbb {
	return &pbb{rng: rand.New(rand.NewPCG(seed, 7)), raw: raw}
}

// tensor adds a float initializer with the given values.
func (b *pbb) tensor(name string, dims []int64, vals []float32) string {
	t := &onnxpb.TensorProto{Name: proto.String(name), Dims: dims, DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT))}
	if b.raw {
		t.RawData = make([]byte, 4*len(vals))
		for i, v := range vals {
			binary.LittleEndian.PutUint32(t.RawData[4*i:], math.Float32bits(v))
		}
	} else {
		t.FloatData = append([]float32{}, vals...)
	}
	b.inits = append(b.inits, t)
	return name
}

// normal adds a float initializer N(0, std²).
func (b *pbb) normal(name string, std float64, dims ...int64) string {
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(b.rng.NormFloat64() * std)
	}
	return b.tensor(name, dims, v)
}

// fill adds a constant float initializer.
func (b *pbb) fill(name string, c float32, dims ...int64) string {
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = c
	}
	return b.tensor(name, dims, v)
}

func (b *pbb) node(op, name string, ins []string, out string, attrs ...*onnxpb.AttributeProto) string {
	if out == "" {
		out = name + "_out"
	}
	b.nodes = append(b.nodes, &onnxpb.NodeProto{Name: proto.String(name), OpType: proto.String(op), Input: ins, Output: []string{out}, Attribute: attrs})
	return out
}

func valueInfo(name string, dims ...int64) *onnxpb.ValueInfoProto {
	shape := &onnxpb.TensorShapeProto{}
	for i, d := range dims {
		dim := &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}}
		if i == 0 {
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "batch"}
		}
		shape.Dim = append(shape.Dim, dim)
	}
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Shape: shape}}}}
}

// model wraps the nodes into a model with input "x" and output "logits"
// (dims without the batch).
func (b *pbb) model(in, out []int64) *onnxpb.ModelProto {
	return &onnxpb.ModelProto{
		IrVersion:    proto.Int64(7),
		ProducerName: proto.String("gnaudit-train-test"),
		OpsetImport:  []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		Graph: &onnxpb.GraphProto{
			Name:        proto.String("test"),
			Node:        b.nodes,
			Initializer: b.inits,
			Input:       []*onnxpb.ValueInfoProto{valueInfo("x", append([]int64{-1}, in...)...)},
			Output:      []*onnxpb.ValueInfoProto{valueInfo("logits", append([]int64{-1}, out...)...)},
		},
	}
}

// tinyCNN: Conv(1→8, 5×5, stride 2, pad 2) → BN → Relu → MaxPool 2 →
// Flatten → Gemm(392 → 10), for 1×28×28 inputs.
func tinyCNN(seed uint64, raw bool) *onnxpb.ModelProto {
	b := newPBB(seed, raw)
	x := b.node("Conv", "conv", []string{"x", b.normal("conv.weight", math.Sqrt(2.0/25), 8, 1, 5, 5), b.fill("conv.bias", 0, 8)}, "",
		onnxpb.IntsAttr("kernel_shape", 5, 5), onnxpb.IntsAttr("strides", 2, 2), onnxpb.IntsAttr("pads", 2, 2, 2, 2))
	x = b.node("BatchNormalization", "bn", []string{x, b.fill("bn.scale", 1, 8), b.fill("bn.bias", 0, 8),
		b.normal("bn.mean", 0.1, 8), b.fill("bn.var", 1.5, 8)}, "", onnxpb.FloatAttr("epsilon", 1e-5))
	x = b.node("Relu", "relu", []string{x}, "")
	x = b.node("MaxPool", "pool", []string{x}, "", onnxpb.IntsAttr("kernel_shape", 2, 2), onnxpb.IntsAttr("strides", 2, 2))
	x = b.node("Flatten", "flatten", []string{x}, "", onnxpb.IntAttr("axis", 1))
	b.node("Gemm", "fc", []string{x, b.normal("fc.weight", math.Sqrt(1.0/392), 10, 392), b.fill("fc.bias", 0, 10)}, "logits", onnxpb.IntAttr("transB", 1))
	return b.model([]int64{1, 28, 28}, []int64{10})
}

// writeModel writes pb to dir/name and loads it back with onnx.Load.
func writeModel(t testing.TB, dir, name string, pb *onnxpb.ModelProto) (string, *ir.Model) {
	t.Helper()
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(pb)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, m
}
