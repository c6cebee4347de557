package graph

import (
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/internal/irtest"
	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/internal/approx"
)

// bnModel: Conv(1→2, 3×3, pad 1) → BN → Relu → Flatten → Gemm(32 → 8) →
// BN → Gemm(8 → 3), input 1×4×4.
func bnModel() *ir.Model {
	b := irtest.New(13, 2, -1, 1, 4, 4)
	h := b.Op("Conv", irtest.Attrs("kernel_shape", irtest.Ints(3, 3), "pads", irtest.Ints(1, 1, 1, 1)), "x", b.Param("w1", 0.5, true, 2, 1, 3, 3))
	h = b.Op("BatchNormalization", irtest.Attrs("epsilon", irtest.Float(1e-5), "momentum", irtest.Float(0.9)), h,
		b.Param("g1", 0.3, true, 2), b.Param("b1", 0.2, true, 2), b.Param("m1", 0.2, false, 2), b.Positive("v1", 0.5, 1.5, 2))
	h = b.Op("Relu", nil, h)
	h = b.Op("Flatten", irtest.Attrs("axis", irtest.Int(1)), h)
	h = b.Op("Gemm", irtest.Attrs("transB", irtest.Int(1)), h, b.Param("w2", 0.3, true, 8, 32))
	h = b.Op("BatchNormalization", nil, h, b.Param("g2", 0.3, true, 8), b.Param("b2", 0.2, true, 8), b.Param("m2", 0.2, false, 8), b.Positive("v2", 0.5, 1.5, 8))
	h = b.Op("Gemm", irtest.Attrs("transB", irtest.Int(1)), h, b.Param("w3", 0.4, true, 3, 8), b.Param("c3", 0.1, true, 3))
	return b.Output(h)
}

// Train-mode BatchNorm: the gradient against central finite differences of
// the summed loss (float64), Forward in eval mode (equal to an eval-mode
// net), LossGrad with batch statistics, the running-statistics update by
// hand, and the refusals.
func TestBatchNormTrain(t *testing.T) {
	m := bnModel()
	const B = 5
	net, err := Build(m, Options{Batch: B, Float64: true, BatchNormTrain: true})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := Build(m, Options{Batch: B, Float64: true})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewSource(1))
	x := make([]float64, B*16)
	for i := range x {
		x[i] = r.NormFloat64()
	}
	y := []int{0, 1, 2, 1, 0}
	if err := net.UpdateBatchNormStats(); err == nil {
		t.Error("UpdateBatchNormStats before any LossGrad accepted")
	}
	loss, err := net.LossGrad(x, y)
	if err != nil {
		t.Fatal(err)
	}
	evLoss, err := ev.LossGrad(x, y)
	if err != nil {
		t.Fatal(err)
	}
	if approx.Diff(loss, evLoss) < 1e-6 {
		t.Errorf("train-mode loss %v equals the eval-mode one", loss)
	}
	// Finite differences on every trainable parameter entry (gradients
	// taken first: every difference reruns LossGrad).
	grads := map[string][]float64{}
	for _, p := range net.Params() {
		grads[p.Name] = net.Grad(p.Name)
	}
	worst := 0.0
	for _, p := range net.Params() {
		if !p.Trainable {
			continue
		}
		g := grads[p.Name]
		v := net.Param(p.Name)
		for j := range v {
			h := 1e-5
			v[j] += h
			net.SetParam(p.Name, v)
			lp, _ := net.LossGrad(x, y)
			v[j] -= 2 * h
			net.SetParam(p.Name, v)
			lm, _ := net.LossGrad(x, y)
			v[j] += h
			net.SetParam(p.Name, v)
			fd := (lp - lm) / (2 * h)
			worst = math.Max(worst, approx.RelErrFloor(g[j], fd, 1))
			approx.RelFloor(t, fmt.Sprintf("%s[%d]: gradient against finite differences", p.Name, j), g[j], fd, 1e-6, 1)
		}
	}
	t.Logf("train-mode gradients within %.2g of finite differences", worst)
	// Forward is eval mode.
	a, err := net.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ev.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if !approx.Abs(t, fmt.Sprintf("Forward[%d] of the train-mode net against eval mode", i), a[i], b[i], approx.Float64) {
			t.FailNow()
		}
	}
	// Running statistics: by hand from the batch statistics.
	if _, err := net.LossGrad(x, y); err != nil {
		t.Fatal(err)
	}
	mean, vr := net.BatchNormBatchStats("BatchNormalization_2")
	m0, v0 := net.BatchNormStat("m1"), net.BatchNormStat("v1")
	if err := net.UpdateBatchNormStats(); err != nil {
		t.Fatal(err)
	}
	m1, v1 := net.BatchNormStat("m1"), net.BatchNormStat("v1")
	cnt := float64(B * 16)
	for c := range mean {
		wm := 0.9*m0[c] + 0.1*mean[c]
		wv := 0.9*v0[c] + 0.1*vr[c]*cnt/(cnt-1)
		approx.Abs(t, fmt.Sprintf("channel %d: running mean", c), m1[c], wm, approx.Rounding)
		approx.Abs(t, fmt.Sprintf("channel %d: running var", c), v1[c], wv, approx.Rounding)
	}
	approx.Abs(t, "initializer m1 against the running mean", net.Param("m1")[0], m1[0], approx.Rounding)
	if st := net.BatchNormStats(); len(st) != 4 || st[0].Name != "m1" || st[3].Name != "v2" {
		t.Errorf("BatchNormStats %+v", st)
	}
	// One value per channel: refused.
	if _, err := Build(m, Options{Batch: 1, BatchNormTrain: true}); err == nil || !strings.Contains(err.Error(), "more than one value per channel") {
		t.Errorf("batch 1 with a fully connected BatchNorm: %v", err)
	}
}

// SetParam on a running statistic of a train-mode net is followed by the
// float64 copy.
func TestBatchNormTrainSetParam(t *testing.T) {
	net, err := Build(bnModel(), Options{Batch: 3, BatchNormTrain: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := net.SetParam("m1", []float64{0.25, -0.5}); err != nil {
		t.Fatal(err)
	}
	if got := net.BatchNormStat("m1"); got[0] != 0.25 || got[1] != -0.5 {
		t.Errorf("BatchNormStat after SetParam: %v", got)
	}
	if err := net.SetBatchNormStat("v1", []float64{2, 3}); err != nil {
		t.Fatal(err)
	}
	if got := net.Param("v1"); got[0] != 2 || got[1] != 3 {
		t.Errorf("initializer after SetBatchNormStat: %v", got)
	}
	if net.SetBatchNormStat("w1", []float64{1}) == nil {
		t.Error("SetBatchNormStat of a weight accepted")
	}
}
