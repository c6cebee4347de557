package models

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/gnaudit/gnaudit/internal/approx"
	"github.com/gnaudit/gnaudit/internal/onnxpb"
)

func mustBuild(t *testing.T, name string, o Options) *onnxpb.ModelProto {
	t.Helper()
	m, err := Build(name, o)
	if err != nil {
		t.Fatalf("Build(%s, %+v): %v", name, o, err)
	}
	return m
}

func paramMap(m *onnxpb.ModelProto) map[string]Param {
	out := map[string]Param{}
	for _, p := range Params(m) {
		out[p.Name] = p
	}
	return out
}

func floats(t *testing.T, m *onnxpb.ModelProto, name string) []float32 {
	t.Helper()
	for _, init := range m.GetGraph().GetInitializer() {
		if init.GetName() == name {
			raw := init.GetRawData()
			out := make([]float32, len(raw)/4)
			for i := range out {
				out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
			return out
		}
	}
	t.Fatalf("no initializer %q", name)
	return nil
}

// The weight counts METHOD.md §8 reads from the paper's tables.
func TestParamCountsMatchPaper(t *testing.T) {
	alex := paramMap(mustBuild(t, "alexnet-cifar", Options{}))
	for name, want := range map[string]int64{
		"conv1.weight": 23232, "conv2.weight": 307200, "conv3.weight": 663552,
		"conv4.weight": 884736, "conv5.weight": 589824, "fc3.weight": 2560,
		"fc1.weight": 256 * 256, "fc2.weight": 256 * 256,
		"conv1.bias": 64, "conv5.bias": 256, "fc3.bias": 10,
	} {
		if got := alex[name].Size; got != want {
			t.Errorf("alexnet-cifar %s: %d weights, want %d", name, got, want)
		}
	}
	// Total: conv weights + conv biases + three FC layers with biases.
	wantAlex := int64(23232+307200+663552+884736+589824) + (64 + 192 + 384 + 256 + 256) +
		(256*256 + 256) + (256*256 + 256) + (2560 + 10)
	if got := ParamCount(mustBuild(t, "alexnet-cifar", Options{})); got != wantAlex {
		t.Errorf("alexnet-cifar: %d parameters, want %d", got, wantAlex)
	}

	for _, tc := range []struct {
		name   string
		blocks int
		// ResNet-20 with option-A shortcuts has 269,722 parameters (He et al.
		// 2016: "0.27M"); projections add 16·32 + 32·64 conv weights and
		// 2·(32 + 64) BN scale/bias.
		total int64
	}{
		{"resnet20", 3, 269722 + 16*32 + 32*64 + 2*(32+64)},
		{"resnet56", 9, 853018 + 16*32 + 32*64 + 2*(32+64)},
	} {
		m := mustBuild(t, tc.name, Options{})
		p := paramMap(m)
		if got := p["conv1.weight"].Size; got != 432 {
			t.Errorf("%s conv1.weight: %d, want 432", tc.name, got)
		}
		if got := p["fc.weight"].Size; got != 640 {
			t.Errorf("%s fc.weight: %d, want 640", tc.name, got)
		}
		want := map[int64]int{} // conv weight size -> how many 3x3 convs
		for _, q := range Params(m) {
			if strings.HasSuffix(q.Name, ".weight") && len(q.Dims) == 4 && q.Dims[2] == 3 {
				want[q.Size]++
			}
		}
		n := tc.blocks
		exp := map[int64]int{432: 1, 2304: 2 * n, 4608: 1, 9216: 2*n - 1, 18432: 1, 36864: 2*n - 1}
		for size, cnt := range exp {
			if want[size] != cnt {
				t.Errorf("%s: %d 3x3 convs with %d weights, want %d", tc.name, want[size], size, cnt)
			}
		}
		if len(want) != len(exp) {
			t.Errorf("%s: 3x3 conv sizes %v, want %v", tc.name, want, exp)
		}
		if got := p["layer2.0.conv1.weight"].Size; got != 4608 {
			t.Errorf("%s layer2.0.conv1.weight: %d, want 4608", tc.name, got)
		}
		if got := p["layer3.0.conv1.weight"].Size; got != 18432 {
			t.Errorf("%s layer3.0.conv1.weight: %d, want 18432", tc.name, got)
		}
		if got := ParamCount(m); got != tc.total {
			t.Errorf("%s: %d trainable parameters, want %d", tc.name, got, tc.total)
		}
		// BN running statistics are initializers but not trainable.
		if q := p["layer1.0.bn1.mean"]; q.Trainable || q.Size != 16 {
			t.Errorf("%s layer1.0.bn1.mean: %+v, want 16 non-trainable", tc.name, q)
		}
		if q := p["layer1.0.bn1.scale"]; !q.Trainable {
			t.Errorf("%s layer1.0.bn1.scale not trainable", tc.name)
		}
	}
}

// The spatial arithmetic: the first FC's in-features follow the input shape.
func TestAlexNetInputShapes(t *testing.T) {
	for _, tc := range []struct {
		input   [3]int
		classes int
		fc1In   int64
		pools   []string
	}{
		{[3]int{3, 32, 32}, 10, 256, []string{"pool1", "pool2", "pool5"}},      // 8 → 4 → 2 → 1
		{[3]int{1, 28, 28}, 10, 256, []string{"pool1", "pool2"}},               // 7 → 3 → 1 (pool5 on 1×1 omitted)
		{[3]int{3, 64, 64}, 100, 256 * 4, []string{"pool1", "pool2", "pool5"}}, // 16 → 8 → 4 → 2
		{[3]int{3, 32, 64}, 10, 256 * 2, []string{"pool1", "pool2", "pool5"}},  // 8x16 → ... → 1x2
		{[3]int{3, 8, 8}, 10, 256, []string{"pool1"}},                          // 2 → 1 → 1 → 1
	} {
		for _, name := range []string{"alexnet-cifar", "alexnet-cifar-bn"} {
			m := mustBuild(t, name, Options{Input: tc.input, Classes: tc.classes})
			p := paramMap(m)
			if d := p["fc1.weight"].Dims; len(d) != 2 || d[0] != 256 || d[1] != tc.fc1In {
				t.Errorf("%s %v: fc1.weight dims %v, want [256 %d]", name, tc.input, d, tc.fc1In)
			}
			if d := p["conv1.weight"].Dims; d[1] != int64(tc.input[0]) {
				t.Errorf("%s %v: conv1.weight dims %v", name, tc.input, d)
			}
			if d := p["fc3.weight"].Dims; d[0] != int64(tc.classes) {
				t.Errorf("%s %v: fc3.weight dims %v", name, tc.input, d)
			}
			var pools []string
			for _, n := range m.GetGraph().GetNode() {
				if n.GetOpType() == "MaxPool" {
					pools = append(pools, n.GetName())
				}
			}
			if strings.Join(pools, ",") != strings.Join(tc.pools, ",") {
				t.Errorf("%s %v: pools %v, want %v", name, tc.input, pools, tc.pools)
			}
		}
	}
}

// Graph structure: interface, op sequence, BN before every ReLU in the BN variant.
func TestGraphStructure(t *testing.T) {
	for _, name := range Names() {
		m := mustBuild(t, name, Options{Classes: 7})
		g := m.GetGraph()
		if m.GetOpsetImport()[0].GetVersion() != Opset || m.GetIrVersion() != irVersion {
			t.Errorf("%s: opset %v ir %d", name, m.GetOpsetImport(), m.GetIrVersion())
		}
		if len(g.GetInput()) != 1 || g.GetInput()[0].GetName() != InputName {
			t.Fatalf("%s: inputs %v", name, g.GetInput())
		}
		in := g.GetInput()[0].GetType().GetTensorType().GetShape().GetDim()
		out := g.GetOutput()[0].GetType().GetTensorType().GetShape().GetDim()
		if len(in) != 4 || in[0].GetDimParam() != BatchParam || in[1].GetDimValue() != 3 || in[3].GetDimValue() != 32 {
			t.Errorf("%s: input dims %v", name, in)
		}
		if g.GetOutput()[0].GetName() != OutputName || len(out) != 2 || out[0].GetDimParam() != BatchParam || out[1].GetDimValue() != 7 {
			t.Errorf("%s: output %v", name, g.GetOutput())
		}
		producer := map[string]*onnxpb.NodeProto{}
		inits := map[string]bool{}
		for _, i := range g.GetInitializer() {
			inits[i.GetName()] = true
		}
		ops := map[string]int{}
		for _, n := range g.GetNode() {
			ops[n.GetOpType()]++
			for _, v := range n.GetInput() {
				if v != InputName && !inits[v] && producer[v] == nil {
					t.Errorf("%s: node %s reads %q before it is produced", name, n.GetName(), v)
				}
			}
			producer[n.GetOutput()[0]] = n
		}
		if producer[OutputName] == nil || producer[OutputName].GetOpType() != "Gemm" {
			t.Errorf("%s: logits not produced by a Gemm", name)
		}
		bn := name != "alexnet-cifar"
		for _, n := range g.GetNode() {
			if n.GetOpType() != "Relu" {
				continue
			}
			prev := producer[n.GetInput()[0]].GetOpType()
			if bn && prev != "BatchNormalization" && prev != "Add" {
				t.Errorf("%s: %s follows %s, want BatchNormalization", name, n.GetName(), prev)
			}
			if !bn && prev == "BatchNormalization" {
				t.Errorf("%s: unexpected BN before %s", name, n.GetName())
			}
		}
		switch name {
		case "alexnet-cifar":
			want := map[string]int{"Conv": 5, "Relu": 7, "MaxPool": 3, "Flatten": 1, "Gemm": 3}
			if !equalCounts(ops, want) {
				t.Errorf("%s: ops %v, want %v", name, ops, want)
			}
		case "alexnet-cifar-bn":
			want := map[string]int{"Conv": 5, "BatchNormalization": 7, "Relu": 7, "MaxPool": 3, "Flatten": 1, "Gemm": 3}
			if !equalCounts(ops, want) {
				t.Errorf("%s: ops %v, want %v", name, ops, want)
			}
		case "resnet20", "resnet56":
			n := 3
			if name == "resnet56" {
				n = 9
			}
			convs := 1 + 6*n + 2 // + two projection shortcuts
			want := map[string]int{"Conv": convs, "BatchNormalization": convs, "Relu": 1 + 6*n,
				"Add": 3 * n, "GlobalAveragePool": 1, "Flatten": 1, "Gemm": 1}
			if !equalCounts(ops, want) {
				t.Errorf("%s: ops %v, want %v", name, ops, want)
			}
		}
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestInitialisation(t *testing.T) {
	m := mustBuild(t, "resnet20", Options{Seed: 42})
	// He normal: std sqrt(2/fan_in); the 36,864-weight convs have fan_in 576.
	w := floats(t, m, "layer3.1.conv1.weight")
	var s, s2 float64
	for _, v := range w {
		s += float64(v)
		s2 += float64(v) * float64(v)
	}
	n := float64(len(w))
	mean, std := s/n, math.Sqrt(s2/n-(s/n)*(s/n))
	he := math.Sqrt(2.0 / 576)
	// Standard errors: mean he/sqrt(n) = he/192, std he/sqrt(2n) = he/272.
	approx.SE(t, "layer3.1.conv1.weight: mean", mean, 0, he/192, 5)
	approx.SE(t, "layer3.1.conv1.weight: std against He's", std, he, he/272, 5)
	for name, want := range map[string]float32{"bn1.scale": 1, "bn1.bias": 0, "bn1.mean": 0, "bn1.var": 1, "fc.bias": 0} {
		for i, v := range floats(t, m, name) {
			if v != want {
				t.Fatalf("%s[%d] = %g, want %g", name, i, v, want)
			}
		}
	}
}

func TestDeterminism(t *testing.T) {
	a := mustBuild(t, "alexnet-cifar-bn", Options{Seed: 5})
	b := mustBuild(t, "alexnet-cifar-bn", Options{Seed: 5})
	if !proto.Equal(a, b) {
		t.Fatal("same seed, different models")
	}
	c := mustBuild(t, "alexnet-cifar-bn", Options{Seed: 6})
	if proto.Equal(a, c) {
		t.Fatal("different seeds, same model")
	}
	wa, wc := floats(t, a, "conv2.weight"), floats(t, c, "conv2.weight")
	same := 0
	for i := range wa {
		if wa[i] == wc[i] {
			same++
		}
	}
	if same > len(wa)/1000 {
		t.Errorf("seeds 5 and 6 share %d of %d conv2 weights", same, len(wa))
	}
	// A tensor's stream depends on its name only: changing the classes
	// leaves the convolutions unchanged.
	d := mustBuild(t, "alexnet-cifar-bn", Options{Seed: 5, Classes: 100})
	if !slices.Equal(floats(t, a, "conv3.weight"), floats(t, d, "conv3.weight")) {
		t.Error("conv3.weight depends on the number of classes")
	}
	// Written files are byte-identical.
	dir := t.TempDir()
	p1, p2 := filepath.Join(dir, "a.onnx"), filepath.Join(dir, "b.onnx")
	if err := Write(p1, a); err != nil {
		t.Fatal(err)
	}
	if err := Write(p2, b); err != nil {
		t.Fatal(err)
	}
	b1, _ := os.ReadFile(p1)
	b2, _ := os.ReadFile(p2)
	if len(b1) == 0 || string(b1) != string(b2) {
		t.Error("same model, different bytes")
	}
}

func TestWriteReadBack(t *testing.T) {
	m := mustBuild(t, "resnet20", Options{Input: [3]int{1, 28, 28}, Seed: 9})
	path := filepath.Join(t.TempDir(), "r.onnx")
	if err := Write(path, m); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back onnxpb.ModelProto
	if err := proto.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(m, &back) {
		t.Error("read-back model differs")
	}
	meta := map[string]string{}
	for _, e := range back.GetMetadataProps() {
		meta[e.GetKey()] = e.GetValue()
	}
	if meta["gnaudit.model"] != "resnet20" || meta["gnaudit.input"] != "1x28x28" || meta["gnaudit.seed"] != "9" || meta["gnaudit.classes"] != "10" {
		t.Errorf("metadata %v", meta)
	}
	if err := Write(filepath.Join(t.TempDir(), "no", "such", "dir.onnx"), m); err == nil {
		t.Error("Write into a missing directory succeeded")
	}
	if err := Write(path, nil); err == nil {
		t.Error("Write(nil) succeeded")
	}
}

func TestBuildErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  Options
		want string
	}{
		{"vgg16", Options{}, "unknown model"},
		{"resnet20", Options{Input: [3]int{0, 32, 32}}, "channels"},
		{"resnet20", Options{Input: [3]int{3, 0, 32}}, "input size"},
		{"alexnet-cifar", Options{Input: [3]int{3, 99999, 32}}, "input size"},
		{"alexnet-cifar", Options{Classes: -1}, "classes"},
		{"alexnet-cifar", Options{Input: [3]int{3, 4096, 4096}}, "limit"},
	} {
		_, err := Build(tc.name, tc.opt)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Build(%s, %+v) = %v, want error containing %q", tc.name, tc.opt, err, tc.want)
		}
	}
}

