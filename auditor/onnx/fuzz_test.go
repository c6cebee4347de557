package onnx

import (
	"crypto/sha256"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to Decode and, when they decode, to
// Inspect (the executor's checks have their own tests in auditor/graph). Nothing may panic, and a
// panic caught inside Decode (reported as "decoder panic") is a bug too.
// The committed corpus in testdata/fuzz/FuzzDecode holds small valid models
// (regenerate with GNAUDIT_WRITE_FUZZ_CORPUS=1 go test -run TestWriteFuzzCorpus).
//
//	go test ./auditor/onnx -run '^$' -fuzz FuzzDecode -fuzztime 60s
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.onnx")
	for _, p := range files {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data, "fuzz.onnx")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.onnx: ") {
				t.Fatalf("error %q does not name the file", err)
			}
			if strings.Contains(err.Error(), "decoder panic") {
				t.Fatalf("panic inside the decoder: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, n := range m.Nodes {
			if n.Name == "" || seen[n.Name] {
				t.Fatalf("node name %q empty or repeated", n.Name)
			}
			seen[n.Name] = true
		}
		for _, name := range m.Trainable {
			if tt := m.Initializers[name]; tt == nil || !isFloat(tt.Type) {
				t.Fatalf("trainable %q is not a float initializer", name)
			}
		}
		s := Inspect(m)
		_ = s.WriteText(&strings.Builder{})
	})
}

// corpusSeeds are the files of the committed fuzz corpus: the PyTorch
// fixtures and a few ONNX backend test models covering initializers,
// Constant nodes, opset-13 inputs and many attribute kinds.
var corpusSeeds = []string{
	"testdata/tinycnn_opset9.onnx",
	"testdata/tinycnn_opset13.onnx",
	"testdata/padclip_opset11.onnx",
	libonnxData + "/node/test_conv_with_strides_padding/model.onnx",
	libonnxData + "/node/test_gemm_all_attributes/model.onnx",
	libonnxData + "/node/test_maxpool_2d_ceil/model.onnx",
	libonnxData + "/node/test_batchnorm_example/model.onnx",
	libonnxData + "/node/test_unsqueeze_axis_0/model.onnx",
	libonnxData + "/node/test_constant_pad/model.onnx",
	libonnxData + "/node/test_slice_neg_steps/model.onnx",
	libonnxData + "/node/test_if/model.onnx",
	libonnxData + "/pytorch-converted/test_BatchNorm2d_eval/model.onnx",
	libonnxData + "/pytorch-operator/test_operator_view/model.onnx",
}

// TestWriteFuzzCorpus writes testdata/fuzz/FuzzDecode from corpusSeeds and
// from the fallback model of TestDecodeFallbacks. It runs only with
// GNAUDIT_WRITE_FUZZ_CORPUS=1.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("GNAUDIT_WRITE_FUZZ_CORPUS") != "1" {
		t.Skip("set GNAUDIT_WRITE_FUZZ_CORPUS=1 to rewrite testdata/fuzz/FuzzDecode")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(data []byte) {
		name := fmt.Sprintf("%x", sha256.Sum256(data))[:16]
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range corpusSeeds {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		write(data)
	}
	write(fallbackModel().bytes(t))
}

// TestMutatedModels is a deterministic fuzz smoke test for the default test
// run: 2000 copies of the PyTorch fixtures with 1-4 random bytes changed go
// through the FuzzDecode body.
func TestMutatedModels(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.onnx")
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	var seeds [][]byte
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, data)
	}
	r := rand.New(rand.NewSource(20240611))
	decoded := 0
	for i := 0; i < 2000; i++ {
		data := append([]byte{}, seeds[r.Intn(len(seeds))]...)
		for k := 0; k < 1+r.Intn(4); k++ {
			data[r.Intn(len(data))] = byte(r.Intn(256))
		}
		m, err := Decode(data, "mutant.onnx")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "mutant.onnx: ") || strings.Contains(err.Error(), "decoder panic") {
				t.Fatalf("mutant %d: %v", i, err)
			}
			continue
		}
		decoded++
		s := Inspect(m)
		_ = s.WriteText(&strings.Builder{})
	}
	t.Logf("%d of 2000 mutants decoded, the rest were rejected with errors", decoded)
}
