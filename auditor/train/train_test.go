package train

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/data"
	"github.com/gnaudit/gnaudit/auditor/graph"
	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/auditor/progress"
	"github.com/gnaudit/gnaudit/internal/approx"
	"github.com/gnaudit/gnaudit/internal/onnxpb"
)

func TestMultiStepBoundaries(t *testing.T) {
	p := Paper()
	for _, c := range []struct {
		s     Schedule
		total int
		lrs   map[int]float64 // step → lr
	}{
		{p, 500, map[int]float64{0: 0.1, 249: 0.1, 250: 0.01, 374: 0.01, 375: 0.001, 499: 0.001}},
		{p, 8, map[int]float64{0: 0.1, 3: 0.1, 4: 0.01, 5: 0.01, 6: 0.001, 7: 0.001}},
		// 1.5 and 2.25: update 2 is past 50 % but not 75 %.
		{p, 3, map[int]float64{0: 0.1, 1: 0.1, 2: 0.01}},
		{p, 1, map[int]float64{0: 0.1}},
		{p, 2, map[int]float64{0: 0.1, 1: 0.01}},
		// 0.7·10 is 7.000000000000001 in floating point; the milestone is 7.
		{MultiStep{Base: 1, Gamma: 0.5, At: []float64{0.7}}, 10, map[int]float64{6: 1, 7: 0.5}},
		{MultiStep{Base: 1, Gamma: 0.5, At: []float64{0.3, 1}}, 10, map[int]float64{2: 1, 3: 0.5, 9: 0.5}},
		{Constant(0.05), 10, map[int]float64{0: 0.05, 9: 0.05}},
	} {
		for step, want := range c.lrs {
			if got := c.s.LR(step, c.total); got != want {
				t.Errorf("%s, %d steps: update %d has lr %v, want %v", c.s, c.total, step, got, want)
			}
		}
	}
	for _, c := range []struct {
		f     float64
		total int
		want  int
	}{{0.5, 500, 250}, {0.75, 500, 375}, {0.5, 3, 2}, {0.75, 3, 3}, {0.7, 10, 7}, {0.1, 30, 3}, {1, 7, 7}, {0.5, 0, 0}} {
		if got := Milestone(c.f, c.total); got != c.want {
			t.Errorf("Milestone(%v, %d) = %d, want %d", c.f, c.total, got, c.want)
		}
	}
	if s := p.String(); s != "step 0.1 ×0.1 at 50%, 75%" {
		t.Errorf("Paper().String() = %q", s)
	}
	if s := Constant(0.01).String(); s != "constant 0.01" {
		t.Errorf("Constant.String() = %q", s)
	}
	for _, bad := range []MultiStep{{Base: 0, Gamma: 0.1}, {Base: 0.1, Gamma: 0}, {Base: 0.1, Gamma: 0.1, At: []float64{0.5, 0.5}},
		{Base: 0.1, Gamma: 0.1, At: []float64{1.5}}, {Base: math.Inf(1), Gamma: 0.1}, {Base: 0.1, Gamma: 0.1, At: []float64{0}}} {
		if bad.validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// synth is a separable synthetic data set for the tiny MLP: 4 features, 3
// classes.
func synth(t *testing.T, n int, seed uint64) data.Dataset {
	r := rand.New(rand.NewPCG(seed, 1))
	centres := [][]float64{{1, 0, -1, 0}, {-1, 1, 0, 0}, {0, -1, 1, 1}}
	pix := make([]float32, 0, 4*n)
	labels := make([]int, n)
	for i := range labels {
		y := i % 3
		labels[i] = y
		for _, c := range centres[y] {
			pix = append(pix, float32(c+0.5*r.NormFloat64()))
		}
	}
	ds, err := data.New("synthetic", data.Shape{C: 4, H: 1, W: 1}, pix, labels, 3)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// smallMLP is a random 4 → 6 → 3 MLP.
func smallMLP(t *testing.T) *ir.Model {
	b := newPBB(3, true)
	h := b.node("Gemm", "fc1", []string{"x", b.normal("fc1.weight", 0.7, 6, 4), b.fill("fc1.bias", 0, 6)}, "", onnxpb.IntAttr("transB", 1))
	h = b.node("Relu", "relu", []string{h}, "")
	b.node("Gemm", "fc2", []string{h, b.normal("fc2.weight", 0.5, 3, 6), b.fill("fc2.bias", 0, 3)}, "logits", onnxpb.IntAttr("transB", 1))
	_, m := writeModel(t, t.TempDir(), "mlp.onnx", b.model([]int64{4}, []int64{3}))
	return m
}

func quick(steps, batch int) Options {
	o := Defaults()
	o.Steps, o.BatchSize = steps, batch
	return o
}

func TestOptionsErrors(t *testing.T) {
	m := smallMLP(t)
	ds := synth(t, 30, 1)
	grey, err := data.New("grey", data.Shape{C: 1, H: 3, W: 3}, make([]float32, 9*10), make([]int, 10), 10)
	if err != nil {
		t.Fatal(err)
	}
	five, err := data.New("five", data.Shape{C: 5, H: 1, W: 1}, make([]float32, 5*10), make([]int, 10), 3)
	if err != nil {
		t.Fatal(err)
	}
	nop := func(context.Context, *Checkpoint) error { return nil }
	for _, c := range []struct {
		name string
		m    *ir.Model
		ds   data.Dataset
		opt  func(*Options)
		want string
	}{
		{"zero options", m, ds, func(o *Options) { *o = Options{Steps: 3} }, "batch size 0"},
		{"no schedule", m, ds, func(o *Options) { o.LR = nil }, "no learning-rate schedule"},
		{"bad schedule", m, ds, func(o *Options) { o.LR = MultiStep{Base: -1, Gamma: 0.1} }, "learning rate -1"},
		{"bad constant", m, ds, func(o *Options) { o.LR = Constant(0) }, "learning rate 0"},
		{"no length", m, ds, func(o *Options) { o.Steps = 0 }, "exactly one of Steps"},
		{"both lengths", m, ds, func(o *Options) { o.Epochs = 2 }, "exactly one of Steps"},
		{"momentum", m, ds, func(o *Options) { o.Momentum = 1 }, "momentum 1 outside"},
		{"decay", m, ds, func(o *Options) { o.WeightDecay = -1 }, "weight decay -1"},
		{"clip", m, ds, func(o *Options) { o.ClipNorm = math.NaN() }, "clipping norm NaN"},
		{"audit range", m, ds, func(o *Options) { o.AuditAt = []int{0, 6}; o.OnAudit = nop }, "audit steps [0 6] must lie in [0, 5]"},
		{"audit hook", m, ds, func(o *Options) { o.AuditAt = []int{1} }, "OnAudit is nil"},
		{"small set", m, ds, func(o *Options) { o.BatchSize = 31 }, "fewer than one batch of 31"},
		{"eval and held out", m, ds, func(o *Options) { o.Eval = ds; o.HeldOut = 3 }, "both Eval"},
		{"held out too many", m, ds, func(o *Options) { o.HeldOut = 31 }, "cannot hold out 31"},
		{"shape", m, grey, func(o *Options) { o.BatchSize = 2 }, "sample shape [1,3,3] has 9 values"},
		{"shape of eval", m, ds, func(o *Options) { o.BatchSize = 2; o.Eval = five }, "held-out set"},
		{"labels", m, func() data.Dataset {
			d, _ := data.New("labels", data.Shape{C: 4, H: 1, W: 1}, make([]float32, 40), []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 10)
			return d
		}(), func(o *Options) { o.BatchSize = 2 }, "label 3"},
		{"nil model", nil, ds, func(o *Options) {}, "nil model"},
	} {
		opt := quick(5, 4)
		c.opt(&opt)
		res, err := Train(context.Background(), c.m, c.ds, opt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
		if res != nil {
			t.Errorf("%s: a result for a run that did not start", c.name)
		}
	}
}

// Cancellation stops after the current update and returns what was done.
func TestCancel(t *testing.T) {
	m := smallMLP(t)
	ds := synth(t, 60, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opt := quick(20, 6)
	var ck3 []Param
	opt.AuditAt = []int{0, 3, 10}
	opt.OnAudit = func(_ context.Context, c *Checkpoint) error {
		if c.Step == 3 {
			ck3 = c.Params
		}
		return nil
	}
	opt.OnStep = func(r StepRecord) {
		if r.Step == 3 {
			cancel() // as Ctrl-C during update 3
		}
	}
	res, err := Train(ctx, m, ds, opt)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if res == nil {
		t.Fatal("no partial result")
	}
	if res.Completed || res.Steps != 3 || len(res.Curve) != 3 || res.Stopped == "" {
		t.Errorf("completed %v, %d steps, %d curve points, stopped %q; want 3 steps, not completed", res.Completed, res.Steps, len(res.Curve), res.Stopped)
	}
	// The context is checked before the audit of step 3: the run stops
	// right after update 3 without auditing there.
	if !slices.Equal(res.Audits, []int{0}) || ck3 != nil {
		t.Errorf("audits %v (checkpoint 3 seen: %v), want [0]", res.Audits, ck3 != nil)
	}
	if !strings.Contains(err.Error(), "stopped after 3 of 20 updates") {
		t.Errorf("error %q", err)
	}
	// The partial parameters are those after 3 updates: compare a run
	// cancelled after update 3 with a complete 3-update run (constant lr,
	// so that both use the same rates).
	opt2 := quick(20, 6)
	opt2.LR = Constant(0.1)
	ctx2, cancel2 := context.WithCancel(context.Background())
	opt2.OnStep = func(r StepRecord) {
		if r.Step == 3 {
			cancel2()
		}
	}
	part, err := Train(ctx2, m, ds, opt2)
	if !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	opt3 := quick(3, 6)
	opt3.LR = Constant(0.1)
	full, err := Train(context.Background(), m, ds, opt3)
	if err != nil {
		t.Fatal(err)
	}
	for i := range full.Params {
		if !slices.Equal(part.Params[i].Value, full.Params[i].Value) {
			t.Errorf("%s after a cancel at update 3 differs from 3 full updates", full.Params[i].Name)
		}
	}

	// Cancelled before the start: nothing done, initial parameters.
	ctx4, cancel4 := context.WithCancel(context.Background())
	cancel4()
	res, err = Train(ctx4, m, ds, quick(5, 6))
	if !errors.Is(err, context.Canceled) || res == nil || res.Steps != 0 || len(res.Params) != 4 {
		t.Fatalf("pre-cancelled: %v, %+v", err, res)
	}
	if !slices.Equal(res.Params[0].Value, f32to64(m.Initializers["fc1.weight"].F32)) {
		t.Error("pre-cancelled run changed the parameters")
	}

	// An audit hook that fails (or sees the cancellation) stops training.
	opt5 := quick(10, 6)
	opt5.AuditAt = []int{2}
	opt5.OnAudit = func(context.Context, *Checkpoint) error { return errors.New("disk full") }
	res, err = Train(context.Background(), m, ds, opt5)
	if err == nil || !strings.Contains(err.Error(), "audit at step 2: disk full") || res.Steps != 2 {
		t.Errorf("failing audit: %v, steps %d", err, res.Steps)
	}
}

func f32to64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// Epochs, determinism, evaluations, audit checkpoints and progress output.
func TestRunBookkeeping(t *testing.T) {
	m := smallMLP(t)
	ds := synth(t, 64, 3)
	var bar bytes.Buffer
	opt := Defaults()
	opt.Epochs, opt.BatchSize, opt.HeldOut, opt.EvalEvery = 3, 10, 14, 4
	opt.Seed = 5
	opt.Progress, opt.ProgressMode = &bar, progress.Redraw // plain lines are quiet for a sub-second run
	var cks []*Checkpoint
	opt.AuditAt = []int{15, 0, 7, 7}
	opt.OnAudit = func(_ context.Context, c *Checkpoint) error { cks = append(cks, c); return nil }
	res, err := Train(context.Background(), m, ds, opt)
	if err != nil {
		t.Fatal(err)
	}
	// 64 − 14 held out = 50 samples: 5 updates per epoch, 15 in all.
	st := res.Settings
	if st.StepsPerEpoch != 5 || st.Steps != 15 || st.TrainSamples != 50 || st.EvalSamples != 14 || res.Steps != 15 || !res.Completed {
		t.Fatalf("settings %+v, steps %d", st, res.Steps)
	}
	for k, r := range res.Curve {
		if r.Step != k+1 || r.Epoch != k/5 || r.LR != Paper().LR(k, 15) {
			t.Errorf("curve[%d] = %+v", k, r)
		}
		if r.Acc < 0 || r.Acc > 1 || r.GradNorm <= 0 {
			t.Errorf("curve[%d] = %+v", k, r)
		}
	}
	// Running means over the last Window (50) updates: all so far.
	sum := 0.0
	for _, r := range res.Curve {
		sum += r.Loss
	}
	approx.Abs(t, "running loss", res.Curve[14].RunningLoss, sum/15, approx.Float64)
	var steps []int
	for _, e := range res.Evals {
		steps = append(steps, e.Step)
		if e.Samples != 14 {
			t.Errorf("eval at %d on %d samples", e.Step, e.Samples)
		}
	}
	if !slices.Equal(steps, []int{0, 4, 8, 12, 15}) {
		t.Errorf("evaluations at %v", steps)
	}
	if !slices.Equal(res.Audits, []int{0, 7, 15}) || len(cks) != 3 {
		t.Errorf("audits %v", res.Audits)
	}
	if cks[0].LR != 0.1 || cks[1].LR != 0.1 || cks[2].LR != 0.001 || cks[1].Steps != 15 {
		t.Errorf("checkpoint lrs %v %v %v", cks[0].LR, cks[1].LR, cks[2].LR)
	}
	if !slices.Equal(cks[0].Params[0].Value, f32to64(m.Initializers["fc1.weight"].F32)) {
		t.Error("checkpoint 0 is not the initial model")
	}
	if !slices.Equal(cks[2].Params[2].Value, res.Params[2].Value) {
		t.Error("checkpoint 15 is not the final model")
	}
	// A checkpoint's Model is the model with its parameters.
	cm, err := cks[1].Model()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range cks[1].Params {
		if got := f32to64(cm.Initializers[p.Name].F32); !slices.EqualFunc(got, p.Value, func(a, b float64) bool { return a == float64(float32(b)) }) {
			t.Errorf("checkpoint model: %s differs", p.Name)
		}
	}
	if m.Initializers["fc1.weight"].F32[0] != cks[0].model.Initializers["fc1.weight"].F32[0] {
		t.Error("the input model was modified")
	}
	out := bar.String()
	if !strings.Contains(out, "step 15/15 [") || !strings.Contains(out, " lr 0.001 val_loss ") || !strings.Contains(out, " in ") {
		t.Errorf("progress output:\n%s", out)
	}
	if strings.Contains(out, "stopped") {
		t.Errorf("progress says stopped:\n%s", out)
	}

	// Determinism: the same seed gives the same parameters, another seed not.
	again, err := Train(context.Background(), m, ds, func() Options { o := opt; o.Progress = nil; o.AuditAt = nil; return o }())
	if err != nil {
		t.Fatal(err)
	}
	other, err := Train(context.Background(), m, ds, func() Options { o := opt; o.Progress = nil; o.AuditAt = nil; o.Seed = 6; return o }())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again.Params[0].Value, res.Params[0].Value) {
		t.Error("same seed, different parameters")
	}
	if slices.Equal(other.Params[0].Value, res.Params[0].Value) {
		t.Error("different seed, same parameters")
	}
}

// Each epoch uses every training sample at most once (⌊N/B⌋ full batches)
// and epochs are reshuffled: feature 0 of each sample is its number, so the
// batches the trainer draws show which samples they hold.
func TestEpochVisitsSamples(t *testing.T) {
	// 12 samples, batch 5: 2 updates per epoch, 2 samples left out each epoch.
	const n, B = 12, 5
	pix := make([]float32, 4*n)
	labels := make([]int, n)
	for i := range labels {
		pix[4*i] = float32(i + 1) // feature 0 identifies the sample
		labels[i] = i % 3
	}
	ds, err := data.New("ids", data.Shape{C: 4, H: 1, W: 1}, pix, labels, 3)
	if err != nil {
		t.Fatal(err)
	}
	m := smallMLP(t)
	opt := quick(4, B)
	opt.Seed = 11
	var ids [][]int
	if _, err := Train(context.Background(), m, ds, opt); err != nil {
		t.Fatal(err)
	}
	// Replay the batches the way the trainer draws them and check the
	// partition property on the positions.
	tr := &trainer{opt: opt, train: ds, spe: n / B, permEp: -1}
	for step := 0; step < 4; step++ {
		if err := tr.batch(step); err != nil {
			t.Fatal(err)
		}
		var b []int
		for r := 0; r < B; r++ {
			b = append(b, int(tr.x[4*r])-1)
		}
		ids = append(ids, b)
	}
	for ep := 0; ep < 2; ep++ {
		seen := map[int]bool{}
		for _, b := range ids[2*ep : 2*ep+2] {
			for _, i := range b {
				if seen[i] {
					t.Errorf("epoch %d uses sample %d twice: %v", ep, i, ids)
				}
				seen[i] = true
			}
		}
		if len(seen) != 2*B {
			t.Errorf("epoch %d: %d distinct samples", ep, len(seen))
		}
	}
	if slices.Equal(ids[0], ids[2]) {
		t.Error("epochs 0 and 1 start with the same batch: no reshuffle")
	}
}

// Evaluate against the executor's own summed loss on one batch of all
// samples, with padding rows in the last batch.
func TestEvaluate(t *testing.T) {
	m := smallMLP(t)
	ds := synth(t, 10, 4)
	net, err := graph.Build(m, graph.Options{Batch: 4})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Evaluate(context.Background(), net, ds)
	if err != nil {
		t.Fatal(err)
	}
	all, err := graph.Build(m, graph.Options{Batch: 10, Float64: true})
	if err != nil {
		t.Fatal(err)
	}
	x, y, err := ds.Batch([]int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := all.LossGrad(x, y)
	if err != nil {
		t.Fatal(err)
	}
	logits, err := all.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	right := 0
	for i := 0; i < 10; i++ {
		best := 0
		for c := 1; c < 3; c++ {
			if logits[3*i+c] > logits[3*i+best] {
				best = c
			}
		}
		if best == y[i] {
			right++
		}
	}
	approx.Abs(t, "Evaluate loss", got.Loss, sum/10, 1e-6)
	if got.Acc != float64(right)/10 || got.Samples != 10 {
		t.Errorf("Evaluate = %+v; reference loss %v, accuracy %v", got, sum/10, float64(right)/10)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Evaluate(ctx, net, ds); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Evaluate: %v", err)
	}
	if _, err := Evaluate(context.Background(), net, ds.Head(0)); err == nil {
		t.Error("empty data set accepted")
	}
}

// A diverging run stops with an error naming the update, and keeps the
// curve so far.
func TestDivergence(t *testing.T) {
	m := smallMLP(t)
	ds := synth(t, 30, 5)
	opt := quick(50, 6)
	opt.LR = Constant(1e30)
	res, err := Train(context.Background(), m, ds, opt)
	if err == nil || !strings.Contains(err.Error(), "diverged") && !strings.Contains(err.Error(), "not finite") {
		t.Fatalf("error %v", err)
	}
	if res == nil || res.Completed || res.Steps == 0 || len(res.Curve) != res.Steps {
		t.Fatalf("result %+v", res)
	}
}

func TestWithParamsErrors(t *testing.T) {
	m := smallMLP(t)
	if _, err := WithParams(nil, nil); err == nil {
		t.Error("nil model accepted")
	}
	if _, err := WithParams(m, []Param{{Name: "nope", Value: []float64{1}}}); err == nil || !strings.Contains(err.Error(), `no initializer "nope"`) {
		t.Errorf("unknown name: %v", err)
	}
	if _, err := WithParams(m, []Param{{Name: "fc1.bias", Value: []float64{1}}}); err == nil || !strings.Contains(err.Error(), "has 6 values") {
		t.Errorf("wrong length: %v", err)
	}
}

func TestWriteCSV(t *testing.T) {
	m := smallMLP(t)
	ds := synth(t, 40, 6)
	opt := quick(4, 5)
	opt.HeldOut, opt.EvalEvery = 10, 2
	res, err := Train(context.Background(), m, ds, opt)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := res.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 6 || !slices.Equal(rows[0], CurveHeader) {
		t.Fatalf("rows %q", rows)
	}
	num := func(s string) float64 {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		return v
	}
	// step 0: evaluation only
	if rows[1][0] != "0" || rows[1][3] != "" || num(rows[1][9]) != res.Evals[0].Loss {
		t.Errorf("row 0: %q", rows[1])
	}
	for k, c := range res.Curve {
		row := rows[k+2]
		if row[0] != strconv.Itoa(c.Step) || num(row[2]) != c.LR || num(row[3]) != c.Loss || num(row[5]) != c.RunningLoss || num(row[7]) != c.GradNorm {
			t.Errorf("row %d: %q for %+v", k+2, row, c)
		}
		hasEval := c.Step%2 == 0
		if (row[9] != "") != hasEval {
			t.Errorf("row %d: evaluation columns %q", k+2, row[9:])
		}
	}
	if num(rows[5][10]) != res.Evals[len(res.Evals)-1].Acc {
		t.Errorf("last row %q", rows[5])
	}
}
