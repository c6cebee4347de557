package audit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gnaudit/gnaudit/auditor/atomicfile"
	"github.com/gnaudit/gnaudit/auditor/collect"
	"github.com/gnaudit/gnaudit/auditor/data"
	"github.com/gnaudit/gnaudit/auditor/dynamics"
	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/auditor/minibatch"
	"github.com/gnaudit/gnaudit/auditor/noise"
	"github.com/gnaudit/gnaudit/auditor/onnx"
	"github.com/gnaudit/gnaudit/auditor/persample"
	"github.com/gnaudit/gnaudit/auditor/progress"
	"github.com/gnaudit/gnaudit/auditor/train"
	"github.com/gnaudit/gnaudit/gate"
	"github.com/gnaudit/gnaudit/models"
	"github.com/gnaudit/gnaudit/plugins/builtin"
	"github.com/gnaudit/gnaudit/plugins/host"
	"github.com/gnaudit/gnaudit/reports"
)

// Env is what an audit needs from its surroundings.
type Env struct {
	// Stdout receives the plan and the summary; Stderr the progress bars
	// and warnings. nil discards.
	Stdout, Stderr io.Writer
	// ToolVersion is recorded in the report.
	ToolVersion string
	// SelfExe and SelfArgs start a built-in analysis as a subprocess
	// (--isolate); the defaults are this executable and "plugins serve".
	SelfExe  string
	SelfArgs []string
	// ProgressMode chooses redrawn or plain progress lines (progress.Auto:
	// redraw on a terminal).
	ProgressMode progress.Mode
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Tester, when set, runs the normality analysis's Shapiro–Wilk tests
	// (the GPU engine provides one); nil tests on the CPU.
	Tester builtin.ColumnTester
}

func (e *Env) withDefaults() *Env {
	out := Env{}
	if e != nil {
		out = *e
	}
	if out.Stdout == nil {
		out.Stdout = io.Discard
	}
	if out.Stderr == nil {
		out.Stderr = io.Discard
	}
	if out.ToolVersion == "" {
		out.ToolVersion = "dev"
	}
	if out.Now == nil {
		out.Now = time.Now
	}
	return &out
}

// InputError marks an error in the user's input (configuration, files,
// a plan over budget), as opposed to a failure of the work: gnaudit exits
// with status 2 for it.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

func inputErr(err error) error {
	if err == nil {
		return nil
	}
	var ie *InputError
	if errors.As(err, &ie) {
		return err
	}
	return &InputError{err}
}

// Outcome is what Run did.
type Outcome struct {
	// Dir is the output directory; Rendered the report (nil when none
	// could be written, or with Config.PlanOnly).
	Dir      string
	Rendered *Rendered
	Plan     *PlanInfo
	// Status is the audit's final status (StatusComplete, StatusPartial,
	// StatusFailed).
	Status string
}

// GateFailed reports whether a gate policy was applied and failed.
func (o *Outcome) GateFailed() bool {
	return o != nil && o.Rendered != nil && o.Rendered.Gate != nil && !o.Rendered.Gate.Passed()
}

// Run runs the audit of cfg: load and adapt the data and the model, print
// the plan (memory and time) and refuse it when over budget, fine-tune,
// collect a noise set at every audit step (saved under
// OUT/checkpoints/step-N/noise), run the analyses and write report.json,
// report.md and the plots. When ctx is cancelled (Ctrl-C) it keeps what was
// collected: partial sets are saved and the report is rendered from them,
// marked partial; Run then returns the Outcome with an error wrapping
// ctx.Err(). A failing analysis is recorded in the report and the audit
// goes on. Errors in the input are *InputError. No panic escapes.
func Run(ctx context.Context, cfg Config, env *Env) (out *Outcome, err error) {
	env = env.withDefaults()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error: %v (please report this, with the command line)\n%s", r, firstLinesOf(string(debug.Stack()), 12))
		}
	}()
	if err := cfg.Validate(); err != nil {
		return nil, inputErr(err)
	}
	factory, err := SelectEngine(cfg.Device)
	if err != nil {
		return nil, inputErr(err)
	}
	r := &runner{cfg: cfg, env: env, factory: factory, out: &Outcome{Dir: cfg.Out}}
	err = r.run(ctx)
	return r.out, err
}

