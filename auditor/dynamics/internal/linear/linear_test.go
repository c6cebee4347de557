package linear

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/gnaudit/gnaudit/internal/approx"
)

// randSPD returns M Mᵀ/k + shift·I for a seeded normal M.
func randSPD(r *rand.Rand, k int, shift float64) *mat.SymDense {
	m := mat.NewDense(k, k, nil)
	for i := 0; i < k; i++ {
		for j := 0; j < k; j++ {
			m.Set(i, j, r.NormFloat64())
		}
	}
	var s mat.SymDense
	s.SymOuterK(1/float64(k), m)
	for i := 0; i < k; i++ {
		s.SetSym(i, i, s.At(i, i)+shift)
	}
	return &s
}

// simulate runs the linear-Gaussian recursion g = H x + ξ, Cov ξ = C/B,
// v ← μv − ηg, x ← x + v for steps updates after burn, and returns the
// empirical Cov x, the lag-1 covariance E[x_{t+1} x_tᵀ] and the FDR sums
// E[x·g], E|v|².
func simulate(h, c *mat.SymDense, p Params, burn, steps int, seed uint64) (cov, lag1 *mat.Dense, xg, vv float64) {
	k := h.SymmetricDim()
	var ch mat.Cholesky
	if !ch.Factorize(c) {
		panic("C not positive definite")
	}
	var l mat.TriDense
	ch.LTo(&l)
	r := rand.New(rand.NewPCG(seed, 1))
	x := make([]float64, k)
	v := make([]float64, k)
	xn := make([]float64, k)
	e := make([]float64, k)
	g := make([]float64, k)
	sum := make([]float64, k)
	cov = mat.NewDense(k, k, nil)
	lag1 = mat.NewDense(k, k, nil)
	sb := 1 / math.Sqrt(float64(p.Batch))
	for t := 0; t < burn+steps; t++ {
		for i := range e {
			e[i] = r.NormFloat64()
		}
		for i := 0; i < k; i++ {
			s := 0.0
			for j := 0; j <= i; j++ {
				s += l.At(i, j) * e[j]
			}
			hx := 0.0
			for j := 0; j < k; j++ {
				hx += h.At(i, j) * x[j]
			}
			g[i] = hx + sb*s
		}
		for i := 0; i < k; i++ {
			v[i] = p.Momentum*v[i] - p.LR*g[i]
			xn[i] = x[i] + v[i]
		}
		if t >= burn {
			for i := 0; i < k; i++ {
				xg += x[i] * g[i]
				vv += v[i] * v[i]
				sum[i] += x[i]
				for j := 0; j < k; j++ {
					cov.Set(i, j, cov.At(i, j)+x[i]*x[j])
					lag1.Set(i, j, lag1.At(i, j)+xn[i]*x[j])
				}
			}
		}
		copy(x, xn)
	}
	n := float64(steps)
	for i := 0; i < k; i++ {
		for j := 0; j < k; j++ {
			cov.Set(i, j, cov.At(i, j)/n-sum[i]*sum[j]/(n*n))
			lag1.Set(i, j, lag1.At(i, j)/n-sum[i]*sum[j]/(n*n))
		}
	}
	return cov, lag1, xg / n, vv / n
}

