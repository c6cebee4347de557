// Package train fine-tunes an ONNX model (decoded into auditor/ir and run by
// the CPU executor auditor/graph) with SGD with momentum and weight decay, as
// in the paper (METHOD.md §7), and writes the fine-tuned weights back into
// the ONNX file.
//
// # The update
//
// For every trainable parameter θ (ir.Model.Trainable) and update k:
//
//	g_S = (1/B) Σ_{i∈S} ∇ℓ_i(θ)     the MEAN gradient of the batch S, |S| = B
//	v   ← μ v − η_k (g_S + λ θ)
//	θ   ← θ + v
//
// with v = 0 before the first update. Defaults ([Defaults]) are the paper's:
// μ = 0.9, λ = 5·10⁻⁴, B = 128 and η = 0.1 → 0.01 → 0.001 with the steps at
// 50 % and 75 % of training ([Paper]).
//
// PyTorch's torch.optim.SGD(momentum=μ, weight_decay=λ) writes the same
// method as b ← μ b + (g + λθ), θ ← θ − η b. With a constant η the two are
// identical (v = −η b). When η changes they differ: PyTorch rescales the
// whole accumulated velocity by the new η at once, while here the velocity
// keeps the steps taken with the old η and only the new increments use the
// new one, so the step size decays geometrically (factor μ per update) after
// a schedule step. The tests check both facts against PyTorch fixtures.
//
// # BatchNorm
//
// Options.BatchNorm chooses train mode (BNTrain, the default for a model
// with BatchNormalization) or eval mode (BNEval). In train mode the
// executor normalises with the statistics of the batch and differentiates
// through them (graph.Options.BatchNormTrain), and after every update the
// running mean and variance are updated as torch does (momentum 0.1, i.e.
// 1 − the ONNX momentum attribute; unbiased variance): they are part of
// every Checkpoint (Stats) and of the Result, and SaveONNX of Saved()
// writes them. Evaluation always uses the running statistics, like
// model.eval(). In eval mode the running statistics stay fixed and BN is a
// trained affine map. The audit's per-sample engine always uses eval mode
// (per-sample gradients need samples that do not interact); the
// mini-batch engine (auditor/minibatch) measures train-mode noise.
//
// # Optimisers
//
// Options.Optimizer is OptSGD (the update above) or OptAdamW
// (torch.optim.AdamW, see [AdamW]); Options.WarmupSteps adds a linear
// warm-up ([Warmup]).
//
// # Data
//
// Each epoch visits the training set in a new random order drawn from
// [data.NewRand] (seed Options.Seed, stream "train/epoch/<e>"), in
// ⌊N/B⌋ batches of exactly B samples; the last N mod B samples of each
// epoch's order are left out (like PyTorch's drop_last=True), so every update
// averages exactly B per-sample gradients.
//
// # Precision
//
// θ and v are kept in float64; the executor computes with θ rounded to its
// dtype (float32 unless Options.Float64). The saved file holds θ rounded to
// each initializer's stored type, i.e. exactly the weights the float32
// executor used for the last update.
package train
