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
	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/internal/approx"
	"github.com/gnaudit/gnaudit/internal/onnxpb"
)

// SGD.Update against a hand computation, with a learning-rate change and a
// parameter without weight decay.
func TestSGDHand(t *testing.T) {
	o := SGD{Momentum: 0.9, WeightDecay: 0.1}
	th := []float64{1, -2}
	// update 1, lr 0.1, g = (0.5, 0.25):
	//   v = −0.1·(0.5 + 0.1·1) = −0.06,        θ = 0.94
	//   v = −0.1·(0.25 + 0.1·(−2)) = −0.005,   θ = −2.005
	if err := o.Update("w", th, []float64{0.5, 0.25}, 0.1, true); err != nil {
		t.Fatal(err)
	}
	// update 2, lr 0.01, g = (0.2, −1):
	//   v = 0.9·(−0.06) − 0.01·(0.2 + 0.094) = −0.05694,     θ = 0.88306
	//   v = 0.9·(−0.005) − 0.01·(−1 − 0.2005) = 0.007505,    θ = −1.997495
	if err := o.Update("w", th, []float64{0.2, -1}, 0.01, true); err != nil {
		t.Fatal(err)
	}
	want := []float64{0.88306, -1.997495}
	wantV := []float64{-0.05694, 0.007505}
	for i := range th {
		approx.Abs(t, fmt.Sprintf("θ[%d]", i), th[i], want[i], approx.Rounding)
		approx.Abs(t, fmt.Sprintf("velocity[%d]", i), o.Velocity("w")[i], wantV[i], approx.Rounding)
	}
	// no decay: v = −0.1·0.5, θ = 1 − 0.05; then v = 0.9·(−0.05) − 0.1·0 → θ = 0.95 − 0.045.
	b := []float64{1}
	o.Update("b", b, []float64{0.5}, 0.1, false)
	o.Update("b", b, []float64{0}, 0.1, false)
	approx.Abs(t, "no-decay parameter", b[0], 0.905, approx.Rounding)
	if err := o.Update("w", th, []float64{1}, 0.1, true); err == nil {
		t.Error("gradient of the wrong length accepted")
	}
	if o.Velocity("nope") != nil {
		t.Error("velocity of an unknown parameter")
	}
	for _, bad := range []SGD{{Momentum: 1}, {Momentum: -0.1}, {WeightDecay: -1}, {WeightDecay: math.Inf(1)}, {Momentum: math.NaN()}} {
		if bad.validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// sgdFixture is testdata/sgd_torch.json (scripts/fixtures/gen_sgd.py).
type sgdFixture struct {
	X    [][]float64 `json:"x"`
	Y    []int       `json:"y"`
	Init map[string]struct {
		Shape []int64   `json:"shape"`
		Value []float64 `json:"value"`
	} `json:"init"`
	Cases []struct {
		Name        string                 `json:"name"`
		LR          []float64              `json:"lr"`
		Momentum    float64                `json:"momentum"`
		WeightDecay float64                `json:"weight_decay"`
		Decay       []string               `json:"decay"`
		Clip        float64                `json:"clip"`
		Loss        []float64              `json:"loss"`
		Torch       []map[string][]float64 `json:"torch"`
		Method      []map[string][]float64 `json:"method"`
		MethodLoss  []float64              `json:"method_loss"`
	} `json:"cases"`
}

// mlpModel builds the fixture's MLP as an ONNX file (float_data storage) and
// loads it.
func mlpModel(t *testing.T, fx *sgdFixture) *ir.Model {
	b := newPBB(1, false)
	w := func(name string) string {
		in := fx.Init[name]
		v := make([]float32, len(in.Value))
		for i, x := range in.Value {
			v[i] = float32(x)
		}
		return b.tensor(name, in.Shape, v)
	}
	h := b.node("Gemm", "fc1", []string{"x", w("fc1.weight"), w("fc1.bias")}, "", onnxpb.IntAttr("transB", 1))
	h = b.node("Relu", "relu", []string{h}, "")
	b.node("Gemm", "fc2", []string{h, w("fc2.weight"), w("fc2.bias")}, "logits", onnxpb.IntAttr("transB", 1))
	_, m := writeModel(t, t.TempDir(), "mlp.onnx", b.model([]int64{4}, []int64{3}))
	return m
}

// fixedLR replays a list of learning rates.
type fixedLR []float64

func (f fixedLR) LR(step, total int) float64 { return f[step] }
func (f fixedLR) String() string             { return fmt.Sprint([]float64(f)) }

// The trainer's trajectory against PyTorch (constant η, weight decay on the
// weights only, gradient clipping) and, across a learning-rate change,
// against METHOD.md's form — which there differs from torch.optim.SGD.
func TestTrainAgainstTorch(t *testing.T) {
	raw, err := os.ReadFile("testdata/sgd_torch.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx sgdFixture
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	m := mlpModel(t, &fx)
	pix := make([]float32, 0, 32)
	for _, row := range fx.X {
		for _, v := range row {
			pix = append(pix, float32(v))
		}
	}
	ds, err := data.New("fixture", data.Shape{C: 4, H: 1, W: 1}, pix, fx.Y, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range fx.Cases {
		t.Run(c.Name, func(t *testing.T) {
			opt := Defaults()
			opt.Steps = len(c.LR)
			opt.BatchSize = len(fx.Y)
			opt.Float64 = true
			opt.Momentum, opt.WeightDecay, opt.ClipNorm = c.Momentum, c.WeightDecay, c.Clip
			opt.LR = fixedLR(c.LR)
			if c.Name == "schedule" {
				// the same lrs from the MultiStep schedule: 0.1, ×0.1 from update 3 of 6.
				opt.LR = MultiStep{Base: 0.1, Gamma: 0.1, At: []float64{0.5}}
			}
			if c.Name == "weights_only" {
				opt.Decay = WeightsOnly
			}
			var traj []map[string][]float64
			opt.AuditAt = []int{1, 2, 3, 4, 5, 6}
			opt.OnAudit = func(_ context.Context, ck *Checkpoint) error {
				p := map[string][]float64{}
				for _, q := range ck.Params {
					p[q.Name] = q.Value
				}
				traj = append(traj, p)
				return nil
			}
			res, err := Train(context.Background(), m, ds, opt)
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Settings.Decayed; !slices.Equal(sorted(got), sorted(c.Decay)) {
				t.Errorf("decayed %v, want %v", got, c.Decay)
			}
			wantLoss := c.Loss
			if c.Method != nil {
				wantLoss = c.MethodLoss
			}
			for k, rec := range res.Curve {
				approx.Abs(t, fmt.Sprintf("update %d: lr", k), rec.LR, c.LR[k], approx.Rounding)
				approx.Abs(t, fmt.Sprintf("update %d: loss against the reference", k), rec.Loss, wantLoss[k], approx.Float64)
				if c.Clip > 0 && !rec.Clipped {
					t.Errorf("update %d: gradient norm %v not clipped at %v", k, rec.GradNorm, c.Clip)
				}
			}
			ref := c.Torch
			if c.Method != nil {
				ref = c.Method
			}
			d := maxRelDiff(traj, ref)
			if d > 1e-11 {
				t.Errorf("trajectory differs from the reference by %.3g (relative)", d)
			}
			t.Logf("largest relative difference from the reference over %d updates: %.2g", len(traj), d)
			if c.Method != nil {
				// Same as torch before the change, not after.
				if d := maxRelDiff(traj[:3], c.Torch[:3]); d > 1e-11 {
					t.Errorf("before the lr change: differs from torch by %.3g", d)
				}
				for k := 3; k < 6; k++ {
					if d := maxRelDiff(traj[k:k+1], c.Torch[k:k+1]); d < 1e-4 {
						t.Errorf("update %d (after the lr change) agrees with torch.optim.SGD (%.3g): the forms should differ", k, d)
					}
				}
			}
			// Result.Params are the last checkpoint's.
			for _, p := range res.Params {
				if !slices.Equal(p.Value, traj[len(traj)-1][p.Name]) {
					t.Errorf("Result.Params[%s] differs from the last checkpoint", p.Name)
				}
			}
		})
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// maxRelDiff is max approx.RelErrFloor(a, b, 1e-3) over steps, names and entries
// (∞ if the structures differ).
func maxRelDiff(a, b []map[string][]float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for k := range a {
		if len(a[k]) != len(b[k]) {
			return math.Inf(1)
		}
		for name, va := range a[k] {
			vb, ok := b[k][name]
			if !ok || len(va) != len(vb) {
				return math.Inf(1)
			}
			for i := range va {
				d = math.Max(d, approx.RelErrFloor(va[i], vb[i], 1e-3))
			}
		}
	}
	return d
}
