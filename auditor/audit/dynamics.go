package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/gnaudit/gnaudit/auditor/dynamics"
	"github.com/gnaudit/gnaudit/auditor/onnx"
	"github.com/gnaudit/gnaudit/reports"
)

// DynamicsConfig configures the audit's SGD-dynamics stage (gnaudit audit
// --dynamics, YAML key dynamics; docs/dynamics.md): after the collection,
// the analysis of auditor/dynamics at the last checkpoint, on the audit's
// training data, written to OUT/dynamics.json and OUT/dynamics.md and
// summarised in report.json's "dynamics" section. Zero fields take
// auditor/dynamics' defaults, except Momentum and WeightDecay, which
// default to the fine-tuning's (the checkpoint is then near a minimum of
// the same regularised loss).
type DynamicsConfig struct {
	// Batch (B) and LR (η) of the main chain; LR2 the trace law's second
	// rate (0: LR/2; negative: none).
	Batch int     `yaml:"batch" json:"batch,omitempty"`
	LR    float64 `yaml:"lr" json:"lr,omitempty"`
	LR2   float64 `yaml:"lr2" json:"lr2,omitempty"`
	// Momentum (μ) and WeightDecay (λ); nil: the fine-tuning's.
	Momentum    *float64 `yaml:"momentum" json:"momentum,omitempty"`
	WeightDecay *float64 `yaml:"weight_decay" json:"weight_decay,omitempty"`
	// Steps recorded updates per chain after Burn, in Blocks batch-means
	// blocks.
	Steps  int `yaml:"steps" json:"steps,omitempty"`
	Burn   int `yaml:"burn" json:"burn,omitempty"`
	Blocks int `yaml:"blocks" json:"blocks,omitempty"`
	// K eigenpairs from at most LanczosIter HVPs; Probes Hutchinson probes.
	K           int `yaml:"k" json:"k,omitempty"`
	LanczosIter int `yaml:"lanczos_iter" json:"lanczos_iter,omitempty"`
	Probes      int `yaml:"probes" json:"probes,omitempty"`
	// HessianSamples and NoiseSamples: the training samples of the
	// Hessian and of the noise covariance.
	HessianSamples int `yaml:"hessian_samples" json:"hessian_samples,omitempty"`
	NoiseSamples   int `yaml:"noise_samples" json:"noise_samples,omitempty"`
	// NoSGD skips the plain-SGD chain at η/(1−μ); Float64 runs the chains
	// in float64.
	NoSGD   bool `yaml:"no_sgd" json:"no_sgd,omitempty"`
	Float64 bool `yaml:"float64" json:"float64,omitempty"`
}

// DynamicsFlag is the --dynamics flag (a boolean flag.Value): set, it
// turns the stage on with the configuration file's settings or the
// defaults; --dynamics=false turns it off.
func DynamicsFlag(p **DynamicsConfig) interface {
	String() string
	Set(string) error
	IsBoolFlag() bool
} {
	return dynFlag{p}
}

type dynFlag struct{ p **DynamicsConfig }

func (f dynFlag) IsBoolFlag() bool { return true }
func (f dynFlag) String() string {
	if f.p == nil || *f.p == nil {
		return "false"
	}
	return "true"
}
func (f dynFlag) Set(s string) error {
	on, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("%q: want true or false", s)
	}
	switch {
	case !on:
		*f.p = nil
	case *f.p == nil:
		*f.p = &DynamicsConfig{}
	}
	return nil
}

// dynamicsRun returns the auditor/dynamics configuration of the stage.
func (c *Config) dynamicsRun() dynamics.Config {
	d := c.Dynamics
	out := dynamics.Defaults()
	out.Momentum, out.WeightDecay, out.Seed = c.FineTune.Momentum, c.FineTune.WeightDecay, c.Seed
	if d.Momentum != nil {
		out.Momentum = *d.Momentum
	}
	if d.WeightDecay != nil {
		out.WeightDecay = *d.WeightDecay
	}
	for _, f := range []struct {
		dst *int
		v   int
	}{{&out.Batch, d.Batch}, {&out.Steps, d.Steps}, {&out.Burn, d.Burn}, {&out.Blocks, d.Blocks}, {&out.K, d.K},
		{&out.LanczosIter, d.LanczosIter}, {&out.Probes, d.Probes}, {&out.HessianSamples, d.HessianSamples}, {&out.NoiseSamples, d.NoiseSamples}} {
		if f.v != 0 {
			*f.dst = f.v
		}
	}
	if d.LR != 0 {
		out.LR = d.LR
	}
	out.LR2 = d.LR2
	out.SGD = !d.NoSGD
	out.Float64 = d.Float64
	return out.WithDefaults()
}

