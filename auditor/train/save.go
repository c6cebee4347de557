package train

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/gnaudit/gnaudit/auditor/atomicfile"
	"github.com/gnaudit/gnaudit/auditor/float16"
	"github.com/gnaudit/gnaudit/internal/onnxpb"
)

// SaveONNX writes the ONNX file src to dst with the initializers named in
// params replaced by the given values: the same graph, nodes, attributes,
// metadata and other initializers (the protobuf is decoded and re-encoded,
// unknown fields included, so the file means the same although its bytes
// may be ordered differently). Each replaced tensor keeps its name, dims,
// type and storage form: raw_data (little-endian) stays raw_data,
// float_data/double_data/int32_data stay typed fields. Values are rounded to
// the tensor's type (float32, float64, float16 or bfloat16, to nearest
// even). dst may equal src; it is written through a temporary file in its
// directory and renamed into place.
func SaveONNX(src, dst string, params []Param) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("train: save: %w", err)
	}
	pb := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(b, pb); err != nil {
		return fmt.Errorf("train: save: %s is not a valid ONNX file: %w", src, err)
	}
	if err := UpdateInitializers(pb, params); err != nil {
		return fmt.Errorf("train: save %s (from %s): %w", dst, src, err)
	}
	out, err := proto.MarshalOptions{Deterministic: true}.Marshal(pb)
	if err != nil {
		return fmt.Errorf("train: save: encode %s: %w", dst, err)
	}
	return writeFile(dst, out)
}

// writeFile writes b to path atomically (atomicfile).
func writeFile(path string, b []byte) error {
	if err := atomicfile.WriteFile(path, b); err != nil {
		return fmt.Errorf("train: save: %w", err)
	}
	return nil
}

// UpdateInitializers replaces, in place, the data of pb's graph
// initializers named in params (see SaveONNX). Every name must be a float
// initializer (FLOAT, DOUBLE, FLOAT16 or BFLOAT16) stored in the file (not
// as external data) with as many elements as the parameter, and every value
// must be finite; on error pb is left unchanged.
func UpdateInitializers(pb *onnxpb.ModelProto, params []Param) error {
	g := pb.GetGraph()
	if g == nil {
		return errors.New("the model has no graph")
	}
	byName := map[string]*onnxpb.TensorProto{}
	for _, t := range g.GetInitializer() {
		byName[t.GetName()] = t
	}
	type change struct {
		t   *onnxpb.TensorProto
		new *onnxpb.TensorProto
	}
	var changes []change
	for _, p := range params {
		t, ok := byName[p.Name]
		if !ok {
			return fmt.Errorf("no initializer %q in the graph", p.Name)
		}
		nt, err := encodeTensor(t, p)
		if err != nil {
			return fmt.Errorf("initializer %q: %w", p.Name, err)
		}
		changes = append(changes, change{t, nt})
	}
	for _, c := range changes {
		c.t.RawData, c.t.FloatData, c.t.DoubleData, c.t.Int32Data =
			c.new.RawData, c.new.FloatData, c.new.DoubleData, c.new.Int32Data
	}
	return nil
}

// encodeTensor returns the data fields of t holding p's values, in t's type
// and storage form.
func encodeTensor(t *onnxpb.TensorProto, p Param) (*onnxpb.TensorProto, error) {
	if t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL || len(t.GetExternalData()) > 0 {
		return nil, errors.New("stored as external data, which is not supported")
	}
	n := int64(1)
	for _, d := range t.GetDims() {
		n *= d
	}
	if n != int64(len(p.Value)) {
		return nil, fmt.Errorf("dims %v hold %d values, the parameter has %d", t.GetDims(), n, len(p.Value))
	}
	if p.Shape != nil {
		dims := make([]int64, len(p.Shape))
		for i, d := range p.Shape {
			dims[i] = int64(d)
		}
		if !slices.Equal(dims, t.GetDims()) {
			return nil, fmt.Errorf("dims %v, the parameter's shape %v", t.GetDims(), p.Shape)
		}
	}
	for i, v := range p.Value {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("value %d is %v; refusing to save a non-finite weight", i, v)
		}
	}
	raw := t.RawData != nil
	le := binary.LittleEndian
	out := &onnxpb.TensorProto{}
	switch dt := onnxpb.TensorProto_DataType(t.GetDataType()); dt {
	case onnxpb.TensorProto_FLOAT:
		if raw {
			out.RawData = make([]byte, 4*n)
			for i, v := range p.Value {
				le.PutUint32(out.RawData[4*i:], math.Float32bits(float32(v)))
			}
		} else {
			out.FloatData = make([]float32, n)
			for i, v := range p.Value {
				out.FloatData[i] = float32(v)
			}
		}
	case onnxpb.TensorProto_DOUBLE:
		if raw {
			out.RawData = make([]byte, 8*n)
			for i, v := range p.Value {
				le.PutUint64(out.RawData[8*i:], math.Float64bits(v))
			}
		} else {
			out.DoubleData = slices.Clone(p.Value)
		}
	case onnxpb.TensorProto_FLOAT16, onnxpb.TensorProto_BFLOAT16:
		conv := float16.FromFloat32
		if dt == onnxpb.TensorProto_BFLOAT16 {
			conv = float16.BFloat16FromFloat32
		}
		if raw {
			out.RawData = make([]byte, 2*n)
			for i, v := range p.Value {
				le.PutUint16(out.RawData[2*i:], conv(float32(v)))
			}
		} else {
			out.Int32Data = make([]int32, n)
			for i, v := range p.Value {
				out.Int32Data[i] = int32(conv(float32(v)))
			}
		}
	default:
		return nil, fmt.Errorf("data type %v is not a float type", dt)
	}
	if raw && out.RawData == nil {
		out.RawData = []byte{}
	}
	return out, nil
}
