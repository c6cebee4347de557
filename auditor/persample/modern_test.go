package persample

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/npy"
	"github.com/gnaudit/gnaudit/auditor/onnx"
	"github.com/gnaudit/gnaudit/internal/approx"
)

const modernDir = "../../testdata/modern"

// modernManifest is testdata/modern/manifest.json (scripts/fixtures/gen_modern.py).
type modernManifest struct {
	Opsets []int `json:"opsets"`
	Models map[string]struct {
		Batch  int               `json:"batch"`
		ONNX   map[string]string `json:"onnx"`
		X      string            `json:"x"`
		Labels string            `json:"labels"`
		Logits string            `json:"logits"`
		Params []struct {
			ONNX      string `json:"onnx"`
			Persample string `json:"persample"`
		} `json:"params"`
	} `json:"models"`
}

// TestModernFamilies compares logits and per-sample gradients (float32
// engine, one batched pass) with functorch vmap(grad) in float64 for the
// modern-family fixtures of testdata/modern (MLP with LayerNorm and GELU,
// ConvNeXt, MobileNetV3, ViT, ShuffleNetV2, an int64-token text classifier)
// at opsets 13 and 17: relative error ≤ 1e-4 of each tensor's scale, and
// the trainable set equal to torch's parameters.
func TestModernFamilies(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(modernDir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var man modernManifest
	if err := json.Unmarshal(b, &man); err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(man.Models))
	for k := range man.Models {
		names = append(names, k)
	}
	sort.Strings(names)
	read := func(t *testing.T, rel string) *npy.Array {
		a, err := npy.ReadFile(filepath.Join(modernDir, rel))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	for _, name := range names {
		mm := man.Models[name]
		for _, opset := range man.Opsets {
			o := filepath.Base(mm.ONNX[itoa(opset)])
			t.Run(name+"/"+o, func(t *testing.T) {
				m, err := onnx.Load(filepath.Join(modernDir, mm.ONNX[itoa(opset)]))
				if err != nil {
					t.Fatal(err)
				}
				x := read(t, mm.X)
				labels := make([]int, mm.Batch)
				for i, v := range read(t, mm.Labels).I64 {
					labels[i] = int(v)
				}
				e, err := New(m, Options{Batch: mm.Batch})
				if err != nil {
					t.Fatal(err)
				}
				if fb := e.Fallbacks(); len(fb) > 0 && !allowedFallback[name] {
					t.Errorf("parameters on the batch-1 fallback: %v", fb)
				} else if len(fb) > 0 {
					t.Logf("batch-1 fallback (expected): %d parameters", len(fb))
				}
				res, err := e.Compute(x.F64, labels, Request{Full: true, Norms: true})
				if err != nil {
					t.Fatal(err)
				}
				wl := read(t, mm.Logits).F64
				approx.Slice(t, "logits against torch", res.Logits, wl, scaled(wl, 1e-4), 0)
				params := e.Params()
				// inspect and the engine agree on the trainable set.
				sum := Inspect(m)
				total := int64(0)
				for _, p := range params {
					total += int64(p.Size)
				}
				if !sum.Supported || sum.TrainableTensors != len(params) || sum.TrainableParams != total {
					t.Errorf("inspect: supported %v %v, %d trainable tensors / %d values; the engine has %d / %d",
						sum.Supported, sum.Problems, sum.TrainableTensors, sum.TrainableParams, len(params), total)
				}
				byName := map[string]int{}
				for k, p := range params {
					byName[p.Name] = k
				}
				if len(params) != len(mm.Params) {
					var got []string
					for _, p := range params {
						got = append(got, p.Name)
					}
					t.Errorf("%d trainable parameters %v, torch has %d", len(params), got, len(mm.Params))
				}
				for _, tp := range mm.Params {
					k, ok := byName[tp.ONNX]
					if !ok {
						t.Errorf("parameter %q is not trainable in the import", tp.ONNX)
						continue
					}
					want := read(t, tp.Persample)
					size := params[k].Size
					if len(want.F64) != mm.Batch*size {
						t.Fatalf("%s: fixture has %d values, want %d×%d", tp.ONNX, len(want.F64), mm.Batch, size)
					}
					var got []float64
					for i := 0; i < mm.Batch; i++ {
						got = append(got, rowOf(res.Params[k], i, size)...)
					}
					approx.Slice(t, fmt.Sprintf("%s (%s) against torch", tp.ONNX, params[k].Method), got, want.F64, scaled(want.F64, 1e-4), 0)
				}
			})
		}
	}
}

// allowedFallback lists the fixtures whose parameters may take the batch-1
// fallback (none: torchvision's ViT, whose attention torch exports
// sequence-first, is expanded on plain copies of its moved-batch values).
var allowedFallback = map[string]bool{}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