// validateDynamics checks the dynamics stage's settings (nil: no stage).
func (c *Config) validateDynamics() error {
	if c.Dynamics == nil {
		return nil
	}
	if c.Prepare || c.Shard != "" || c.From != "" {
		return errors.New("dynamics (--dynamics): not with --prepare or --shard (run gnaudit dynamics on the merged audit's last checkpoint)")
	}
	if err := c.dynamicsRun().Validate(); err != nil {
		return fmt.Errorf("dynamics: %w", err)
	}
	return nil
}

// planDynamics prints the dynamics stage's plan, with its pass times
// measured on the model as it is now (the checkpoints share its graph),
// and returns its estimated seconds (0 without the stage).
func (r *runner) planDynamics() (float64, error) {
	if r.cfg.Dynamics == nil {
		return 0, nil
	}
	dc := r.cfg.dynamicsRun()
	p, err := dynamics.Estimate(r.model, r.prep.train, dc)
	if err != nil {
		return 0, inputErr(fmt.Errorf("dynamics stage, model %s: %w", r.modelFile, err))
	}
	r.printf("dynamics stage at step %d (η = %g, μ = %g, λ = %g, B = %d):\n  %s", r.cfg.FineTune.Steps, dc.LR, dc.Momentum, dc.WeightDecay, dc.Batch,
		indent(p.Describe(dc)))
	return p.EstimatedSeconds, nil
}

func indent(s string) string {
	out := []byte{}
	for i := 0; i < len(s); i++ {
		out = append(out, s[i])
		if s[i] == '\n' && i+1 < len(s) {
			out = append(out, ' ', ' ')
		}
	}
	return string(out)
}

// runDynamics runs the dynamics stage at the last checkpoint whose weights
// were saved and writes OUT/dynamics.json and OUT/dynamics.md. On
// cancellation it writes what was measured (marked partial) and returns
// the context's error.
func (r *runner) runDynamics(ctx context.Context) error {
	if r.cfg.Dynamics == nil {
		return nil
	}
	var cm *CheckpointMeta
	for i := range r.meta.Checks {
		if c := &r.meta.Checks[i]; c.Model != "" && (cm == nil || c.Step > cm.Step) {
			cm = c
		}
	}
	if cm == nil {
		return errors.New("dynamics: no checkpoint's weights were saved")
	}
	m, err := onnx.Load(filepath.Join(r.cfg.Out, cm.Model))
	if err != nil {
		return fmt.Errorf("dynamics: %w", err)
	}
	dc := r.cfg.dynamicsRun()
	dc.Progress, dc.ProgressMode = r.env.Stderr, r.env.ProgressMode
	fmt.Fprintf(r.env.Stderr, "dynamics at step %d (%s): η = %g, μ = %g, λ = %g, B = %d, %d recorded updates per chain\n",
		cm.Step, cm.Model, dc.LR, dc.Momentum, dc.WeightDecay, dc.Batch, dc.Steps)
	res, err := dynamics.Run(ctx, m, r.prep.train, dc)
	if res == nil {
		return fmt.Errorf("dynamics: %w", err)
	}
	step := cm.Step
	res.Model, res.Data, res.Step = cm.Model, r.prep.train.Name(), &step
	res.Notes = append(res.Notes, "times measured on: "+machineLine())
	jp, _, werr := dynamics.Write(r.cfg.Out, res)
	if werr != nil {
		return errors.Join(err, werr)
	}
	state := ""
	if !res.Complete {
		state = " (PARTIAL)"
	}
	g := res.Gates
	fmt.Fprintf(r.env.Stderr, "dynamics%s: %s: FDR ratio %v, stability margin %.3g\n", state, jp, g.FDRRatio, g.StabilityMargin)
	return err
}

// addDynamics puts the dynamics.json found in the audit directory (the
// stage's, or a gnaudit dynamics run written there) into the report's
// "dynamics" section. A dynamics.json that cannot be read is a warning and
// a method note, not a failure of the report.
func addDynamics(rep *reports.Report, dir string, warn func(string)) {
	b, err := os.ReadFile(filepath.Join(dir, dynamics.JSONName))
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	var res dynamics.Result
	if err == nil {
		err = json.Unmarshal(b, &res)
	}
	if err == nil && res.Schema != dynamics.Schema {
		err = fmt.Errorf("schema %q, want %s", res.Schema, dynamics.Schema)
	}
	if err != nil {
		msg := fmt.Sprintf("%s in the audit directory was left out of the report: %v", dynamics.JSONName, err)
		warn(msg)
		rep.Method.Notes = append(rep.Method.Notes, msg+".")
		return
	}
	rep.Dynamics = res.Section(dynamics.JSONName, res.Step)
	if !res.Complete {
		rep.Method.Notes = append(rep.Method.Notes, "The SGD-dynamics analysis (dynamics.json) is partial: it stopped before the end.")
	}
}
