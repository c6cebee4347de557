package audit

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Usage is the synopsis of gnaudit audit.
const Usage = `Usage: gnaudit audit [--config audit.yaml] [flags]

Fine-tunes a model, collects its stochastic gradient noise at chosen steps
(per-sample gradients at a fixed θ), runs the analyses (Shapiro–Wilk
Gaussianity, Berry–Esseen/kurtosis bound, tail index, noise scale, plugins) and
writes OUT/report.json, OUT/report.md and OUT/plots/. With no --model it audits
the zoo's alexnet-cifar built for the data; with no --data, Debian's
Fashion-MNIST (/usr/share/datasets/fashion-mnist).

A YAML config file (--config) sets any field; flags given on the command line
override it. Before any work the memory and time estimate is printed; a run over
--max-memory (or --max-time) is refused. Ctrl-C stops the run and keeps what was
collected (partial noise sets, a report marked partial); a second Ctrl-C quits
at once. Exit status: 0 done, 1 a gate failed or the audit failed, 2 bad usage
or input, 130 interrupted (partial report written).

Flags:
`

// ParseArgs builds the configuration of gnaudit audit from its arguments:
// Defaults, then the YAML file of --config (if any), then the other flags.
// Errors are usage errors; flag.ErrHelp is returned for -h.
func ParseArgs(args []string, stderr io.Writer) (Config, error) {
	cfg := Defaults()
	path, err := configArg(args)
	if err != nil {
		return cfg, err
	}
	if path != "" {
		if cfg, err = LoadConfig(path, cfg); err != nil {
			return cfg, err
		}
	}
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), Usage)
		fs.PrintDefaults()
	}
	bindFlags(fs, &cfg)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q (all settings are flags; see gnaudit audit -h)", fs.Arg(0))
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// configArg finds the value of --config (or -config) in args.
func configArg(args []string) (string, error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		for _, p := range []string{"--config", "-config"} {
			if a == p {
				if i+1 >= len(args) {
					return "", fmt.Errorf("flag needs an argument: %s", p)
				}
				return args[i+1], nil
			}
			if v, ok := strings.CutPrefix(a, p+"="); ok {
				return v, nil
			}
		}
	}
	return "", nil
}

