package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gnaudit/gnaudit/auditor/data"
	"github.com/gnaudit/gnaudit/auditor/graph"
	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/auditor/progress"
)

// Options configure Train. Start from [Defaults] (the paper's settings):
// the zero value is rejected (no batch size, no schedule, no length), so
// that a forgotten field cannot silently mean "no momentum".
type Options struct {
	// Steps is the number of updates. Exactly one of Steps and Epochs is
	// positive.
	Steps int
	// Epochs is the number of passes over the training set, each of
	// ⌊N/BatchSize⌋ updates.
	Epochs int
	// BatchSize is B (Defaults: 128).
	BatchSize int
	// LR is the learning-rate schedule (Defaults: [Paper]).
	LR Schedule
	// Momentum is μ in [0, 1) (Defaults: 0.9).
	Momentum float64
	// WeightDecay is λ ≥ 0 (Defaults: 5e-4).
	WeightDecay float64
	// Decay says which trainable parameters get weight decay; nil means all
	// of them, as torch.optim.SGD does (weights, biases and BatchNorm scale
	// and shift alike). [WeightsOnly] excludes one-dimensional tensors.
	Decay func(name string, shape []int) bool
	// ClipNorm, when positive, rescales the mean gradient g_S of all
	// trainable parameters together by ClipNorm/(‖g_S‖₂ + 10⁻⁶) when that
	// is below 1, before weight decay is added: exactly
	// torch.nn.utils.clip_grad_norm_ before an SGD step. Off (0) by
	// default.
	ClipNorm float64
	// Seed fixes the order of the samples (and the held-out split).
	Seed int64
	// Optimizer is OptSGD (default, also ""; momentum form above) or
	// OptAdamW (torch.optim.AdamW with Beta1, Beta2, Eps and WeightDecay
	// as its decoupled weight decay; Momentum is then unused).
	Optimizer string
	// Beta1, Beta2 and Eps are AdamW's (0: torch's 0.9, 0.999, 1e-8).
	Beta1, Beta2, Eps float64
	// WarmupSteps, when positive, multiplies LR by a linear warm-up over
	// the first WarmupSteps updates ([Warmup]).
	WarmupSteps int
	// BatchNorm is BNTrain (batch statistics in the forward pass, running
	// statistics updated as torch does), BNEval (running statistics
	// fixed) or BNAuto ("", the default: train for a model with
	// BatchNormalization nodes).
	BatchNorm string

	// Eval is a held-out data set evaluated (mean loss and accuracy) every
	// EvalEvery updates and at the end. Leave it empty to use HeldOut.
	Eval data.Dataset
	// HeldOut, when positive and Eval is empty, splits that many samples
	// off the training set at random (data.Dataset.Split with Seed) as the
	// held-out set.
	HeldOut int
	// EvalEvery is the number of updates between evaluations; 0 evaluates
	// only before the first and after the last update.
	EvalEvery int

	// AuditAt lists the updates after which OnAudit is called (0: before
	// training, Steps: after the last update), so that the audit can
	// collect gradient noise at fixed θ there.
	AuditAt []int
	// OnAudit receives the checkpoints of AuditAt, in order. Training
	// waits for it; an error stops training and is returned.
	OnAudit func(ctx context.Context, c *Checkpoint) error
	// OnStep, when set, is called after every update.
	OnStep func(StepRecord)

	// Progress receives a progress bar (nil: none); ProgressMode chooses
	// redraw or plain lines (progress.Auto: redraw on a terminal).
	Progress     io.Writer
	ProgressMode progress.Mode
	// Window is the number of updates of the running means of the loss and
	// accuracy (Defaults: 50).
	Window int
	// Float64 runs the executor in float64 (slower; for checks).
	Float64 bool
	// MaxMemory bounds the tensors of the executor (graph.Options.MaxMemory;
	// 0: the machine's memory).
	MaxMemory int64
}

// Defaults returns the paper's settings (METHOD.md §7) with no length:
// set Steps or Epochs.
func Defaults() Options {
	return Options{BatchSize: 128, LR: Paper(), Momentum: 0.9, WeightDecay: 5e-4, Window: 50}
}

