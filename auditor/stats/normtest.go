package stats

import (
	"fmt"
	"math"
	"slices"
)

// Normality tests besides Shapiro–Wilk: Jarque–Bera, D'Agostino–Pearson K²
// (with its skewness and kurtosis tests) and Anderson–Darling, as
// scipy.stats 1.10 computes them, with the Anderson–Darling p-value of
// D'Agostino & Stephens (1986) as R's nortest::ad.test computes it.
//
// All take the sample in any order, do not modify it, and return an error
// wrapping ErrSampleSize (too few values), ErrNonFinite (NaN/±Inf) or
// ErrZeroVariance (all values equal, or a variance below float64's
// resolution relative to the mean, where scipy returns NaN).

// Smallest sample sizes accepted.
const (
	// JarqueBeraMinN is the smallest n for JarqueBera.
	JarqueBeraMinN = 2
	// SkewTestMinN is the smallest n for SkewTest and DAgostinoPearson
	// (scipy.stats.skewtest's limit).
	SkewTestMinN = 8
	// KurtosisTestMinN is the smallest n for KurtosisTest (scipy's limit;
	// scipy warns below 20, where the normal approximation is poor).
	KurtosisTestMinN = 5
	// AndersonDarlingMinN is the smallest n for AndersonDarling
	// (nortest::ad.test's limit for the p-value approximation).
	AndersonDarlingMinN = 8
)

// ntMoments are the population central moments of a sample, computed on
// the values scaled by a power of two (exact) so that max|x·scale| is about
// 1: powers up to the fourth can then neither overflow nor lose the small
// values to underflow, whatever the data's magnitude. Skewness, kurtosis and
// standardized values do not depend on the scale.
type ntMoments struct {
	n              float64
	scale          float64 // power of two applied to x
	mean0, meanErr float64 // of the scaled values: Σ/n and its correction
	m2, m3, m4     float64 // Σ(x·scale − mean)^k / n
	skew, kurtosis float64 // m3/m2^1.5 and m4/m2² (Pearson, 3 for a normal)
}

// ntCheck validates x for the named test: size at least minN, all finite.
func ntCheck(test string, x []float64, minN int) error {
	if len(x) < minN {
		return &swSizeError{test: test, n: len(x), min: minN}
	}
	return swCheckFinite(test, x)
}

// ntMomentsOf computes the moments of the finite sample x around a mean
// refined by one correction pass (mean += Σ(x−mean)/n), so that data with
// a large common offset (1e6 + N(0,1)) keep their skewness and kurtosis to
// ~1e-14; plain two-pass moments, as scipy.stats.skew's, lose ~1e-9 there.
// A variance m2 ≤ (1e-15·mean)² counts as zero, as in scipy.stats.skew.
func ntMomentsOf(test string, x []float64) (ntMoments, error) {
	var m ntMoments
	m.n = float64(len(x))
	maxAbs := 0.0
	for _, v := range x {
		maxAbs = max(maxAbs, math.Abs(v))
	}
	_, exp := math.Frexp(maxAbs)
	m.scale = math.Ldexp(1, min(-exp, 1000))
	f := m.scale
	s := 0.0
	for _, v := range x {
		s += v * f
	}
	mean := s / m.n
	var c, m2, m3, m4 float64
	for _, v := range x {
		d := v*f - mean
		d2 := d * d
		c += d
		m2 += d2
		m3 += d2 * d
		m4 += d2 * d2
	}
	// Re-centre the power sums on the corrected mean, mean + e:
	// Σ(d−e)² = S2 − n·e², Σ(d−e)³ = S3 − 3e·S2 + 2n·e³,
	// Σ(d−e)⁴ = S4 − 4e·S3 + 6e²·S2 − 3n·e⁴ (with Σd = n·e).
	e := c / m.n
	m.mean0, m.meanErr = mean, e
	e2 := e * e
	m.m2 = (m2 - m.n*e2) / m.n
	m.m3 = (m3 - 3*e*m2 + 2*m.n*e2*e) / m.n
	m.m4 = (m4 - 4*e*m3 + 6*e2*m2 - 3*m.n*e2*e2) / m.n
	r := 1e-15 * (mean + e) // numpy's finfo(float64).resolution
	if !(m.m2 > r*r) {
		return m, fmt.Errorf("%s: variance %g is zero at float64 resolution (mean %g): %w",
			test, m.m2/(f*f), (mean+e)/f, ErrZeroVariance)
	}
	m.skew = m.m3 / math.Pow(m.m2, 1.5)
	m.kurtosis = m.m4 / (m.m2 * m.m2)
	return m, nil
}

// ntChi2SF2 is the upper tail of the χ² distribution with 2 degrees of freedom.
func ntChi2SF2(x float64) float64 { return math.Exp(-x / 2) }

