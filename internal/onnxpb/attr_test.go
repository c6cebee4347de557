package onnxpb

import (
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"
)

// TestAttrs: each constructor sets the name, the type and the one value
// field of its type, and survives a marshal round trip.
func TestAttrs(t *testing.T) {
	tensor := &TensorProto{Name: proto.String("w"), Dims: []int64{2}}
	for _, tc := range []struct {
		a    *AttributeProto
		typ  AttributeProto_AttributeType
		name string
		ok   func(a *AttributeProto) bool
	}{
		{IntAttr("axis", -1), AttributeProto_INT, "axis", func(a *AttributeProto) bool { return a.GetI() == -1 }},
		{IntsAttr("pads", 1, 2), AttributeProto_INTS, "pads", func(a *AttributeProto) bool { return slices.Equal(a.GetInts(), []int64{1, 2}) }},
		{FloatAttr("epsilon", 1e-5), AttributeProto_FLOAT, "epsilon", func(a *AttributeProto) bool { return a.GetF() == 1e-5 }},
		{StringAttr("mode", "constant"), AttributeProto_STRING, "mode", func(a *AttributeProto) bool { return string(a.GetS()) == "constant" }},
		{TensorAttr("value", tensor), AttributeProto_TENSOR, "value", func(a *AttributeProto) bool {
			return a.GetT().GetName() == "w" && slices.Equal(a.GetT().GetDims(), []int64{2})
		}},
	} {
		b, err := proto.Marshal(tc.a)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var got AttributeProto
		if err := proto.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got.GetName() != tc.name || got.GetType() != tc.typ || !tc.ok(&got) {
			t.Errorf("%s: round trip gives %v", tc.name, &got)
		}
	}
}