// The BatchNorm modes of Options.BatchNorm.
const (
	BNAuto  = ""
	BNTrain = "train"
	BNEval  = "eval"
)

// WeightsOnly is an Options.Decay that decays tensors of two or more
// dimensions (convolution and fully connected weights) but not biases or
// BatchNorm scales and shifts.
func WeightsOnly(name string, shape []int) bool { return len(shape) >= 2 }

// Param is a named parameter value, row-major.
type Param struct {
	Name  string    `json:"name"`
	Shape []int     `json:"shape"`
	Value []float64 `json:"-"`
}

// StepRecord describes one update.
type StepRecord struct {
	Step        int     `json:"step"`  // updates done, this one included (1-based)
	Epoch       int     `json:"epoch"` // 0-based epoch of the batch
	LR          float64 `json:"lr"`
	Loss        float64 `json:"loss"`         // mean cross-entropy of the batch, before the update
	Acc         float64 `json:"acc"`          // batch accuracy in [0,1], before the update
	RunningLoss float64 `json:"running_loss"` // mean Loss of the last Window updates
	RunningAcc  float64 `json:"running_acc"`
	GradNorm    float64 `json:"grad_norm"` // ‖g_S‖₂ over all trainable parameters, before clipping
	Clipped     bool    `json:"clipped,omitempty"`
}

// EvalRecord is one evaluation on the held-out set.
type EvalRecord struct {
	Step    int     `json:"step"` // updates done when evaluated
	Loss    float64 `json:"loss"` // mean cross-entropy
	Acc     float64 `json:"acc"`  // accuracy in [0,1]
	Samples int     `json:"samples"`
}

// Settings records what a run used, for reports.
type Settings struct {
	BatchSize     int      `json:"batch_size"`
	Steps         int      `json:"steps"` // planned updates
	StepsPerEpoch int      `json:"steps_per_epoch"`
	TrainSamples  int      `json:"train_samples"`
	EvalSamples   int      `json:"eval_samples"`
	Momentum      float64  `json:"momentum"`
	WeightDecay   float64  `json:"weight_decay"`
	Schedule      string   `json:"schedule"`
	Decayed       []string `json:"decayed"`     // trainable parameters with weight decay
	NotDecayed    []string `json:"not_decayed"` // trainable parameters without
	ClipNorm      float64  `json:"clip_norm,omitempty"`
	Seed          int64    `json:"seed"`
	Float64       bool     `json:"float64,omitempty"`
	// BatchNorm is "train" (batch statistics, running statistics updated),
	// "eval" (running statistics fixed) or "none" (no BatchNormalization).
	BatchNorm   string `json:"batchnorm"`
	Optimizer   string `json:"optimizer"`
	WarmupSteps int    `json:"warmup_steps,omitempty"`
	Method      string `json:"method"` // the update rule in words
}

// Result is what a run did. Train returns it even when it stops early
// (cancellation, divergence, a failing OnAudit), with what was done.
type Result struct {
	Settings  Settings     `json:"settings"`
	Steps     int          `json:"steps_done"`
	Completed bool         `json:"completed"`
	Stopped   string       `json:"stopped,omitempty"` // why it stopped early
	Curve     []StepRecord `json:"curve"`
	Evals     []EvalRecord `json:"evals"`
	Audits    []int        `json:"audits"` // steps at which OnAudit returned successfully
	Params    []Param      `json:"-"`      // trainable parameters after the last update
	// Stats are the BatchNorm running statistics after the last update
	// (train-mode BatchNorm only; nil otherwise).
	Stats   []Param       `json:"-"`
	Elapsed time.Duration `json:"elapsed_ns"`
	Notes   []string      `json:"notes,omitempty"` // the executor's build notes
	model   *ir.Model
}

// Model returns a copy of the trained model with the final parameters
// (see [WithParams]).
func (r *Result) Model() (*ir.Model, error) {
	return WithParams(r.model, append(slices.Clone(r.Params), r.Stats...))
}

// Saved lists what SaveONNX must write for the trained model: the
// parameters and the running statistics.
func (r *Result) Saved() []Param { return append(slices.Clone(r.Params), r.Stats...) }

