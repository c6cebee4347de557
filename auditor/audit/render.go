package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gnaudit/gnaudit/auditor/noise"
	"github.com/gnaudit/gnaudit/gate"
	"github.com/gnaudit/gnaudit/plugins"
	"github.com/gnaudit/gnaudit/reports"
)

// RenderOptions configure Render and Rerender.
type RenderOptions struct {
	// Reanalyze re-runs the analyses on the saved noise sets even where
	// saved results exist (e.g. with other analyses or parameters).
	Reanalyze bool
	// Analyses, when not nil, replaces the audit's analysis settings
	// (used where analyses run).
	Analyses *AnalysesConfig
	// Format is the plot format ("svg" or "png"; "" keeps the audit's).
	// Another format than the audit's is recorded in audit.json, so that
	// the next rendering keeps it.
	Format string
	// Gate, when not empty, replaces the audit's gate policy; NoGate
	// drops it.
	Gate   string
	NoGate bool
	// JUnit writes the gate checks as JUnit XML.
	JUnit string
}

// rebuilds reports whether o asks for more than a re-rendering of the
// stored report: other analyses or another gate.
func (o RenderOptions) rebuilds() bool {
	return o.Reanalyze || o.Analyses != nil || o.Gate != "" || o.NoGate
}

// Rendered is the outcome of Render and Rerender.
type Rendered struct {
	Report   *reports.Report
	JSONPath string
	MDPath   string
	Partial  bool
	// Gate is the gate outcome when a policy was applied.
	Gate *gate.Result
	// Skipped lists checkpoints left out of the report, with the reason
	// (by Render; Rerender leaves it empty: they are in the report's
	// method notes).
	Skipped []string
	// Rebuilt is false when Rerender re-rendered the stored report.json
	// (no analysis ran, no gate was evaluated).
	Rebuilt bool
}

// Rerender re-renders report.md and its plots from the stored
// DIR/report.json and DIR/audit.json: no analysis runs and no gate is
// evaluated (the stored gate outcome is shown, and written again as the
// audit's JUnit file), and report.json is left byte for byte as it was.
// It is Render when o asks for re-analysis or another gate, or when
// report.json is missing or is not this audit's (an interrupted
// rendering): then the report is rebuilt from the saved noise sets and
// analyses' results.
func Rerender(ctx context.Context, dir string, o RenderOptions, env *Env) (*Rendered, error) {
	env = env.withDefaults()
	if o.rebuilds() {
		return Render(ctx, dir, o, env)
	}
	meta, err := ReadMeta(dir)
	if err != nil {
		return nil, inputErr(err)
	}
	path := filepath.Join(dir, ReportJSON)
	data, err := os.ReadFile(path)
	var rep *reports.Report
	if err == nil {
		if rep, err = reports.Parse(data); err == nil && rep.Created != meta.Created {
			err = fmt.Errorf("created %s, the audit %s", rep.Created, meta.Created)
		}
	}
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(env.Stderr, "note: %s is not this audit's report (%v): rebuilding it from the saved results\n", path, err)
		}
		return Render(ctx, dir, o, env)
	}
	out := &Rendered{Report: rep, JSONPath: path, MDPath: filepath.Join(dir, ReportMD), Partial: rep.Status == reports.StatusPartial}
	junit := ""
	if g := rep.Gates; g != nil {
		out.Gate = &gate.Result{Policy: g.Policy, Checks: g.Checks, Method: g.Method}
		junit = orWord(o.JUnit, meta.Config.JUnit)
	}
	if err := publish(dir, meta, out, o, junit, data); err != nil {
		return nil, err
	}
	return out, nil
}

// Render (re)builds DIR/report.json and DIR/report.md from the audit
// directory: its metadata, its saved noise sets and the saved analyses'
// results (analyses run only where results are missing, or with
// Reanalyze), and applies the gate policy. No gradient is computed.
// Rendering twice gives the same files.
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
	out := &Rendered{Rebuilt: true}
	rep, err := assemble(ctx, dir, meta, ac, o.Reanalyze, out, env)
	if err != nil {
		return nil, err
	}
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
	out.MDPath = filepath.Join(dir, ReportMD)
	if err := publish(dir, meta, out, o, junit, nil); err != nil {
		return nil, err
	}
	return out, nil
}

// assemble builds the report of an audit directory from its metadata, its
// noise sets and the analyses' results (running the analyses ac where
// results are missing, or with reanalyze, and recording the new results
// in audit.json). It sets out.Partial and out.Skipped.
func assemble(ctx context.Context, dir string, meta *Meta, ac AnalysesConfig, reanalyze bool, out *Rendered, env *Env) (*reports.Report, error) {
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
		results, err := checkpointResults(ctx, dir, meta, cm, set, ac, reanalyze, env)
		if err != nil {
			return nil, err
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
	rep.Status = reports.StatusComplete
	if partial {
		rep.Status = reports.StatusPartial
	}
	addDynamics(rep, dir, func(s string) { fmt.Fprintf(env.Stderr, "warning: %s\n", s) }) // dynamics.go
	return rep, nil
}

// checkpointResults returns the analyses' results of a checkpoint: the
// saved ones, or (missing, or with reanalyze) those of a new run of ac,
// saved and recorded in audit.json.
func checkpointResults(ctx context.Context, dir string, meta *Meta, cm *CheckpointMeta, set *noise.Set, ac AnalysesConfig, reanalyze bool, env *Env) ([]*plugins.Result, error) {
	if cm.Results != "" && !reanalyze {
		results, err := loadResults(filepath.Join(dir, cm.Results))
		if err != nil {
			return nil, fmt.Errorf("checkpoint step %d: %w", cm.Step, err)
		}
		return results, nil
	}
	results, err := analyse(ctx, set, ac, env)
	if err != nil {
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
	return results, nil
}

// publish writes the report directory (reports.WriteDir) with the plot
// format of o or the audit's, the partial banner, the JUnit file of the
// gate (junit, when not empty) and report.json (data when not nil: the
// stored bytes). A format other than the audit's is then recorded in
// audit.json.
func publish(dir string, meta *Meta, out *Rendered, o RenderOptions, junit string, data []byte) error {
	format := o.Format
	if format == "" {
		format = "svg"
		if meta.Config.PNG {
			format = "png"
		}
	}
	partial := ""
	if out.Partial {
		partial = orWord(meta.Reason, "one or more checkpoints are partial")
	}
	wo := reports.DirOptions{Format: format, Partial: partial, JSON: data}
	if junit != "" {
		wo.BeforeJSON = func() error { return out.Gate.WriteJUnitFile(junit) }
	}
	if err := reports.WriteDir(dir, out.Report, wo); err != nil {
		if errors.Is(err, reports.ErrWriteJSON) {
			return fmt.Errorf("%w (the audit's noise sets are kept: gnaudit report %s writes it again)", err, dir)
		}
		return err
	}
	if png := format == "png"; png != meta.Config.PNG {
		meta.Config.PNG = png
		if err := writeMeta(dir, meta); err != nil {
			return fmt.Errorf("recording the plot format: %w", err)
		}
	}
	return nil
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