// bindFlags registers every flag on fs, with the current values of cfg
// (defaults and config file) as defaults.
func bindFlags(fs *flag.FlagSet, c *Config) {
	fs.String("config", "", "YAML configuration `file` (flags override its settings); see docs/examples/audit.yaml")
	fs.StringVar(&c.Model, "model", c.Model, "ONNX `file` or zoo model name (default: alexnet-cifar built for the data)")
	fs.StringVar(&c.Data.Dir, "data", c.Data.Dir, "data `directory`: MNIST layout (*-idx3-ubyte[.gz]), CIFAR-10 binary, or images.npy + labels.npy (default: Debian's Fashion-MNIST)")
	fs.StringVar(&c.Data.Format, "data-format", c.Data.Format, "data format: auto, mnist, fashion-mnist, cifar10, npy")
	fs.IntVar(&c.Data.Limit, "data-limit", c.Data.Limit, "use a seeded random subset of this many training samples (0: all)")
	fs.IntVar(&c.Data.EvalSamples, "eval-samples", c.Data.EvalSamples, "held-out samples evaluated before and after fine-tuning (0: none)")
	fs.StringVar(&c.Preprocess.Scale, "scale", c.Preprocess.Scale, "pixel scaling: auto (÷255 for 8-bit formats), none, or a factor")
	fs.StringVar(&c.Preprocess.Normalize, "normalize", c.Preprocess.Normalize, "normalisation: stats (per-channel mean/std of the training data), none, given (config mean/std)")
	fs.StringVar(&c.Preprocess.Spatial, "spatial", c.Preprocess.Spatial, "adapting the image size to the model: strict, pad, pad-crop, nearest, bilinear")
	fs.StringVar(&c.Preprocess.Channels, "channels", c.Preprocess.Channels, "adapting the channels to the model: strict, replicate")
	fs.IntVar(&c.FineTune.Steps, "finetune-steps", c.FineTune.Steps, "fine-tuning steps (SGD momentum updates); 0 audits the model as given")
	fs.IntVar(&c.FineTune.BatchSize, "finetune-batch", c.FineTune.BatchSize, "fine-tuning batch size")
	fs.Float64Var(&c.FineTune.LR, "lr", c.FineTune.LR, "base learning rate (schedule paper: ×0.1 at 50% and 75% of the steps)")
	fs.StringVar(&c.FineTune.Schedule, "lr-schedule", c.FineTune.Schedule, "learning-rate schedule: paper or constant")
	fs.Float64Var(&c.FineTune.Momentum, "momentum", c.FineTune.Momentum, "SGD momentum μ")
	fs.Float64Var(&c.FineTune.WeightDecay, "weight-decay", c.FineTune.WeightDecay, "weight decay λ")
	fs.Float64Var(&c.FineTune.ClipNorm, "clip-norm", c.FineTune.ClipNorm, "clip the batch gradient to this L2 norm (0: off)")
	fs.StringVar(&c.FineTune.Optimizer, "optimizer", c.FineTune.Optimizer, "fine-tuning optimiser: sgd (momentum) or adamw (torch.optim.AdamW)")
	fs.IntVar(&c.FineTune.WarmupSteps, "warmup-steps", c.FineTune.WarmupSteps, "linear learning-rate warm-up over this many steps (0: none)")
	fs.StringVar(&c.FineTune.BN, "bn", c.FineTune.BN, "BatchNorm during fine-tuning: train (batch statistics, running ones updated) or eval (running statistics fixed)")
	fs.StringVar(&c.FineTune.Save, "save", c.FineTune.Save, "write the fine-tuned model to this ONNX `file` (same graph, new weights)")
	fs.Var((*stepListFlag)(&c.AuditAt), "audit-at", "`steps` at which the noise is collected, e.g. 0,50,last (default 0,last)")
	fs.IntVar(&c.Collect.Pool, "pool", c.Collect.Pool, "pool size N (samples with per-sample gradients; 0: batches × largest batch size)")
	fs.Var((*intListFlag)(&c.Collect.BatchSizes), "batch-sizes", "audited batch `sizes`, increasing, comma-separated")
	fs.IntVar(&c.Collect.Batches, "batches", c.Collect.Batches, "mini-batches n per batch size (3..5000)")
	fs.IntVar(&c.Collect.CoordsPerLayer, "coords-per-layer", c.Collect.CoordsPerLayer, "tested coordinates per parameter (seeded draw; 0: all)")
	fs.StringVar(&c.Collect.Engine, "engine", c.Collect.Engine, "noise engine: per-sample, mini-batch (true mini-batch gradients, train-mode BatchNorm) or both")
	fs.IntVar(&c.Collect.EngineBatch, "engine-batch", c.Collect.EngineBatch, "samples per batched backward pass of the per-sample engine (0: its default)")
	fs.Var((*byteSizeFlag)(&c.Collect.MaxMemory), "max-memory", "memory budget of a collection, e.g. 4GiB (0: 3/4 of the machine's memory)")
	fs.Var((*durationFlag)(&c.Collect.MaxTime), "max-time", "refuse an audit estimated to take longer, e.g. 10m (0: no limit)")
	fs.Var(&listFlag{p: &c.Analyses.Plugins}, "plugin", "external analysis plugin `PATH[@sha256:HEX]` (repeatable)")
	fs.StringVar(&c.Analyses.PluginDir, "plugin-dir", c.Analyses.PluginDir, "directory of plugin executables (default $GNAUDIT_PLUGIN_DIR)")
	fs.BoolVar(&c.Analyses.Isolate, "isolate", c.Analyses.Isolate, "run the built-in analyses as plugin subprocesses")
	fs.Var((*durationFlag)(&c.Analyses.Timeout), "plugin-timeout", "limit for each call into an analysis; past it the analysis is reported as failed (0: none)")
	fs.Var((*commaListFlag)(&c.Analyses.Builtins), "builtins", "built-in analyses to run, comma-separated (default all; none for none)")
	fs.Var(&listFlag{p: &c.Analyses.Params}, "param", "analysis parameter `analysis.name=value` (repeatable), e.g. normality.alpha=0.01")
	fs.StringVar(&c.Device, "device", c.Device, "per-sample gradients on cpu or cuda (cuda needs a -tags gnaudit_cuda build)")
	fs.Int64Var(&c.Seed, "seed", c.Seed, "seed of everything random (model init, data order, pool, coordinates, batches)")
	fs.StringVar(&c.Out, "out", c.Out, "output `directory`")
	fs.BoolVar(&c.PNG, "png", c.PNG, "write the plots as PNG instead of SVG")
	fs.StringVar(&c.Gate, "gate", c.Gate, "gate policy `file` (YAML); exit status 1 when a check fails")
	fs.StringVar(&c.JUnit, "junit", c.JUnit, "with --gate: write the checks as JUnit XML to this `file`")
	fs.BoolVar(&c.PlanOnly, "plan", c.PlanOnly, "print the plan (memory and time estimate) and stop")
}

