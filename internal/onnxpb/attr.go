package onnxpb

import "google.golang.org/protobuf/proto"

// Constructors of node attributes, for code that writes ONNX graphs (the
// model zoo) and for tests that build them by hand. They are hand-written,
// not generated.

// IntAttr is an INT attribute name = v.
func IntAttr(name string, v int64) *AttributeProto {
	return &AttributeProto{Name: proto.String(name), Type: AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

// IntsAttr is an INTS attribute name = v.
func IntsAttr(name string, v ...int64) *AttributeProto {
	return &AttributeProto{Name: proto.String(name), Type: AttributeProto_INTS.Enum(), Ints: v}
}

// FloatAttr is a FLOAT attribute name = v.
func FloatAttr(name string, v float32) *AttributeProto {
	return &AttributeProto{Name: proto.String(name), Type: AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

// StringAttr is a STRING attribute name = v.
func StringAttr(name, v string) *AttributeProto {
	return &AttributeProto{Name: proto.String(name), Type: AttributeProto_STRING.Enum(), S: []byte(v)}
}

// TensorAttr is a TENSOR attribute name = t.
func TensorAttr(name string, t *TensorProto) *AttributeProto {
	return &AttributeProto{Name: proto.String(name), Type: AttributeProto_TENSOR.Enum(), T: t}
}
