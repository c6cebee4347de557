// Package dynamics measures the SGD dynamics of an ONNX model near a
// checkpoint θ₀ (the paper's second half; docs/dynamics.md): the static
// curvature and noise (auditor/dynamics/internal/hessian), then chains of updates
// v ← μv − η(g_S + λθ), θ ← θ + v at constant (η, B, μ) with i.i.d.
// batches drawn with replacement, whose recorded projections on the
// Hessian's top eigenvectors, (θ−c)·g, |v|² and batch losses are compared
// with the exact theory of the linear model (auditor/dynamics/internal/linear),
// every figure with a batch-means standard error
// (auditor/dynamics/internal/series).
//
// # Use
//
//	cfg := dynamics.Defaults()
//	cfg.LR, cfg.Steps = 0.01, 600
//	res, err := dynamics.Run(ctx, model, trainData, cfg) // trainData preprocessed for the model
//	jsonPath, mdPath, err := dynamics.Write("out", res)
//
// Run prints nothing; set Config.Progress for progress bars and
// Config.OnPlan to see (and veto) the plan, with its measured pass times,
// before the expensive work. A cancelled run returns what it measured with
// Result.Complete false.
//
// # Chains
//
// "main" runs at (LR, Momentum), "lr2" at (LR2, Momentum) for the trace
// law, "sgd" at (LR/(1−Momentum), 0) for the high-friction comparison.
// Each starts at θ₀ with v = 0, runs Burn updates and records Steps.
// A chain whose loss becomes non-finite or exceeds 100× its first batch
// loss is stopped and reported as diverged; its figures are absent.
package dynamics
