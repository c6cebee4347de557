// Package audittest writes small inputs for tests of gnaudit audit: a tiny
// ONNX classifier and a generated image data set in the MNIST layout, so that
// a whole audit runs in seconds without Debian's data files.
package audittest

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/proto"

	"github.com/gnaudit/gnaudit/internal/onnxpb"
	"github.com/gnaudit/gnaudit/models"
)

// Tiny model geometry: input [batch, 1, Side, Side], Classes logits.
const (
	Side    = 8
	Classes = 10
)

// TinyParams are the trainable parameters of TinyModel, in file order.
var TinyParams = []string{"conv.weight", "conv.bias", "fc.weight", "fc.bias"}

// TinyModel writes an opset-13 ONNX classifier to path: Conv (4 filters
// 3×3, pad 1) → Relu → MaxPool 2×2 → Flatten → Gemm (64 → 10, transB),
// input "input" [batch, 1, 8, 8], output "logits" [batch, 10]. Weights are
// drawn from N(0, 2/fan_in) with the given seed; biases are 0.1.
func TinyModel(path string, seed int64) error {
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	tensor := func(name string, dims []int64, fanIn int) *onnxpb.TensorProto {
		n := int64(1)
		for _, d := range dims {
			n *= d
		}
		raw := make([]byte, 4*n)
		for i := range n {
			v := float32(0.1)
			if fanIn > 0 {
				v = float32(rng.NormFloat64() * math.Sqrt(2/float64(fanIn)))
			}
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
		}
		return &onnxpb.TensorProto{Name: proto.String(name), Dims: dims,
			DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), RawData: raw}
	}
	node := func(op, name string, in []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
		return &onnxpb.NodeProto{Name: proto.String(name), OpType: proto.String(op), Input: in, Output: []string{name}, Attribute: attrs}
	}
	value := func(name string, dims ...int64) *onnxpb.ValueInfoProto {
		shape := &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{
			{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "batch"}}}}
		for _, d := range dims {
			shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
		}
		return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Shape: shape}}}}
	}
	const filters = 4
	flat := int64(filters * (Side / 2) * (Side / 2))
	g := &onnxpb.GraphProto{
		Name: proto.String("tiny"),
		Node: []*onnxpb.NodeProto{
			node("Conv", "conv", []string{"input", "conv.weight", "conv.bias"},
				onnxpb.IntsAttr("kernel_shape", 3, 3), onnxpb.IntsAttr("pads", 1, 1, 1, 1), onnxpb.IntsAttr("strides", 1, 1)),
			node("Relu", "relu", []string{"conv"}),
			node("MaxPool", "pool", []string{"relu"}, onnxpb.IntsAttr("kernel_shape", 2, 2), onnxpb.IntsAttr("strides", 2, 2)),
			node("Flatten", "flatten", []string{"pool"}, onnxpb.IntAttr("axis", 1)),
			{Name: proto.String("fc"), OpType: proto.String("Gemm"), Input: []string{"flatten", "fc.weight", "fc.bias"},
				Output: []string{"logits"}, Attribute: []*onnxpb.AttributeProto{onnxpb.IntAttr("transB", 1)}},
		},
		Initializer: []*onnxpb.TensorProto{
			tensor("conv.weight", []int64{filters, 1, 3, 3}, 9),
			tensor("conv.bias", []int64{filters}, 0),
			tensor("fc.weight", []int64{Classes, flat}, int(flat)),
			tensor("fc.bias", []int64{Classes}, 0),
		},
		Input:  []*onnxpb.ValueInfoProto{value("input", 1, Side, Side)},
		Output: []*onnxpb.ValueInfoProto{value("logits", Classes)},
	}
	m := &onnxpb.ModelProto{
		IrVersion:    proto.Int64(7),
		OpsetImport:  []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		ProducerName: proto.String("audittest"),
		Graph:        g,
	}
	return models.Write(path, m)
}

// Image returns generated sample i of a data set: class i mod 10; its 8×8
// grey image (0..255) has a bright horizontal bar at row (class mod 8), a
// bright pixel at column class/2 of row 0 and seeded uniform noise.
func Image(seed int64, i int) ([]byte, byte) {
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(i)))
	class := i % Classes
	img := make([]byte, Side*Side)
	for p := range img {
		img[p] = byte(rng.IntN(90))
	}
	row := class % Side
	for c := 0; c < Side; c++ {
		img[row*Side+c] = byte(170 + rng.IntN(80))
	}
	img[class/2] = 255
	return img, byte(class)
}

// WriteMNIST writes an MNIST-layout data set of 8×8 grey images to dir:
// train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz (train samples)
// and t10k-*.gz (test samples), as Debian's dataset-fashion-mnist does.
func WriteMNIST(dir string, train, test int, seed int64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, split := range []struct {
		prefix string
		n      int
		seed   int64
	}{{"train", train, seed}, {"t10k", test, seed + 1}} {
		var imgs, labs []byte
		for i := range split.n {
			img, lab := Image(split.seed, i)
			imgs = append(imgs, img...)
			labs = append(labs, lab)
		}
		if err := writeIDX(filepath.Join(dir, split.prefix+"-images-idx3-ubyte.gz"), []int{split.n, Side, Side}, imgs); err != nil {
			return err
		}
		if err := writeIDX(filepath.Join(dir, split.prefix+"-labels-idx1-ubyte.gz"), []int{split.n}, labs); err != nil {
			return err
		}
	}
	return nil
}

// writeIDX writes unsigned bytes as a gzipped IDX file.
func writeIDX(path string, dims []int, payload []byte) error {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	hdr := []byte{0, 0, 0x08, byte(len(dims))}
	for _, d := range dims {
		hdr = binary.BigEndian.AppendUint32(hdr, uint32(d))
	}
	if _, err := zw.Write(hdr); err != nil {
		return err
	}
	if _, err := zw.Write(payload); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("audittest: %w", err)
	}
	return nil
}
