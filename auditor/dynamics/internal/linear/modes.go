package linear

import (
	"errors"

	"gonum.org/v1/gonum/mat"
)

// ModeVarX is the exact stationary Var x_i of an eigenmode of curvature h
// with per-sample noise variance c along it:
// η c (1+μ) / (B (1−μ) h (2(1+μ) − η h)).
func ModeVarX(h, c float64, p Params) float64 {
	mu, eta := p.Momentum, p.LR
	return eta * c * (1 + mu) / (float64(p.Batch) * (1 - mu) * h * (2*(1+mu) - eta*h))
}

// ModeVarV is the exact stationary Var v_i: 2 η² c / (B (1−μ) (2(1+μ) − η h)).
func ModeVarV(h, c float64, p Params) float64 {
	mu, eta := p.Momentum, p.LR
	return 2 * eta * eta * c / (float64(p.Batch) * (1 - mu) * (2*(1+mu) - eta*h))
}

// ModeVarSmallEta is the small-η (Ornstein–Uhlenbeck) Var x_i:
// η c / (2 B (1−μ) h) = T c / h.
func ModeVarSmallEta(h, c float64, p Params) float64 {
	return p.Temperature() * c / h
}

// Isotropic is Proposition 2's prediction when C = τ H: Σ_x = τ T · I.
func Isotropic(tau float64, p Params) float64 { return tau * p.Temperature() }

// TraceLaw is the small-η excess loss E[L] − L* = ½ tr(H Σ_x) ≈
// η tr C / (4 B (1−μ)).
func TraceLaw(trC float64, p Params) float64 {
	return p.LR * trC / (4 * float64(p.Batch) * (1 - p.Momentum))
}

// MomentumVsSGD is the exact ratio of Var x of a mode of curvature h under
// momentum (η, μ) to that under plain SGD at the same effective rate
// η/(1−μ): (2 − ηh/(1−μ)) / (2 − ηh/(1+μ)); it tends to 1 as η → 0.
func MomentumVsSGD(h float64, p Params) float64 {
	mu, eta := p.Momentum, p.LR
	return (2 - eta*h/(1-mu)) / (2 - eta*h/(1+mu))
}

// PairCov returns the exact stationary 2×2 cross-covariance
// E[(x_i, v_i)(x_j, v_j)ᵀ] of two eigenmodes of curvatures hi, hj whose
// per-sample noise covariance is cij: the solution of
// (I₄ − A_j ⊗ A_i) vec S_ij = (η² c_ij / B) vec 11ᵀ.
func PairCov(hi, hj, cij float64, p Params) (*mat.Dense, error) {
	ai := mat.NewDense(2, 2, []float64{1 - p.LR*hi, p.Momentum, -p.LR * hi, p.Momentum})
	aj := mat.NewDense(2, 2, []float64{1 - p.LR*hj, p.Momentum, -p.LR * hj, p.Momentum})
	var kron mat.Dense
	kron.Kronecker(aj, ai)
	m := mat.NewDense(4, 4, nil)
	for r := 0; r < 4; r++ {
		for c := 0; c < 4; c++ {
			v := -kron.At(r, c)
			if r == c {
				v++
			}
			m.Set(r, c, v)
		}
	}
	q := p.LR * p.LR * cij / float64(p.Batch)
	rhs := mat.NewVecDense(4, []float64{q, q, q, q})
	var sol mat.VecDense
	if err := sol.SolveVec(m, rhs); err != nil {
		return nil, errors.New("pair covariance: singular system (a mode at the stability edge)")
	}
	// column-major vec: (0,0), (1,0), (0,1), (1,1)
	return mat.NewDense(2, 2, []float64{sol.AtVec(0), sol.AtVec(2), sol.AtVec(1), sol.AtVec(3)}), nil
}

