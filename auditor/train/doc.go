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
// # Eval-mode BatchNorm
//
// This is a fine-tuning in evaluation mode: BatchNormalization uses its
// running mean and variance, which stay fixed (they are not trainable and are
// not updated); BN's scale and shift are trainable and are updated. The
// reason is the audit itself: it studies the per-sample gradients ∇ℓ_i(θ)
// whose mean is the batch gradient g_S. In training mode, BN normalises with
// the statistics of the batch, so each ℓ_i depends on the other samples of
// the batch, the per-sample gradients are not defined independently of the
// batch, and g_S is no longer a mean of i.i.d. terms. With fixed statistics,
// ℓ_i depends on sample i and θ only, and the noise g_S − g is exactly the
// mean of B independent draws — the quantity the audit measures. The CPU
// executor implements inference BatchNormalization only.
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
