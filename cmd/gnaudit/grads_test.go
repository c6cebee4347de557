package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/floats"

	"github.com/gnaudit/gnaudit/auditor/npy"
	"github.com/gnaudit/gnaudit/internal/approx"
)

const gradsFixtures = "../../testdata/torch"

func readNpyT(t *testing.T, path string) *npy.Array {
	t.Helper()
	a, err := npy.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestGradsCLI runs "gnaudit grads" in-process on the PyTorch fixtures (a
// symbolic-batch model at opset 9 and the fixed-batch-1 model, in chunks of
// 3 samples) and compares every file with functorch's per-sample gradients.
func TestGradsCLI(t *testing.T) {
	for _, model := range []string{"alexnet_bn/opset9.onnx", "alexnet_fixed1/opset13.onnx"} {
		data := filepath.Join(gradsFixtures, strings.Replace(filepath.Dir(model), "_fixed1", "", 1))
		out := t.TempDir()
		var o, e bytes.Buffer
		code := run([]string{"grads", "--model", filepath.Join(gradsFixtures, model), "--input", filepath.Join(data, "x.npy"),
			"--labels", filepath.Join(data, "labels.npy"), "--out", out, "--batch", "3"}, &o, &e)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", model, code, e.String())
		}
		if !strings.Contains(o.String(), "wrote 8 samples") {
			t.Errorf("%s: stdout %q", model, o.String())
		}
		var man struct {
			Loss       float64 `json:"loss"`
			Parameters []struct {
				Name  string `json:"name"`
				File  string `json:"file"`
				Shape []int  `json:"shape"`
			} `json:"parameters"`
		}
		b, err := os.ReadFile(filepath.Join(out, "manifest.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &man); err != nil {
			t.Fatal(err)
		}
		wantLoss := readNpyT(t, filepath.Join(data, "loss.npy")).F64[0]
		approx.Rel(t, model+": loss against torch", man.Loss, wantLoss, 1e-4)
		logits := readNpyT(t, filepath.Join(out, "logits.npy"))
		if logits.DType != npy.Float32 || len(logits.Shape) != 2 || logits.Shape[0] != 8 || logits.Shape[1] != 10 {
			t.Errorf("%s: logits %s %v", model, logits.DType, logits.Shape)
		} else {
			// float32 against torch's float32: within 1e-4 of the tensor's max |value|
			want := readNpyT(t, filepath.Join(data, "logits.npy")).F64
			approx.Slice(t, model+": logits", logits.F64, want, 1e-4*floats.Norm(want, math.Inf(1)), 0)
		}
		fix, _ := filepath.Glob(filepath.Join(data, "persample", "*.npy"))
		if len(man.Parameters) != len(fix) || len(fix) == 0 {
			t.Fatalf("%s: %d parameters in the manifest, %d fixtures", model, len(man.Parameters), len(fix))
		}
		for _, p := range man.Parameters {
			if p.File != p.Name+".npy" {
				t.Errorf("%s: file %q for %q", model, p.File, p.Name)
			}
			got := readNpyT(t, filepath.Join(out, p.File))
			want := readNpyT(t, filepath.Join(data, "persample", p.Name+".npy"))
			if got.DType != npy.Float32 || !slices.Equal(got.Shape, want.Shape) || !slices.Equal(p.Shape, want.Shape) {
				t.Errorf("%s %s: %s %v (manifest %v), want float32 %v", model, p.Name, got.DType, got.Shape, p.Shape, want.Shape)
				continue
			}
			approx.Slice(t, model+" "+p.Name, got.F64, want.F64, 1e-4*floats.Norm(want.F64, math.Inf(1)), 0)
		}
		left, _ := filepath.Glob(filepath.Join(out, ".*"))
		if len(left) > 0 {
			t.Errorf("%s: temporary files left: %v", model, left)
		}
	}
}

func TestGradsCLIErrors(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(gradsFixtures, "resnet/opset13.onnx")
	x := filepath.Join(gradsFixtures, "resnet/x.npy")
	y := filepath.Join(gradsFixtures, "resnet/labels.npy")
	write := func(name string, shape []int, v []float64) string {
		p := filepath.Join(dir, name)
		if err := npy.WriteFileFloat64(p, shape, v); err != nil {
			t.Fatal(err)
		}
		return p
	}
	wrongX := write("wrongx.npy", []int{2, 3, 16, 16}, make([]float64, 2*3*256))
	shortY := write("shorty.npy", []int{7}, make([]float64, 7))
	badY := write("bady.npy", []int{8}, []float64{0, 1, 2, 3, 4, 5, 6, 10})
	fracY := write("fracy.npy", []int{8}, []float64{0, 1, 2, 3, 4, 5, 6, 1.5})
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--model", model, "--input", x, "--labels", y}, exitUsage, "are required"},
		{[]string{"--model", model, "--input", wrongX, "--labels", y, "--out", dir}, exitUsage, "wrongx.npy: shape [2 3 16 16], but the model input is [N, 1, 16, 16]"},
		{[]string{"--model", model, "--input", x, "--labels", shortY, "--out", dir}, exitUsage, "shorty.npy: shape [7], want [8]"},
		{[]string{"--model", model, "--input", x, "--labels", badY, "--out", dir}, exitUsage, "bady.npy: label 10 of sample 7 is not a class index in [0, 10)"},
		{[]string{"--model", model, "--input", x, "--labels", fracY, "--out", dir}, exitUsage, "label 1.5 of sample 7"},
		{[]string{"--model", model, "--input", x, "--labels", y, "--out", dir, "--batch", "0"}, exitUsage, "--batch 0"},
		{[]string{"--model", filepath.Join(dir, "none.onnx"), "--input", x, "--labels", y, "--out", dir}, exitUsage, "none.onnx"}, // missing files exit 2 everywhere
		{[]string{"--model", model, "--input", filepath.Join(dir, "none.npy"), "--labels", y, "--out", dir}, exitUsage, "none.npy"},
	} {
		var o, e bytes.Buffer
		code := run(append([]string{"grads"}, c.args...), &o, &e)
		if code != c.code || !strings.Contains(e.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.args, code, e.String(), c.code, c.want)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.npy")); len(left) != 4 {
		t.Errorf("files after failed runs: %v", left)
	}
}
