package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gnaudit/gnaudit/auditor/atomicfile"
	"github.com/gnaudit/gnaudit/auditor/data"
	"github.com/gnaudit/gnaudit/auditor/noise"
	"github.com/gnaudit/gnaudit/auditor/onnx"
	"github.com/gnaudit/gnaudit/auditor/progress"
	"github.com/gnaudit/gnaudit/auditor/train"
	"github.com/gnaudit/gnaudit/gate"
	"github.com/gnaudit/gnaudit/plugins"
	"github.com/gnaudit/gnaudit/plugins/host"
	"github.com/gnaudit/gnaudit/reports"
)

// Files of an audit directory.
const (
	MetaName      = "audit.json"    // the audit's metadata (Meta)
	ReportJSON    = "report.json"   // gnaudit.report/v1
	ReportMD      = "report.md"     // the readable report
	ModelName     = "model.onnx"    // the audited model, when built from the zoo
	CheckpointDir = "checkpoints"   // one step-N directory per checkpoint
	NoiseDir      = "noise"         // the noise set of a checkpoint (noise.Save)
	ResultsName   = "analyses.json" // the analyses' results of a checkpoint
	MetaFormat    = "gnaudit-audit"
	MetaVersion   = 1
)

// Audit statuses (Meta.Status).
const (
	StatusRunning  = "running"
	StatusComplete = "complete"
	StatusPartial  = "partial"
	StatusFailed   = "failed"
)

// Meta is the metadata of an audit directory (audit.json): everything the
// report needs besides the noise sets and the analyses' results, so that
// gnaudit report DIR can rebuild the report without recomputing gradients.
// Paths inside the directory are relative to it.
type Meta struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	Tool    string `json:"tool"`
	Created string `json:"created"` // RFC 3339, also the report's creation time
	// Status is running, complete, partial (stopped early: Ctrl-C) or
	// failed; Reason says why it is not complete.
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// Config is the configuration as resolved (model and data defaults
	// filled in).
	Config Config `json:"config"`
	// ModelFile is the ONNX file audited (relative to the directory when
	// it was written there).
	ModelFile string           `json:"model_file"`
	Model     reports.Model    `json:"model"`
	Data      reports.Data     `json:"data"`
	DataInfo  *DataInfo        `json:"data_info,omitempty"`
	Engine    string           `json:"engine"`
	Machine   *reports.Machine `json:"machine,omitempty"`
	Notes     []string         `json:"notes,omitempty"`
	Plan      *PlanInfo        `json:"plan,omitempty"`
	Training  *train.Result    `json:"training,omitempty"`
	Steps     []int            `json:"steps"` // audit steps planned
	Checks    []CheckpointMeta `json:"checkpoints"`
}

// DataInfo records the data as the model saw it.
type DataInfo struct {
	Train      data.Description  `json:"train"`
	Eval       *data.Description `json:"eval,omitempty"`
	Adaptation data.Adaptation   `json:"adaptation"`
}

// PlanInfo is the estimate printed before the run.
type PlanInfo struct {
	Scheme          string  `json:"scheme"`
	Pool            int     `json:"pool"`
	Tested          int     `json:"tested_coordinates"`
	MemoryBytes     int64   `json:"memory_bytes"`
	MaxMemoryBytes  int64   `json:"max_memory_bytes"`
	PerSampleSecs   float64 `json:"per_sample_seconds"`
	StepSecs        float64 `json:"finetune_step_seconds"`
	CollectSecs     float64 `json:"collect_seconds_per_checkpoint"`
	TotalSecs       float64 `json:"total_seconds"`
	GradientSamples int64   `json:"gradient_samples_per_checkpoint"`
}

