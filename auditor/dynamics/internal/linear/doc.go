// Package linear is the exact theory of SGD with momentum on a quadratic
// loss with additive Gaussian gradient noise: the model behind the
// dynamics analysis (docs/dynamics.md).
//
// # The model
//
// With x = θ − θ* near a minimum, the batch gradient is g = H x + ξ with
// Cov ξ = C/B (B samples drawn with replacement, C the per-sample gradient
// covariance), and the update v ← μ v − η g, x ← x + v. The state
// z = (x, v) after the update follows z' = A z − η (ξ, ξ),
//
//	A = [[I − ηH, μI], [−ηH, μI]],
//
// stable iff 0 < η h_i < 2(1+μ) for every eigenvalue h_i of H. Its
// stationary covariance S solves the discrete Lyapunov equation
//
//	S = A S Aᵀ + (η²/B) [[C, C], [C, C]]
//
// ([Stationary], by doubling). In H's eigenbasis the equation decouples
// into 2×2 blocks per pair of modes ([PairCov]); on the diagonal
// ([ModeVarX], [ModeVarV])
//
//	Var x_i = η c_ii (1+μ) / (B (1−μ) h_i (2(1+μ) − η h_i)),
//	Var v_i = 2 η² c_ii / (B (1−μ) (2(1+μ) − η h_i)),
//
// and for μ = 0, Σ_ij = η c_ij / (B (h_i + h_j − η h_i h_j)).
//
// Small η (the Ornstein–Uhlenbeck limit of Mandt, Hoffman and Blei, with
// effective rate η/(1−μ)): H Σ + Σ H = η C / (B (1−μ)) ([SmallEta]), at
// temperature T = η / (2 B (1−μ)) ([Temperature]). With C = τ H (Fisher
// ≈ Hessian) Σ = τ T · I, Proposition 2's isotropic case ([Isotropic]).
//
// Hessian-free relations: the trace law E[L] − L* = ½ tr(H Σ) ≈
// η tr C / (4 B (1−μ)) ([TraceLaw]); Yaida's fluctuation–dissipation
// relation, exact at stationarity for any loss and any centre c,
// E[(θ − c)·g] = ((1+μ)/(2η)) E|v|² ([FDRFactor]); and detailed balance:
// the lag-1 covariance K₁ = E[x_{t+1} x_tᵀ] = [A S]_xx is symmetric iff
// [H, C] = 0 (for μ = 0, K₁ − K₁ᵀ = −η [H, Σ]; Proposition 1).
package linear