// The known-answer test of the issue: non-commuting H and C, the
// Lyapunov solution against a long simulation.
func TestLyapunovMatchesSimulation(t *testing.T) {
	cases := []struct {
		name  string
		p     Params
		steps int
	}{
		{"momentum", Params{LR: 0.05, Momentum: 0.9, Batch: 4}, 2_000_000},
		{"plain", Params{LR: 0.2, Momentum: 0, Batch: 2}, 1_000_000},
		{"half", Params{LR: 0.3, Momentum: 0.5, Batch: 8}, 1_000_000},
	}
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(ci), 7))
			h := randSPD(r, 3, 0.5)
			c := randSPD(r, 3, 0.1)
			if Commutator(h, c) < 0.05 {
				t.Fatalf("test matrices commute (%.3g)", Commutator(h, c))
			}
			sol, err := Stationary(h, c, tc.p)
			if err != nil {
				t.Fatal(err)
			}
			emp, lag1, xg, vv := simulate(h, c, tc.p, 20000, tc.steps, uint64(ci)+11)
			sx := sol.X()
			for i := 0; i < 3; i++ {
				for j := 0; j < 3; j++ {
					scale := math.Sqrt(sx.At(i, i) * sx.At(j, j))
					approx.Abs(t, fmt.Sprintf("Σ[%d,%d] simulated against Lyapunov (0.02 of the scale)", i, j), emp.At(i, j), sx.At(i, j), 0.02*scale)
				}
			}
			approx.Abs(t, "FDR ratio", xg/(tc.p.FDRFactor()*vv), 1, 0.01)
			xgP, vvP := sol.FDR(h)
			approx.Abs(t, "FDR of the Lyapunov solution", xgP/(tc.p.FDRFactor()*vvP), 1, approx.Reference)
			// lag-1 antisymmetry: nonzero, and as predicted
			pa := Antisym(sol.Lag1())
			ea := Antisym(lag1)
			an := mat.Norm(pa, 2) / mat.Norm(sx, 2)
			if an < 1e-3 {
				t.Errorf("predicted lag-1 antisymmetry %.3g: want nonzero for non-commuting H, C", an)
			}
			var d mat.Dense
			d.Sub(pa, ea)
			if e := mat.Norm(&d, 2) / mat.Norm(sx, 2); e > 0.02 {
				t.Errorf("lag-1 antisymmetry: simulated differs from the prediction by %.3g of ‖Σ‖", e)
			}
		})
	}
}

// In H's eigenbasis the block formulas equal the full Lyapunov solution.
func TestDiagonalBasisMatchesStationary(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	hs := []float64{0.3, 1.7, 4.2, 9.0}
	h := mat.NewSymDense(4, nil)
	for i, v := range hs {
		h.SetSym(i, i, v)
	}
	c := randSPD(r, 4, 0.2)
	for _, p := range []Params{{0.1, 0, 4}, {0.05, 0.9, 16}, {0.2, 0.5, 1}} {
		sol, err := Stationary(h, c, p)
		if err != nil {
			t.Fatal(err)
		}
		sx, lag1, err := DiagonalBasis(hs, c, p)
		if err != nil {
			t.Fatal(err)
		}
		ref, refLag := sol.X(), sol.Lag1()
		for i := 0; i < 4; i++ {
			approx.Rel(t, fmt.Sprintf("%+v: ModeVarX[%d]", p, i), ModeVarX(hs[i], c.At(i, i), p), ref.At(i, i), approx.Reference)
			approx.Rel(t, fmt.Sprintf("%+v: ModeVarV[%d]", p, i), ModeVarV(hs[i], c.At(i, i), p), sol.V().At(i, i), approx.Reference)
			for j := 0; j < 4; j++ {
				approx.Abs(t, fmt.Sprintf("%+v: Σ[%d,%d] (1e-9 Σ[i,i])", p, i, j), sx.At(i, j), ref.At(i, j), 1e-9*ref.At(i, i))
				approx.Abs(t, fmt.Sprintf("%+v: K₁[%d,%d] (1e-9 Σ[i,i])", p, i, j), lag1.At(i, j), refLag.At(i, j), 1e-9*ref.At(i, i))
				if p.Momentum == 0 {
					want := p.LR * c.At(i, j) / (float64(p.Batch) * (hs[i] + hs[j] - p.LR*hs[i]*hs[j]))
					approx.Abs(t, fmt.Sprintf("μ=0 Σ[%d,%d] against the closed form (1e-9 Σ[i,i])", i, j), sx.At(i, j), want, 1e-9*ref.At(i, i))
				}
			}
		}
		if p.Momentum == 0 {
			// K₁ − K₁ᵀ = −η [H, Σ]
			for i := 0; i < 4; i++ {
				for j := 0; j < 4; j++ {
					want := -p.LR * (hs[i] - hs[j]) * sx.At(i, j)
					got := lag1.At(i, j) - lag1.At(j, i)
					approx.Abs(t, fmt.Sprintf("antisymmetry [%d,%d] against −η[H,Σ] (1e-9 Σ[i,i])", i, j), got, want, 1e-9*ref.At(i, i))
				}
			}
		}
	}
}

