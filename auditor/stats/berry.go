package stats

import "math"

// BerryEsseenC is the Berry–Esseen constant for independent, identically
// distributed summands, C = 0.4748 (Shevtsova 2011, "On the absolute
// constants in the Berry–Esseen type inequalities for identically
// distributed summands", arXiv:1111.6554).
const BerryEsseenC = 0.4748

// BerryEsseenBound returns C·ρ/(σ³·√B), the Berry–Esseen upper bound on
// sup_x |F_B(x) − Φ(x)|, the Kolmogorov distance between the law of the
// standardized mean of batchSize i.i.d. copies of the noise and the standard
// normal (METHOD.md §4). abs3Standardized is ρ/σ³ = E|ξ|³/σ³
// (Description.Abs3Standardized or CentredSums.Abs3Standardized); passing
// √κ (SqrtKurtosis) instead gives the looser bound computable from streaming
// second and fourth moments alone, since ρ/σ³ ≤ √κ.
//
// The value is not clipped: a result ≥ 1 is a valid but vacuous bound.
// It returns NaN when batchSize < 1 or abs3Standardized is NaN, negative or
// infinite (callers pass NaN ratios through from zero-variance coordinates).
func BerryEsseenBound(abs3Standardized float64, batchSize int) float64 {
	if batchSize < 1 || !(abs3Standardized >= 0) || math.IsInf(abs3Standardized, 1) {
		return math.NaN()
	}
	return BerryEsseenC * abs3Standardized / math.Sqrt(float64(batchSize))
}