// runner holds the state of one audit.
type runner struct {
	cfg     Config
	env     *Env
	factory EngineFactory
	out     *Outcome
	start   time.Time // when run began: the plan counts the time already spent

	modelFile string // ONNX file audited (absolute or as given)
	model     *ir.Model
	eng       Engine
	prep      *prepared
	cc        collect.Config
	est       collect.Estimate
	meta      *Meta
	prepared  *Prepared         // --prepare: what the shards will share
	mb        *minibatch.Source // the mini-batch engine (--engine mini-batch|both)
	mbEst     collect.MiniBatchEstimate
}

func (r *runner) printf(format string, a ...any) { fmt.Fprintf(r.env.Stdout, format, a...) }

func (r *runner) run(ctx context.Context) error {
	cfg := &r.cfg
	start := r.env.Now()
	r.start = start
	if cfg.Shard != "" || cfg.From != "" {
		return r.runShard(ctx) // shard.go
	}
	if cfg.Gate != "" {
		// A bad policy must not cost a whole audit before it is noticed.
		if _, err := gate.ReadPolicy(cfg.Gate); err != nil {
			return inputErr(err)
		}
	}
	// Nor a plugin that cannot start: each is started and handshaken now.
	if err := host.Preflight(ctx, analysisOptions(cfg.Analyses, r.env)); err != nil {
		return inputErr(err)
	}
	if !cfg.PlanOnly {
		// Before any work: a complete audit is not replaced by mistake.
		if err := checkOut(cfg.Out, cfg.Force); err != nil {
			return inputErr(err)
		}
	}
	raw, err := loadData(cfg.Data, cfg.Seed)
	if err != nil {
		return inputErr(err)
	}
	r.printf("data: %s, %d training samples of %s", raw.train.Name(), raw.train.Len(), raw.train.Shape())
	if raw.eval.Len() > 0 {
		r.printf(", %d evaluation samples", raw.eval.Len())
	}
	r.printf("\n")
	modelDir := cfg.Out
	if cfg.PlanOnly {
		// A plan touches no output directory (it may hold an audit).
		tmp, err := os.MkdirTemp("", "gnaudit-plan-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		modelDir = tmp
	} else if err := prepareOut(cfg.Out); err != nil {
		return err
	}
	if err := r.loadModel(raw, modelDir); err != nil {
		return err
	}
	eng, err := r.factory(r.model, EngineOptions{Batch: cfg.Collect.EngineBatch, MaxMemory: int64(cfg.Collect.MaxMemory)})
	if err != nil {
		return inputErr(fmt.Errorf("model %s: %w", r.modelFile, err))
	}
	defer eng.Close()
	r.eng = eng
	if t, ok := eng.(interface{ ColumnTester() builtin.ColumnTester }); ok && r.env.Tester == nil {
		r.env.Tester = t.ColumnTester()
	}
	if err := r.prepareData(raw); err != nil {
		return err
	}
	if err := r.plan(ctx); err != nil {
		return err
	}
	if cfg.PlanOnly {
		r.out.Status = ""
		return nil
	}
	r.initMeta(raw, start)
	if err := writeMeta(cfg.Out, r.meta); err != nil {
		return err
	}
	if cfg.Prepare {
		if err := r.startPrepare(raw); err != nil {
			return err
		}
	}

	workErr := r.fineTuneAndCollect(ctx)
	if cfg.Prepare {
		return r.finishPrepare(workErr)
	}
	if workErr == nil {
		workErr = r.runDynamics(ctx) // dynamics.go: nothing without --dynamics
	}
	status, reason := StatusComplete, ""
	switch {
	case workErr == nil:
	case ctx.Err() != nil && errors.Is(workErr, ctx.Err()):
		status, reason = StatusPartial, "interrupted ("+ctx.Err().Error()+") during the run"
	default:
		status, reason = StatusFailed, workErr.Error()
	}
	r.meta.Status, r.meta.Reason = status, reason
	r.out.Status = status
	if err := writeMeta(cfg.Out, r.meta); err != nil {
		return errors.Join(workErr, err)
	}
	actx := ctx
	if ctx.Err() != nil {
		// Interrupted: still analyse what was collected (cheap). A second
		// Ctrl-C ends the process (the command restores the default
		// signal handling after the first one).
		actx = context.WithoutCancel(ctx)
		fmt.Fprintf(r.env.Stderr, "interrupted: analysing what was collected and writing a partial report (Ctrl-C again to quit at once)\n")
	}
	rendered, rerr := Render(actx, cfg.Out, RenderOptions{}, r.env)
	if rerr != nil {
		return errors.Join(workErr, fmt.Errorf("report: %w", rerr))
	}
	r.out.Rendered = rendered
	r.summary(rendered)
	return workErr
}

// ErrOutHoldsAudit is the refusal to overwrite a complete audit.
var ErrOutHoldsAudit = errors.New("holds a complete audit")

// checkOut refuses an output directory holding a complete audit unless
// force is set. A partial, failed or unfinished audit there is replaced
// (rerunning it is how it is resumed, e.g. by scripts/paper/run.sh).
func checkOut(dir string, force bool) error {
	if force {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, MetaName)); err != nil {
		return nil
	}
	m, err := ReadMeta(dir)
	if err != nil {
		return fmt.Errorf("--out %s holds an unreadable %s (%w): choose another --out, or pass --force to replace it", dir, MetaName, err)
	}
	if m.Status != StatusComplete {
		return nil
	}
	return fmt.Errorf("--out %s %w (created %s, model %s): choose another --out, pass --force to replace it, or run gnaudit report %s to re-render it", dir, ErrOutHoldsAudit, m.Created, m.ModelFile, dir)
}