// Checkpoint is the state handed to Options.OnAudit.
type Checkpoint struct {
	Step   int     // updates done
	Steps  int     // planned updates
	LR     float64 // learning rate of the next update (of the last one after it)
	Params []Param // trainable parameters (copies)
	// Stats are the BatchNorm running statistics (copies; train-mode
	// BatchNorm only, nil otherwise).
	Stats []Param
	model *ir.Model
}

// Model returns a copy of the model with the checkpoint's parameters, for
// building the executors of the audit.
func (c *Checkpoint) Model() (*ir.Model, error) {
	return WithParams(c.model, append(slices.Clone(c.Params), c.Stats...))
}

// Saved lists what SaveONNX must write for the checkpoint: the parameters
// and the running statistics.
func (c *Checkpoint) Saved() []Param { return append(slices.Clone(c.Params), c.Stats...) }

// WithParams returns a copy of m whose initializers named in params hold the
// given values (rounded to the initializer's type: float32 for FLOAT,
// FLOAT16 and BFLOAT16 as held by ir, float64 for DOUBLE). m is not
// modified; unchanged tensors and the nodes are shared.
func WithParams(m *ir.Model, params []Param) (*ir.Model, error) {
	if m == nil {
		return nil, errors.New("train: WithParams: nil model")
	}
	out := *m
	out.Initializers = make(map[string]*ir.Tensor, len(m.Initializers))
	for k, v := range m.Initializers {
		out.Initializers[k] = v
	}
	for _, p := range params {
		t, ok := m.Initializers[p.Name]
		if !ok || t == nil {
			return nil, fmt.Errorf("train: %s: no initializer %q", modelName(m), p.Name)
		}
		if t.Len() != len(p.Value) {
			return nil, fmt.Errorf("train: %s: initializer %q has %d values (dims %v), the parameter %d", modelName(m), p.Name, t.Len(), t.Dims, len(p.Value))
		}
		nt := &ir.Tensor{Name: t.Name, Type: t.Type, Dims: slices.Clone(t.Dims)}
		switch t.Type {
		case ir.Float, ir.Float16, ir.Bfloat16:
			nt.F32 = make([]float32, len(p.Value))
			for i, v := range p.Value {
				nt.F32[i] = float32(v)
			}
		case ir.Double:
			nt.F64 = slices.Clone(p.Value)
		default:
			return nil, fmt.Errorf("train: %s: initializer %q has type %v, not a float type", modelName(m), p.Name, t.Type)
		}
		out.Initializers[p.Name] = nt
	}
	return &out, nil
}

func modelName(m *ir.Model) string {
	if m.Path != "" {
		return m.Path
	}
	return "model"
}

// trainer is one run's state.
type trainer struct {
	opt      Options
	net      *graph.Net
	train    data.Dataset
	eval     data.Dataset
	optim    Optimizer
	hasBN    bool
	params   []Param // master copy (float64)
	decay    []bool
	grads    [][]float64
	total    int
	spe      int
	perm     []int
	permEp   int
	x        []float64
	y        []int
	pos      []int
	window   []StepRecord
	bar      *progress.Bar
	lastEval *EvalRecord
}

// Train fine-tunes the trainable parameters of m on ds (see the package
// documentation). It builds the CPU executor for Options.BatchSize, checks
// that ds fits the model's input and classes, and runs Steps (or Epochs)
// updates. m is not modified: use Result.Params, Result.Model or SaveONNX.
//
// Cancelling ctx stops training after the current update (or during an
// evaluation); Train then returns the Result so far, with Completed false,
// together with an error wrapping ctx.Err(). Other errors (a diverging
// loss, a failing OnAudit) also come with the partial Result; the Result is
// nil only when training could not start.
func Train(ctx context.Context, m *ir.Model, ds data.Dataset, opt Options) (*Result, error) {
	t, res, err := setup(m, ds, opt)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	err = t.run(ctx, res)
	res.Elapsed = time.Since(start)
	res.Params = clone(t.params)
	res.Stats = t.stats()
	return res, err
}

