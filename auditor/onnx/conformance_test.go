package onnx

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/internal/approx"
)

// libonnxData is where Debian's libonnx-testdata installs the ONNX backend
// test models.
const libonnxData = "/usr/share/libonnx-testdata/data"

// libonnxModels returns the test models, or skips when they are absent.
func libonnxModels(t testing.TB) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(libonnxData, "*", "*", "model.onnx"))
	if len(files) == 0 {
		t.Skipf("%s not found: install Debian's libonnx-testdata to run the conformance tests", libonnxData)
	}
	sort.Strings(files)
	return files
}

// refTensor is a tensor as the onnx Python package reads it
// (testdata/libonnx_reference.json, written by
// scripts/fixtures/gen_import_models.py).
type refTensor struct {
	Name  string  `json:"name"`
	Dtype int32   `json:"dtype"`
	Dims  []int64 `json:"dims"`
	N     int     `json:"n"`
	Sum   any     `json:"sum"`
	Head  []any   `json:"head"`
}

type refNode struct {
	Name    string                     `json:"name"`
	Op      string                     `json:"op"`
	Inputs  []string                   `json:"inputs"`
	Outputs []string                   `json:"outputs"`
	Attrs   map[string]json.RawMessage `json:"attrs"`
}

type refModel struct {
	Opset     int64       `json:"opset"`
	IRVersion int64       `json:"ir_version"`
	Producer  string      `json:"producer"`
	Inputs    [][]any     `json:"inputs"`
	Outputs   [][]any     `json:"outputs"`
	Nodes     []refNode   `json:"nodes"`
	Inits     []refTensor `json:"inits"`
}

func loadReference(t *testing.T) map[string]refModel {
	t.Helper()
	data, err := os.ReadFile("testdata/libonnx_reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref map[string]refModel
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	return ref
}

// refFloat converts a JSON number or "nan"/"inf" string.
func refFloat(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case string:
		switch x {
		case "nan":
			return math.NaN()
		case "inf":
			return math.Inf(1)
		case "-inf":
			return math.Inf(-1)
		}
	}
	return math.NaN()
}

// values returns a tensor's elements as float64.
func values(tt *ir.Tensor) []float64 {
	var out []float64
	for _, v := range tt.F32 {
		out = append(out, float64(v))
	}
	out = append(out, tt.F64...)
	for _, v := range tt.I64 {
		out = append(out, float64(v))
	}
	return out
}

// compareTensor checks a decoded tensor against the Python reference.
func compareTensor(ref refTensor, got *ir.Tensor) error {
	if int32(got.Type) != ref.Dtype {
		return fmt.Errorf("type %v, want %d", got.Type, ref.Dtype)
	}
	if !reflect.DeepEqual(append([]int64{}, got.Dims...), append([]int64{}, ref.Dims...)) {
		return fmt.Errorf("dims %v, want %v", got.Dims, ref.Dims)
	}
	if ref.Sum == nil { // a type the reference does not summarise
		return nil
	}
	v := values(got)
	if len(v) != ref.N {
		return fmt.Errorf("%d values, want %d", len(v), ref.N)
	}
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	if approx.RelErrFloor(sum, refFloat(ref.Sum), 1) > approx.Reference {
		return fmt.Errorf("sum %v, want %v", sum, ref.Sum)
	}
	for k, h := range ref.Head {
		if approx.RelErrFloor(v[k], refFloat(h), 1) > approx.Reference {
			return fmt.Errorf("value %d is %v, want %v", k, v[k], h)
		}
	}
	return nil
}