// prepareOut creates the output directory; in a directory of an earlier
// audit it removes that audit's files (and only them).
func prepareOut(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, MetaName)); err == nil {
		for _, name := range []string{CheckpointDir, "plots", ReportJSON, ReportMD, ModelName, MetaName, dynamics.JSONName, dynamics.MDName} {
			if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
				return fmt.Errorf("cleaning the earlier audit in %s: %w", dir, err)
			}
		}
	}
	return nil
}

// loadModel builds the zoo model (written to dir/model.onnx) or reads the
// given file.
func (r *runner) loadModel(raw *rawData, dir string) error {
	cfg := &r.cfg
	if name, zoo := cfg.zooModel(); zoo {
		in := zooInput(raw.train.Shape())
		pb, err := models.Build(name, models.Options{Input: in, Classes: raw.train.Classes(), Seed: cfg.Seed})
		if err != nil {
			return inputErr(fmt.Errorf("zoo model %s for input %s and %d classes: %w", name, models.FormatInput(in), raw.train.Classes(), err))
		}
		r.modelFile = filepath.Join(dir, ModelName)
		if err := models.Write(r.modelFile, pb); err != nil {
			return err
		}
		r.printf("model: zoo %s, input %s, %d classes, seed %d (written to %s)\n", name, models.FormatInput(in), raw.train.Classes(), cfg.Seed, r.modelFile)
		cfg.Model = name
	} else {
		if _, err := os.Stat(cfg.Model); err != nil {
			return inputErr(fmt.Errorf("model %q: no such file, and not a zoo model (zoo: %s)", cfg.Model, strings.Join(models.Names(), ", ")))
		}
		r.modelFile = cfg.Model
		r.printf("model: %s\n", cfg.Model)
	}
	m, err := onnx.Load(r.modelFile)
	if err != nil {
		return inputErr(err)
	}
	r.model = m
	return nil
}

// prepareData preprocesses the data for the engine's input.
func (r *runner) prepareData(raw *rawData) error {
	cfg := &r.cfg
	shape := r.eng.InputShape()
	var target data.Shape
	switch len(shape) {
	case 3:
		target = data.Shape{C: shape[0], H: shape[1], W: shape[2]}
	case 2:
		target = data.Shape{C: 1, H: shape[0], W: shape[1]}
	default:
		target = raw.train.Shape() // a flat input: Check compares sizes
	}
	prep, err := preprocess(raw, cfg.Preprocess, target)
	if err != nil {
		return inputErr(err)
	}
	in := append([]int{1}, shape...)
	if err := prep.train.Check(in, r.eng.Classes()); err != nil {
		return inputErr(fmt.Errorf("data %s against model %s: %w", raw.train.Name(), r.modelFile, err))
	}
	if prep.eval.Len() > 0 {
		if err := prep.eval.Check(in, r.eng.Classes()); err != nil {
			return inputErr(fmt.Errorf("evaluation data against model %s: %w", r.modelFile, err))
		}
	}
	r.prep = prep
	for _, s := range prep.steps {
		r.printf("  preprocessing: %s\n", s)
	}
	return nil
}