func TestParseInput(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want [3]int
		ok   bool
	}{
		{"3x32x32", [3]int{3, 32, 32}, true},
		{"1x28x28", [3]int{1, 28, 28}, true},
		{"3,224,224", [3]int{3, 224, 224}, true},
		{"1X28X28", [3]int{1, 28, 28}, true},
		{"3x32", [3]int{}, false},
		{"3x32x0", [3]int{}, false},
		{"3xax32", [3]int{}, false},
		{"", [3]int{}, false},
	} {
		got, err := ParseInput(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseInput(%q) = %v, %v", tc.in, got, err)
		}
		if tc.ok && FormatInput(got) != strings.ReplaceAll(strings.ToLower(strings.ReplaceAll(tc.in, ",", "x")), "X", "x") {
			t.Errorf("FormatInput(%v) = %q", got, FormatInput(got))
		}
	}
}

// TestPythonReference runs models/testdata/check_zoo.py with Debian's python
// (onnx 1.12, torch 1.13) when present: onnx.checker, strict shape inference
// ([batch, classes] output), an independent PyTorch module of each
// architecture with the same initializer names, shapes and parameter count,
// and the same logits from the ONNX graph as from that module.
func TestPythonReference(t *testing.T) {
	const py = "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	dir := t.TempDir()
	type spec struct {
		File    string `json:"file"`
		Name    string `json:"name"`
		Input   [3]int `json:"input"`
		Classes int    `json:"classes"`
		Params  int64  `json:"params"`
	}
	var specs []spec
	for i, c := range []struct {
		name string
		opt  Options
	}{
		{"alexnet-cifar", Options{}},
		{"alexnet-cifar-bn", Options{}},
		{"resnet20", Options{}},
		{"resnet56", Options{}},
		{"alexnet-cifar", Options{Input: [3]int{1, 28, 28}}},
		{"alexnet-cifar-bn", Options{Input: [3]int{1, 28, 28}, Classes: 5, Seed: 3}},
		{"resnet20", Options{Input: [3]int{1, 28, 28}, Classes: 7}},
		{"alexnet-cifar", Options{Input: [3]int{3, 32, 64}}},
	} {
		m := mustBuild(t, c.name, c.opt)
		o := c.opt.withDefaults()
		f := filepath.Join(dir, c.name+"-"+string(rune('a'+i))+".onnx")
		if err := Write(f, m); err != nil {
			t.Fatal(err)
		}
		specs = append(specs, spec{f, c.name, o.Input, o.Classes, ParamCount(m)})
	}
	js, _ := json.Marshal(specs)
	specPath := filepath.Join(dir, "spec.json")
	if err := os.WriteFile(specPath, js, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "testdata/check_zoo.py", specPath)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 77 {
		t.Skipf("python lacks onnx/torch: %s", out)
	}
	if err != nil {
		t.Fatalf("check_zoo.py: %v\n%s", err, out)
	}
	if got := strings.Count(string(out), ": ok ("); got != len(specs) {
		t.Errorf("check_zoo.py checked %d of %d files:\n%s", got, len(specs), out)
	}
	t.Logf("%s", out)
}