// compareAttr checks a decoded attribute against the reference's
// [kind, value] pair.
func compareAttr(raw json.RawMessage, got ir.Attr) error {
	var pair []json.RawMessage
	if err := json.Unmarshal(raw, &pair); err != nil || len(pair) != 2 {
		return fmt.Errorf("bad reference %s", raw)
	}
	var kind string
	_ = json.Unmarshal(pair[0], &kind)
	want := map[string]ir.AttrKind{"INT": ir.AttrInt, "FLOAT": ir.AttrFloat, "STRING": ir.AttrString,
		"INTS": ir.AttrInts, "FLOATS": ir.AttrFloats, "STRINGS": ir.AttrStrings, "TENSOR": ir.AttrTensor}[kind]
	if want == 0 {
		want = ir.AttrOther
	}
	if got.Kind != want {
		return fmt.Errorf("kind %d, want %s", got.Kind, kind)
	}
	switch want {
	case ir.AttrInt:
		var v int64
		_ = json.Unmarshal(pair[1], &v)
		if got.Int != v {
			return fmt.Errorf("%d, want %d", got.Int, v)
		}
	case ir.AttrFloat:
		var v any
		_ = json.Unmarshal(pair[1], &v)
		if approx.RelErrFloor(float64(got.Float), refFloat(v), 1) > approx.Reference {
			return fmt.Errorf("%v, want %v", got.Float, v)
		}
	case ir.AttrString:
		var v string
		_ = json.Unmarshal(pair[1], &v)
		if got.String != v {
			return fmt.Errorf("%q, want %q", got.String, v)
		}
	case ir.AttrInts:
		var v []int64
		_ = json.Unmarshal(pair[1], &v)
		if len(v) != len(got.Ints) || (len(v) > 0 && !reflect.DeepEqual(v, got.Ints)) {
			return fmt.Errorf("%v, want %v", got.Ints, v)
		}
	case ir.AttrFloats:
		var v []any
		_ = json.Unmarshal(pair[1], &v)
		if len(v) != len(got.Floats) {
			return fmt.Errorf("%v, want %v", got.Floats, v)
		}
		for k := range v {
			if approx.RelErrFloor(float64(got.Floats[k]), refFloat(v[k]), 1) > approx.Reference {
				return fmt.Errorf("%v, want %v", got.Floats, v)
			}
		}
	case ir.AttrStrings:
		var v []string
		_ = json.Unmarshal(pair[1], &v)
		if len(v) != len(got.Strings) || (len(v) > 0 && !reflect.DeepEqual(v, got.Strings)) {
			return fmt.Errorf("%q, want %q", got.Strings, v)
		}
	case ir.AttrTensor:
		var rt refTensor
		if err := json.Unmarshal(pair[1], &rt); err != nil {
			return err
		}
		return compareTensor(rt, got.Tensor)
	}
	return nil
}

// compareValue checks a graph input or output against [name, elem, dims].
func compareValue(ref []any, got ir.Value) error {
	if ref[0] != got.Name {
		return fmt.Errorf("name %q, want %v", got.Name, ref[0])
	}
	if int32(refFloat(ref[1])) != int32(got.Type) {
		return fmt.Errorf("%q: type %v, want %v", got.Name, got.Type, ref[1])
	}
	dims, _ := ref[2].([]any)
	if ref[2] == nil {
		if got.Shape != nil {
			return fmt.Errorf("%q: shape %v, want none", got.Name, got.Shape)
		}
		return nil
	}
	if len(dims) != len(got.Shape) {
		return fmt.Errorf("%q: shape %v, want %v", got.Name, got.Shape, dims)
	}
	for k, d := range dims {
		g := got.Shape[k]
		switch x := d.(type) {
		case float64:
			if !g.Known() || g.Value != int64(x) {
				return fmt.Errorf("%q: dim %d is %+v, want %v", got.Name, k, g, x)
			}
		case string:
			if g.Param != x || g.Known() {
				return fmt.Errorf("%q: dim %d is %+v, want %q", got.Name, k, g, x)
			}
		case nil:
			if g.Known() || g.Param != "" {
				return fmt.Errorf("%q: dim %d is %+v, want unknown", got.Name, k, g)
			}
		}
	}
	return nil
}

