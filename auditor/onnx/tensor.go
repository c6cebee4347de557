package onnx

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/gnaudit/gnaudit/auditor/float16"
	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/internal/onnxpb"
	"gorgonia.org/tensor"
)

// maxElements bounds the element count of any tensor the importer accepts
// (2^34, 64 GiB of float32): a larger declared size is a corrupt file.
const maxElements = int64(1) << 34

// elemSize is the width in bytes of one element of raw_data, 0 for types
// that cannot be stored raw (string) or that gnaudit does not know.
func elemSize(dt ir.DataType) int {
	switch dt {
	case ir.Bool, ir.Int8, ir.Uint8:
		return 1
	case ir.Int16, ir.Uint16, ir.Float16, ir.Bfloat16:
		return 2
	case ir.Float, ir.Int32, ir.Uint32:
		return 4
	case ir.Double, ir.Int64, ir.Uint64:
		return 8
	}
	return 0
}

// numElements checks dims (non-negative, bounded product) and returns the
// element count they imply.
func numElements(dims []int64) (int64, error) {
	n := int64(1)
	for i, d := range dims {
		if d < 0 {
			return 0, fmt.Errorf("dimension %d is negative (%d)", i, d)
		}
		if d != 0 && n > maxElements/d {
			return 0, fmt.Errorf("dims %v exceed %d elements", dims, maxElements)
		}
		n *= d
	}
	if n > maxElements {
		return 0, fmt.Errorf("dims %v exceed %d elements", dims, maxElements)
	}
	return n, nil
}

// storedCount returns how many elements a TensorProto holds in the field its
// type uses, after checking that the data is stored in a way gnaudit reads.
func storedCount(tp *onnxpb.TensorProto) (int64, error) {
	dt := ir.DataType(tp.GetDataType())
	if tp.GetSegment() != nil {
		return 0, fmt.Errorf("segmented tensors are not supported")
	}
	if tp.GetDataLocation() == onnxpb.TensorProto_EXTERNAL || len(tp.GetExternalData()) > 0 {
		return 0, fmt.Errorf("external tensor data is not supported (save the model with its weights inside the file)")
	}
	if raw := tp.GetRawData(); raw != nil {
		es := elemSize(dt)
		if es == 0 {
			return 0, fmt.Errorf("raw data for element type %v is not supported", dt)
		}
		if len(raw)%es != 0 {
			return 0, fmt.Errorf("raw data of %d bytes is not a whole number of %v elements", len(raw), dt)
		}
		return int64(len(raw) / es), nil
	}
	switch dt {
	case ir.Float:
		return int64(len(tp.GetFloatData())), nil
	case ir.Double:
		return int64(len(tp.GetDoubleData())), nil
	case ir.Int64:
		return int64(len(tp.GetInt64Data())), nil
	case ir.Uint32, ir.Uint64:
		return int64(len(tp.GetUint64Data())), nil
	case ir.Int32, ir.Int16, ir.Int8, ir.Uint16, ir.Uint8, ir.Bool, ir.Float16, ir.Bfloat16:
		return int64(len(tp.GetInt32Data())), nil
	case ir.Undefined:
		return 0, fmt.Errorf("element type is undefined")
	case ir.String:
		return 0, fmt.Errorf("string tensors are not supported")
	}
	return 0, fmt.Errorf("element type %v is not supported", dt)
}

// checkTensorProto validates a TensorProto's type, dims and data length.
func checkTensorProto(tp *onnxpb.TensorProto) error {
	n, err := numElements(tp.GetDims())
	if err != nil {
		return err
	}
	got, err := storedCount(tp)
	if err != nil {
		return err
	}
	if got != n {
		return fmt.Errorf("holds %d values but dims %v imply %d", got, tp.GetDims(), n)
	}
	return nil
}

