package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/gnaudit/gnaudit/auditor/audit"
	"github.com/gnaudit/gnaudit/cmd/gnaudit/internal/cliflag"
	"github.com/gnaudit/gnaudit/plugins/host"
)

// auditUsage is the synopsis of gnaudit audit.
const auditUsage = `Usage: gnaudit audit [--config audit.yaml] [flags]

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

A large audit runs as jobs (docs/scale.md): --prepare --out PREP once, then
--shard k/K --from PREP for k = 0…K−1 on any machines, then gnaudit merge PREP.

Flags:
`

// parseAuditArgs builds the configuration of gnaudit audit from its
// arguments: audit.Defaults, then the YAML file of --config (if any,
// audit.LoadConfig), then the other flags, checked by Config.Validate.
// Errors are usage errors, one line each; for -h/--help the usage (flags in
// GNU style, --name) is written to help and flag.ErrHelp is returned.
func parseAuditArgs(args []string, help io.Writer) (audit.Config, error) {
	cfg := audit.Defaults()
	path, err := configArg(args)
	if err != nil {
		return cfg, err
	}
	if path != "" {
		if cfg, err = audit.LoadConfig(path, cfg); err != nil {
			return cfg, err
		}
	}
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned, the help printed below
	fs.Usage = func() {}
	bindAuditFlags(fs, &cfg)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(help, auditUsage)
			cliflag.PrintDefaults(help, fs)
		}
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q (all settings are flags; see gnaudit audit --help)", fs.Arg(0))
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

// bindAuditFlags registers every flag of gnaudit audit on fs, with the
// current values of c (defaults and config file) as defaults.
func bindAuditFlags(fs *flag.FlagSet, c *audit.Config) {
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
	fs.StringVar(&c.Collect.PoolCheck, "pool-check", c.Collect.PoolCheck, "a pool below 30 × the largest batch size: warn, refuse or off")
	fs.Var((*intListFlag)(&c.Collect.BatchSizes), "batch-sizes", "audited batch `sizes`, increasing, comma-separated")
	fs.IntVar(&c.Collect.Batches, "batches", c.Collect.Batches, "mini-batches n per batch size (3..5000)")
	fs.IntVar(&c.Collect.CoordsPerLayer, "coords-per-layer", c.Collect.CoordsPerLayer, "tested coordinates per parameter (seeded draw; 0: all)")
	fs.StringVar(&c.Collect.Engine, "engine", c.Collect.Engine, "noise engine: per-sample, mini-batch (true mini-batch gradients, train-mode BatchNorm) or both")
	fs.IntVar(&c.Collect.EngineBatch, "engine-batch", c.Collect.EngineBatch, "samples per batched backward pass of the per-sample engine (0: its default)")
	fs.Var((*byteSizeFlag)(&c.Collect.MaxMemory), "max-memory", "memory budget of a collection, e.g. 4GiB (0: 3/4 of the machine's memory)")
	fs.Var((*durationFlag)(&c.Collect.MaxTime), "max-time", "refuse an audit estimated to take longer, e.g. 10m (0: no limit)")
	host.AddFlags(fs, host.FlagTargets{Plugins: &c.Analyses.Plugins, PluginDir: &c.Analyses.PluginDir,
		Timeout: (*time.Duration)(&c.Analyses.Timeout), Isolate: &c.Analyses.Isolate,
		Builtins: &c.Analyses.Builtins, Params: &c.Analyses.Params}) // --plugin, --plugin-dir, --plugin-timeout, --isolate, --builtins, --param
	fs.StringVar(&c.Device, "device", c.Device, "per-sample gradients on cpu or cuda (cuda needs a make build-cuda binary)")
	fs.Int64Var(&c.Seed, "seed", c.Seed, "seed of everything random (model init, data order, pool, coordinates, batches)")
	fs.StringVar(&c.Out, "out", c.Out, "output `directory`")
	fs.Var(plotFormatFlag{&c.PNG}, "format", "plot format: svg or png")
	fs.BoolVar(&c.PNG, "png", c.PNG, "") // hidden alias of --format png
	fs.StringVar(&c.Gate, "gate", c.Gate, "gate policy `file` (YAML); exit status 1 when a check fails")
	fs.StringVar(&c.JUnit, "junit", c.JUnit, "with --gate: write the checks as JUnit XML to this `file`")
	fs.BoolVar(&c.PlanOnly, "plan", c.PlanOnly, "print the plan (memory and time estimate) and stop")
	fs.BoolVar(&c.Prepare, "prepare", c.Prepare, "sharded audit, step 1: fine-tune and compute each checkpoint's centre in --out, for --shard (docs/scale.md)")
	fs.StringVar(&c.Shard, "shard", c.Shard, "sharded audit, step 2: collect shard `k/K` (k = 0…K−1) of the audit prepared in --from; \"env\" reads k/K from GNAUDIT_SHARD, JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID")
	fs.StringVar(&c.From, "from", c.From, "with --shard: the prepared audit `directory` (gnaudit audit --prepare --out DIR)")
	fs.BoolVar(&c.Force, "force", c.Force, "replace a complete audit already in --out (refused without it)")
	fs.Var(audit.DynamicsFlag(&c.Dynamics), "dynamics", "after the collection, run the SGD-dynamics analysis at the last checkpoint (settings: the config file's dynamics key; docs/dynamics.md)")
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

// stepListFlag is an audit.StepList flag.
type stepListFlag audit.StepList

func (f *stepListFlag) String() string {
	if f == nil {
		return ""
	}
	return audit.StepList(*f).String()
}

func (f *stepListFlag) Set(s string) error {
	v, err := audit.ParseStepList(s)
	if err != nil {
		return err
	}
	*f = stepListFlag(v)
	return nil
}

// plotFormatFlag is --format svg|png, stored as Config.PNG.
type plotFormatFlag struct{ png *bool }

func (f plotFormatFlag) String() string {
	if f.png != nil && *f.png {
		return "png"
	}
	return "svg"
}

func (f plotFormatFlag) Set(s string) error {
	switch s {
	case "svg", "png":
		*f.png = s == "png"
		return nil
	}
	return fmt.Errorf("%q: want svg or png", s)
}

// byteSizeFlag is an audit.ByteSize flag.
type byteSizeFlag audit.ByteSize

func (f *byteSizeFlag) String() string {
	if f == nil {
		return "0"
	}
	return audit.ByteSize(*f).String()
}

func (f *byteSizeFlag) Set(s string) error {
	v, err := audit.ParseByteSize(s)
	if err != nil {
		return err
	}
	*f = byteSizeFlag(v)
	return nil
}

// durationFlag is an audit.Duration flag.
type durationFlag audit.Duration

func (f *durationFlag) String() string {
	if f == nil {
		return "0s"
	}
	return time.Duration(*f).String()
}

func (f *durationFlag) Set(s string) error {
	v, err := audit.ParseDuration(s)
	if err != nil {
		return err
	}
	*f = durationFlag(v)
	return nil
}