// setup validates the options, builds the executor and the result.
func setup(m *ir.Model, ds data.Dataset, opt Options) (*trainer, *Result, error) {
	if m == nil {
		return nil, nil, errors.New("train: nil model")
	}
	fail := func(format string, a ...any) (*trainer, *Result, error) {
		return nil, nil, fmt.Errorf("train: %s: %s", modelName(m), fmt.Sprintf(format, a...))
	}
	if opt.BatchSize <= 0 {
		return fail("batch size %d must be positive (start from train.Defaults())", opt.BatchSize)
	}
	if opt.LR == nil {
		return fail("no learning-rate schedule (start from train.Defaults())")
	}
	switch s := opt.LR.(type) {
	case MultiStep:
		if err := s.validate(); err != nil {
			return fail("%v", err)
		}
	case Constant:
		if !(s > 0) || math.IsInf(float64(s), 0) {
			return fail("learning rate %v must be positive and finite", float64(s))
		}
	}
	var optim Optimizer
	method := "v ← μv − η(g_S + λθ), θ ← θ + v; g_S the mean gradient of the batch"
	switch opt.Optimizer {
	case "", OptSGD:
		opt.Optimizer = OptSGD
		sgd := &SGD{Momentum: opt.Momentum, WeightDecay: opt.WeightDecay}
		if err := sgd.validate(); err != nil {
			return fail("%v", err)
		}
		optim = sgd
	case OptAdamW:
		a := NewAdamW(opt.WeightDecay)
		for _, f := range []struct {
			dst *float64
			v   float64
		}{{&a.Beta1, opt.Beta1}, {&a.Beta2, opt.Beta2}, {&a.Eps, opt.Eps}} {
			if f.v != 0 {
				*f.dst = f.v
			}
		}
		if err := a.validate(); err != nil {
			return fail("%v", err)
		}
		opt.Beta1, opt.Beta2, opt.Eps = a.Beta1, a.Beta2, a.Eps
		optim = a
		method = fmt.Sprintf("torch.optim.AdamW: θ ← θ(1 − ηλ); m ← β₁m + (1−β₁)g_S, v ← β₂v + (1−β₂)g_S²; θ ← θ − η m̂/(√v̂ + ε), β₁ = %g, β₂ = %g, ε = %g", a.Beta1, a.Beta2, a.Eps)
	default:
		return fail("optimizer %q: want %s or %s", opt.Optimizer, OptSGD, OptAdamW)
	}
	if opt.WarmupSteps < 0 {
		return fail("warm-up steps %d must be ≥ 0", opt.WarmupSteps)
	}
	if opt.WarmupSteps > 0 {
		opt.LR = Warmup{Steps: opt.WarmupSteps, Then: opt.LR}
	}
	switch opt.BatchNorm {
	case BNAuto, BNTrain, BNEval:
	default:
		return fail("BatchNorm mode %q: want train or eval", opt.BatchNorm)
	}
	hasBN := HasBatchNorm(m)
	bnTrain := hasBN && opt.BatchNorm != BNEval
	if (opt.Steps > 0) == (opt.Epochs > 0) || opt.Steps < 0 || opt.Epochs < 0 {
		return fail("set exactly one of Steps (%d) and Epochs (%d), positive", opt.Steps, opt.Epochs)
	}
	if opt.ClipNorm < 0 || math.IsNaN(opt.ClipNorm) || math.IsInf(opt.ClipNorm, 0) {
		return fail("gradient clipping norm %v must be finite and ≥ 0", opt.ClipNorm)
	}
	if opt.EvalEvery < 0 {
		return fail("EvalEvery %d must be ≥ 0", opt.EvalEvery)
	}
	if opt.Window <= 0 {
		opt.Window = 50
	}
	eval := opt.Eval
	if eval.Len() > 0 && opt.HeldOut > 0 {
		return fail("both Eval (%d samples) and HeldOut (%d) are set", eval.Len(), opt.HeldOut)
	}
	if opt.HeldOut < 0 {
		return fail("HeldOut %d must be ≥ 0", opt.HeldOut)
	}
	if opt.HeldOut > 0 {
		var err error
		if ds, eval, err = ds.Split(opt.HeldOut, opt.Seed); err != nil {
			return nil, nil, fmt.Errorf("train: %s: held-out split: %w", modelName(m), err)
		}
	}
	B := opt.BatchSize
	n := ds.Len()
	if n < B {
		return fail("data set %s has %d samples, fewer than one batch of %d", ds.Name(), n, B)
	}
	spe := n / B
	total := opt.Steps
	if opt.Epochs > 0 {
		total = opt.Epochs * spe
	}
	audits := slices.Clone(opt.AuditAt)
	slices.Sort(audits)
	audits = slices.Compact(audits)
	if len(audits) > 0 && (audits[0] < 0 || audits[len(audits)-1] > total) {
		return fail("audit steps %v must lie in [0, %d]", opt.AuditAt, total)
	}
	if len(audits) > 0 && opt.OnAudit == nil {
		return fail("AuditAt is set but OnAudit is nil")
	}
	opt.AuditAt = audits

	net, err := graph.Build(m, graph.Options{Batch: B, Float64: opt.Float64, BatchNormTrain: bnTrain, MaxMemory: opt.MaxMemory})
	if err != nil {
		return nil, nil, fmt.Errorf("train: %w", err)
	}
	in := append([]int{B}, net.InputShape()...)
	if err := ds.Check(in, net.Classes()); err != nil {
		return nil, nil, fmt.Errorf("train: %s: training set: %w", modelName(m), err)
	}
	if eval.Len() > 0 {
		if err := eval.Check(in, net.Classes()); err != nil {
			return nil, nil, fmt.Errorf("train: %s: held-out set: %w", modelName(m), err)
		}
	}
	t := &trainer{opt: opt, net: net, train: ds, eval: eval, optim: optim, hasBN: hasBN, total: total, spe: spe, permEp: -1}
	bnMode := "none"
	switch {
	case bnTrain:
		bnMode = BNTrain
	case hasBN:
		bnMode = BNEval
	}
	st := Settings{
		BatchSize: B, Steps: total, StepsPerEpoch: spe, TrainSamples: n, EvalSamples: eval.Len(),
		Momentum: opt.Momentum, WeightDecay: opt.WeightDecay, Schedule: opt.LR.String(),
		Decayed: []string{}, NotDecayed: []string{}, ClipNorm: opt.ClipNorm, Seed: opt.Seed,
		Float64: opt.Float64, BatchNorm: bnMode, Optimizer: opt.Optimizer, WarmupSteps: opt.WarmupSteps,
		Method: method,
	}
	for _, p := range net.Params() {
		if !p.Trainable {
			continue
		}
		t.params = append(t.params, Param{Name: p.Name, Shape: p.Shape, Value: net.Param(p.Name)})
		d := opt.Decay == nil || opt.Decay(p.Name, slices.Clone(p.Shape))
		if opt.WeightDecay == 0 {
			d = false
		}
		t.decay = append(t.decay, d)
		if d {
			st.Decayed = append(st.Decayed, p.Name)
		} else {
			st.NotDecayed = append(st.NotDecayed, p.Name)
		}
	}
	if len(t.params) == 0 {
		return fail("no trainable parameters")
	}
	t.grads = make([][]float64, len(t.params))
	res := &Result{Settings: st, Curve: []StepRecord{}, Evals: []EvalRecord{}, Audits: []int{}, Notes: net.Notes(), model: m}
	return t, res, nil
}