// CheckpointMeta records one audit checkpoint.
type CheckpointMeta struct {
	Step int `json:"step"`
	// Model is the ONNX file with the checkpoint's weights and SHA256 its
	// hash (empty when it could not be written).
	Model  string `json:"model,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	// Noise is the saved noise set's directory ("" when nothing was
	// collected); Partial marks a set stopped early.
	Noise   string `json:"noise,omitempty"`
	Partial bool   `json:"partial,omitempty"`
	Reason  string `json:"reason,omitempty"`
	// Results is the file of the analyses' results ("" when not analysed).
	Results string `json:"results,omitempty"`
	// Engine is "mini-batch" for a set of the mini-batch engine ("" for
	// the per-sample engine).
	Engine string `json:"engine,omitempty"`
}

// ReadMeta reads DIR/audit.json.
func ReadMeta(dir string) (*Meta, error) {
	b, err := os.ReadFile(filepath.Join(dir, MetaName))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s is not an audit directory (no %s; gnaudit audit writes it)", dir, MetaName)
		}
		return nil, err
	}
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, MetaName), err)
	}
	if m.Format != MetaFormat {
		return nil, fmt.Errorf("%s: format %q, want %q", filepath.Join(dir, MetaName), m.Format, MetaFormat)
	}
	if m.Version != MetaVersion {
		return nil, fmt.Errorf("%s: version %d, this gnaudit reads version %d", filepath.Join(dir, MetaName), m.Version, MetaVersion)
	}
	return &m, nil
}

// writeMeta writes DIR/audit.json atomically.
func writeMeta(dir string, m *Meta) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("audit metadata: %w", err)
	}
	return writeFileAtomic(filepath.Join(dir, MetaName), append(b, '\n'))
}

func writeFileAtomic(path string, b []byte) error { return atomicfile.WriteFile(path, b) }

// saveResults writes the analyses' results of a checkpoint. Per-coordinate
// arrays are left out (the report keeps per-layer summaries; gnaudit report
// --reanalyze recomputes everything from the noise set).
func saveResults(path string, results []*plugins.Result) error {
	slim := make([]*plugins.Result, len(results))
	for i, r := range results {
		c := *r
		c.Layers = make([]*plugins.LayerResult, len(r.Layers))
		for j, l := range r.Layers {
			if l == nil {
				continue
			}
			lc := *l
			lc.PerCoordinate = nil
			c.Layers[j] = &lc
		}
		if r.Layers == nil {
			c.Layers = nil
		}
		slim[i] = &c
	}
	b, err := json.Marshal(slim)
	if err != nil {
		return fmt.Errorf("analyses results: %w", err)
	}
	return writeFileAtomic(path, b)
}

func loadResults(path string) ([]*plugins.Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rs []*plugins.Result
	if err := json.Unmarshal(b, &rs); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rs, nil
}

// analysisOptions maps the configuration to plugins/host options.
func analysisOptions(c AnalysesConfig, env *Env) *host.Options {
	return &host.Options{
		Plugins:   c.Plugins,
		PluginDir: c.PluginDir,
		Builtins:  c.Builtins,
		Isolate:   c.Isolate,
		Timeout:   time.Duration(c.Timeout),
		Params:    c.Params,
		SelfExe:   env.SelfExe,
		SelfArgs:  env.SelfArgs,
		Stderr:    env.Stderr,
		Tester:    env.Tester,
	}
}

// analyse runs the configured analyses over one noise set, with a progress
// bar per analysis. Failing analyses are in their Result; the error is for
// bad options or a cancelled ctx.
func analyse(ctx context.Context, set *noise.Set, c AnalysesConfig, env *Env) ([]*plugins.Result, error) {
	o := analysisOptions(c, env)
	params, err := host.ParseParams(o.Params)
	if err != nil {
		return nil, inputErr(err)
	}
	specs, err := host.Discover(o)
	if err != nil {
		return nil, inputErr(err)
	}
	ld, err := host.Load(specs, o)
	if err != nil {
		return nil, inputErr(err)
	}
	defer ld.Close()
	// One bar per checkpoint over (analysis, layer) pairs: the runner
	// interleaves the analyses layer by layer.
	live := 0
	for _, cd := range ld.Candidates {
		if cd.Analysis != nil {
			live++
		}
	}
	bar := progress.New(env.Stderr, live*len(set.Layers), progress.Options{
		Label: fmt.Sprintf("step %d analyses", set.Step), Mode: env.ProgressMode})
	tr := &analysisTracker{bar: bar}
	cands := make([]plugins.Candidate, len(ld.Candidates))
	for i, cd := range ld.Candidates {
		cands[i] = cd
		if cd.Analysis != nil {
			cands[i].Analysis = &barAnalysis{Analysis: cd.Analysis, name: cd.Name, tr: tr}
		}
	}
	r := &plugins.Runner{Timeout: o.Timeout, Params: params}
	res, err := r.Run(ctx, set, cands)
	bar.Finish()
	if err != nil && ctx.Err() == nil {
		return nil, inputErr(err)
	}
	fmt.Fprintf(env.Stderr, "step %d analyses:\n", set.Step)
	for _, x := range res {
		status := "ok"
		if x.Failed() {
			status = fmt.Sprintf("FAILED at %s: %s", x.Failure.Stage, x.Failure.Reason)
		}
		fmt.Fprintf(env.Stderr, "  %-16s %-20s %s  %s\n", x.Description.Name, x.Origin, secs(x.Duration.Seconds()), status)
	}
	return res, err
}

// analysisTracker counts the layers done by all analyses of one run.
type analysisTracker struct {
	mu   sync.Mutex
	bar  *progress.Bar
	done int
}

func (t *analysisTracker) layerDone(name string) {
	t.mu.Lock()
	t.done++
	d := t.done
	t.mu.Unlock()
	t.bar.Update(d, progress.F("analysis", "%s", name))
}

// barAnalysis reports the layers an analysis has done to the tracker.
type barAnalysis struct {
	plugins.Analysis
	name string
	tr   *analysisTracker
}

// Close stops a plugin subprocess (the runner closes a failed one).
func (a *barAnalysis) Close() error {
	if c, ok := a.Analysis.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

func (a *barAnalysis) Start(ctx context.Context, req *plugins.StartRequest) (plugins.Session, error) {
	s, err := a.Analysis.Start(ctx, req)
	if err != nil {
		return nil, err
	}
	return &barSession{Session: s, a: a}, nil
}

type barSession struct {
	plugins.Session
	a *barAnalysis
}

func (s *barSession) Layer(ctx context.Context, in *plugins.LayerInput) (*plugins.LayerResult, error) {
	r, err := s.Session.Layer(ctx, in)
	if err == nil {
		s.a.tr.layerDone(s.a.name)
	}
	return r, err
}

// RenderOptions configure Render.
type RenderOptions struct {
	// Reanalyze re-runs the analyses on the saved noise sets even where
	// saved results exist (e.g. with other analyses or parameters).
	Reanalyze bool
	// Analyses, when not nil, replaces the audit's analysis settings
	// (used where analyses run).
	Analyses *AnalysesConfig
	// Format is the plot format ("svg" or "png"; "" keeps the audit's).
	Format string
	// Gate, when not empty, replaces the audit's gate policy; NoGate
	// drops it.
	Gate   string
	NoGate bool
	// JUnit writes the gate checks as JUnit XML.
	JUnit string
}

// Rendered is the outcome of Render.
type Rendered struct {
	Report   *reports.Report
	JSONPath string
	MDPath   string
	Partial  bool
	// Gate is the gate outcome when a policy was applied.
	Gate *gate.Result
	// Skipped lists checkpoints left out of the report, with the reason.
	Skipped []string
}

// Render (re)builds DIR/report.json and DIR/report.md from the audit
// directory: its metadata, its saved noise sets and the saved analyses'
// results (analyses run only where results are missing, or with
// Reanalyze). No gradient is computed. Rendering twice gives the same files.
func Render(ctx context.Context, dir string, o RenderOptions, env *Env) (*Rendered, error) {
	env = env.withDefaults()
	meta, err := ReadMeta(dir)
	if err != nil {
		return nil, inputErr(err)
	}
	ac := meta.Config.Analyses
	if o.Analyses != nil {
		ac = *o.Analyses
	}
	out := &Rendered{}
	rep := &reports.Report{
		Schema: reports.SchemaID, Tool: reports.Tool{Name: "gnaudit", Version: meta.Tool}, Created: meta.Created,
		Model: meta.Model, Data: meta.Data, Training: trainingSection(meta),
		Method: reports.Method{Notes: reports.DefaultNotes()}, Checkpoints: []reports.Checkpoint{},
		Machine: meta.Machine,
	}
	if rep.Data.Preprocessing == nil {
		rep.Data.Preprocessing = []string{}
	}
	partial := meta.Status != StatusComplete
	var notes []string
	if partial {
		reason := meta.Reason
		if reason == "" {
			reason = "the audit did not finish"
		}
		notes = append(notes, fmt.Sprintf("PARTIAL AUDIT (status %s): %s. The numbers cover what was collected before it stopped.", meta.Status, reason))
	}
	for i := range meta.Checks {
		cm := &meta.Checks[i]
		if cm.Noise == "" {
			out.Skipped = append(out.Skipped, fmt.Sprintf("step %d: no noise collected (%s)", cm.Step, orWord(cm.Reason, "stopped before its collection")))
			continue
		}
		set, err := noise.Load(filepath.Join(dir, cm.Noise))
		if err != nil {
			return nil, fmt.Errorf("checkpoint step %d: %w", cm.Step, err)
		}
		if set.Pool < 1 || set.Batches < 3 || len(set.BatchSizes) == 0 {
			out.Skipped = append(out.Skipped, fmt.Sprintf("step %d: too little was collected before the stop (pool %d, %d mini-batches per batch size)", cm.Step, set.Pool, set.Batches))
			continue
		}
		if set.Partial {
			partial = true
			notes = append(notes, fmt.Sprintf("Checkpoint step %d is partial: %s (pool %d of %d, %d of %d mini-batches per batch size, batch sizes %v).",
				cm.Step, orWord(cm.Reason, reasonOf(set)), set.Pool, poolSize(set), set.Batches, batchesPerSize(set), set.BatchSizes))
		}
		var results []*plugins.Result
		if cm.Results != "" && !o.Reanalyze {
			if results, err = loadResults(filepath.Join(dir, cm.Results)); err != nil {
				return nil, fmt.Errorf("checkpoint step %d: %w", cm.Step, err)
			}
		} else {
			if results, err = analyse(ctx, set, ac, env); err != nil {
				return nil, fmt.Errorf("checkpoint step %d: analyses: %w", cm.Step, err)
			}
			rel := filepath.Join(CheckpointDir, stepDir(cm.Step), resultsName(cm.Engine))
			if err := saveResults(filepath.Join(dir, rel), results); err != nil {
				return nil, err
			}
			if cm.Results != rel {
				cm.Results = rel
				if err := writeMeta(dir, meta); err != nil {
					return nil, err
				}
			}
		}
		for _, r := range results {
			if r.Failed() {
				fmt.Fprintf(env.Stderr, "analysis %s failed at step %d (%s): %s\n", r.Description.Name, cm.Step, r.Failure.Stage, r.Failure.Reason)
			}
		}
		cp := reports.BuildCheckpoint(set, results, reports.BuildOptions{File: cm.Model, SHA256: cm.SHA256, Engine: cm.Engine})
		if err := addWeightDecay(&cp, set, meta, dir, cm.Model); err != nil {
			fmt.Fprintf(env.Stderr, "warning: step %d: noise scale with weight decay: %v\n", cm.Step, err)
		}
		rep.Checkpoints = append(rep.Checkpoints, cp)
	}
	for _, s := range out.Skipped {
		notes = append(notes, "Checkpoint left out: "+s+".")
	}
	notes = append(notes, meta.Notes...)
	rep.Method.Notes = append(notes, rep.Method.Notes...)
	out.Partial = partial
	rep.Status = "complete"
	if partial {
		rep.Status = "partial"
	}
	addDynamics(rep, dir, func(s string) { fmt.Fprintf(env.Stderr, "warning: %s\n", s) }) // dynamics.go

	policy := meta.Config.Gate
	if o.Gate != "" {
		policy = o.Gate
	}
	if o.NoGate {
		policy = ""
	}
	junit := ""
	if policy != "" {
		if len(rep.Checkpoints) == 0 {
			return nil, inputErr(fmt.Errorf("gate %s: the audit has no analysed checkpoint to check", policy))
		}
		p, err := gate.ReadPolicy(policy)
		if err != nil {
			return nil, inputErr(err)
		}
		res, err := gate.Evaluate(p, rep)
		if err != nil {
			return nil, inputErr(err)
		}
		rep.Gates = res.Report()
		out.Gate = res
		junit = o.JUnit
		if junit == "" && o.Gate == "" {
			junit = meta.Config.JUnit
		}
	}
	out.Report = rep
	out.JSONPath = filepath.Join(dir, ReportJSON)
	// report.json is written last, so that its presence means the whole
	// rendering (plots, report.md, JUnit) succeeded; the stale one goes
	// first, so that a failure part-way (a full disk) leaves no
	// report.json from another rendering next to new plots. Every file is
	// written atomically: none is ever truncated.
	if err := os.Remove(out.JSONPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("report.json: %w", err)
	}
	format := o.Format
	if format == "" {
		format = "svg"
		if meta.Config.PNG {
			format = "png"
		}
	}
	// Plots of an earlier rendering (e.g. SVG before --format png) would
	// linger next to the new ones.
	if err := os.RemoveAll(filepath.Join(dir, "plots")); err != nil {
		return nil, err
	}
	if err := reports.RenderWith(dir, rep, reports.RenderOptions{Format: format}); err != nil {
		return nil, fmt.Errorf("report.md: %w", err)
	}
	out.MDPath = filepath.Join(dir, ReportMD)
	if partial {
		if err := markPartial(out.MDPath, meta, out.Skipped); err != nil {
			return nil, err
		}
	}
	if junit != "" {
		if err := out.Gate.WriteJUnitFile(junit); err != nil {
			return nil, err
		}
	}
	if err := reports.WriteFile(out.JSONPath, rep); err != nil {
		return nil, fmt.Errorf("report.json: %w (the audit's noise sets are kept: gnaudit report %s writes it again)", err, dir)
	}
	return out, nil
}

// markPartial puts a warning under the title of report.md.
func markPartial(path string, meta *Meta, skipped []string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	reason := meta.Reason
	if reason == "" {
		reason = "one or more checkpoints are partial"
	}
	banner := fmt.Sprintf("> ⚠️ **Partial audit** — %s. The tables and plots cover only what was collected; see *Method* below.\n\n", reason)
	i := bytes.Index(b, []byte("\n\n"))
	if i < 0 {
		i = len(b)
	} else {
		i += 2
	}
	out := append(append(append([]byte{}, b[:i]...), banner...), b[i:]...)
	return writeFileAtomic(path, out)
}

func orWord(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func reasonOf(s *noise.Set) string {
	if s.Collection != nil && s.Collection.Reason != "" {
		return s.Collection.Reason
	}
	return "stopped early"
}

func poolSize(s *noise.Set) int {
	if s.Collection != nil && s.Collection.PoolSize > 0 {
		return s.Collection.PoolSize
	}
	return s.Pool
}

func batchesPerSize(s *noise.Set) int {
	if s.Collection != nil && s.Collection.BatchesPerSize > 0 {
		return s.Collection.BatchesPerSize
	}
	return s.Batches
}

func stepDir(step int) string { return fmt.Sprintf("step-%d", step) }

// trainingSection builds the report's training section from the metadata.
func trainingSection(meta *Meta) *reports.Training {
	tr := meta.Training
	if tr == nil {
		return nil
	}
	ft := meta.Config.FineTune
	st := tr.Settings
	t := &reports.Training{
		Optimizer:   optimizerLabel(st),
		Momentum:    st.Momentum,
		WeightDecay: st.WeightDecay,
		BatchSize:   st.BatchSize,
		Steps:       st.Steps,
		Seed:        st.Seed,
		Schedule:    []reports.LRStep{},
		Loss:        []reports.LossPoint{},
	}
	sched := schedule(ft)
	last := -1.0
	for k := 0; k < st.Steps; k++ {
		if lr := sched.LR(k, st.Steps); lr != last {
			t.Schedule = append(t.Schedule, reports.LRStep{Step: k, LR: lr})
			last = lr
		}
	}
	for _, r := range tr.Curve {
		t.Loss = append(t.Loss, reports.LossPoint{Step: r.Step, Loss: reports.Number(r.Loss)})
	}
	extra := map[string]any{
		"steps_done":    tr.Steps,
		"completed":     tr.Completed,
		"schedule":      st.Schedule,
		"train_samples": st.TrainSamples,
		"eval_samples":  st.EvalSamples,
		"method":        st.Method,
		"batchnorm":     st.BatchNorm,
		"seconds":       tr.Elapsed.Seconds(),
	}
	if tr.Stopped != "" {
		extra["stopped"] = tr.Stopped
	}
	if st.ClipNorm > 0 {
		extra["clip_norm"] = st.ClipNorm
	}
	if len(tr.Evals) > 0 {
		var evals []map[string]any
		for _, e := range tr.Evals {
			evals = append(evals, map[string]any{"step": e.Step, "loss": e.Loss, "acc": e.Acc, "samples": e.Samples})
		}
		extra["evals"] = evals
	}
	t.Extra = extra
	return t
}

// schedule returns the learning-rate schedule of a fine-tuning config.
func schedule(ft FineTuneConfig) train.Schedule {
	if ft.Schedule == "constant" {
		return train.Constant(ft.LR)
	}
	s := train.Paper()
	s.Base = ft.LR
	return s
}

// relPath returns p relative to dir when it lies inside it.
func relPath(dir, p string) string {
	ad, err1 := filepath.Abs(dir)
	ap, err2 := filepath.Abs(p)
	if err1 != nil || err2 != nil {
		return p
	}
	r, err := filepath.Rel(ad, ap)
	if err != nil || strings.HasPrefix(r, "..") {
		return p
	}
	return r
}

// addWeightDecay adds tr Σ/|G + λθ|² to the noise-scale sections of cp,
// with the fine-tuning's weight decay λ and the checkpoint's weights θ read
// from its saved model (nothing without fine-tuning, λ = 0 or a model).
func addWeightDecay(cp *reports.Checkpoint, set *noise.Set, meta *Meta, dir, model string) error {
	if meta.Training == nil || !(meta.Training.Settings.WeightDecay > 0) || model == "" || cp.NoiseScale == nil {
		return nil
	}
	m, err := onnx.Load(filepath.Join(dir, model))
	if err != nil {
		return err
	}
	ps := map[string][]float32{}
	for _, name := range m.Trainable {
		t := m.Initializers[name]
		switch {
		case t == nil:
		case t.F32 != nil:
			ps[name] = t.F32
		case t.F64 != nil:
			f := make([]float32, len(t.F64))
			for i, v := range t.F64 {
				f[i] = float32(v)
			}
			ps[name] = f
		}
	}
	return reports.AddWeightDecay(cp, set, ps, meta.Training.Settings.WeightDecay)
}