// plan sets up the collection, estimates memory and time, prints them and
// refuses a run over budget.
func (r *runner) plan(ctx context.Context) error {
	cfg := &r.cfg
	col := cfg.Collect
	m := r.prep.train.Len()
	pool := col.Pool
	maxB := col.BatchSizes[len(col.BatchSizes)-1]
	if pool == 0 {
		pool = col.Batches * maxB
	}
	if pool > m {
		r.printf("note: pool %d capped at the %d training samples\n", pool, m)
		pool = m
	}
	if maxB > pool {
		return inputErr(fmt.Errorf("collect.batch_sizes: the largest batch size %d exceeds the pool of %d samples (the training set has %d)", maxB, pool, m))
	}
	if pool < reports.MinPoolFactor*maxB && col.PoolCheck != "off" {
		w := reports.PoolWarning(pool, maxB)
		if col.PoolCheck == "refuse" {
			return inputErr(fmt.Errorf("collect.pool (--pool): %s; or set --pool-check warn", w))
		}
		r.printf("warning: %s (--pool-check refuse makes this an error)\n", w)
	}
	budget := int64(col.MaxMemory)
	if budget == 0 {
		budget = defaultMemoryBudget()
	}
	r.cc = collect.Config{
		Model: filepath.Base(r.modelFile), Data: r.prep.train.Name(), Seed: cfg.Seed,
		DataSize: m, Pool: pool, Batches: col.Batches, BatchSizes: slices.Clone(col.BatchSizes),
		CoordsPerLayer: col.CoordsPerLayer, MaxMemory: budget, SourceBytes: r.eng.SourceBytes(),
	}
	src, err := r.eng.Source(r.prep.train)
	if err != nil {
		return inputErr(fmt.Errorf("model %s: %w", r.modelFile, err))
	}
	layers := src.Layers()
	est, err := collect.Plan(r.cc, layers)
	if err != nil {
		return inputErr(fmt.Errorf("collection plan refused: %w\n(lower --pool, --coords-per-layer, --batches or the batch sizes, or raise --max-memory)", err))
	}
	r.est = est
	r.printf("engine: %s\n", r.eng.Name())
	for _, n := range r.eng.Notes() {
		r.printf("  note: %s\n", n)
	}
	r.printf("%s\n", machineLine())
	if cfg.Collect.Engine != EngineMiniBatch {
		r.printf("%s\n", strings.TrimRight(est.String(), "\n"))
	}
	r.printf("  memory budget %s (--max-memory)\n", ByteSize(budget))
	if cfg.Shard != "" {
		return nil // a shard prints its own share (shard.go) and measures nothing
	}

	// Time: measure one block of per-sample gradients and one fine-tuning
	// step on this machine.
	var perSample, perCoords, collectSecs float64
	if cfg.Collect.Engine != EngineMiniBatch {
		collectSecs, perSample, perCoords, err = collectionSeconds(est, func(full bool) (float64, error) {
			return r.measurePerSample(ctx, src, full)
		})
		if err != nil {
			return err
		}
	}
	stepSecs := 0.0
	if cfg.FineTune.Steps > 0 {
		if stepSecs, err = r.measureStep(); err != nil {
			return err
		}
	}
	steps := cfg.auditSteps()
	mbSecs, err := r.planMiniBatch(ctx, layers) // the mini-batch engine (minibatch.go), 0 when not used
	if err != nil {
		return err
	}
	collectSecs += mbSecs
	ft := float64(cfg.FineTune.Steps) * stepSecs
	if n := r.prep.eval.Len(); n > 0 && cfg.FineTune.Steps > 0 {
		ft += 2 * math.Ceil(float64(n)/float64(cfg.FineTune.BatchSize)) * stepSecs / 2 // forward only, before and after
	}
	total := ft + float64(len(steps))*collectSecs
	dynSecs, err := r.planDynamics() // dynamics.go: 0 without --dynamics
	if err != nil {
		return err
	}
	total += dynSecs
	// Loading the data and the model and the timings above are spent
	// already, but they are part of what the user waits for.
	spent := r.env.Now().Sub(r.start).Seconds()
	total += spent
	r.out.Plan = &PlanInfo{Scheme: string(est.Scheme), Pool: est.Pool, Tested: est.Tested, MemoryBytes: est.Memory.Total,
		MaxMemoryBytes: budget, PerSampleSecs: perSample, StepSecs: stepSecs, CollectSecs: collectSecs, TotalSecs: total,
		GradientSamples: est.GradientSamples}
	perText := secs(perSample) + " per sample"
	switch {
	case cfg.Collect.Engine == EngineMiniBatch:
		perText = "the mini-batch engine's, above"
	case est.CoordSamples > 0:
		perText = fmt.Sprintf("%s per sample with norms, %s for coordinates only", secs(perSample), secs(perCoords))
	}
	if cfg.Collect.Engine == EngineBoth {
		perText += ", and the mini-batch engine's, above"
	}
	r.printf("time estimate: fine-tuning %d steps × %s = %s; collection %s per checkpoint (%s) × %d checkpoints (steps %v); total about %s (%s of it loading and planning, done)\n",
		cfg.FineTune.Steps, secs(stepSecs), secs(ft), secs(collectSecs), perText, len(steps), steps, secs(total), secs(spent))
	if !(total < maxEstimateSecs) {
		return inputErr(fmt.Errorf("the audit is estimated to take %s, longer than an audit may be planned for: lower --finetune-steps (%d), --pool or --coords-per-layer",
			secs(total), cfg.FineTune.Steps))
	}
	if mt := time.Duration(col.MaxTime); mt > 0 && total > mt.Seconds() {
		return inputErr(fmt.Errorf("the audit is estimated to take %s, over --max-time %s (lower --finetune-steps, --pool or --coords-per-layer)", secs(total), mt))
	}
	return nil
}

