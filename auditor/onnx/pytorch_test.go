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
		}
	}
}
