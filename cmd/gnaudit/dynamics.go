package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/gnaudit/gnaudit/auditor/dynamics"
	dyncmd "github.com/gnaudit/gnaudit/auditor/dynamics/command"
)

func init() {
	register("dynamics", "SGD dynamics near a minimum: curvature, noise alignment, stationary variances, FDR", runDynamics)
}

const dynamicsUsage = `Usage: gnaudit dynamics --out DIR [--model M.onnx|ZOO] [--data DIR] [flags]

Measures the paper's SGD dynamics at the model's weights θ₀ (optionally after
--finetune-steps updates at --finetune-lr): the top --k Hessian eigenpairs
(Lanczos on float64 finite-difference Hessian-vector products), tr H, the
per-sample gradient covariance on the eigenvectors and its alignment with H;
then --steps updates at constant (η, B, μ) with i.i.d. batches for η = --lr,
η = --lr2 (trace law) and plain SGD at η/(1−μ) (unless --no-sgd), and compares
the fluctuation–dissipation ratio, per-mode variances and lag-1 antisymmetry
with the exact linear theory. Data and preprocessing are gnaudit audit's. The
plan (cost, measured pass times) is printed first; progress goes to stderr.
Writes DIR/dynamics.json and DIR/dynamics.md (docs/dynamics.md).

Flags:
`

func runDynamics(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dynamics", flag.ContinueOnError)
	fs.SetOutput(stderr)
	d := dynamics.Defaults()
	o := dyncmd.Options{Run: d}
	fs.StringVar(&o.Model, "model", "alexnet-cifar", "ONNX model `file` or zoo model name")
	fs.StringVar(&o.Data, "data", "", "data `directory` (default: Debian's Fashion-MNIST)")
	fs.StringVar(&o.Format, "format", "", "data format: auto, mnist, fashion-mnist, cifar10, npy")
	fs.IntVar(&o.Limit, "limit", 0, "keep a seeded random subset of `n` training samples (0: all)")
	fs.IntVar(&o.FineTuneSteps, "finetune-steps", 0, "fine-tune this many updates before the dynamics (0: none)")
	fs.Float64Var(&o.FineTuneLR, "finetune-lr", 0.01, "learning rate of the fine-tuning (constant)")
	fs.StringVar(&o.Out, "out", "", "output `directory`")
	fs.BoolVar(&o.PlanOnly, "plan", false, "print the plan and stop")
	fs.Float64Var(&o.MaxTime, "max-time", 0, "refuse a run estimated over this many `seconds` (0: no limit)")
	r := &o.Run
	fs.Float64Var(&r.LR, "lr", d.LR, "learning rate η of the main chain")
	fs.Float64Var(&r.LR2, "lr2", 0, "second learning rate of the trace law (0: lr/2; negative: none)")
	fs.Float64Var(&r.Momentum, "momentum", d.Momentum, "momentum μ")
	fs.IntVar(&r.Batch, "batch", d.Batch, "batch size B (drawn with replacement)")
	fs.Float64Var(&r.WeightDecay, "weight-decay", d.WeightDecay, "weight decay λ")
	fs.BoolVar(&r.DecayWeightsOnly, "decay-weights-only", false, "decay only tensors of rank ≥ 2 (default: all)")
	fs.IntVar(&r.Steps, "steps", d.Steps, "recorded updates per chain")
	fs.IntVar(&r.Burn, "burn", 0, "burn-in updates per chain (0: steps/5)")
	noSGD := fs.Bool("no-sgd", false, "skip the plain-SGD chain at η/(1−μ)")
	fs.IntVar(&r.K, "k", d.K, "Hessian eigenpairs")
	fs.IntVar(&r.LanczosIter, "lanczos-iter", d.LanczosIter, "most Lanczos iterations (HVPs) of the eigenpairs")
	fs.IntVar(&r.Probes, "probes", d.Probes, "Hutchinson probes of tr H")
	fs.IntVar(&r.HessianSamples, "hessian-samples", d.HessianSamples, "training samples of the Hessian")
	fs.IntVar(&r.NoiseSamples, "noise-samples", d.NoiseSamples, "training samples of the noise covariance")
	fs.IntVar(&r.Blocks, "blocks", d.Blocks, "batch-means blocks of the error bars")
	fs.Int64Var(&r.Seed, "seed", 1, "seed of every random choice")
	fs.BoolVar(&r.Float64, "float64", false, "run the chains in float64")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), dynamicsUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	if fs.NArg() > 0 {
		return usagef("dynamics: unexpected argument %q", fs.Arg(0))
	}
	if o.Out == "" && !o.PlanOnly {
		fs.Usage()
		return usagef("dynamics: --out is required")
	}
	r.SGD = !*noSGD
	if err := r.WithDefaults().Validate(); err != nil {
		return usagef("dynamics: %v", err)
	}
	if o.FineTuneSteps < 0 || (o.FineTuneSteps > 0 && !(o.FineTuneLR > 0)) {
		return usagef("dynamics: --finetune-steps %d, --finetune-lr %g: need steps ≥ 0 and a positive rate", o.FineTuneSteps, o.FineTuneLR)
	}
	o.Stdout, o.Stderr = stdout, stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	_, err := dyncmd.Run(ctx, o)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, dyncmd.ErrInput):
		return usageError{err}
	case errors.Is(err, context.Canceled):
		return exitError{code: exitInterrupted, err: fmt.Errorf("interrupted; partial results in %s", o.Out)}
	}
	return err
}
