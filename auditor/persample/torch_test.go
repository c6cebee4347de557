package persample

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/auditor/npy"
	"github.com/gnaudit/gnaudit/auditor/onnx"
	"github.com/gnaudit/gnaudit/internal/approx"
	"github.com/gnaudit/gnaudit/models"
)

const torchDir = "../../testdata/torch"

// torchManifest is the part of testdata/torch/manifest.json the tests read.
type torchManifest struct {
	Batch  int `json:"batch"`
	Models map[string]struct {
		InputShape []int             `json:"input_shape"`
		ONNX       map[string]string `json:"onnx"`
		X          string            `json:"x"`
		Labels     string            `json:"labels"`
		Logits     string            `json:"logits"`
		Loss       float64           `json:"loss"`
		Data       string            `json:"data"`
		Params     []struct {
			ONNX      string `json:"onnx"`
			Shape     []int  `json:"shape"`
			Persample string `json:"persample"`
		} `json:"params"`
	} `json:"models"`
}

func loadTorchManifest(t testing.TB) *torchManifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(torchDir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m torchManifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

func readNpy(t testing.TB, rel string) *npy.Array {
	t.Helper()
	a, err := npy.ReadFile(filepath.Join(torchDir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestTorchFixtures compares the per-sample gradients (float32 engine) with
// PyTorch's functorch vmap(grad) for every parameter of alexnet, alexnet_bn
// and resnet at opsets 9, 11 and 13 (batch 8, one pass), and of the
// fixed-batch-1 alexnet rebatched to 8: relative error ≤ 1e-4 of each
// tensor's scale. Loss and logits too.
func TestTorchFixtures(t *testing.T) {
	man := loadTorchManifest(t)
	type tc struct{ model, opset, data string }
	var cases []tc
	for _, m := range []string{"alexnet", "alexnet_bn", "resnet"} {
		for _, o := range []string{"9", "11", "13"} {
			cases = append(cases, tc{m, o, m})
		}
	}
	cases = append(cases, tc{"alexnet_fixed1", "13", "alexnet"})
	for _, c := range cases {
		t.Run(c.model+"/opset"+c.opset, func(t *testing.T) {
			mm := man.Models[c.model]
			data := man.Models[c.data]
			m, err := onnx.Load(filepath.Join(torchDir, mm.ONNX[c.opset]))
			if err != nil {
				t.Fatal(err)
			}
			x := readNpy(t, data.X)
			ya := readNpy(t, data.Labels)
			labels := make([]int, len(ya.I64))
			for i, v := range ya.I64 {
				labels[i] = int(v)
			}
			e, err := New(m, Options{Batch: man.Batch})
			if err != nil {
				t.Fatal(err)
			}
			if fb := e.Fallbacks(); len(fb) > 0 {
				t.Errorf("parameters on the fallback: %v", fb)
			}
			res, err := e.Compute(x.F64, labels, Request{Full: true, Norms: true})
			if err != nil {
				t.Fatal(err)
			}
			approx.Within(t, "loss against torch", res.Loss, data.Loss, 0, 1e-4)
			wl := readNpy(t, data.Logits).F64
			approx.Slice(t, "logits against torch", res.Logits, wl, scaled(wl, 1e-4), 0)
			params := e.Params()
			byName := map[string]int{}
			for k, p := range params {
				byName[p.Name] = k
			}
			if len(params) != len(data.Params) {
				t.Errorf("%d trainable parameters, torch has %d", len(params), len(data.Params))
			}
			for _, tp := range data.Params {
				k, ok := byName[tp.ONNX]
				if !ok {
					t.Errorf("parameter %q is not trainable in the import", tp.ONNX)
					continue
				}
				want := readNpy(t, tp.Persample)
				size := params[k].Size
				if len(want.F64) != man.Batch*size {
					t.Fatalf("%s: fixture has %d values, want %d×%d", tp.ONNX, len(want.F64), man.Batch, size)
				}
				var got []float64
				for i := 0; i < man.Batch; i++ {
					got = append(got, rowOf(res.Params[k], i, size)...)
				}
				approx.Slice(t, fmt.Sprintf("%s (%s) against torch", tp.ONNX, params[k].Method), got, want.F64, scaled(want.F64, 1e-4), 0)
				for i := 0; i < man.Batch; i++ {
					s := 0.0
					for _, v := range want.F64[i*size : (i+1)*size] {
						s += v * v
					}
					approx.Within(t, fmt.Sprintf("%s sample %d: |g|² against torch", tp.ONNX, i), res.Params[k].SqNorm[i], s, 1e-12, 2e-4)
				}
			}
		})
	}
}

// TestTorchNormsAndCoords: without Full, on the torch fixtures, squared
// norms and coordinates (whatever path computes them) agree with vmap(grad).
func TestTorchNormsAndCoords(t *testing.T) {
	man := loadTorchManifest(t)
	mm := man.Models["resnet"]
	m, err := onnx.Load(filepath.Join(torchDir, mm.ONNX["13"]))
	if err != nil {
		t.Fatal(err)
	}
	x := readNpy(t, mm.X)
	labels := make([]int, man.Batch)
	for i, v := range readNpy(t, mm.Labels).I64 {
		labels[i] = int(v)
	}
	e, err := New(m, Options{Batch: 3}) // chunks 3, 3, 2
	if err != nil {
		t.Fatal(err)
	}
	params := e.Params()
	coords := make([][]int, len(params))
	for k, p := range params {
		for j := 0; j < p.Size; j += 1 + p.Size/7 {
			coords[k] = append(coords[k], j)
		}
	}
	res, err := e.Compute(x.F64, labels, Request{Norms: true, Coords: coords})
	if err != nil {
		t.Fatal(err)
	}
	for k, p := range params {
		var tp string
		for _, q := range mm.Params {
			if q.ONNX == p.Name {
				tp = q.Persample
			}
		}
		if tp == "" {
			t.Fatalf("no fixture for %q", p.Name)
		}
		want := readNpy(t, tp).F64
		var wc, ws []float64
		for i := 0; i < man.Batch; i++ {
			row := want[i*p.Size : (i+1)*p.Size]
			s := 0.0
			for _, v := range row {
				s += v * v
			}
			ws = append(ws, s)
			for _, j := range coords[k] {
				wc = append(wc, row[j])
			}
		}
		approx.Slice(t, p.Name+": coordinates against torch", res.Params[k].Coords, wc, scaled(wc, 1e-4), 0)
		approx.Slice(t, p.Name+": squared norms against torch", res.Params[k].SqNorm, ws, scaled(ws, 2e-4), 0)
	}
}

// TestModelsMatchBatch1Passes: zoo models (alexnet-cifar-bn and resnet20 on
// 3×16×16) and two PyTorch fixtures, float64, against batch-1 passes.
func TestModelsMatchBatch1Passes(t *testing.T) {
	type mc struct {
		name string
		m    *ir.Model
		in   int
	}
	var cases []mc
	for _, name := range []string{"alexnet-cifar-bn", "resnet20"} {
		pb, err := models.Build(name, models.Options{Input: [3]int{3, 16, 16}, Seed: 5})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), name+".onnx")
		if err := models.Write(p, pb); err != nil {
			t.Fatal(err)
		}
		m, err := onnx.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, mc{name, m, 3 * 16 * 16})
	}
	for _, f := range []string{"alexnet_bn/opset9.onnx", "resnet/opset11.onnx"} {
		m, err := onnx.Load(filepath.Join(torchDir, f))
		if err != nil {
			t.Fatal(err)
		}
		in := 3 * 16 * 16
		if strings.HasPrefix(f, "resnet") {
			in = 16 * 16
		}
		cases = append(cases, mc{f, m, in})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			const n = 3
			x := randInput(11, n*c.in)
			y := randLabels(12, n, 10)
			ref := reference(t, c.m, x, y)
			e, err := New(c.m, Options{Float64: true, Batch: n})
			if err != nil {
				t.Fatal(err)
			}
			if fb := e.Fallbacks(); len(fb) > 0 {
				t.Errorf("fallbacks: %v", fb)
			}
			req := Request{Full: true, Norms: true}
			res, err := e.Compute(x, y, req)
			if err != nil {
				t.Fatal(err)
			}
			checkAgainst(t, e.Params(), ref, res, req, 1e-9)
		})
	}
}
