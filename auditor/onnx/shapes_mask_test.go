package onnx

import (
	"path/filepath"
	"testing"
)

// TestInferShapesMaskOps compares the inferred output shapes of Einsum,
// ReduceProd, the comparisons, Not/And/Or/Xor and Where with the shapes
// their libonnx-testdata node tests declare.
func TestInferShapesMaskOps(t *testing.T) {
	libonnxModels(t)
	compared := 0
	for _, pat := range []string{"einsum", "reduce_prod", "equal", "less", "greater", "not", "and", "or", "xor", "where"} {
		paths, _ := filepath.Glob(filepath.Join(libonnxData, "node", "test_"+pat+"*", "model.onnx"))
		for _, path := range paths {
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
				if FormatShape(got) != FormatShape(out.Shape) {
					t.Errorf("%s: %q inferred %s, declared %s", path, out.Name, FormatShape(got), FormatShape(out.Shape))
				}
				compared++
			}
		}
	}
	if compared < 50 {
		t.Errorf("only %d output shapes compared", compared)
	}
	t.Logf("%d output shapes agree with the declared ones", compared)
}