// DiagonalBasis computes the exact stationary covariance of x and the
// lag-1 covariance K₁ = E[x_{t+1} x_tᵀ] when H = diag(h) (the eigenbasis
// of the Hessian, or a Ritz basis) and c is the per-sample noise
// covariance in that basis. It is the block-by-block form of
// [Stationary].
func DiagonalBasis(h []float64, c mat.Symmetric, p Params) (sx *mat.SymDense, lag1 *mat.Dense, err error) {
	if err := p.Validate(); err != nil {
		return nil, nil, err
	}
	if err := p.CheckStable(h); err != nil {
		return nil, nil, err
	}
	k := len(h)
	sx = mat.NewSymDense(k, nil)
	sxv := mat.NewDense(k, k, nil) // E[x_i v_j]
	for i := 0; i < k; i++ {
		for j := i; j < k; j++ {
			b, err := PairCov(h[i], h[j], c.At(i, j), p)
			if err != nil {
				return nil, nil, err
			}
			sx.SetSym(i, j, b.At(0, 0))
			sxv.Set(i, j, b.At(0, 1))
			sxv.Set(j, i, b.At(1, 0))
		}
	}
	// x' = (1 − η h_i) x_i + μ v_i − η ξ_i: K₁_ij = (1 − η h_i) Σ_ij + μ E[v_i x_j].
	lag1 = mat.NewDense(k, k, nil)
	for i := 0; i < k; i++ {
		for j := 0; j < k; j++ {
			lag1.Set(i, j, (1-p.LR*h[i])*sx.At(i, j)+p.Momentum*sxv.At(j, i))
		}
	}
	return sx, lag1, nil
}

// SmallEta solves H Σ + Σ H = η C / (B (1−μ)) (the Ornstein–Uhlenbeck
// stationary covariance) through the eigendecomposition of H, which must
// be positive definite.
func SmallEta(h, c mat.Symmetric, p Params) (*mat.SymDense, error) {
	var eig mat.EigenSym
	if !eig.Factorize(h, true) {
		return nil, errors.New("eigendecomposition of the hessian failed")
	}
	vals := eig.Values(nil)
	for _, v := range vals {
		if !(v > 0) {
			return nil, errors.New("small-η covariance: the hessian is not positive definite")
		}
	}
	var u mat.Dense
	eig.VectorsTo(&u)
	var cu, t mat.Dense
	cu.Mul(u.T(), c)
	cu.Mul(&cu, &u)
	k := len(vals)
	f := p.LR / (float64(p.Batch) * (1 - p.Momentum))
	for i := 0; i < k; i++ {
		for j := 0; j < k; j++ {
			cu.Set(i, j, f*cu.At(i, j)/(vals[i]+vals[j]))
		}
	}
	t.Mul(&u, &cu)
	t.Mul(&t, u.T())
	out := mat.NewSymDense(k, nil)
	for i := 0; i < k; i++ {
		for j := i; j < k; j++ {
			out.SetSym(i, j, (t.At(i, j)+t.At(j, i))/2)
		}
	}
	return out, nil
}

// Commutator returns ‖HC − CH‖_F / (‖H‖_F ‖C‖_F): 0 when the noise and the
// curvature share eigenvectors (detailed balance can hold), up to √2.
func Commutator(h, c mat.Matrix) float64 {
	var hc, ch mat.Dense
	hc.Mul(h, c)
	ch.Mul(c, h)
	hc.Sub(&hc, &ch)
	d := mat.Norm(h, 2) * mat.Norm(c, 2)
	if d == 0 {
		return 0
	}
	return mat.Norm(&hc, 2) / d
}

// Antisym returns the antisymmetric part (K − Kᵀ)/2.
func Antisym(k mat.Matrix) *mat.Dense {
	r, _ := k.Dims()
	out := mat.NewDense(r, r, nil)
	for i := 0; i < r; i++ {
		for j := 0; j < r; j++ {
			out.Set(i, j, (k.At(i, j)-k.At(j, i))/2)
		}
	}
	return out
}
