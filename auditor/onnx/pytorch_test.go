package onnx

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/ir"
)

// torchManifest is testdata/models.json, written by
// scripts/fixtures/gen_import_models.py from torch itself.
type torchManifest struct {
	Torch  string `json:"torch"`
	Models map[string]struct {
		Opset        int64 `json:"opset"`
		DynamicBatch bool  `json:"dynamic_batch"`
		Input        string
		InputShape   []any `json:"input_shape"`
		Output       string
		Params       []struct {
			Torch string  `json:"torch"`
			ONNX  string  `json:"onnx"`
			Shape []int64 `json:"shape"`
		} `json:"params"`
		Buffers []string `json:"buffers"`
		XShape  []int64  `json:"x_shape"`
		YShape  []int64  `json:"y_shape"`
	} `json:"models"`
}

func loadManifest(t *testing.T) torchManifest {
	t.Helper()
	data, err := os.ReadFile("testdata/models.json")
	if err != nil {
		t.Fatal(err)
	}
	var man torchManifest
	if err := json.Unmarshal(data, &man); err != nil {
		t.Fatal(err)
	}
	if len(man.Models) != 5 {
		t.Fatalf("manifest lists %d models, want 5", len(man.Models))
	}
	return man
}

// TestPyTorchModels decodes the PyTorch exports and checks them against
// torch's own description: the trainable set equals named_parameters (same
// names, order and shapes), buffers are not trainable, the input keeps its
// symbolic batch axis, every operator is supported, and onnx-go decoded all
// nodes and initializers.
func TestPyTorchModels(t *testing.T) {
	man := loadManifest(t)
	for file, want := range man.Models {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			m, rep, err := DecodeWithReport(data, file)
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OnnxGo || rep.OnnxGoNodes != len(m.Nodes) || rep.OnnxGoTensors != len(m.InitOrder) || len(rep.Fallbacks) != 0 {
				t.Errorf("onnx-go decoded %d/%d nodes, %d/%d tensors; fallbacks %q", rep.OnnxGoNodes, len(m.Nodes), rep.OnnxGoTensors, len(m.InitOrder), rep.Fallbacks)
			}
			// Debian's torch calls itself 1.13.0a0 and writes 1.13.0 as producer.
			if ver, ok := strings.CutPrefix(m.Producer, "pytorch "); m.Opset != want.Opset || !ok || ver == "" || !strings.HasPrefix(man.Torch, ver) {
				t.Errorf("opset %d producer %q, want %d, pytorch %s", m.Opset, m.Producer, want.Opset, man.Torch)
			}
			var wantTrain []string
			for _, p := range want.Params {
				wantTrain = append(wantTrain, p.ONNX)
				tt := m.Initializers[p.ONNX]
				if tt == nil || !reflect.DeepEqual(tt.Dims, p.Shape) || tt.Type != ir.Float {
					t.Errorf("parameter %s: got %+v, want float %v", p.Torch, tt, p.Shape)
				}
			}
			if !reflect.DeepEqual(m.Trainable, wantTrain) {
				t.Errorf("Trainable = %q, want torch's named_parameters %q", m.Trainable, wantTrain)
			}
			for _, b := range want.Buffers {
				if _, ok := m.Initializers[b]; !ok {
					t.Errorf("buffer %q is not an initializer", b)
				}
			}
			if len(m.Inputs) != 1 || m.Inputs[0].Name != want.Input || len(m.Inputs[0].Shape) != len(want.InputShape) {
				t.Fatalf("inputs %+v, want %s %v", m.Inputs, want.Input, want.InputShape)
			}
			for k, d := range want.InputShape {
				got := m.Inputs[0].Shape[k]
				switch x := d.(type) {
				case string:
					if got.Param != x {
						t.Errorf("input dim %d = %+v, want symbolic %q", k, got, x)
					}
				case float64:
					if !got.Known() || got.Value != int64(x) {
						t.Errorf("input dim %d = %+v, want %v", k, got, x)
					}
				}
			}
			if len(m.Outputs) != 1 || m.Outputs[0].Name != want.Output {
				t.Errorf("outputs %+v, want %s", m.Outputs, want.Output)
			}
			if errs := Check(m); len(errs) != 0 {
				t.Errorf("Check: %v", errs)
			}
		})
	}
}

