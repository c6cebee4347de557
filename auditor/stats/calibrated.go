package stats

import (
	"math"
	"sort"
)

// This file holds the calibrated statistics of docs/statistics.md
// ("Calibrated predictions and uncertainty"): the predicted Shapiro–Wilk
// rejection rate of a batch mean from the per-sample moments, the pool
// (finite-population) factor of its skewness, binomial confidence intervals,
// Storey's π̂0 and Holm's step-down correction.

// NoncentralChi2SF2 returns P(χ²₂(λ) > x), the survival function of the
// noncentral χ² law with 2 degrees of freedom and noncentrality λ ≥ 0 (the
// Marcum Q-function Q₁(√λ, √x)). It sums the Poisson mixture of central χ²
// laws, and returns 1 when √λ − √x > 9 (the error is below 3·10⁻¹⁸). NaN
// for a NaN or negative argument.
func NoncentralChi2SF2(x, lambda float64) float64 {
	if math.IsNaN(x) || math.IsNaN(lambda) || lambda < 0 {
		return math.NaN()
	}
	if x <= 0 {
		return 1
	}
	if math.IsInf(lambda, 1) {
		return 1
	}
	if d := math.Sqrt(lambda) - math.Sqrt(x); d > 9 {
		// P(χ²₂(λ) ≤ x) ≤ e^{−(√λ−√x)²/2} < 3·10⁻¹⁸.
		return 1
	}
	// SF = Σ_j Pois(j; λ/2) · Q(j+1, x/2), Q(j+1, y) = e^{−y} Σ_{i≤j} y^i/i!,
	// the terms in log space by recurrence (e^{−y} alone underflows for
	// y > 745).
	h, y := lambda/2, x/2
	lh, ly := math.Log(h), math.Log(y)
	lw, lt := -h, -y // log Pois(j; h), log e^{−y} y^j/j!
	q, sum := 0.0, 0.0
	last := h + 12*math.Sqrt(h+1) + 30
	for j := 0; ; j++ {
		q = math.Min(1, q+math.Exp(lt))
		sum += math.Exp(lw) * q
		if float64(j) > last {
			break
		}
		lj := math.Log(float64(j + 1))
		lw += lh - lj
		lt += ly - lj
	}
	return math.Min(1, sum)
}

// PoolSkewFactor is the factor by which drawing B of N pool samples without
// replacement shrinks the skewness of the batch mean relative to i.i.d.
// draws: the skewness of the mean is γ₁/√B · PoolSkewFactor(B, N), with
// PoolSkewFactor = (N−2B)/(N−2) · √((N−1)/(N−B)) ≈ (1−2f)/√(1−f), f = B/N
// (the third cumulant of a without-replacement sample sum). It is 1 when
// N is infinite (N ≤ 0 stands for that) and 0 at B = N/2.
func PoolSkewFactor(b, n int) float64 {
	if n <= 0 {
		return 1
	}
	if b >= n || n <= 2 {
		return 0
	}
	N, B := float64(n), float64(b)
	return (N - 2*B) / (N - 2) * math.Sqrt((N-1)/(N-B))
}

// SWNoncentrality returns λ = n·[s²/6 + k²/24], the noncentrality of the
// Jarque–Bera statistic of n values whose law has skewness s and excess
// kurtosis k: for a batch mean of B i.i.d. summands of skewness γ₁ and
// excess kurtosis γ₂, s = γ₁/√B and k = γ₂/B.
func SWNoncentrality(n int, s, k float64) float64 {
	return float64(n) * (s*s/6 + k*k/24)
}

// PredictedRejection returns the calibrated prediction of the probability
// that a normality test at level alpha rejects n batch means of B summands
// whose per-sample law has skewness g1 and excess kurtosis g2:
// P(χ²₂(λ) > χ²_{2,1−α}), λ = n·[g1²·φ²/(6B) + g2²/(24B²)], φ =
// PoolSkewFactor(B, pool) (pool ≤ 0: i.i.d. draws, φ = 1). At λ = 0 it is
// alpha. The model is the Edgeworth expansion of the batch mean read
// through the Jarque–Bera statistic; docs/statistics.md records its
// agreement with simulated Shapiro–Wilk rejection rates.
func PredictedRejection(g1, g2 float64, b, n, pool int, alpha float64) float64 {
	if b < 1 || n < 1 || !(alpha > 0 && alpha < 1) || math.IsNaN(g1) || math.IsNaN(g2) {
		return math.NaN()
	}
	B := float64(b)
	s := g1 / math.Sqrt(B) * PoolSkewFactor(b, pool)
	k := g2 / B
	return NoncentralChi2SF2(-2*math.Log(alpha), SWNoncentrality(n, s, k))
}

