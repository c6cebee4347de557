package audit

import "github.com/gnaudit/gnaudit/auditor/train"

// fineTuneOptions translates the fine-tuning configuration into the
// trainer's options (length, batch, schedule, optimiser, warm-up,
// BatchNorm mode, seed); the audit adds the data, checkpoints and
// progress.
func fineTuneOptions(ft FineTuneConfig, seed int64) train.Options {
	opt := train.Defaults()
	opt.Steps = ft.Steps
	opt.BatchSize = ft.BatchSize
	opt.LR = schedule(ft)
	opt.Momentum = ft.Momentum
	opt.WeightDecay = ft.WeightDecay
	opt.ClipNorm = ft.ClipNorm
	opt.Optimizer = ft.Optimizer
	opt.WarmupSteps = ft.WarmupSteps
	opt.BatchNorm = ft.BN
	opt.Seed = seed
	return opt
}
