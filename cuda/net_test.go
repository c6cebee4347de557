//go:build gnaudit_cuda

package cuda

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/collect"
	"github.com/gnaudit/gnaudit/auditor/data"
	"github.com/gnaudit/gnaudit/auditor/npy"
	"github.com/gnaudit/gnaudit/auditor/onnx"
	"github.com/gnaudit/gnaudit/internal/approx"
)

func loadNPY(t *testing.T, path string) *npy.Array {
	t.Helper()
	a, err := npy.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func f32(a *npy.Array) []float32 {
	out := make([]float32, len(a.F64))
	for i, v := range a.F64 {
		out[i] = float32(v)
	}
	return out
}

// relClose compares with tolerance tol relative to the largest |want| (the
// scale of the tensor), as float32 gradients of tiny entries carry only
// absolute accuracy.
func relClose(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	var scale float64
	for _, w := range want {
		scale = math.Max(scale, math.Abs(w))
	}
	g := make([]float64, len(got))
	for i, v := range got {
		g[i] = float64(v)
	}
	// |got − want| ≤ tol·(|want| + 1e-2·scale)
	if !approx.Slice(t, fmt.Sprintf("%s (scale %.3g)", what, scale), g, want, tol*1e-2*scale, tol) {
		t.FailNow()
	}
}

// TestNetAgainstPyTorch runs the PyTorch fixtures (testdata/torch) through the
// GPU net: logits, summed loss, batch gradients and functorch per-sample
// gradients of every parameter, at opsets 9, 11 and 13.
func TestNetAgainstPyTorch(t *testing.T) {
	root := filepath.Join("..", "testdata", "torch")
	for _, model := range []string{"alexnet", "alexnet_bn", "resnet"} {
		for _, opset := range []string{"9", "11", "13"} {
			t.Run(model+"/opset"+opset, func(t *testing.T) {
				dir := filepath.Join(root, model)
				m, err := onnx.Load(filepath.Join(dir, "opset"+opset+".onnx"))
				if err != nil {
					t.Fatal(err)
				}
				x := f32(loadNPY(t, filepath.Join(dir, "x.npy")))
				lab := loadNPY(t, filepath.Join(dir, "labels.npy"))
				labels := make([]int, len(lab.I64))
				for i, v := range lab.I64 {
					labels[i] = int(v)
				}
				net, err := dev.NewNet(m, len(labels))
				if err != nil {
					t.Fatal(err)
				}
				defer net.Close()
				logits, err := net.Forward(x)
				if err != nil {
					t.Fatal(err)
				}
				relClose(t, "logits", logits, loadNPY(t, filepath.Join(dir, "logits.npy")).F64, 1e-4)
				loss, err := net.LossGrad(x, labels)
				if err != nil {
					t.Fatal(err)
				}
				wantLoss := loadNPY(t, filepath.Join(dir, "loss.npy")).F64[0]
				if !approx.Rel(t, "loss against torch", loss, wantLoss, 1e-4) {
					t.FailNow()
				}
				files, _ := os.ReadDir(filepath.Join(dir, "persample"))
				if len(files) == 0 {
					t.Fatal("no per-sample fixtures")
				}
				for _, f := range files {
					name := strings.TrimSuffix(f.Name(), ".npy")
					ps := loadNPY(t, filepath.Join(dir, "persample", f.Name()))
					size := len(ps.F64) / len(labels)
					idx := make([]int32, size)
					for i := range idx {
						idx[i] = int32(i)
					}
					tested, sq, sum, err := net.PerSample(name, idx)
					if err != nil {
						t.Fatal(err)
					}
					relClose(t, name+" per-sample", tested, ps.F64, 1e-4)
					relClose(t, name+" batch gradient", sum, loadNPY(t, filepath.Join(dir, "grad", f.Name())).F64, 1e-4)
					for b := range labels {
						var want float64
						for j := 0; j < size; j++ {
							v := ps.F64[b*size+j]
							want += v * v
						}
						if !approx.Within(t, fmt.Sprintf("%s: |g_%d|²", name, b), sq[b], want, 1e-12, 1e-4) {
							t.FailNow()
						}
					}
				}
			})
		}
	}
}

// TestSourceAgainstPyTorch serves the fixture batch through the collect.Source
// of the GPU path in blocks of 3 (so the last block is padded) and checks every
// block against the functorch per-sample gradients.
func TestSourceAgainstPyTorch(t *testing.T) {
	dir := filepath.Join("..", "testdata", "torch", "alexnet_bn")
	m, err := onnx.Load(filepath.Join(dir, "opset13.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	xa := loadNPY(t, filepath.Join(dir, "x.npy"))
	lab := loadNPY(t, filepath.Join(dir, "labels.npy"))
	labels := make([]int, len(lab.I64))
	for i, v := range lab.I64 {
		labels[i] = int(v)
	}
	ds, err := data.New("fixture", data.Shape{C: xa.Shape[1], H: xa.Shape[2], W: xa.Shape[3]}, f32(xa), labels, 10)
	if err != nil {
		t.Fatal(err)
	}
	src, err := NewSource(dev, m, ds, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	req := collect.Request{Indices: []int{7, 0, 1, 2, 3, 4, 5, 6}, Full: true}
	ref := map[string]*npy.Array{}
	for _, l := range src.Layers() {
		a := loadNPY(t, filepath.Join(dir, "persample", l.Parameter+".npy"))
		ref[l.Parameter] = a
		all := make([]int, l.Size())
		for i := range all {
			all[i] = i
		}
		req.Tested = append(req.Tested, all)
	}
	seen := 0
	err = src.PerSample(context.Background(), req, func(b collect.Block) error {
		if b.Offset != seen {
			t.Fatalf("block at %d, want %d", b.Offset, seen)
		}
		seen += b.Rows
		for li, l := range src.Layers() {
			size := l.Size()
			lb := b.Layers[li]
			sum := make([]float64, size)
			for r := 0; r < b.Rows; r++ {
				sample := req.Indices[b.Offset+r]
				want := ref[l.Parameter].F64[sample*size : (sample+1)*size]
				got := make([]float32, size)
				var sq float64
				for j := range got {
					got[j] = float32(lb.Tested[r*size+j])
					sum[j] += want[j]
					sq += want[j] * want[j]
				}
				relClose(t, l.Parameter, got, want, 1e-4)
				if !approx.Within(t, fmt.Sprintf("%s sample %d: |g|²", l.Parameter, sample), lb.SumSq[r], sq, 1e-12, 1e-4) {
					t.FailNow()
				}
			}
			gs := make([]float32, size)
			for j := range gs {
				gs[j] = float32(lb.GradSum[j])
			}
			relClose(t, l.Parameter+" block sum", gs, sum, 1e-4)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != len(req.Indices) {
		t.Fatalf("blocks covered %d samples, want %d", seen, len(req.Indices))
	}
}
