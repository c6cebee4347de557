// Package command is `gnaudit dynamics`: it loads a model (an ONNX file or
// a zoo model) and the data as `gnaudit audit` does (auditor/audit), may
// fine-tune it towards a minimum (auditor/train, constant rate), prints the
// plan of the dynamics run with measured pass times, runs it
// (auditor/dynamics) with progress on stderr, and writes dynamics.json and
// dynamics.md.
package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/gnaudit/gnaudit/auditor/audit"
	"github.com/gnaudit/gnaudit/auditor/data"
	"github.com/gnaudit/gnaudit/auditor/dynamics"
	"github.com/gnaudit/gnaudit/auditor/graph"
	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/auditor/onnx"
	"github.com/gnaudit/gnaudit/auditor/progress"
	"github.com/gnaudit/gnaudit/auditor/train"
	"github.com/gnaudit/gnaudit/models"
)

// Options are the command's settings.
type Options struct {
	// Model is an ONNX file or a zoo model name (models.Names).
	Model string
	// Data, Format and Limit are audit.DataConfig's Dir, Format and Limit.
	Data, Format string
	Limit        int
	// FineTuneSteps updates at FineTuneLR (constant) with the run's batch,
	// momentum and weight decay before the dynamics (0: none).
	FineTuneSteps int
	FineTuneLR    float64
	// Out is the output directory.
	Out string
	// PlanOnly prints the plan and stops.
	PlanOnly bool
	// MaxTime refuses a run whose estimate exceeds it (seconds; 0: none).
	MaxTime float64
	// Run is the dynamics configuration.
	Run dynamics.Config
	// Stdout receives the plan and the summary, Stderr the progress.
	Stdout, Stderr io.Writer
	ProgressMode   progress.Mode
}

// ErrInput marks bad input (exit status 2 in the CLI).
var ErrInput = errors.New("bad input")

type inputError struct{ err error }

func (e inputError) Error() string   { return e.err.Error() }
func (e inputError) Unwrap() []error { return []error{e.err, ErrInput} }

var errPlanOnly = errors.New("plan only")

// Run executes the command. On interruption it writes the partial result
// and returns the context's error.
func Run(ctx context.Context, o Options) (*dynamics.Result, error) {
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	if o.Out == "" && !o.PlanOnly {
		return nil, inputError{errors.New("--out is required")}
	}
	printf := func(format string, a ...any) { fmt.Fprintf(o.Stdout, format, a...) }
	acfg := audit.Defaults()
	acfg.Data.Dir, acfg.Data.Limit, acfg.Data.EvalSamples = o.Data, o.Limit, 0
	if o.Format != "" {
		acfg.Data.Format = o.Format
	}
	if o.Run.Seed != 0 {
		acfg.Seed = o.Run.Seed
	}
	var m *ir.Model
	var prep *audit.PreparedData
	var err error
	src := o.Model
	if _, zoo := zooName(o.Model); zoo {
		if prep, err = audit.PrepareData(acfg, nil, 0); err != nil {
			return nil, inputError{err}
		}
		pb, err := models.Build(o.Model, models.Options{Input: prep.ZooInput, Classes: prep.Train.Classes(), Seed: acfg.Seed})
		if err != nil {
			return nil, inputError{fmt.Errorf("zoo model %s: %w", o.Model, err)}
		}
		dir := o.Out
		if o.PlanOnly {
			// a plan touches no output directory
			if dir, err = os.MkdirTemp("", "gnaudit-dynamics-plan-"); err != nil {
				return nil, err
			}
			defer os.RemoveAll(dir)
		} else if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		src = filepath.Join(dir, "model.onnx")
		if err := models.Write(src, pb); err != nil {
			return nil, err
		}
		printf("model: zoo %s, input %s, %d classes, seed %d (written to %s)\n", o.Model, models.FormatInput(prep.ZooInput), prep.Train.Classes(), acfg.Seed, src)
	} else if _, err := os.Stat(o.Model); err != nil {
		return nil, inputError{fmt.Errorf("model %q: no such file, and not a zoo model (zoo: %v)", o.Model, models.Names())}
	}
	if m, err = onnx.Load(src); err != nil {
		return nil, inputError{err}
	}
	if prep == nil {
		in, classes, err := modelShape(m)
		if err != nil {
			return nil, inputError{fmt.Errorf("model %s: %w", src, err)}
		}
		if prep, err = audit.PrepareData(acfg, in, classes); err != nil {
			return nil, inputError{err}
		}
		printf("model: %s\n", src)
	}
	ds := prep.Train
	printf("data: %s, %d training samples of %s\n", ds.Name(), ds.Len(), ds.Shape())
	for _, s := range prep.Steps {
		printf("  preprocessing: %s\n", s)
	}
	cfg := o.Run
	cfg.Progress, cfg.ProgressMode = o.Stderr, o.ProgressMode
	if o.FineTuneSteps > 0 {
		if o.PlanOnly {
			printf("fine-tuning: %d updates at η = %g (not run: --plan)\n", o.FineTuneSteps, o.FineTuneLR)
		} else {
			if m, err = fineTune(ctx, m, ds, src, o, cfg, printf); err != nil {
				return nil, err
			}
		}
	}
	cfg = cfg.WithDefaults()
	cfg.OnPlan = func(p dynamics.Plan) error {
		fmt.Fprint(o.Stdout, p.Describe(cfg))
		printf("      (times measured on %s)\n", Machine())
		if o.PlanOnly {
			return errPlanOnly
		}
		if o.MaxTime > 0 && p.EstimatedSeconds > o.MaxTime {
			return inputError{fmt.Errorf("the estimated %.0f s exceed --max-time %.0f s (lower --steps, --k or the samples)", p.EstimatedSeconds, o.MaxTime)}
		}
		return nil
	}
	res, err := dynamics.Run(ctx, m, ds, cfg)
	if errors.Is(err, errPlanOnly) {
		return res, nil
	}
	if res == nil {
		return nil, err
	}
	res.Model, res.Data = src, ds.Name()
	res.Notes = append(res.Notes, prep.Notes...)
	res.Notes = append(res.Notes, "times measured on: "+Machine())
	jp, mp, werr := dynamics.Write(o.Out, res)
	if werr != nil {
		return res, errors.Join(err, werr)
	}
	state := ""
	if !res.Complete {
		state = " (PARTIAL)"
	}
	printf("dynamics%s: %s\n          %s\n", state, mp, jp)
	g := res.Gates
	printf("FDR ratio %s; stability margin %.3g; commutator %s", pmv(g.FDRRatio), g.StabilityMargin, pmv(g.Commutator))
	if g.TraceLawRatio != nil {
		printf("; trace-law ratio %s", pmv(*g.TraceLawRatio))
	}
	printf("\n")
	return res, err
}