// collectionSeconds estimates one checkpoint's collection from per-sample
// times measured by measure (measurePerSample): that of the requests with
// norms and sums, perFull, and, when the scheme has a pass asking for the
// tested coordinates only (est.CoordSamples), that of such a request,
// perCoords (else perFull).
func collectionSeconds(est collect.Estimate, measure func(full bool) (float64, error)) (secs, perFull, perCoords float64, err error) {
	if perFull, err = measure(true); err != nil {
		return 0, 0, 0, err
	}
	perCoords = perFull
	if est.CoordSamples > 0 {
		if perCoords, err = measure(false); err != nil {
			return 0, 0, 0, err
		}
	}
	return est.SecondsSplit(perFull, perCoords, collect.PerOpSeconds), perFull, perCoords, nil
}

// measurePerSample times one pool sample of the collection with the
// collection's own request (its tested coordinates, collect.TestedCoords,
// and, with full, the norms and sums of every layer, collect.Request.Full,
// which all passes but the two-pass scheme's second ask for) and the
// collector's own per-block work of its first pass (collect.MeasurePerSample:
// an untimed warm-up engine batch, then batches until measureMinTime is
// timed, 16 batches at most).
func (r *runner) measurePerSample(ctx context.Context, src collect.Source, full bool) (float64, error) {
	b := r.cfg.Collect.EngineBatch
	if b <= 0 {
		b = persample.DefaultBatch
	}
	per, err := collect.MeasurePerSample(ctx, src, r.cc, b, full, measureMinTime)
	if err != nil {
		if ctx.Err() != nil {
			return 0, err
		}
		return 0, fmt.Errorf("per-sample gradients of model %s: %w", r.modelFile, err)
	}
	return per, nil
}

// measureMinTime is how long the plan times per-sample gradients at least,
// when 16 engine batches take that long: a single batch of a small model
// (30 ms) is too short a burst to time on a busy machine.
const measureMinTime = 500 * time.Millisecond

