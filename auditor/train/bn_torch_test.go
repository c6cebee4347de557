package train

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/data"
	"github.com/gnaudit/gnaudit/auditor/graph"
	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/internal/approx"
	"github.com/gnaudit/gnaudit/internal/onnxpb"
)

// trainFixture is testdata/train_torch.json (scripts/fixtures/gen_train_torch.py).
type trainFixture struct {
	X      []float64 `json:"x"`
	XShape []int     `json:"x_shape"`
	Y      []int     `json:"y"`
	Init   map[string]struct {
		Shape []int64   `json:"shape"`
		Value []float64 `json:"value"`
	} `json:"init"`
	Stats map[string][]float64 `json:"stats"`
	Cases []struct {
		Name        string                 `json:"name"`
		Optimizer   string                 `json:"optimizer"`
		LR0         float64                `json:"lr"`
		Momentum    float64                `json:"momentum"`
		WeightDecay float64                `json:"weight_decay"`
		Beta1       float64                `json:"beta1"`
		Beta2       float64                `json:"beta2"`
		Eps         float64                `json:"eps"`
		Warmup      int                    `json:"warmup"`
		LR          []float64              `json:"-"`
		Loss        []float64              `json:"loss"`
		At          []int                  `json:"at"`
		Grads       []map[string][]float64 `json:"grads"`
		Params      []map[string][]float64 `json:"params"`
		StatsAfter  []map[string][]float64 `json:"stats"`
	} `json:"cases"`
}

// The fixture's names: torch's parameter and buffer names are used as the
// ONNX initializer names.
func bnFixtureModel(t *testing.T, fx *trainFixture) *ir.Model {
	b := newPBB(1, false)
	w := func(name string) string {
		in, ok := fx.Init[name]
		if !ok {
			st := fx.Stats[name]
			v := make([]float32, len(st))
			for i, x := range st {
				v[i] = float32(x)
			}
			return b.tensor(name, []int64{int64(len(st))}, v)
		}
		v := make([]float32, len(in.Value))
		for i, x := range in.Value {
			v[i] = float32(x)
		}
		return b.tensor(name, in.Shape, v)
	}
	h := b.node("Conv", "conv", []string{"x", w("conv.weight")}, "",
		onnxpb.IntsAttr("kernel_shape", 3, 3), onnxpb.IntsAttr("pads", 1, 1, 1, 1))
	h = b.node("BatchNormalization", "bn1", []string{h, w("bn1.weight"), w("bn1.bias"), w("bn1.running_mean"), w("bn1.running_var")}, "",
		onnxpb.FloatAttr("epsilon", 1e-5), onnxpb.FloatAttr("momentum", 0.9))
	h = b.node("Relu", "relu1", []string{h}, "")
	h = b.node("Flatten", "flatten", []string{h}, "", onnxpb.IntAttr("axis", 1))
	h = b.node("Gemm", "fc1", []string{h, w("fc1.weight")}, "", onnxpb.IntAttr("transB", 1))
	h = b.node("BatchNormalization", "bn2", []string{h, w("bn2.weight"), w("bn2.bias"), w("bn2.running_mean"), w("bn2.running_var")}, "",
		onnxpb.FloatAttr("epsilon", 1e-5), onnxpb.FloatAttr("momentum", 0.9))
	h = b.node("Relu", "relu2", []string{h}, "")
	b.node("Gemm", "fc2", []string{h, w("fc2.weight"), w("fc2.bias")}, "logits", onnxpb.IntAttr("transB", 1))
	_, m := writeModel(t, t.TempDir(), "bn.onnx", b.model([]int64{2, 3, 3}, []int64{3}))
	return m
}

