package persample

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/graph"
	"github.com/gnaudit/gnaudit/auditor/internal/irtest"
	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/auditor/onnx"
)

// layerShapes returns node → output shape of the summary's layers.
func layerShapes(s onnx.Summary) map[string]string {
	r := map[string]string{}
	for _, l := range s.Layers {
		r[l.Name] = l.Output
	}
	return r
}

// TestInspectTinyCNN: the executor's verdict and its output shapes on the
// PyTorch tiny CNN (torch's shapes: conv 4×8×8 with padding 1, fc 3).
func TestInspectTinyCNN(t *testing.T) {
	m, err := onnx.Load("../onnx/testdata/tinycnn_opset13.onnx")
	if err != nil {
		t.Fatal(err)
	}
	s := Inspect(m)
	if !s.Supported || len(s.Problems) != 0 || len(s.Notes) != 0 {
		t.Errorf("supported %v, problems %q, notes %q", s.Supported, s.Problems, s.Notes)
	}
	want := map[string]string{"/conv/Conv": "[batch, 4, 8, 8]", "/bn/BatchNormalization": "[batch, 4, 8, 8]", "/fc/Gemm": "[batch, 3]"}
	if got := layerShapes(s); !reflect.DeepEqual(got, want) {
		t.Errorf("layer shapes %v, want %v", got, want)
	}
	var b strings.Builder
	if err := s.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"supported: yes", "(executor (auditor/graph) and per-sample planner)", "/fc/Gemm                Gemm                [batch, 3]"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("text lacks %q:\n%s", w, b.String())
		}
	}
	for _, o := range s.Ops {
		if !o.Supported {
			t.Errorf("operator %s marked unsupported", o.OpType)
		}
	}
}

// TestInspectNewOpShapes: operators added for modern families
// (LayerNormalization at opset 17, Erf, Expand, Gather on data, moved
// batches) have real output shapes in inspect, not "unknown". mlp_ln's
// shapes are those of its torch definition (Linear 48→24, LayerNorm 24,
// Linear 24→16, LayerNorm 16, Linear 16→10).
func TestInspectNewOpShapes(t *testing.T) {
	m, err := onnx.Load("../../testdata/modern/mlp_ln/opset17.onnx")
	if err != nil {
		t.Skip(err)
	}
	s := Inspect(m)
	var got []string
	for _, l := range s.Layers {
		got = append(got, l.OpType+" "+l.Output)
	}
	want := []string{"Gemm [batch, 24]", "LayerNormalization [batch, 24]", "Gemm [batch, 16]", "LayerNormalization [batch, 16]", "Gemm [batch, 10]"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mlp_ln layers %q, want %q", got, want)
	}
	for _, fam := range []string{"convnext", "mobilenetv3", "vit", "shufflenet", "textcls", "transformer"} {
		for _, opset := range []string{"13", "17"} {
			m, err := onnx.Load("../../testdata/modern/" + fam + "/opset" + opset + ".onnx")
			if err != nil {
				t.Fatal(err)
			}
			s := Inspect(m)
			if !s.Supported {
				t.Errorf("%s opset %s: %q", fam, opset, s.Problems)
			}
			for _, l := range s.Layers {
				if l.Output == "unknown" || !strings.HasPrefix(l.Output, "[") {
					t.Errorf("%s opset %s: layer %s (%s) output %q", fam, opset, l.Name, l.OpType, l.Output)
				}
			}
			if out := s.Outputs[0].Shape; !strings.HasPrefix(out, "[batch") {
				t.Errorf("%s opset %s: logits shape %q", fam, opset, out)
			}
		}
	}
}

// TestInspectProblemClasses: a model with several kinds of problem gets
// one line per cause with the count of nodes and what to do, the input's
// dtype included, and nothing else hides behind the first problem.
func TestInspectProblemClasses(t *testing.T) {
	b := irtest.New(13, 1, -1, 4)
	w := b.Param("w", 1, true, 3, 4)
	h := b.Op("Gemm", irtest.Attrs("transB", irtest.Int(1)), "x", w)
	h = b.Op("LRN", irtest.Attrs("size", irtest.Int(1)), h)
	h1 := b.Op("LRN", irtest.Attrs("size", irtest.Int(1)), "x")
	h2 := b.Op("Relu", irtest.Attrs("bogus", irtest.Int(1)), "x")
	h2 = b.Op("ReduceSum", nil, h2) // skipped: its input failed
	b.Op("Add", nil, b.Op("Add", nil, h, h1), h2)
	m := b.Output("y")
	m.Inputs[0].Type = ir.Float16
	s := Inspect(m)
	if s.Supported {
		t.Fatalf("supported: %+v", s)
	}
	want := []string{
		`input "x" has dtype float16`,
		`LRN: operator not supported (2 nodes, first "`,
		`Relu: attribute "bogus" is not supported (node "`,
	}
	if len(s.Problems) != len(want) {
		t.Errorf("%d problems %q, want %d", len(s.Problems), s.Problems, len(want))
	}
	for k, w := range want {
		if k < len(s.Problems) && !strings.HasPrefix(s.Problems[k], w) {
			t.Errorf("problem %d %q, want prefix %q", k, s.Problems[k], w)
		}
	}
	for _, p := range s.Problems {
		if !strings.Contains(p, "; ") {
			t.Errorf("problem %q says nothing to do", p)
		}
	}
}