// measureStep times one fine-tuning update at the fine-tuning batch:
// updates of train.Train at a negligible learning rate, the first one
// (buffers, page faults) not timed, until measureMinTime is timed (two
// timed updates at least, seven at most); the median of the timed updates
// stands against a burst of other work. A bare forward/backward pass
// misses the optimiser's work and the warm-up, and a single cold one
// mismeasures.
func (r *runner) measureStep() (float64, error) {
	const maxSteps = 8
	B := r.cfg.FineTune.BatchSize
	if B > r.prep.train.Len() {
		return 0, inputErr(fmt.Errorf("finetune.batch_size %d exceeds the %d training samples", B, r.prep.train.Len()))
	}
	opt := fineTuneOptions(r.cfg.FineTune, r.cfg.Seed)
	opt.Steps, opt.BatchSize, opt.Seed = maxSteps, B, r.cfg.Seed
	opt.MaxMemory = int64(r.cfg.Collect.MaxMemory)
	opt.LR, opt.WarmupSteps = train.Constant(1e-9), 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var at []time.Time
	opt.OnStep = func(train.StepRecord) {
		at = append(at, time.Now())
		if len(at) >= 3 && at[len(at)-1].Sub(at[0]) >= measureMinTime {
			cancel()
		}
	}
	_, err := train.Train(ctx, r.model, r.prep.train, opt)
	if err != nil && ctx.Err() != nil {
		err = nil // stopped on purpose
	}
	if err != nil || len(at) < 3 {
		if err == nil {
			err = fmt.Errorf("%d of at least 3 timed updates", len(at))
		}
		return 0, fmt.Errorf("model %s: timing a fine-tuning step: %w", r.modelFile, err)
	}
	d := make([]float64, len(at)-1)
	for i := range d {
		d[i] = at[i+1].Sub(at[i]).Seconds()
	}
	slices.Sort(d)
	if n := len(d); n%2 == 0 {
		return (d[n/2-1] + d[n/2]) / 2, nil
	}
	return d[len(d)/2], nil
}

// defaultMemoryBudget is 3/4 of the machine's memory (4 GiB when unknown).
func defaultMemoryBudget() int64 {
	f, err := os.Open("/proc/meminfo")
	if err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) >= 2 && fs[0] == "MemTotal:" {
				if kb, err := strconv.ParseInt(fs[1], 10, 64); err == nil && kb > 0 {
					return kb * 1024 / 4 * 3
				}
			}
		}
	}
	return 4 << 30
}

// initMeta fills the metadata before the run.
func (r *runner) initMeta(raw *rawData, start time.Time) {
	cfg := &r.cfg
	sum, _ := fileSHA256(r.modelFile)
	sumry := onnx.Inspect(r.model)
	var params int64
	if src, err := r.eng.Source(r.prep.train); err == nil {
		for _, l := range src.Layers() {
			params += int64(l.Size())
		}
	}
	mf := relPath(cfg.Out, r.modelFile)
	desc := r.prep.train.Describe()
	di := &DataInfo{Train: desc, Adaptation: r.prep.adaptation}
	if r.prep.eval.Len() > 0 {
		ed := r.prep.eval.Describe()
		di.Eval = &ed
	}
	notes := append([]string{}, raw.notes...)
	notes = append(notes, fmt.Sprintf("Per-sample gradients: %s.", r.eng.Name()))
	for _, n := range r.eng.Notes() {
		notes = append(notes, "Engine: "+n)
	}
	if cfg.usesMiniBatch() {
		notes = append(notes, miniBatchNote)
	}
	if a := r.prep.adaptation; len(a.Steps) > 0 {
		notes = append(notes, "Data adapted to the model: "+a.String())
	}
	notes = append(notes, fmt.Sprintf("Noise collection: pool N = %d of %d training samples, n = %d mini-batches per batch size, "+
		"up to %d tested coordinates per parameter (seed %d), scheme %s.", r.cc.Pool, r.cc.DataSize, r.cc.Batches, r.cc.CoordsPerLayer, cfg.Seed, schemeNote(cfg, r.est.Scheme)))
	mc := *cfg
	// The gate policy and the JUnit file are found again by gnaudit report
	// DIR, possibly from another working directory.
	for _, p := range []*string{&mc.Gate, &mc.JUnit} {
		if *p != "" {
			if a, err := filepath.Abs(*p); err == nil {
				*p = a
			}
		}
	}
	zoo, isZoo := cfg.zooModel()
	if !isZoo {
		zoo = ""
	}
	r.meta = &Meta{
		Format: MetaFormat, Version: MetaVersion, Tool: r.env.ToolVersion,
		Created: start.UTC().Format(time.RFC3339), Status: StatusRunning, Config: mc,
		ModelFile: mf,
		Model:     reports.Model{File: mf, SHA256: sum, Opset: int(sumry.Opset), Parameters: params, Producer: sumry.Producer, Zoo: zoo},
		Data:      reports.Data{Name: desc.Name, Path: raw.dir, Split: raw.split, Samples: desc.Samples, Preprocessing: r.prep.steps},
		DataInfo:  di, Engine: r.eng.Name(), Notes: notes, Plan: r.out.Plan, Steps: cfg.auditSteps(),
		Machine: machine(),
		Checks:  []CheckpointMeta{},
	}
}