// run is the training loop.
func (t *trainer) run(ctx context.Context, res *Result) (err error) {
	t.bar = progress.New(t.opt.Progress, t.total, progress.Options{Label: "step", Mode: t.opt.ProgressMode})
	defer func() {
		fs := t.fields()
		if err != nil {
			fs = append(fs, progress.Field{Key: "stopped"})
		}
		t.bar.Finish(fs...)
	}()
	stop := func(step int, cause error) error {
		res.Stopped = cause.Error()
		return fmt.Errorf("train: stopped after %d of %d updates: %w", step, t.total, cause)
	}
	audits := t.opt.AuditAt
	evalAt := func(step int) bool {
		if t.eval.Len() == 0 {
			return false
		}
		return step == 0 || step == t.total || (t.opt.EvalEvery > 0 && step%t.opt.EvalEvery == 0)
	}
	for step := 0; ; step++ {
		// step updates are done here.
		if err := ctx.Err(); err != nil {
			return stop(step, err)
		}
		if evalAt(step) {
			e, err := Evaluate(ctx, t.net, t.eval)
			if err != nil {
				return stop(step, err)
			}
			e.Step = step
			res.Evals = append(res.Evals, e)
			t.lastEval = &res.Evals[len(res.Evals)-1]
		}
		if len(audits) > 0 && audits[0] == step {
			audits = audits[1:]
			t.bar.Pause() // the audit's time is not training time
			c := &Checkpoint{Step: step, Steps: t.total, LR: t.opt.LR.LR(min(step, t.total-1), t.total), Params: clone(t.params), Stats: t.stats(), model: res.model}
			err := t.opt.OnAudit(ctx, c)
			t.bar.Resume()
			if err != nil {
				return stop(step, fmt.Errorf("audit at step %d: %w", step, err))
			}
			res.Audits = append(res.Audits, step)
		}
		if step == t.total {
			break
		}
		rec, err := t.update(step)
		if err != nil {
			return stop(step, err)
		}
		res.Curve = append(res.Curve, rec)
		res.Steps = step + 1
		if t.opt.OnStep != nil {
			t.opt.OnStep(rec)
		}
		t.bar.Update(step+1, t.fields()...)
	}
	res.Completed = true
	return nil
}

