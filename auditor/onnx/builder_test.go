package onnx

import (
	"testing"

	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/internal/onnxpb"
	"google.golang.org/protobuf/proto"
)

// gb builds small ONNX models for the tests.
type gb struct {
	m *onnxpb.ModelProto
	g *onnxpb.GraphProto
}

func newGraph(opset int64) *gb {
	g := &onnxpb.GraphProto{Name: proto.String("test")}
	m := &onnxpb.ModelProto{IrVersion: proto.Int64(7), ProducerName: proto.String("gnaudit-test"),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(opset)}}, Graph: g}
	return &gb{m: m, g: g}
}

// valueInfo makes a float tensor value; dims are int (fixed), string
// (symbolic) or nil (unknown).
func valueInfo(name string, dt ir.DataType, dims ...any) *onnxpb.ValueInfoProto {
	sh := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		dim := &onnxpb.TensorShapeProto_Dimension{}
		switch x := d.(type) {
		case int:
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(x)}
		case string:
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: x}
		}
		sh.Dim = append(sh.Dim, dim)
	}
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(dt)), Shape: sh}}}}
}

func (b *gb) input(name string, dims ...any) *gb {
	b.g.Input = append(b.g.Input, valueInfo(name, ir.Float, dims...))
	return b
}

func (b *gb) output(name string) *gb {
	b.g.Output = append(b.g.Output, valueInfo(name, ir.Float))
	return b
}

func tensorF(name string, dims []int64, v ...float32) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: proto.String(name), DataType: proto.Int32(int32(ir.Float)), Dims: dims, FloatData: v}
}

func tensorI(name string, dims []int64, v ...int64) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: proto.String(name), DataType: proto.Int32(int32(ir.Int64)), Dims: dims, Int64Data: v}
}

// zeros returns n float32 values 0.5, 1.5, ...
func seq(n int) []float32 {
	v := make([]float32, n)
	for k := range v {
		v[k] = float32(k) + 0.5
	}
	return v
}

func (b *gb) initF(name string, dims ...int64) *gb {
	n := 1
	for _, d := range dims {
		n *= int(d)
	}
	b.g.Initializer = append(b.g.Initializer, tensorF(name, dims, seq(n)...))
	return b
}

func (b *gb) initI(name string, v ...int64) *gb {
	b.g.Initializer = append(b.g.Initializer, tensorI(name, []int64{int64(len(v))}, v...))
	return b
}

func (b *gb) init(t *onnxpb.TensorProto) *gb {
	b.g.Initializer = append(b.g.Initializer, t)
	return b
}

func (b *gb) node(op string, ins, outs []string, attrs ...*onnxpb.AttributeProto) *gb {
	b.g.Node = append(b.g.Node, &onnxpb.NodeProto{OpType: proto.String(op), Input: ins, Output: outs, Attribute: attrs})
	return b
}

func (b *gb) named(name string) *gb {
	b.g.Node[len(b.g.Node)-1].Name = proto.String(name)
	return b
}

func (b *gb) bytes(t testing.TB) []byte {
	t.Helper()
	data, err := proto.Marshal(b.m)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// decode marshals and decodes the model, failing the test on error.
func (b *gb) decode(t testing.TB) (*ir.Model, *Report) {
	t.Helper()
	m, rep, err := DecodeWithReport(b.bytes(t), "test.onnx")
	if err != nil {
		t.Fatal(err)
	}
	return m, rep
}