// fineTuneAndCollect runs the fine-tuning with a collection at every audit
// step (or only the collection at step 0 without fine-tuning).
func (r *runner) fineTuneAndCollect(ctx context.Context) error {
	cfg := &r.cfg
	if cfg.FineTune.Steps == 0 {
		return r.collectAt(ctx, 0, nil)
	}
	opt := fineTuneOptions(cfg.FineTune, cfg.Seed)
	opt.Eval = r.prep.eval
	opt.MaxMemory = int64(cfg.Collect.MaxMemory)
	opt.AuditAt = cfg.auditSteps()
	opt.OnAudit = func(ctx context.Context, c *train.Checkpoint) error {
		return r.collectAt(ctx, c.Step, c.Saved()) // parameters and BatchNorm running statistics
	}
	opt.Progress = r.env.Stderr
	opt.ProgressMode = r.env.ProgressMode
	fmt.Fprintf(r.env.Stderr, "fine-tuning: %d steps, batch %d, %s, %s, momentum %g, weight decay %g, warm-up %d, BatchNorm %s\n",
		opt.Steps, opt.BatchSize, optimizerName(opt.Optimizer), opt.LR, opt.Momentum, opt.WeightDecay, opt.WarmupSteps, bnName(opt.BatchNorm, r.model))
	res, err := train.Train(ctx, r.model, r.prep.train, opt)
	if res != nil {
		r.meta.Training = res
		for _, e := range res.Evals {
			fmt.Fprintf(r.env.Stderr, "evaluation at step %d: loss %.4f, accuracy %.1f%% (%d samples)\n", e.Step, e.Loss, 100*e.Acc, e.Samples)
		}
		if cfg.FineTune.Save != "" && len(res.Params) > 0 {
			if serr := train.SaveONNX(r.modelFile, cfg.FineTune.Save, res.Saved()); serr != nil {
				return errors.Join(err, fmt.Errorf("--save: %w", serr))
			}
			fmt.Fprintf(r.env.Stderr, "fine-tuned model (step %d) written to %s\n", res.Steps, cfg.FineTune.Save)
		}
	}
	if err != nil && res == nil {
		return inputErr(err)
	}
	return err
}