// fields are the progress bar's fields.
func (t *trainer) fields() []progress.Field {
	var fs []progress.Field
	if n := len(t.window); n > 0 {
		last := t.window[n-1]
		fs = append(fs, progress.F("loss", "%.3f", last.RunningLoss), progress.F("acc", "%.1f%%", 100*last.RunningAcc),
			progress.F("lr", "%s", strconv.FormatFloat(last.LR, 'g', 4, 64)))
	}
	if t.lastEval != nil {
		// The latest evaluation, with its step (evaluations are sparse:
		// without EvalEvery, step 0 and the last step).
		fs = append(fs, progress.F("val_loss", "%.3f", t.lastEval.Loss), progress.F("val_acc", "%.1f%%", 100*t.lastEval.Acc),
			progress.Field{Key: fmt.Sprintf("(evaluated at step %d)", t.lastEval.Step)})
	}
	return fs
}

// batch fills t.x, t.y with the batch of update step.
func (t *trainer) batch(step int) error {
	B := t.opt.BatchSize
	ep := step / t.spe
	if ep != t.permEp {
		t.perm = data.NewRand(t.opt.Seed, "train/epoch/"+strconv.Itoa(ep)).Perm(t.train.Len())
		t.permEp = ep
	}
	k := step % t.spe
	t.pos = t.perm[k*B : (k+1)*B]
	var err error
	t.x, t.y, err = t.train.Batch(t.pos, t.x, t.y)
	if err != nil {
		return fmt.Errorf("batch of update %d: %w", step, err)
	}
	return nil
}

