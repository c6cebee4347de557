package onnx

import (
	"os"
	"testing"
)

// TestInferShapesConformance compares InferShapes with the output shapes
// that the ONNX backend tests declare, on every libonnx-testdata model of
// supported operators for which the shape follows from the declared inputs.
func TestInferShapesConformance(t *testing.T) {
	libonnxModels(t)
	ref := loadReference(t)
	compared := 0
	ops := map[string]int{}
	for key := range ref {
		path := libonnxData + "/" + key + "/model.onnx"
		if _, err := os.Stat(path); err != nil {
			continue
		}
		m, err := Load(path)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		shapes := InferShapes(m)
		for _, out := range m.Outputs {
			got, ok := shapes[out.Name]
			if !ok || out.Shape == nil {
				continue
			}
			if len(got) != len(out.Shape) {
				t.Errorf("%s: %q inferred %s, declared %s", key, out.Name, FormatShape(got), FormatShape(out.Shape))
				continue
			}
			for k := range got {
				if got[k].Known() && out.Shape[k].Known() && got[k].Value != out.Shape[k].Value {
					t.Errorf("%s: %q inferred %s, declared %s", key, out.Name, FormatShape(got), FormatShape(out.Shape))
					break
				}
			}
			compared++
			for _, n := range m.Nodes {
				ops[n.OpType]++
			}
		}
	}
	if compared < 200 {
		t.Errorf("only %d output shapes compared", compared)
	}
	t.Logf("%d output shapes agree with the declared ones; node counts by operator: %v", compared, ops)
}
