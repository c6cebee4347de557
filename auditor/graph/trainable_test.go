package graph_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/gnaudit/gnaudit/auditor/graph"
	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/auditor/onnx"
	"github.com/gnaudit/gnaudit/models"
)

// TestTrainableMatchesOldRule checks that the registry's trainable rule
// (OpSpec.Params, graph.Trainable) names exactly the initializers the
// former table of auditor/onnx did (oldTrainable, kept here only as the
// reference), on every ONNX conformance model of libonnx-testdata, every
// committed fixture under testdata/ and every zoo model; and that the
// decoder fills ir.Model.Trainable with it.
func TestTrainableMatchesOldRule(t *testing.T) {
	var files []string
	for _, root := range []string{"/usr/share/libonnx-testdata/data", "../../testdata"} {
		err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".onnx") {
				files = append(files, p)
			}
			return err
		})
		if err != nil && !os.IsNotExist(err) {
			t.Fatalf("walking %s: %v", root, err)
		}
	}
	if len(files) < 20 {
		t.Fatalf("only %d ONNX files found (testdata/ has more)", len(files))
	}
	check := func(label string, data []byte) (nonEmpty bool) {
		m, err := onnx.Decode(data, label)
		if err != nil {
			return false // conformance models the decoder refuses: no list either way
		}
		old := oldTrainable(m)
		if got := graph.Trainable(m); !slices.Equal(got, old) {
			t.Errorf("%s: graph.Trainable = %q, the old rule %q", label, got, old)
		}
		if !slices.Equal(m.Trainable, old) {
			t.Errorf("%s: Model.Trainable = %q, the old rule %q", label, m.Trainable, old)
		}
		return len(old) > 0
	}
	checked, withParams := 0, 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		if check(f, data) {
			withParams++
		}
	}
	for _, name := range models.Names() {
		pb, err := models.Build(name, models.Options{Seed: 1})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		data, err := proto.Marshal(pb)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checked++
		if !check("zoo "+name, data) {
			t.Errorf("zoo %s: no trainable parameters", name)
		}
		withParams++
	}
	t.Logf("%d models compared, %d with trainable parameters", checked, withParams)
}

// oldTrainable is auditor/onnx's trainable rule before it moved into the
// registry (auditor/onnx/trainable.go at 38d1195), verbatim but for names:
// the reference TestTrainableMatchesOldRule compares against.
func oldTrainable(m *ir.Model) []string {
	layoutOps := map[string]bool{
		"Reshape": true, "Identity": true, "Transpose": true, "Unsqueeze": true,
		"Squeeze": true, "Flatten": true, "Cast": true, "Expand": true,
	}
	isParamSlot := func(op string, i int, t *ir.Tensor) bool {
		switch op {
		case "Conv", "ConvTranspose":
			return i == 1 || i == 2
		case "Gemm", "MatMul", "Einsum":
			return i <= 2
		case "BatchNormalization", "InstanceNormalization", "LayerNormalization":
			return i == 1 || i == 2
		case "PRelu":
			return i == 1
		case "Gather":
			return i == 0
		case "Concat":
			return true
		case "Add", "Mul":
			return t.Len() > 1
		}
		return false
	}
	isFloat := func(dt ir.DataType) bool {
		return dt == ir.Float || dt == ir.Double || dt == ir.Float16 || dt == ir.Bfloat16
	}
	cons := m.Consumers()
	var out []string
	for _, name := range m.InitOrder {
		t := m.Initializers[name]
		if t == nil || !isFloat(t.Type) {
			continue
		}
		seen := map[string]bool{name: true}
		queue := []string{name}
		found := false
		for len(queue) > 0 && !found {
			v := queue[0]
			queue = queue[1:]
			for _, n := range cons[v] {
				for i, in := range n.Inputs {
					if in != v {
						continue
					}
					if layoutOps[n.OpType] && i == 0 && len(n.Outputs) > 0 {
						if o := n.Outputs[0]; o != "" && !seen[o] {
							seen[o] = true
							queue = append(queue, o)
						}
					} else if isParamSlot(n.OpType, i, t) {
						found = true
					}
				}
			}
		}
		if found {
			out = append(out, name)
		}
	}
	return out
}