// tensorFromProto decodes a TensorProto with gnaudit's own reader (the
// onnxpb fallback). The name is the tensor's own unless it is empty.
func tensorFromProto(tp *onnxpb.TensorProto) (*ir.Tensor, error) {
	if err := checkTensorProto(tp); err != nil {
		return nil, err
	}
	dt := ir.DataType(tp.GetDataType())
	t := &ir.Tensor{Name: tp.GetName(), Type: dt, Dims: append([]int64{}, tp.GetDims()...)}
	n := t.Len()
	raw := tp.GetRawData()
	le := binary.LittleEndian
	switch dt {
	case ir.Float, ir.Float16, ir.Bfloat16:
		t.F32 = make([]float32, n)
		for i := range t.F32 {
			switch {
			case raw != nil && dt == ir.Float:
				t.F32[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
			case raw != nil && dt == ir.Float16:
				t.F32[i] = float16.ToFloat32(le.Uint16(raw[2*i:]))
			case raw != nil:
				t.F32[i] = math.Float32frombits(uint32(le.Uint16(raw[2*i:])) << 16)
			case dt == ir.Float:
				t.F32[i] = tp.GetFloatData()[i]
			case dt == ir.Float16:
				t.F32[i] = float16.ToFloat32(uint16(tp.GetInt32Data()[i]))
			default:
				t.F32[i] = math.Float32frombits(uint32(uint16(tp.GetInt32Data()[i])) << 16)
			}
		}
	case ir.Double:
		t.F64 = make([]float64, n)
		for i := range t.F64 {
			if raw != nil {
				t.F64[i] = math.Float64frombits(le.Uint64(raw[8*i:]))
			} else {
				t.F64[i] = tp.GetDoubleData()[i]
			}
		}
	default:
		t.I64 = make([]int64, n)
		for i := range t.I64 {
			if raw == nil {
				switch dt {
				case ir.Int64:
					t.I64[i] = tp.GetInt64Data()[i]
				case ir.Uint32, ir.Uint64:
					t.I64[i] = int64(tp.GetUint64Data()[i])
				case ir.Bool:
					if tp.GetInt32Data()[i] != 0 {
						t.I64[i] = 1
					}
				case ir.Uint8:
					t.I64[i] = int64(uint8(tp.GetInt32Data()[i]))
				case ir.Uint16:
					t.I64[i] = int64(uint16(tp.GetInt32Data()[i]))
				default:
					t.I64[i] = int64(tp.GetInt32Data()[i])
				}
				continue
			}
			switch dt {
			case ir.Bool:
				if raw[i] != 0 {
					t.I64[i] = 1
				}
			case ir.Uint8:
				t.I64[i] = int64(raw[i])
			case ir.Int8:
				t.I64[i] = int64(int8(raw[i]))
			case ir.Int16:
				t.I64[i] = int64(int16(le.Uint16(raw[2*i:])))
			case ir.Uint16:
				t.I64[i] = int64(le.Uint16(raw[2*i:]))
			case ir.Int32:
				t.I64[i] = int64(int32(le.Uint32(raw[4*i:])))
			case ir.Uint32:
				t.I64[i] = int64(le.Uint32(raw[4*i:]))
			default: // Int64, Uint64
				t.I64[i] = int64(le.Uint64(raw[8*i:]))
			}
		}
	}
	return t, nil
}

// onnxGoReads reports whether onnx-go v0.5.0 decodes this tensor correctly:
// float, double, int32 and int64 with at least one element, stored inline.
// onnx-go rejects empty tensors ("No data found"), int8/uint8/int16/float16
// data, and reads bool raw_data as 8 bytes per element (ONNX stores 1), so
// those tensors are read by gnaudit's own decoder (tensorFromProto).
func onnxGoReads(tp *onnxpb.TensorProto) bool {
	switch ir.DataType(tp.GetDataType()) {
	case ir.Float, ir.Double, ir.Int32, ir.Int64:
	default:
		return false
	}
	n, err := numElements(tp.GetDims())
	return err == nil && n > 0 && checkTensorProto(tp) == nil
}

// tensorFromGorgonia converts a tensor that onnx-go decoded. want is the
// TensorProto it came from: its dims are authoritative (gorgonia normalises
// the shapes of scalars and vectors) and its element count must match.
func tensorFromGorgonia(g tensor.Tensor, want *onnxpb.TensorProto) (*ir.Tensor, error) {
	if g == nil {
		return nil, fmt.Errorf("onnx-go gave no tensor")
	}
	t := &ir.Tensor{Name: want.GetName(), Type: ir.DataType(want.GetDataType()), Dims: append([]int64{}, want.GetDims()...)}
	var got int
	switch d := g.Data().(type) {
	case []float32:
		t.F32, got = append([]float32{}, d...), len(d)
	case float32:
		t.F32, got = []float32{d}, 1
	case []float64:
		t.F64, got = append([]float64{}, d...), len(d)
	case float64:
		t.F64, got = []float64{d}, 1
	case []int64:
		t.I64, got = append([]int64{}, d...), len(d)
	case int64:
		t.I64, got = []int64{d}, 1
	case []int32:
		t.I64 = make([]int64, len(d))
		for i, v := range d {
			t.I64[i] = int64(v)
		}
		got = len(d)
	case int32:
		t.I64, got = []int64{int64(d)}, 1
	default:
		return nil, fmt.Errorf("onnx-go gave data of type %T for a %v tensor", g.Data(), t.Type)
	}
	wantType := map[ir.DataType]bool{ir.Float: t.F32 != nil, ir.Double: t.F64 != nil, ir.Int64: t.I64 != nil, ir.Int32: t.I64 != nil}
	if !wantType[t.Type] {
		return nil, fmt.Errorf("onnx-go gave data of type %T for a %v tensor", g.Data(), t.Type)
	}
	if got != t.Len() {
		return nil, fmt.Errorf("onnx-go gave %d values, dims %v imply %d", got, t.Dims, t.Len())
	}
	return t, nil
}