// Skewness returns γ₁ = (S3/N)/(S2/N)^{3/2} of centred sums (NaN when the
// variance is 0).
func (c CentredSums) Skewness() float64 {
	if !(c.S2 > 0) || !(c.N > 0) {
		return math.NaN()
	}
	v := c.S2 / c.N
	return c.S3 / c.N / (v * math.Sqrt(v))
}

// ExcessKurtosis returns γ₂ = (S4/N)/(S2/N)² − 3 of centred sums (NaN when
// the variance is 0).
func (c CentredSums) ExcessKurtosis() float64 {
	if !(c.S2 > 0) || !(c.N > 0) {
		return math.NaN()
	}
	v := c.S2 / c.N
	return c.S4/c.N/(v*v) - 3
}

// Wilson returns the Wilson score interval for a binomial proportion with
// k successes in n trials at confidence 1−alpha (two-sided). n = 0 gives
// [0, 1].
func Wilson(k, n int, alpha float64) (lo, hi float64) {
	if n <= 0 {
		return 0, 1
	}
	z := swNormQuantile(1 - alpha/2)
	N := float64(n)
	p := float64(k) / N
	d := 1 + z*z/N
	c := (p + z*z/(2*N)) / d
	h := z / d * math.Sqrt(p*(1-p)/N+z*z/(4*N*N))
	return math.Max(0, c-h), math.Min(1, c+h)
}

// NormalQuantile returns Φ⁻¹(p) for 0 < p < 1.
func NormalQuantile(p float64) float64 { return swNormQuantile(p) }

// NonNullShare returns the moment estimate of the share of non-null
// (here: non-Gaussian) units from a rejection rate R of tests at level
// alpha with power 1 against the alternatives: (R−α)/(1−α), clamped to
// [0, 1]. With power below 1 it is a lower bound in expectation.
func NonNullShare(r, alpha float64) float64 {
	if math.IsNaN(r) || !(alpha > 0 && alpha < 1) {
		return math.NaN()
	}
	v := (r - alpha) / (1 - alpha)
	if v < 1e-12 { // R = α up to rounding
		return 0
	}
	return math.Min(1, v)
}

// StoreyPi0 returns Storey's (2002) estimate of the share of true null
// hypotheses among p-values ps: π̂₀ = #{p > λ} / ((1−λ)·m), clamped to
// [0, 1]; λ = 0.5 is the usual choice. NaN for no p-values.
func StoreyPi0(ps []float64, lambda float64) float64 {
	m := 0
	above := 0
	for _, p := range ps {
		if math.IsNaN(p) {
			continue
		}
		m++
		if p > lambda {
			above++
		}
	}
	if m == 0 || !(lambda >= 0 && lambda < 1) {
		return math.NaN()
	}
	return math.Min(1, float64(above)/((1-lambda)*float64(m)))
}

// Holm returns, for the family of p-values ps, the levels at which Holm's
// (1979) step-down procedure compares each one so that the family-wise
// error rate is at most alpha: sorted ascending, the i-th smallest (i from
// 0) is compared with alpha/(m−i), and once one fails all later ones fail.
// reject[i] reports whether ps[i] is rejected; level[i] is the level its
// comparison used. NaN p-values are never rejected and count in m.
func Holm(ps []float64, alpha float64) (reject []bool, level []float64) {
	m := len(ps)
	idx := make([]int, m)
	for i := range idx {
		idx[i] = i
	}
	key := func(i int) float64 {
		if math.IsNaN(ps[i]) {
			return math.Inf(1)
		}
		return ps[i]
	}
	sort.SliceStable(idx, func(a, b int) bool { return key(idx[a]) < key(idx[b]) })
	reject = make([]bool, m)
	level = make([]float64, m)
	stopped := false
	for r, i := range idx {
		level[i] = alpha / float64(m-r)
		if !stopped && key(i) <= level[i] {
			reject[i] = true
		} else {
			stopped = true
		}
	}
	return reject, level
}