// TestConformanceReference decodes every libonnx-testdata model whose
// operators are all supported and compares it with what the onnx Python
// package reads from the same file: opset, producer, inputs and outputs with
// shapes, every node's operator, inputs, outputs and attributes, and every
// initializer's type, dims, element count, sum and first values.
func TestConformanceReference(t *testing.T) {
	libonnxModels(t)
	ref := loadReference(t)
	if len(ref) < 250 {
		t.Fatalf("reference holds %d models, expected the ~300 supported ones", len(ref))
	}
	checked, nodes, attrs, inits := 0, 0, 0, 0
	for key, want := range ref {
		path := filepath.Join(libonnxData, key, "model.onnx")
		if _, err := os.Stat(path); err != nil {
			t.Errorf("%s: %v", key, err)
			continue
		}
		m, rep, err := func() (*ir.Model, *Report, error) {
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, nil, err
			}
			return DecodeWithReport(data, path)
		}()
		if err != nil {
			t.Errorf("%s: %v", key, err)
			continue
		}
		fail := func(format string, a ...any) { t.Errorf("%s: %s", key, fmt.Sprintf(format, a...)) }
		if m.Opset != want.Opset || m.IRVersion != want.IRVersion || m.Producer != want.Producer {
			fail("opset %d IR %d producer %q, want %d %d %q", m.Opset, m.IRVersion, m.Producer, want.Opset, want.IRVersion, want.Producer)
		}
		if !rep.OnnxGo || rep.OnnxGoNodes != len(m.Nodes) {
			fail("onnx-go decoded %d of %d nodes (complete: %v): %v", rep.OnnxGoNodes, len(m.Nodes), rep.OnnxGo, rep.Fallbacks)
		}
		if len(m.Inputs) != len(want.Inputs) || len(m.Outputs) != len(want.Outputs) {
			fail("%d inputs %d outputs, want %d %d", len(m.Inputs), len(m.Outputs), len(want.Inputs), len(want.Outputs))
			continue
		}
		for k := range want.Inputs {
			if err := compareValue(want.Inputs[k], m.Inputs[k]); err != nil {
				fail("input: %v", err)
			}
		}
		for k := range want.Outputs {
			if err := compareValue(want.Outputs[k], m.Outputs[k]); err != nil {
				fail("output: %v", err)
			}
		}
		// Nodes are compared by their outputs (the decoder may reorder
		// them topologically and names empty ones).
		byOut := map[string]*ir.Node{}
		for _, n := range m.Nodes {
			byOut[strings.Join(n.Outputs, ",")] = n
		}
		if len(m.Nodes) != len(want.Nodes) {
			fail("%d nodes, want %d", len(m.Nodes), len(want.Nodes))
		}
		for k, wn := range want.Nodes {
			n := byOut[strings.Join(wn.Outputs, ",")]
			if n == nil {
				fail("node %d (%s) with outputs %q missing", k, wn.Op, wn.Outputs)
				continue
			}
			nodes++
			if n.OpType != wn.Op || !reflect.DeepEqual(append([]string{}, n.Inputs...), append([]string{}, wn.Inputs...)) {
				fail("node %d: %s %q, want %s %q", k, n.OpType, n.Inputs, wn.Op, wn.Inputs)
			}
			if wn.Name != "" && n.Name != wn.Name {
				fail("node %d named %q, want %q", k, n.Name, wn.Name)
			}
			if wn.Name == "" && n.Name != fmt.Sprintf("%s_%d", wn.Op, k) {
				fail("unnamed node %d named %q, want %s_%d", k, n.Name, wn.Op, k)
			}
			if len(n.Attrs) != len(wn.Attrs) {
				fail("node %d: %d attributes, want %d", k, len(n.Attrs), len(wn.Attrs))
			}
			for name, raw := range wn.Attrs {
				attrs++
				if err := compareAttr(raw, n.Attrs[name]); err != nil {
					fail("node %d attribute %q: %v", k, name, err)
				}
			}
		}
		if len(m.InitOrder) != len(want.Inits) {
			fail("%d initializers, want %d", len(m.InitOrder), len(want.Inits))
		}
		for k, wi := range want.Inits {
			if k >= len(m.InitOrder) || m.InitOrder[k] != wi.Name {
				fail("initializer %d is not %q", k, wi.Name)
				continue
			}
			inits++
			if err := compareTensor(wi, m.Initializers[wi.Name]); err != nil {
				fail("initializer %q: %v", wi.Name, err)
			}
		}
		checked++
	}
	t.Logf("%d models, %d nodes, %d attributes, %d initializers match the onnx Python package", checked, nodes, attrs, inits)
}

// TestOnnxGoMatchesOnnxpb decodes every libonnx-testdata model (supported
// or not) twice, through onnx-go and from the protobuf alone, and requires
// identical models: the two readers agree on every operator, input, output,
// attribute and tensor value.
func TestOnnxGoMatchesOnnxpb(t *testing.T) {
	files := libonnxModels(t)
	models, viaGo := 0, 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		a, rep, err := decode(data, f, true)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		b, _, err := decode(data, f, false)
		if err != nil {
			t.Errorf("onnxpb only: %v", err)
			continue
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: onnx-go and onnxpb decodings differ", f)
			for k := range a.Nodes {
				if k < len(b.Nodes) && !reflect.DeepEqual(a.Nodes[k], b.Nodes[k]) {
					t.Errorf("  node %d: %+v vs %+v", k, a.Nodes[k], b.Nodes[k])
					for name, at := range a.Nodes[k].Attrs {
						if bt := b.Nodes[k].Attrs[name]; at.Tensor != nil && bt.Tensor != nil {
							t.Errorf("  attribute %q: %+v vs %+v", name, *at.Tensor, *bt.Tensor)
						}
					}
					break
				}
			}
			for name, ta := range a.Initializers {
				if tb := b.Initializers[name]; !reflect.DeepEqual(ta, tb) {
					t.Errorf("  initializer %q: %+v vs %+v", name, *ta, *tb)
				}
			}
		}
		models++
		if rep.OnnxGo {
			viaGo++
		}
	}
	if viaGo < models*9/10 {
		t.Errorf("onnx-go completed only %d of %d models", viaGo, models)
	}
	t.Logf("%d models decoded identically by both paths; onnx-go ran to completion on %d", models, viaGo)
}