// TestInspectTokenInput: an int64 input that feeds anything but an
// embedding is reported with what to do.
func TestInspectTokenInput(t *testing.T) {
	const f = "../../testdata/modern/textcls/opset17.onnx"
	if _, err := os.Stat(f); err != nil {
		t.Skip(err)
	}
	b := irtest.New(13, 1, -1, 4)
	w := b.Param("w", 1, true, 3, 4)
	b.Op("Gemm", irtest.Attrs("transB", irtest.Int(1)), "x", w)
	m := b.Output("y")
	m.Inputs[0].Type = ir.Int64
	s := Inspect(m)
	if s.Supported || len(s.Problems) != 1 || !strings.Contains(s.Problems[0], "integer ids") ||
		!strings.Contains(s.Problems[0], "an integer input can only feed an embedding") {
		t.Errorf("problems %q", s.Problems)
	}
}

// TestRegistryRules: every per-sample rule the operator registry names is
// implemented here, so the registry and the planner cannot disagree on an
// operator's rule.
func TestRegistryRules(t *testing.T) {
	n := 0
	for _, s := range graph.Ops() {
		if s.PerSample == "" {
			continue
		}
		n++
		if rules[s.PerSample] == nil {
			t.Errorf("%s: rule %q is not implemented", s.Op, s.PerSample)
		}
	}
	if n < 10 {
		t.Errorf("only %d operators with a per-sample rule", n)
	}
}

// TestInspectAgreesWithExecutor: on every libonnx-testdata conformance
// model and the modern fixtures, inspect (Verdict), the executor (Build)
// and the per-sample planner (New) agree: inspect says supported exactly
// when Build succeeds at batch 1 and the planner then runs; its problems are
// graph.Check's; every parameter the planner expands is read by an operator
// the registry gives that rule, and a fallback for lack of a rule quotes the
// registry's reason.
func TestInspectAgreesWithExecutor(t *testing.T) {
	var files []string
	for _, suite := range []string{"node", "pytorch-converted", "pytorch-operator"} {
		fs, _ := filepath.Glob(filepath.Join("/usr/share/libonnx-testdata/data", suite, "test_*", "model.onnx"))
		files = append(files, fs...)
	}
	if len(files) == 0 {
		t.Skip("libonnx-testdata not installed")
	}
	mods, _ := filepath.Glob("../../testdata/modern/*/opset*.onnx")
	files = append(files, mods...)
	files = append(files, "../onnx/testdata/tinycnn_opset13.onnx", "../onnx/testdata/padclip_opset11.onnx")
	supported, planned := 0, 0
	for _, f := range files {
		m, err := onnx.Load(f)
		if err != nil {
			continue
		}
		v := Verdict(m)
		_, berr := graph.Build(m, graph.Options{Batch: 1})
		var check []string
		for _, p := range graph.Check(m, 1) {
			check = append(check, p.String())
		}
		if (berr == nil) != (len(v.Problems) == 0) {
			t.Errorf("%s: Build error %v, inspect problems %q", f, berr, v.Problems)
			continue
		}
		if berr != nil {
			if !reflect.DeepEqual(v.Problems, check) {
				t.Errorf("%s: inspect problems %q, graph.Check %q", f, v.Problems, check)
			}
			continue
		}
		supported++
		e, err := New(m, Options{Batch: 2, Workers: 1})
		if err != nil {
			t.Errorf("%s: inspect says supported, the planner fails: %v", f, err)
			continue
		}
		planned++
		for _, p := range e.plans {
			for _, u := range p.uses {
				s, _ := graph.Lookup(u.node.OpType)
				if s.PerSample == "" {
					t.Errorf("%s: parameter %s expanded (%s) at %s, which has no rule in the registry", f, p.info.Name, u.method, u.node.OpType)
				}
			}
			if p.info.Method == MethodFallback && strings.Contains(p.info.Reason, "no per-sample expansion for this operator") &&
				!strings.Contains(p.info.Reason, "(") {
				t.Errorf("%s: parameter %s falls back without the registry's reason: %s", f, p.info.Name, p.info.Reason)
			}
		}
	}
	t.Logf("%d models: %d supported by inspect and Build, %d planned", len(files), supported, planned)
	if supported == 0 || planned != supported {
		t.Errorf("supported %d, planned %d", supported, planned)
	}
}
