package linear

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// Params are the constant hyper-parameters of the update
// v ← μ v − η (g_S + λθ), θ ← θ + v with batches of B samples drawn with
// replacement. The weight decay λ is part of the Hessian here (H_λ = H +
// λ I on the decayed coordinates).
type Params struct {
	LR       float64 // η > 0
	Momentum float64 // μ in [0, 1)
	Batch    int     // B ≥ 1
}

// Validate reports an out-of-range parameter.
func (p Params) Validate() error {
	switch {
	case !(p.LR > 0) || math.IsInf(p.LR, 0):
		return fmt.Errorf("learning rate %v: must be positive and finite", p.LR)
	case !(p.Momentum >= 0 && p.Momentum < 1):
		return fmt.Errorf("momentum %v: must be in [0, 1)", p.Momentum)
	case p.Batch < 1:
		return fmt.Errorf("batch size %d: must be at least 1", p.Batch)
	}
	return nil
}

// Temperature is T = η / (2 B (1−μ)).
func (p Params) Temperature() float64 {
	return p.LR / (2 * float64(p.Batch) * (1 - p.Momentum))
}

// FDRFactor is (1+μ)/(2η): at stationarity E[(θ−c)·g] = FDRFactor · E|v|²
// (Yaida's first fluctuation–dissipation relation).
func (p Params) FDRFactor() float64 { return (1 + p.Momentum) / (2 * p.LR) }

// StabilityMargin is η h / (2(1+μ)): the mode of curvature h is stable iff
// the margin is in (0, 1).
func (p Params) StabilityMargin(h float64) float64 {
	return p.LR * h / (2 * (1 + p.Momentum))
}

// CorrTime is the correlation time in updates of a mode of curvature h,
// max((1−μ)/(η h), 1/(1−√μ)) (the slower of the position's relaxation
// and the velocity's oscillation envelope).
func (p Params) CorrTime(h float64) float64 {
	t := 1.0
	if p.Momentum > 0 {
		t = 1 / (1 - math.Sqrt(p.Momentum))
	}
	if h > 0 {
		t = math.Max(t, (1-p.Momentum)/(p.LR*h))
	} else {
		return math.Inf(1)
	}
	return t
}

// ErrUnstable is returned (wrapped) when some curvature violates
// 0 < η h < 2(1+μ).
var ErrUnstable = errors.New("unstable: some mode has η h outside (0, 2(1+μ))")

// CheckStable returns an error wrapping ErrUnstable naming the first
// eigenvalue h of the list outside the stable range.
func (p Params) CheckStable(hs []float64) error {
	for i, h := range hs {
		if m := p.StabilityMargin(h); !(m > 0 && m < 1) {
			return fmt.Errorf("eigenvalue %d (h = %.6g): η h / (2(1+μ)) = %.4g: %w", i, h, m, ErrUnstable)
		}
	}
	return nil
}

// Transition returns A = [[I − ηH, μI], [−ηH, μI]] (2k × 2k).
func Transition(h mat.Symmetric, p Params) *mat.Dense {
	k := h.SymmetricDim()
	a := mat.NewDense(2*k, 2*k, nil)
	for i := 0; i < k; i++ {
		for j := 0; j < k; j++ {
			e := -p.LR * h.At(i, j)
			a.Set(i, j, e)
			a.Set(k+i, j, e)
		}
		a.Set(i, i, a.At(i, i)+1)
		a.Set(i, k+i, p.Momentum)
		a.Set(k+i, k+i, p.Momentum)
	}
	return a
}

// Noise returns Q = (η²/B) [[C, C], [C, C]].
func Noise(c mat.Symmetric, p Params) *mat.SymDense {
	k := c.SymmetricDim()
	q := mat.NewSymDense(2*k, nil)
	f := p.LR * p.LR / float64(p.Batch)
	for i := 0; i < k; i++ {
		for j := i; j < k; j++ {
			v := f * c.At(i, j)
			q.SetSym(i, j, v)
			q.SetSym(k+i, k+j, v)
			q.SetSym(i, k+j, v)
			q.SetSym(j, k+i, v)
		}
	}
	return q
}

// Solution is the stationary state of the linear model.
type Solution struct {
	K int // dimension of x
	// S is the stationary covariance of z = (x, v), 2K × 2K.
	S *mat.SymDense
	// A is the transition matrix.
	A *mat.Dense
}

// X returns Σ_x = Cov x (K × K).
func (s *Solution) X() *mat.SymDense { return block(s.S, 0, s.K) }

// V returns Cov v (K × K).
func (s *Solution) V() *mat.SymDense { return block(s.S, s.K, s.K) }

// Lag1 returns K₁ = E[x_{t+1} x_tᵀ] = [A S]_xx.
func (s *Solution) Lag1() *mat.Dense {
	var as mat.Dense
	as.Mul(s.A, s.S)
	out := mat.NewDense(s.K, s.K, nil)
	out.Copy(as.Slice(0, s.K, 0, s.K))
	return out
}

// FDR returns E[x·g] and E|v|² of the stationary state with g = H x + ξ:
// E[x·g] = tr(H Σ_x) (ξ is independent of x) and E|v|² = tr Cov v. At
// stationarity E[x·g] = p.FDRFactor() E|v|² holds exactly.
func (s *Solution) FDR(h mat.Symmetric) (xg, vv float64) {
	sx := s.X()
	for i := 0; i < s.K; i++ {
		for j := 0; j < s.K; j++ {
			xg += h.At(i, j) * sx.At(j, i)
		}
		vv += s.S.At(s.K+i, s.K+i)
	}
	return xg, vv
}

func block(s *mat.SymDense, off, k int) *mat.SymDense {
	out := mat.NewSymDense(k, nil)
	for i := 0; i < k; i++ {
		for j := i; j < k; j++ {
			out.SetSym(i, j, s.At(off+i, off+j))
		}
	}
	return out
}

// Stationary solves S = A S Aᵀ + Q for the Hessian h and the per-sample
// noise covariance c (both k × k) by doubling (S ← S + A_n S A_nᵀ,
// A_n ← A_n²) until the increment is below 1e-15 of S. It returns an error
// wrapping ErrUnstable when an eigenvalue of h is outside the stable range.
func Stationary(h, c mat.Symmetric, p Params) (*Solution, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if h.SymmetricDim() != c.SymmetricDim() {
		return nil, fmt.Errorf("hessian is %d×%d, noise covariance %d×%d", h.SymmetricDim(), h.SymmetricDim(), c.SymmetricDim(), c.SymmetricDim())
	}
	var eig mat.EigenSym
	if !eig.Factorize(h, false) {
		return nil, errors.New("eigendecomposition of the hessian failed")
	}
	if err := p.CheckStable(eig.Values(nil)); err != nil {
		return nil, err
	}
	a := Transition(h, p)
	k := h.SymmetricDim()
	s := mat.NewDense(2*k, 2*k, nil)
	s.Copy(Noise(c, p))
	an := mat.DenseCopyOf(a)
	var t1, t2 mat.Dense
	for it := 0; it < 200; it++ {
		t1.Mul(an, s)
		t2.Mul(&t1, an.T())
		s.Add(s, &t2)
		an.Mul(an, an)
		if mat.Norm(&t2, math.Inf(1)) <= 1e-15*mat.Norm(s, math.Inf(1)) {
			break
		}
	}
	sym := mat.NewSymDense(2*k, nil)
	for i := 0; i < 2*k; i++ {
		for j := i; j < 2*k; j++ {
			sym.SetSym(i, j, (s.At(i, j)+s.At(j, i))/2)
		}
	}
	return &Solution{K: k, S: sym, A: a}, nil
}