func pmv(v dynamics.Value) string { return v.String() }

func zooName(s string) (string, bool) {
	for _, n := range models.Names() {
		if n == s {
			if _, err := os.Stat(s); err == nil {
				return "", false // a file of that name wins
			}
			return n, true
		}
	}
	return "", false
}

// modelShape returns one sample's input shape and the class count of m.
func modelShape(m *ir.Model) ([]int, int, error) {
	if len(m.Inputs) == 0 || len(m.Outputs) == 0 {
		return nil, 0, errors.New("no input or no output")
	}
	var in []int
	for i, d := range m.Inputs[0].Shape {
		if i == 0 {
			continue
		}
		if d.Value <= 0 {
			return nil, 0, fmt.Errorf("input %q: dimension %d is not fixed", m.Inputs[0].Name, i)
		}
		in = append(in, int(d.Value))
	}
	out := m.Outputs[0].Shape
	if len(out) != 2 || out[1].Value <= 0 {
		return nil, 0, fmt.Errorf("output %q: want [batch, classes]", m.Outputs[0].Name)
	}
	return in, int(out[1].Value), nil
}

func fineTune(ctx context.Context, m *ir.Model, ds data.Dataset, src string, o Options, cfg dynamics.Config, printf func(string, ...any)) (*ir.Model, error) {
	topt := train.Defaults()
	topt.Steps, topt.BatchSize, topt.LR = o.FineTuneSteps, cfg.Batch, train.Constant(o.FineTuneLR)
	topt.Momentum, topt.WeightDecay, topt.Seed = cfg.Momentum, cfg.WeightDecay, cfg.Seed
	if cfg.DecayWeightsOnly {
		topt.Decay = train.WeightsOnly
	}
	topt.Progress, topt.ProgressMode = o.Stderr, o.ProgressMode
	printf("fine-tuning: %d updates, B = %d, η = %g (constant), μ = %g, λ = %g\n", topt.Steps, topt.BatchSize, o.FineTuneLR, topt.Momentum, topt.WeightDecay)
	res, err := train.Train(ctx, m, ds, topt)
	if err != nil {
		return nil, fmt.Errorf("fine-tuning: %w", err)
	}
	if !res.Completed {
		return nil, fmt.Errorf("fine-tuning stopped after %d of %d updates: %s", res.Steps, topt.Steps, res.Stopped)
	}
	if n := len(res.Curve); n > 0 {
		last := res.Curve[n-1]
		printf("  after %d updates: running loss %.4f, accuracy %.1f%%\n", res.Steps, last.RunningLoss, 100*last.RunningAcc)
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	dst := filepath.Join(o.Out, "finetuned.onnx")
	if err := train.SaveONNX(src, dst, res.Params); err != nil {
		return nil, err
	}
	printf("  weights written to %s (the checkpoint θ₀ of the dynamics)\n", dst)
	return res.Model()
}

// Machine describes where the times were measured: the CPU model, the
// executor's BLAS and GOMAXPROCS.
func Machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%s, BLAS %s, GOMAXPROCS %d", cpu, graph.BLASName, runtime.GOMAXPROCS(0))
}
