package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gnaudit/gnaudit/auditor/collect"
	"github.com/gnaudit/gnaudit/auditor/minibatch"
	"github.com/gnaudit/gnaudit/auditor/noise"
	"github.com/gnaudit/gnaudit/auditor/progress"
	"github.com/gnaudit/gnaudit/auditor/train"
)

// The noise engines of CollectConfig.Engine.
const (
	EnginePerSample = "per-sample"
	EngineMiniBatch = "mini-batch"
	EngineBoth      = "both"
)

// miniBatchNoiseDir is the noise set of the mini-batch engine next to the
// per-sample one (--engine both).
const miniBatchNoiseDir = "noise-minibatch"

// miniBatchNote explains the mini-batch engine's checkpoints in the report.
const miniBatchNote = "Checkpoints marked \"mini-batch engine\": ξ_S = g_S − ḡ from true mini-batch gradients " +
	"(B samples in one forward/backward pass, train-mode BatchNorm), ḡ over the pool in chunks of ~B_max; their per-sample " +
	"figures (kurtosis bound, noise scale) are effective per-sample moments inferred from the smallest batch size (docs/collection.md)."

// resultsName is the analyses' results file of an engine's set.
func resultsName(engine string) string {
	if engine == EngineMiniBatch {
		return "minibatch-" + ResultsName
	}
	return ResultsName
}

// usesMiniBatch reports whether the audit runs the mini-batch engine.
func (c *Config) usesMiniBatch() bool {
	return c.Collect.Engine == EngineMiniBatch || c.Collect.Engine == EngineBoth
}

// planMiniBatch opens the mini-batch engine (when configured), prints its
// plan (n·B forward/backward samples per batch size, memory) and refuses a
// run over the memory budget; it returns the estimated seconds per
// checkpoint (0 when the engine is not used).
func (r *runner) planMiniBatch(ctx context.Context, layers []collect.LayerSpec) (float64, error) {
	if !r.cfg.usesMiniBatch() {
		return 0, nil
	}
	// The engine computes the batches as the fine-tuning's SGD does: train-
	// mode BatchNorm unless the fine-tuning keeps it in eval mode.
	mb, err := minibatch.New(r.model, r.prep.train, minibatch.Options{Layers: layers, BatchNormEval: r.cfg.FineTune.BN == train.BNEval, MaxMemory: int64(r.cfg.Collect.MaxMemory)})
	if err != nil {
		return 0, inputErr(fmt.Errorf("model %s: %w", r.modelFile, err))
	}
	est, err := collect.PlanMiniBatch(r.cc, mb)
	if err != nil {
		return 0, inputErr(fmt.Errorf("mini-batch engine plan refused: %w", err))
	}
	r.mb, r.mbEst = mb, est
	r.printf("%s\n", est.String())
	// Time: one batch of the largest size (after an untimed one that
	// builds the executor).
	bmax := r.cc.BatchSizes[len(r.cc.BatchSizes)-1]
	idx := collect.PoolIndices(r.cc)[:bmax]
	grads := make([][]float64, len(layers))
	for l, ls := range layers {
		grads[l] = make([]float64, ls.Size())
	}
	if err := mb.BatchGrad(ctx, idx, grads); err != nil {
		return 0, fmt.Errorf("mini-batch engine on model %s: %w", r.modelFile, err)
	}
	t0 := time.Now()
	if err := mb.BatchGrad(ctx, idx, grads); err != nil {
		return 0, fmt.Errorf("mini-batch engine on model %s: %w", r.modelFile, err)
	}
	per := time.Since(t0).Seconds() / float64(bmax)
	s := est.Seconds(per)
	r.printf("  mini-batch engine: %s per sample (batch %d) → %s per checkpoint\n", secs(per), bmax, secs(s))
	return s, nil
}

// collectMiniBatch collects, saves and records the mini-batch engine's set
// of one checkpoint into cm (whose model fields are already set).
func (r *runner) collectMiniBatch(ctx context.Context, step int, params []train.Param, cm CheckpointMeta) error {
	cfg := &r.cfg
	cm.Engine = EngineMiniBatch
	for _, p := range params {
		if err := r.mb.SetParam(p.Name, p.Value); err != nil {
			return err
		}
	}
	cc := r.cc
	cc.Step = step
	bar := progress.New(r.env.Stderr, int(r.mbEst.Samples), progress.Options{Label: fmt.Sprintf("step %d mini-batches", step), Mode: r.env.ProgressMode})
	cc.Progress = func(p collect.Progress) { bar.Update(p.Done, progress.F("phase", "%s", p.Phase)) }
	set, err := collect.CollectMiniBatch(ctx, r.mb, cc)
	if err != nil {
		bar.Finish(progress.Field{Key: "stopped"})
	} else {
		bar.Finish()
	}
	rel := filepath.Join(CheckpointDir, stepDir(step))
	nrel := filepath.Join(rel, NoiseDir)
	if cfg.Collect.Engine == EngineBoth {
		nrel = filepath.Join(rel, miniBatchNoiseDir)
	}
	if set != nil {
		if serr := os.MkdirAll(filepath.Join(cfg.Out, rel), 0o755); serr != nil {
			return errors.Join(err, serr)
		}
		if serr := noise.Save(filepath.Join(cfg.Out, nrel), set); serr != nil {
			return errors.Join(err, fmt.Errorf("step %d: saving the mini-batch noise set: %w", step, serr))
		}
		cm.Noise = nrel
		if set.Partial {
			cm.Partial, cm.Reason = true, set.Collection.Reason
		}
		fmt.Fprintf(r.env.Stderr, "step %d: mini-batch engine's noise set saved to %s\n", step, filepath.Join(cfg.Out, nrel))
	} else if err != nil {
		cm.Reason = "mini-batch engine stopped before any usable result: " + err.Error()
	}
	r.meta.Checks = append(r.meta.Checks, cm)
	if werr := writeMeta(cfg.Out, r.meta); werr != nil {
		return errors.Join(err, werr)
	}
	if err != nil {
		return fmt.Errorf("mini-batch collection at step %d: %w", step, err)
	}
	return nil
}

// optimizerLabel describes the fine-tuning's optimiser for the report.
func optimizerLabel(st train.Settings) string {
	var b strings.Builder
	switch st.Optimizer {
	case train.OptAdamW:
		b.WriteString("AdamW (torch.optim.AdamW)")
	default:
		b.WriteString("SGD with momentum")
	}
	switch st.BatchNorm {
	case train.BNTrain:
		b.WriteString(", train-mode BatchNorm")
	case train.BNEval:
		b.WriteString(", eval-mode BatchNorm")
	}
	if st.WarmupSteps > 0 {
		fmt.Fprintf(&b, ", linear warm-up over %d steps", st.WarmupSteps)
	}
	return b.String()
}