// TestPyTorchFold checks FoldConstants on the PyTorch exports: no shape
// computation is left, every Reshape, Pad, Clip and Unsqueeze operand is an
// initializer, the flatten's target is [0, -1] with a dynamic batch ([1, -1]
// with the fixed one), the trainable set is unchanged, and shape inference
// with the batch fixed to torch's reference batch gives torch's output shape.
func TestPyTorchFold(t *testing.T) {
	man := loadManifest(t)
	shapeOps := map[string]bool{"Shape": true, "Gather": true, "Constant": true, "ConstantOfShape": true,
		"Concat": true, "Slice": true, "Cast": true, "Unsqueeze": true, "Sub": true, "Mul": true}
	for file, want := range man.Models {
		t.Run(file, func(t *testing.T) {
			m, err := Load(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			train := append([]string{}, m.Trainable...)
			if err := FoldConstants(m); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(m.Trainable, train) {
				t.Errorf("Trainable changed to %q", m.Trainable)
			}
			for _, name := range m.Trainable {
				if m.Initializers[name] == nil {
					t.Errorf("trainable %q lost", name)
				}
			}
			var ops []string
			for _, n := range m.Nodes {
				ops = append(ops, n.OpType)
				if shapeOps[n.OpType] {
					t.Errorf("node %q (%s) left after folding", n.Name, n.OpType)
				}
				for _, k := range constOperands[n.OpType] {
					if k < len(n.Inputs) && n.Inputs[k] != "" && m.Initializers[n.Inputs[k]] == nil {
						t.Errorf("node %q (%s): input %d %q is not an initializer", n.Name, n.OpType, k, n.Inputs[k])
					}
				}
			}
			var wantOps []string
			var reshape []int64
			switch file {
			case "padclip_opset11.onnx":
				wantOps = []string{"Pad", "Conv", "Clip", "Reshape", "Transpose", "MatMul", "Add", "Flatten"}
				reshape = []int64{0, 2, -1} // torch.flatten(x, 2) on [batch, 2, 4, 4]
				pad := m.Initializers[m.Nodes[0].Inputs[1]]
				// F.pad(x, (1, 1, 1, 1)) pads W and H by 1 on each side:
				// ONNX order [x1_begin..x4_begin, x1_end..x4_end].
				if pad == nil || !reflect.DeepEqual(pad.I64, []int64{0, 0, 1, 1, 0, 0, 1, 1}) {
					t.Errorf("Pad pads = %+v", pad)
				}
				clip := m.Nodes[2]
				lo, hi := m.Initializers[clip.Inputs[1]], m.Initializers[clip.Inputs[2]]
				if lo == nil || hi == nil || !reflect.DeepEqual(lo.F32, []float32{0}) || !reflect.DeepEqual(hi.F32, []float32{6}) {
					t.Errorf("Clip bounds %+v %+v, want 0 and 6", lo, hi)
				}
			default:
				wantOps = []string{"Conv", "BatchNormalization", "Relu", "MaxPool", "Reshape", "Gemm"}
				reshape = []int64{0, -1}
				if !want.DynamicBatch {
					reshape = []int64{1, -1}
				}
			}
			if !reflect.DeepEqual(ops, wantOps) {
				t.Errorf("ops after folding %v, want %v", ops, wantOps)
			}
			for _, n := range m.Nodes {
				if n.OpType == "Reshape" && n.Name != "/fc/Transpose" {
					if got := m.Initializers[n.Inputs[1]]; got == nil || !reflect.DeepEqual(got.I64, reshape) {
						t.Errorf("Reshape %q target %+v, want %v", n.Name, got, reshape)
					}
				}
			}
			// No initializer is left unused.
			used := map[string]bool{}
			for _, n := range m.Nodes {
				for _, in := range n.Inputs {
					used[in] = true
				}
			}
			for _, name := range m.InitOrder {
				if !used[name] {
					t.Errorf("initializer %q unused after folding", name)
				}
			}
			if len(m.InitOrder) != len(m.Initializers) {
				t.Errorf("InitOrder has %d names, Initializers %d", len(m.InitOrder), len(m.Initializers))
			}
			if errs := Check(m); len(errs) != 0 {
				t.Errorf("Check after folding: %v", errs)
			}
			// Shapes: symbolic batch flows to the output; with the batch
			// fixed to torch's, the output shape is torch's.
			shapes := InferShapes(m)
			out := shapes[want.Output]
			if want.DynamicBatch && (len(out) == 0 || out[0].Param != "batch") {
				t.Errorf("output shape %v, want leading batch", out)
			}
			m.Inputs[0].Shape[0] = ir.Dim{Value: want.XShape[0]}
			shapes = InferShapes(m)
			var got []int64
			for _, d := range shapes[want.Output] {
				got = append(got, d.Value)
			}
			if !reflect.DeepEqual(got, want.YShape) {
				t.Errorf("output shape with batch %d: %v, want torch's %v", want.XShape[0], got, want.YShape)
			}
		})
	}
}

// TestPyTorchFixturesOfOthers decodes the PyTorch models that the torch
// fixture generator (scripts/fixtures/gen_torch.py) writes under
// testdata/torch, when present, and checks the trainable set against its
// manifest.
func TestPyTorchFixturesOfOthers(t *testing.T) {
	data, err := os.ReadFile("../../testdata/torch/manifest.json")
	if err != nil {
		t.Skip("testdata/torch/manifest.json not present")
	}
	var man struct {
		Models map[string]struct {
			ONNX   map[string]string `json:"onnx"`
			Params []struct {
				ONNX string `json:"onnx"`
			} `json:"params"`
		} `json:"models"`
	}
	if err := json.Unmarshal(data, &man); err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(man.Models))
	for k := range man.Models {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		mm := man.Models[name]
		var want []string
		for _, p := range mm.Params {
			want = append(want, p.ONNX)
		}
		if len(want) == 0 {
			continue // an entry without its parameter list
		}
		for _, f := range mm.ONNX {
			m, err := Load(filepath.Join("../../testdata/torch", f))
			if err != nil {
				t.Errorf("%v", err)
				continue
			}
			if !reflect.DeepEqual(m.Trainable, want) {
				t.Errorf("%s: Trainable %q, want %q", f, m.Trainable, want)
			}
			if err := FoldConstants(m); err != nil {
				t.Errorf("%s: %v", f, err)
			}
			if errs := Check(m); len(errs) != 0 {
				t.Errorf("%s: %v", f, errs)
			}
		}
	}
}