// JarqueBera returns the Jarque–Bera statistic n/6·(S² + (K−3)²/4), with S
// and K the (biased) sample skewness and kurtosis, and its asymptotic χ²(2)
// p-value, as scipy.stats.jarque_bera. Needs n ≥ 2 and a non-zero variance.
func JarqueBera(x []float64) (stat, p float64, err error) {
	const test = "jarque-bera"
	if err := ntCheck(test, x, JarqueBeraMinN); err != nil {
		return math.NaN(), math.NaN(), err
	}
	m, err := ntMomentsOf(test, x)
	if err != nil {
		return math.NaN(), math.NaN(), err
	}
	k := m.kurtosis - 3
	stat = m.n / 6 * (m.skew*m.skew + k*k/4)
	return stat, ntChi2SF2(stat), nil
}

// ntSkewZ is D'Agostino's (1970) normal approximation of the sample skewness.
func ntSkewZ(m ntMoments) float64 {
	n := m.n
	y := m.skew * math.Sqrt((n+1)*(n+3)/(6*(n-2)))
	beta2 := 3 * (n*n + 27*n - 70) * (n + 1) * (n + 3) / ((n - 2) * (n + 5) * (n + 7) * (n + 9))
	w2 := -1 + math.Sqrt(2*(beta2-1))
	delta := 1 / math.Sqrt(0.5*math.Log(w2))
	alpha := math.Sqrt(2 / (w2 - 1))
	// scipy writes log(u + √(u²+1)); asinh is the same, without
	// cancellation for negative u. (scipy 1.10 also replaces y = 0 by 1,
	// which turns an exactly symmetric sample's Z = 0 into Z ≈ 1; we keep
	// Z = 0.)
	return delta * math.Asinh(y/alpha)
}

// ntKurtosisZ is Anscombe & Glynn's (1983) normal approximation of the sample
// kurtosis; ok is false when it is undefined (a zero denominator).
func ntKurtosisZ(m ntMoments) (z float64, ok bool) {
	n := m.n
	e := 3 * (n - 1) / (n + 1)
	varb2 := 24 * n * (n - 2) * (n - 3) / ((n + 1) * (n + 1) * (n + 3) * (n + 5))
	x := (m.kurtosis - e) / math.Sqrt(varb2)
	sqrtbeta1 := 6 * (n*n - 5*n + 2) / ((n + 7) * (n + 9)) * math.Sqrt(6*(n+3)*(n+5)/(n*(n-2)*(n-3)))
	a := 6 + 8/sqrtbeta1*(2/sqrtbeta1+math.Sqrt(1+4/(sqrtbeta1*sqrtbeta1)))
	term1 := 1 - 2/(9*a)
	denom := 1 + x*math.Sqrt(2/(a-4))
	if denom == 0 {
		return math.NaN(), false
	}
	term2 := math.Cbrt((1 - 2/a) / math.Abs(denom))
	if denom < 0 {
		term2 = -term2
	}
	return (term1 - term2) / math.Sqrt(2/(9*a)), true
}

// ntTwoSidedP is the two-sided normal p-value of z.
func ntTwoSidedP(z float64) float64 { return 2 * swNormSF(math.Abs(z)) }

// SkewTest returns the z-score of D'Agostino's test that the skewness is
// that of a normal distribution, and its two-sided p-value, as
// scipy.stats.skewtest (n ≥ 8). One deliberate difference: for a sample
// whose skewness is exactly 0, scipy 1.10 gives a non-zero z (it replaces
// y = 0 by 1); here z = 0, p = 1.
func SkewTest(x []float64) (z, p float64, err error) {
	const test = "skewtest"
	if err := ntCheck(test, x, SkewTestMinN); err != nil {
		return math.NaN(), math.NaN(), err
	}
	m, err := ntMomentsOf(test, x)
	if err != nil {
		return math.NaN(), math.NaN(), err
	}
	z = ntSkewZ(m)
	return z, ntTwoSidedP(z), nil
}

// KurtosisTest returns the z-score of Anscombe & Glynn's test that the
// kurtosis is that of a normal distribution, and its two-sided p-value, as
// scipy.stats.kurtosistest (n ≥ 5; the approximation is poor below 20).
func KurtosisTest(x []float64) (z, p float64, err error) {
	const test = "kurtosistest"
	if err := ntCheck(test, x, KurtosisTestMinN); err != nil {
		return math.NaN(), math.NaN(), err
	}
	m, err := ntMomentsOf(test, x)
	if err != nil {
		return math.NaN(), math.NaN(), err
	}
	z, ok := ntKurtosisZ(m)
	if !ok {
		return math.NaN(), math.NaN(), fmt.Errorf("%s: n=%d: statistic undefined (zero denominator)", test, len(x))
	}
	return z, ntTwoSidedP(z), nil
}

