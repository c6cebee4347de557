package stats

import (
	"fmt"
	"math"
	"testing"

	"github.com/gnaudit/gnaudit/internal/approx"
)

func TestBerryEsseenBound(t *testing.T) {
	cases := []struct {
		ratio float64
		b     int
		want  float64
	}{
		// Gaussian: ρ/σ³ = E|Z|³ = 2√(2/π) ≈ 1.5958.
		{2 * math.Sqrt(2/math.Pi), 1, 0.4748 * 2 * math.Sqrt(2/math.Pi)},
		{2 * math.Sqrt(2/math.Pi), 64, 0.4748 * 2 * math.Sqrt(2/math.Pi) / 8},
		// Rademacher ±1: ρ/σ³ = 1.
		{1, 100, 0.04748},
		{1, 10000, 0.004748},
		{0, 5, 0},
		{math.NaN(), 5, math.NaN()},
		{-1, 5, math.NaN()},
		{math.Inf(1), 5, math.NaN()},
		{1, 0, math.NaN()},
		{1, -3, math.NaN()},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%g/B=%d", c.ratio, c.b), func(t *testing.T) {
			got := BerryEsseenBound(c.ratio, c.b)
			if math.IsNaN(c.want) {
				if !math.IsNaN(got) {
					t.Errorf("got %g, want NaN", got)
				}
				return
			}
			approx.Rel(t, "bound", got, c.want, 1e-15)
		})
	}
}

// TestBerryEsseenBoundHolds checks the bound against an exact case: for
// Rademacher summands the standardized mean of B values is a shifted,
// scaled Binomial(B, 1/2), whose CDF is computed exactly, and its largest
// gap to Φ must lie below C·1/√B (ρ/σ³ = 1).
func TestBerryEsseenBoundHolds(t *testing.T) {
	for _, b := range []int{1, 2, 5, 10, 50, 200} {
		// P(S = 2k−B) = C(B,k)/2^B; standardized value z = (2k−B)/√B.
		pmf := make([]float64, b+1)
		lg := func(n int) float64 { v, _ := math.Lgamma(float64(n + 1)); return v }
		for k := 0; k <= b; k++ {
			pmf[k] = math.Exp(lg(b) - lg(k) - lg(b-k) - float64(b)*math.Ln2)
		}
		sup, cdf := 0.0, 0.0
		for k := 0; k <= b; k++ {
			z := float64(2*k-b) / math.Sqrt(float64(b))
			phi := 0.5 * math.Erfc(-z/math.Sqrt2)
			sup = max(sup, math.Abs(cdf-phi)) // left limit at the atom
			cdf += pmf[k]
			sup = max(sup, math.Abs(cdf-phi))
		}
		bound := BerryEsseenBound(1, b)
		if !(sup <= bound) {
			t.Errorf("B=%d: sup|F−Φ| = %g exceeds the bound %g", b, sup, bound)
		}
		// The bound is not absurdly loose either: for lattice laws the
		// gap is ~0.4/√B (Esseen): within a factor 1.5 of C/√B for every B.
		if !(sup > bound/1.5) {
			t.Errorf("B=%d: sup|F−Φ| = %g, bound %g: unexpectedly loose", b, sup, bound)
		}
	}
}

// The Berry–Esseen bound at several batch sizes for a coordinate whose
// noise has ρ/σ³ = 2.5, and the looser bound from √κ = 3.
func ExampleBerryEsseenBound() {
	for _, b := range []int{16, 64, 256} {
		fmt.Printf("B=%3d  rho/sigma^3: %.4f  sqrt(kappa): %.4f\n", b,
			BerryEsseenBound(2.5, b), BerryEsseenBound(3, b))
	}
	// Output:
	// B= 16  rho/sigma^3: 0.2968  sqrt(kappa): 0.3561
	// B= 64  rho/sigma^3: 0.1484  sqrt(kappa): 0.1780
	// B=256  rho/sigma^3: 0.0742  sqrt(kappa): 0.0890
}

// Partial moments from two shards (e.g. two devices) merge into the
// moments of the whole sample (numpy/scipy on the six values: var
// 43.8889, skew 1.1783, kurtosis −0.1044).
func ExampleMoments_Merge() {
	var a, b, all Moments
	a.AddSlice([]float64{1, 2, 3, 4})
	b.AddSlice([]float64{10, 20})
	all.AddSlice([]float64{1, 2, 3, 4, 10, 20})
	m := a.Merge(b)
	fmt.Printf("N=%g mean=%.4f var=%.4f skew=%.4f exkurt=%.4f\n",
		m.N, m.Mean, m.Variance(), m.Skewness(), m.ExcessKurtosis())
	fmt.Printf("all at once: mean=%.4f var=%.4f skew=%.4f exkurt=%.4f\n",
		all.Mean, all.Variance(), all.Skewness(), all.ExcessKurtosis())
	// Output:
	// N=6 mean=6.6667 var=43.8889 skew=1.1783 exkurt=-0.1044
	// all at once: mean=6.6667 var=43.8889 skew=1.1783 exkurt=-0.1044
}