// intListFlag is a comma-separated list of integers.
type intListFlag []int

func (f *intListFlag) String() string {
	if f == nil {
		return ""
	}
	parts := make([]string, len(*f))
	for i, v := range *f {
		parts[i] = strconv.Itoa(v)
	}
	return strings.Join(parts, ",")
}

func (f *intListFlag) Set(s string) error {
	var out []int
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		v, err := strconv.Atoi(p)
		if err != nil {
			return fmt.Errorf("%q is not an integer", p)
		}
		out = append(out, v)
	}
	*f = out
	return nil
}

// stepListFlag is a StepList flag.
type stepListFlag StepList

func (f *stepListFlag) String() string {
	if f == nil {
		return ""
	}
	return StepList(*f).String()
}

func (f *stepListFlag) Set(s string) error {
	v, err := ParseStepList(s)
	if err != nil {
		return err
	}
	*f = stepListFlag(v)
	return nil
}

// listFlag is a repeatable string flag; its first use on the command line
// replaces the list of the config file, the next ones append.
type listFlag struct {
	p    *[]string
	seen bool
}

func (f *listFlag) String() string {
	if f == nil || f.p == nil {
		return ""
	}
	return strings.Join(*f.p, " ")
}

func (f *listFlag) Set(s string) error {
	if !f.seen {
		f.seen = true
		*f.p = nil
	}
	*f.p = append(*f.p, s)
	return nil
}

// commaListFlag is a comma-separated list of strings.
type commaListFlag []string

func (f *commaListFlag) String() string {
	if f == nil {
		return ""
	}
	return strings.Join(*f, ",")
}

func (f *commaListFlag) Set(s string) error {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	*f = out
	return nil
}

// byteSizeFlag is a ByteSize flag.
type byteSizeFlag ByteSize

func (f *byteSizeFlag) String() string {
	if f == nil {
		return "0"
	}
	return ByteSize(*f).String()
}

func (f *byteSizeFlag) Set(s string) error {
	v, err := ParseByteSize(s)
	if err != nil {
		return err
	}
	*f = byteSizeFlag(v)
	return nil
}

// durationFlag is a Duration flag.
type durationFlag Duration

func (f *durationFlag) String() string {
	if f == nil {
		return "0s"
	}
	return time.Duration(*f).String()
}

func (f *durationFlag) Set(s string) error {
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	*f = durationFlag(v)
	return nil
}