// Small η: the Lyapunov solution tends to the OU form, the C = τH case to
// τT·I, the trace law to η trC/(4B(1−μ)), momentum to plain SGD at η/(1−μ).
func TestSmallEtaLimits(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	k := 5
	h := randSPD(r, k, 0.2)
	c := randSPD(r, k, 0.1)
	var trC float64
	for i := 0; i < k; i++ {
		trC += c.At(i, i)
	}
	var eig mat.EigenSym
	eig.Factorize(h, false)
	hmax := eig.Values(nil)[k-1]
	prevOU, prevTr := math.Inf(1), math.Inf(1)
	for _, eta := range []float64{0.1, 0.01, 0.001} {
		p := Params{LR: eta / hmax, Momentum: 0.9, Batch: 32}
		sol, err := Stationary(h, c, p)
		if err != nil {
			t.Fatal(err)
		}
		ou, err := SmallEta(h, c, p)
		if err != nil {
			t.Fatal(err)
		}
		var d mat.Dense
		d.Sub(sol.X(), ou)
		eOU := mat.Norm(&d, 2) / mat.Norm(ou, 2)
		var hs mat.Dense
		hs.Mul(h, sol.X())
		excess := 0.5 * mat.Trace(&hs)
		eTr := approx.RelErr(excess, TraceLaw(trC, p))
		if eOU >= prevOU || eTr >= prevTr {
			t.Errorf("η h_max = %g: OU error %.3g (before %.3g), trace-law error %.3g (before %.3g): not decreasing", eta, eOU, prevOU, eTr, prevTr)
		}
		prevOU, prevTr = eOU, eTr
		// isotropy for C = τ H
		tau := 0.7
		var ct mat.SymDense
		ct.ScaleSym(tau, h)
		iso, err := Stationary(h, &ct, p)
		if err != nil {
			t.Fatal(err)
		}
		want := Isotropic(tau, p)
		for i := 0; i < k; i++ {
			for j := 0; j < k; j++ {
				w := 0.0
				if i == j {
					w = want
				}
				approx.Abs(t, fmt.Sprintf("C=τH, ηh_max=%g: Σ[%d,%d] against τT·δ (3 η τT)", eta, i, j), iso.X().At(i, j), w, 3*eta*want)
			}
		}
		// momentum vs SGD
		for _, hv := range []float64{hmax, hmax / 10} {
			sgd := Params{LR: p.LR / (1 - p.Momentum), Batch: p.Batch}
			got := ModeVarX(hv, 1, p) / ModeVarX(hv, 1, sgd)
			approx.Rel(t, "MomentumVsSGD against the ratio of ModeVarX", got, MomentumVsSGD(hv, p), approx.Float64)
		}
	}
	if prevOU > 5e-3 || prevTr > 1e-3 {
		t.Errorf("at η h_max = 0.001: OU error %.3g, trace-law error %.3g", prevOU, prevTr)
	}
}

func TestStability(t *testing.T) {
	p := Params{LR: 0.1, Momentum: 0.9, Batch: 1}
	h := mat.NewSymDense(2, []float64{1, 0, 0, 38.5})
	if _, err := Stationary(h, h, p); !errors.Is(err, ErrUnstable) {
		t.Errorf("η h = 3.85 > 2(1+μ) = 3.8: err %v, want ErrUnstable", err)
	}
	h.SetSym(1, 1, 37.5)
	if _, err := Stationary(h, h, p); err != nil {
		t.Errorf("η h = 3.75 < 3.8: %v", err)
	}
	approx.Abs(t, "margin at the edge", p.StabilityMargin(38), 1, approx.Float64)
	for _, bad := range []Params{{0, 0.9, 1}, {0.1, 1, 1}, {0.1, -0.1, 1}, {0.1, 0, 0}, {math.NaN(), 0, 1}} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	approx.Abs(t, "CorrTime against (1−μ)/(ηh)", (Params{LR: 0.01, Momentum: 0.9, Batch: 1}).CorrTime(0.1), 100, approx.Reference)
	approx.Abs(t, "CorrTime against 1/(1−√μ)", (Params{LR: 1, Momentum: 0.81, Batch: 1}).CorrTime(1), 10, approx.Reference)
}