// collectAt collects, saves and records the noise set of one checkpoint.
func (r *runner) collectAt(ctx context.Context, step int, params []train.Param) error {
	cfg := &r.cfg
	if cfg.Prepare {
		return r.prepareAt(ctx, step, params) // shard.go
	}
	rel := filepath.Join(CheckpointDir, stepDir(step))
	dir := filepath.Join(cfg.Out, rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cm := CheckpointMeta{Step: step}
	// The checkpoint's weights as ONNX (same graph, new initializers).
	mrel := filepath.Join(rel, ModelName)
	var saveParams []train.Param
	if params != nil {
		saveParams = params
	}
	if err := train.SaveONNX(r.modelFile, filepath.Join(cfg.Out, mrel), saveParams); err != nil {
		fmt.Fprintf(r.env.Stderr, "warning: step %d: saving the checkpoint's model: %v\n", step, err)
	} else {
		cm.Model = mrel
		cm.SHA256, _ = fileSHA256(filepath.Join(cfg.Out, mrel))
	}
	if params != nil {
		if err := r.eng.SetParams(params); err != nil {
			return err
		}
	}
	if cfg.Collect.Engine == EngineMiniBatch {
		return r.collectMiniBatch(ctx, step, params, cm)
	}
	cc := r.cc
	cc.Step = step
	N := r.est.Pool
	total := r.est.Passes * N
	bar := progress.New(r.env.Stderr, total, progress.Options{Label: fmt.Sprintf("step %d collect", step), Mode: r.env.ProgressMode})
	done := 0 // samples of all passes done (a stopped run aggregates what it has)
	cc.Progress = func(p collect.Progress) {
		switch p.Phase {
		case "aggregate":
			bar.Update(done, progress.F("phase", "aggregating"))
		default:
			done = (p.Pass-1)*N + p.Done
			bar.Update(done, progress.F("phase", "%s", p.Phase), progress.F("pass", "%d/%d", p.Pass, p.Passes))
		}
	}
	src, err := r.eng.Source(r.prep.train)
	if err != nil {
		return err
	}
	set, err := collect.Collect(ctx, src, cc)
	if err != nil {
		bar.Finish(progress.Field{Key: "stopped"})
	} else {
		bar.Finish()
	}
	if set != nil {
		nrel := filepath.Join(rel, NoiseDir)
		if serr := noise.Save(filepath.Join(cfg.Out, nrel), set); serr != nil {
			return errors.Join(err, fmt.Errorf("step %d: saving the noise set: %w", step, serr))
		}
		cm.Noise = nrel
		cm.Partial = set.Partial
		if set.Partial {
			cm.Reason = reasonOf(set)
		}
		fmt.Fprintf(r.env.Stderr, "step %d: noise set saved to %s", step, filepath.Join(cfg.Out, nrel))
		if set.Partial {
			fmt.Fprintf(r.env.Stderr, " (partial: pool %d of %d, %d mini-batches per batch size)", set.Pool, N, set.Batches)
		}
		fmt.Fprintln(r.env.Stderr)
	} else if err != nil {
		cm.Reason = "stopped before any usable result: " + err.Error()
	}
	r.meta.Checks = append(r.meta.Checks, cm)
	if werr := writeMeta(cfg.Out, r.meta); werr != nil {
		return errors.Join(err, werr)
	}
	if err != nil {
		return fmt.Errorf("collection at step %d: %w", step, err)
	}
	if cfg.Collect.Engine == EngineBoth {
		cm2 := CheckpointMeta{Step: step, Model: cm.Model, SHA256: cm.SHA256}
		return r.collectMiniBatch(ctx, step, params, cm2)
	}
	return nil
}

// summary prints where the report is and the gate's outcome.
func (r *runner) summary(rd *Rendered) {
	for _, s := range rd.Skipped {
		fmt.Fprintf(r.env.Stderr, "note: checkpoint %s\n", s)
	}
	if g := rd.Gate; g != nil {
		g.WriteText(r.env.Stdout)
		if _, err := g.AppendStepSummary(rd.JSONPath); err != nil {
			fmt.Fprintf(r.env.Stderr, "warning: GitHub step summary: %v\n", err)
		}
	}
	state := ""
	if rd.Partial {
		state = " (PARTIAL)"
	}
	r.printf("report%s: %s\n        %s\n", state, rd.MDPath, rd.JSONPath)
}

func fileSHA256(path string) (string, error) { return atomicfile.SHA256(path) }

// yearSecs is a year of 365.25 days in seconds.
const yearSecs = 365.25 * 24 * 3600

// maxEstimateSecs bounds the plan's time estimate: an audit estimated to
// take longer (e.g. --finetune-steps 1e15) is refused.
const maxEstimateSecs = 10 * yearSecs

// secs formats seconds for the plan.
func secs(s float64) string {
	if math.IsNaN(s) {
		return "?"
	}
	if s >= maxEstimateSecs {
		// time.Duration overflows (it used to print a negative or zero
		// time): saturate.
		if math.IsInf(s, 1) {
			return "more than 10 years"
		}
		return fmt.Sprintf("more than 10 years (%.3g years)", s/yearSecs)
	}
	if s < 0 {
		return "?"
	}
	d := time.Duration(s * float64(time.Second))
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	}
	return progress.Duration(d)
}

func firstLinesOf(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// optimizerName and bnName describe the fine-tuning for the progress line.
func optimizerName(o string) string {
	if o == "" {
		return train.OptSGD
	}
	return o
}

func bnName(mode string, m *ir.Model) string {
	switch {
	case !train.HasBatchNorm(m):
		return "none in the model"
	case mode == train.BNEval:
		return "eval mode"
	}
	return "train mode"
}
