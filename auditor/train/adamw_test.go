package train

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/internal/approx"
)

// AdamW.Update against a hand computation of torch's formulas (two
// updates, one parameter decayed and one not).
func TestAdamWHand(t *testing.T) {
	o := NewAdamW(0.1)
	th := []float64{1}
	b := []float64{1}
	lr := 0.01
	// update 1, g = 0.5: θ ← 1·(1 − 0.001) = 0.999; m = 0.05, v = 0.00025;
	// m̂ = 0.5, v̂ = 0.25 → θ ← 0.999 − 0.01·0.5/(0.5 + 1e-8).
	o.Update("w", th, []float64{0.5}, lr, true)
	o.Update("b", b, []float64{0.5}, lr, false)
	want := 0.999 - 0.01*0.5/(0.5+1e-8)
	approx.Abs(t, "update 1", th[0], want, approx.Rounding)
	approx.Abs(t, "update 1 without decay", b[0], 1-0.01*0.5/(0.5+1e-8), approx.Rounding)
	// update 2, g = −1: m = 0.045 − 0.1 = −0.055, v = 0.00024975 + 0.001 = 0.00124975.
	prev := th[0]
	o.Update("w", th, []float64{-1}, lr, true)
	m, v := -0.055, 0.00124975
	bc1, bc2 := 1-0.81, 1-0.999*0.999
	want = prev*(1-0.001) - (lr/bc1)*m/(math.Sqrt(v)/math.Sqrt(bc2)+1e-8)
	approx.Abs(t, "update 2", th[0], want, 1e-14)
	mm, vv := o.Moments("w")
	approx.Abs(t, "first moment", mm[0], m, approx.Rounding)
	approx.Abs(t, "second moment", vv[0], v, approx.Rounding)
	for _, bad := range []*AdamW{{Beta1: 1, Beta2: 0.9, Eps: 1e-8}, {Beta1: 0.9, Beta2: -0.1, Eps: 1e-8}, {Beta1: 0.9, Beta2: 0.99}, {Beta1: 0.9, Beta2: 0.99, Eps: 1e-8, WeightDecay: -1}} {
		if bad.validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestWarmup(t *testing.T) {
	w := Warmup{Steps: 4, Then: Paper()}
	want := []float64{0.025, 0.05, 0.075, 0.1, 0.01, 0.01, 0.001, 0.001}
	for k, lr := range want {
		approx.Abs(t, fmt.Sprintf("update %d: lr", k), w.LR(k, 8), lr, approx.Rounding)
	}
	if !strings.Contains(w.String(), "warm-up over 4") {
		t.Errorf("String %q", w.String())
	}
}

// Option errors, eval mode on a BatchNorm model (running statistics fixed,
// no Stats) and the divergence message with its suggestions.
func TestBatchNormModesAndOptions(t *testing.T) {
	_, m := writeModel(t, t.TempDir(), "cnn.onnx", tinyCNN(3, false))
	ds := randomImages(t, 24, 1)
	for _, bad := range []func(*Options){
		func(o *Options) { o.Optimizer = "adam" },
		func(o *Options) { o.WarmupSteps = -1 },
		func(o *Options) { o.BatchNorm = "frozen" },
		func(o *Options) { o.Optimizer, o.Beta1 = OptAdamW, 1.5 },
	} {
		o := quick(2, 8)
		bad(&o)
		if _, err := Train(context.Background(), m, ds, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	o := quick(3, 8)
	o.BatchNorm = BNEval
	res, err := Train(context.Background(), m, ds, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Settings.BatchNorm != BNEval || res.Stats != nil {
		t.Errorf("eval mode: settings %q, %d statistics", res.Settings.BatchNorm, len(res.Stats))
	}
	o = quick(3, 8)
	res, err = Train(context.Background(), m, ds, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Settings.BatchNorm != BNTrain || len(res.Stats) != 2 {
		t.Fatalf("default: settings %q, %d statistics", res.Settings.BatchNorm, len(res.Stats))
	}
	if res.Stats[0].Name != "bn.mean" || res.Stats[1].Name != "bn.var" {
		t.Errorf("statistics %s, %s", res.Stats[0].Name, res.Stats[1].Name)
	}
	init := m.Initializers["bn.var"].F32
	changed := false
	for i, v := range res.Stats[1].Value {
		changed = changed || approx.Diff(v, float64(init[i])) > 1e-6
	}
	if !changed {
		t.Error("train mode left the running variance unchanged")
	}
	// Divergence: a huge learning rate in eval mode.
	o = quick(20, 8)
	o.BatchNorm = BNEval
	o.LR = Constant(1e6)
	_, err = Train(context.Background(), m, ds, o)
	if err == nil || !strings.Contains(err.Error(), "--lr") || !strings.Contains(err.Error(), "--bn train") || !strings.Contains(err.Error(), "--warmup-steps") {
		t.Errorf("divergence error: %v", err)
	}
}