func loadTrainFixture(t *testing.T) *trainFixture {
	raw, err := os.ReadFile("testdata/train_torch.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx trainFixture
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	return &fx
}

func fixtureData(t *testing.T, fx *trainFixture) data.Dataset {
	pix := make([]float32, len(fx.X))
	for i, v := range fx.X {
		pix[i] = float32(v)
	}
	ds, err := data.New("fixture", data.Shape{C: fx.XShape[1], H: fx.XShape[2], W: fx.XShape[3]}, pix, fx.Y, 3)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// relDiff is max approx.RelErrFloor(a, b, 1e-3) (∞ on a length mismatch).
func relDiff(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = math.Max(d, approx.RelErrFloor(a[i], b[i], 1e-3))
	}
	return d
}

// Train-mode BatchNorm with torch.optim.SGD and torch.optim.AdamW (with and
// without a linear warm-up) against PyTorch's model.train() over 10
// updates: losses, mean gradients, parameters and running statistics
// within 1e-9 relative (float64 executor; the float32 one within 1e-4).
// The mean gradients are checked by TestTrainModeBNGradsAgainstTorch.
func TestTrainModeBNAgainstTorch(t *testing.T) {
	fx := loadTrainFixture(t)
	m := bnFixtureModel(t, fx)
	ds := fixtureData(t, fx)
	for _, c := range fx.Cases {
		for _, f64 := range []bool{true, false} {
			name := c.Name + "/float64"
			tol := 1e-9 // the issue asks for 1e-5; float64 agrees to ~5e-13
			if !f64 {
				name, tol = c.Name+"/float32", 1e-4
			}
			t.Run(name, func(t *testing.T) {
				opt := Defaults()
				opt.Steps = len(c.Loss)
				opt.BatchSize = len(fx.Y)
				opt.Float64 = f64
				opt.Optimizer = c.Optimizer
				opt.LR = Constant(c.LR0)
				opt.Momentum, opt.WeightDecay = c.Momentum, c.WeightDecay
				opt.Beta1, opt.Beta2, opt.Eps = c.Beta1, c.Beta2, c.Eps
				opt.WarmupSteps = c.Warmup
				var ckParams []map[string][]float64
				var ckStats []map[string][]float64
				opt.AuditAt = []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
				opt.OnAudit = func(_ context.Context, ck *Checkpoint) error {
					p, s := map[string][]float64{}, map[string][]float64{}
					for _, q := range ck.Params {
						p[q.Name] = q.Value
					}
					for _, q := range ck.Stats {
						s[q.Name] = q.Value
					}
					ckParams = append(ckParams, p)
					ckStats = append(ckStats, s)
					return nil
				}
				res, err := Train(context.Background(), m, ds, opt)
				if err != nil {
					t.Fatal(err)
				}
				if res.Settings.BatchNorm != BNTrain {
					t.Fatalf("BatchNorm mode %q, want train", res.Settings.BatchNorm)
				}
				worst := 0.0
				for k, rec := range res.Curve {
					worst = math.Max(worst, approx.RelErr(rec.Loss, c.Loss[k]))
					approx.Rel(t, fmt.Sprintf("update %d: loss against torch", k), rec.Loss, c.Loss[k], tol)
					wantLR := c.LR0 * math.Min(1, float64(k+1)/math.Max(1, float64(c.Warmup)))
					approx.Abs(t, fmt.Sprintf("update %d: lr", k), rec.LR, wantLR, approx.Rounding)
				}
				for k := range ckStats {
					for name, want := range c.StatsAfter[k] {
						d := relDiff(ckStats[k][name], want)
						worst = math.Max(worst, d)
						if d > tol {
							t.Errorf("update %d: running statistic %s differs from torch by %.3g: %v vs %v", k, name, d, ckStats[k][name], want)
						}
					}
				}
				for i, k := range c.At {
					for name, want := range c.Params[i] {
						d := relDiff(ckParams[k][name], want)
						worst = math.Max(worst, d)
						if d > tol {
							t.Errorf("update %d: parameter %s differs from torch by %.3g", k, name, d)
						}
					}
				}
				// Result.Stats are the last checkpoint's; Saved holds both.
				for _, s := range res.Stats {
					if !slices.Equal(s.Value, ckStats[len(ckStats)-1][s.Name]) {
						t.Errorf("Result.Stats[%s] differs from the last checkpoint", s.Name)
					}
				}
				if len(res.Saved()) != len(res.Params)+4 {
					t.Errorf("Saved has %d entries, want %d parameters + 4 statistics", len(res.Saved()), len(res.Params))
				}
				t.Logf("largest relative difference from torch (losses, parameters, running statistics): %.2g", worst)
			})
		}
	}
}

// The executor's train-mode BatchNorm gradients (mean over the batch)
// against torch's at the fixture's updates 0 and 1 (parameters before
// update 1 = after update 0).
func TestTrainModeBNGradsAgainstTorch(t *testing.T) {
	fx := loadTrainFixture(t)
	m := bnFixtureModel(t, fx)
	ds := fixtureData(t, fx)
	pos := make([]int, ds.Len())
	for i := range pos {
		pos[i] = i
	}
	x, y, err := ds.Batch(pos, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range fx.Cases {
		for _, f64 := range []bool{true, false} {
			tol := 1e-9
			if !f64 {
				tol = 1e-4
			}
			net, err := graph.Build(m, graph.Options{Batch: len(pos), Float64: f64, BatchNormTrain: true})
			if err != nil {
				t.Fatal(err)
			}
			for i, k := range c.At[:2] {
				if k == 1 {
					for name, v := range c.Params[0] {
						if err := net.SetParam(name, v); err != nil {
							t.Fatal(err)
						}
					}
				}
				sum, err := net.LossGrad(x, y)
				if err != nil {
					t.Fatal(err)
				}
				approx.Rel(t, fmt.Sprintf("%s float64=%v update %d: loss against torch", c.Name, f64, k), sum/8, c.Loss[k], tol)
				worst := 0.0
				for name, want := range c.Grads[i] {
					g := net.Grad(name)
					for j := range g {
						g[j] /= 8
					}
					// gradients near 0 are compared against the largest entry
					scale := 0.0
					for _, w := range want {
						scale = math.Max(scale, math.Abs(w))
					}
					d := 0.0
					if len(g) != len(want) {
						d = math.Inf(1)
					}
					for j := range want {
						d = math.Max(d, approx.RelErrFloor(g[j], want[j], 1e-3*scale))
					}
					worst = math.Max(worst, d)
					if d > tol {
						t.Errorf("%s float64=%v update %d: gradient of %s differs from torch by %.3g", c.Name, f64, k, name, d)
					}
				}
				t.Logf("%s float64=%v update %d: gradients within %.2g of torch", c.Name, f64, k, worst)
			}
		}
	}
}