// DAgostinoPearson returns D'Agostino & Pearson's omnibus statistic
// K² = Z_skew² + Z_kurt² and its χ²(2) p-value, as scipy.stats.normaltest
// (n ≥ 8; see SkewTest for the one difference from scipy 1.10).
func DAgostinoPearson(x []float64) (stat, p float64, err error) {
	const test = "dagostino-pearson"
	if err := ntCheck(test, x, SkewTestMinN); err != nil {
		return math.NaN(), math.NaN(), err
	}
	m, err := ntMomentsOf(test, x)
	if err != nil {
		return math.NaN(), math.NaN(), err
	}
	zs := ntSkewZ(m)
	zk, ok := ntKurtosisZ(m)
	if !ok {
		return math.NaN(), math.NaN(), fmt.Errorf("%s: n=%d: kurtosis statistic undefined (zero denominator)", test, len(x))
	}
	stat = zs*zs + zk*zk
	return stat, ntChi2SF2(stat), nil
}

// AndersonDarling returns the Anderson–Darling statistic A² for normality
// with mean and standard deviation (ddof = 1) estimated from the sample, as
// scipy.stats.anderson(x, dist="norm").statistic, and a p-value from
// D'Agostino & Stephens' (1986, Table 4.9) approximation on the modified
// statistic A*² = A²·(1 + 0.75/n + 2.25/n²), as R's nortest::ad.test:
//
//	A*² < 0.2:         p = 1 − exp(−13.436 + 101.14·A*² − 223.73·A*⁴)
//	0.2 ≤ A*² < 0.34:  p = 1 − exp(−8.318 + 42.796·A*² − 59.938·A*⁴)
//	0.34 ≤ A*² < 0.6:  p = exp(0.9177 − 4.279·A*² − 1.38·A*⁴)
//	0.6 ≤ A*² < 10:    p = exp(1.2937 − 5.709·A*² + 0.0186·A*⁴)
//	A*² ≥ 10:          p = 3.7e-24 (the formula's value at 10: a floor)
//
// The approximation is good to about 1e-3 absolute for p in the usual test
// range, not a precise tail probability. Needs n ≥ 8 and a non-zero
// variance.
func AndersonDarling(x []float64) (a2, p float64, err error) {
	const test = "anderson-darling"
	if err := ntCheck(test, x, AndersonDarlingMinN); err != nil {
		return math.NaN(), math.NaN(), err
	}
	m, err := ntMomentsOf(test, x)
	if err != nil {
		return math.NaN(), math.NaN(), err
	}
	y := slices.Clone(x)
	slices.Sort(y)
	n := len(y)
	sd := math.Sqrt(m.m2 * m.n / (m.n - 1))
	// Neumaier-compensated sum: A² is a small difference of terms of
	// order n. Standardize around mean0 and its correction separately, as
	// the rounded mean of data like 1e6 + N(0,1) is off by ~1e-10.
	sum, comp := 0.0, 0.0
	for i := 0; i < n; i++ {
		lo := ((y[i]*m.scale - m.mean0) - m.meanErr) / sd
		hi := ((y[n-1-i]*m.scale - m.mean0) - m.meanErr) / sd
		term := float64(2*i+1) / m.n * (ntLogNdtr(lo) + ntLogNdtr(-hi))
		t := sum + term
		if math.Abs(sum) >= math.Abs(term) {
			comp += (sum - t) + term
		} else {
			comp += (term - t) + sum
		}
		sum = t
	}
	sum += comp
	a2 = -m.n - sum
	return a2, ntADPValue(a2, n), nil
}

// ntADPValue is D'Agostino & Stephens' p-value for A² of a sample of n, as in
// nortest::ad.test.
func ntADPValue(a2 float64, n int) float64 {
	fn := float64(n)
	aa := (1 + 0.75/fn + 2.25/(fn*fn)) * a2
	switch {
	case aa < 0.2:
		return 1 - math.Exp(-13.436+101.14*aa-223.73*aa*aa)
	case aa < 0.34:
		return 1 - math.Exp(-8.318+42.796*aa-59.938*aa*aa)
	case aa < 0.6:
		return math.Exp(0.9177 - 4.279*aa - 1.38*aa*aa)
	case aa < 10:
		return math.Exp(1.2937 - 5.709*aa + 0.0186*aa*aa)
	default:
		return 3.7e-24
	}
}

// ntLogNdtr is log Φ(z), accurate in both tails (as scipy.special.log_ndtr):
// log1p of the small upper tail for z > 6, the asymptotic series of the
// Mills ratio below −37 where Φ underflows, log Φ otherwise.
func ntLogNdtr(z float64) float64 {
	switch {
	case z > 6:
		return math.Log1p(-swNormSF(z))
	case z > -37:
		return math.Log(swNormCDF(z))
	}
	// Φ(z) = φ(z)/|z| · (1 − 1/z² + 3/z⁴ − 15/z⁶ + …), z < −37: the terms
	// fall by (2k−1)/z² < 1/60, 12 of them reach double precision.
	z2 := z * z
	term, series := 1.0, 1.0
	for k := 1; k <= 12; k++ {
		term *= -float64(2*k-1) / z2
		series += term
	}
	return -0.5*z2 - math.Log(-z) - 0.5*math.Log(2*math.Pi) + math.Log(series)
}