// update performs update step (0-based).
func (t *trainer) update(step int) (StepRecord, error) {
	B := t.opt.BatchSize
	if err := t.batch(step); err != nil {
		return StepRecord{}, err
	}
	lr := t.opt.LR.LR(step, t.total)
	if !(lr >= 0) || math.IsInf(lr, 0) {
		return StepRecord{}, fmt.Errorf("schedule %s gives learning rate %v at update %d", t.opt.LR, lr, step)
	}
	sum, err := t.net.LossGrad(t.x, t.y)
	if err != nil {
		return StepRecord{}, fmt.Errorf("update %d: %w", step, err)
	}
	rec := StepRecord{Step: step + 1, Epoch: step / t.spe, LR: lr, Loss: sum / float64(B)}
	if math.IsNaN(rec.Loss) || math.IsInf(rec.Loss, 0) {
		if step == 0 {
			// No update has been made: the model's own weights overflow
			// (e.g. all 1e30); the learning rate is not at fault.
			return StepRecord{}, fmt.Errorf("update 0: the batch loss is %v before any update: the model's outputs overflow with its weights as given (%s), which no learning rate or clipping can fix", rec.Loss, t.nonFiniteLogits())
		}
		return StepRecord{}, fmt.Errorf("update %d: the batch loss is %v (training diverged; %s)", step, rec.Loss, t.suggestion(lr))
	}
	if t.net.BatchNormTrain() {
		if err := t.net.UpdateBatchNormStats(); err != nil {
			return StepRecord{}, fmt.Errorf("update %d: %w", step, err)
		}
	}
	if _, logits, ok := t.net.Value(t.net.LogitsName()); ok {
		rec.Acc = float64(correct(logits, t.y, t.net.Classes(), B)) / float64(B)
	}
	norm2 := 0.0
	for i, p := range t.params {
		g := t.net.GradInto(p.Name, t.grads[i]) // reuses last step's slice
		if len(g) != len(p.Value) {
			return StepRecord{}, fmt.Errorf("update %d: gradient of %q has %d values, want %d", step, p.Name, len(g), len(p.Value))
		}
		for k := range g {
			g[k] /= float64(B)
			norm2 += g[k] * g[k]
		}
		t.grads[i] = g
	}
	rec.GradNorm = math.Sqrt(norm2)
	if math.IsNaN(rec.GradNorm) || math.IsInf(rec.GradNorm, 0) {
		return StepRecord{}, fmt.Errorf("update %d: the gradient is not finite (norm %v; training diverged; %s)", step, rec.GradNorm, t.suggestion(lr))
	}
	if c := t.opt.ClipNorm; c > 0 && c/(rec.GradNorm+1e-6) < 1 {
		s := c / (rec.GradNorm + 1e-6) // torch's clip_grad_norm_ coefficient
		for _, g := range t.grads {
			for k := range g {
				g[k] *= s
			}
		}
		rec.Clipped = true
	}
	for i, p := range t.params {
		if err := t.optim.Update(p.Name, p.Value, t.grads[i], lr, t.decay[i]); err != nil {
			return StepRecord{}, err
		}
		if err := t.net.SetParam(p.Name, p.Value); err != nil {
			return StepRecord{}, fmt.Errorf("update %d: %w", step, err)
		}
	}
	t.window = append(t.window, rec)
	if len(t.window) > t.opt.Window {
		t.window = t.window[len(t.window)-t.opt.Window:]
	}
	for _, w := range t.window {
		rec.RunningLoss += w.Loss
		rec.RunningAcc += w.Acc
	}
	rec.RunningLoss /= float64(len(t.window))
	rec.RunningAcc /= float64(len(t.window))
	t.window[len(t.window)-1] = rec
	return rec, nil
}

// clone deep-copies parameters.
func clone(ps []Param) []Param {
	out := make([]Param, len(ps))
	for i, p := range ps {
		out[i] = Param{Name: p.Name, Shape: slices.Clone(p.Shape), Value: slices.Clone(p.Value)}
	}
	return out
}

// nonFiniteLogits describes the first non-finite logit of the last batch.
func (t *trainer) nonFiniteLogits() string {
	_, logits, ok := t.net.Value(t.net.LogitsName())
	if !ok {
		return "logits unavailable"
	}
	c := t.net.Classes()
	for k, v := range logits {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Sprintf("logit %d of sample %d of the batch is %v", k%c, k/c, v)
		}
	}
	return "every logit is finite; the loss overflows"
}

// stats copies the running statistics of a train-mode BatchNorm net (nil
// when there are none).
func (t *trainer) stats() []Param {
	var out []Param
	for _, s := range t.net.BatchNormStats() {
		out = append(out, Param{Name: s.Name, Shape: slices.Clone(s.Shape), Value: t.net.BatchNormStat(s.Name)})
	}
	return out
}

// suggestion is what a diverging run is told to try.
func (t *trainer) suggestion(lr float64) string {
	var tips []string
	tips = append(tips, fmt.Sprintf("lower the learning rate (this update's was %g, e.g. --lr %g)", lr, lr/10))
	if t.opt.WarmupSteps == 0 {
		tips = append(tips, "add a warm-up (--warmup-steps 100)")
	}
	if t.opt.ClipNorm == 0 {
		tips = append(tips, "clip gradients (--clip-norm 1)")
	}
	if t.hasBN && !t.net.BatchNormTrain() {
		tips = append(tips, "train BatchNorm in train mode (--bn train)")
	}
	return strings.Join(tips, ", or ")
}

// HasBatchNorm reports whether m has BatchNormalization nodes.
func HasBatchNorm(m *ir.Model) bool {
	if m == nil {
		return false
	}
	for _, n := range m.Nodes {
		if n.OpType == "BatchNormalization" {
			return true
		}
	}
	return false
}
