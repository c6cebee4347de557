package stats

import (
	"fmt"
	"math"
	"slices"
	"sync"
)

// Shapiro–Wilk W test, algorithm AS R94 (Royston, P. (1995) "Remark AS R94: A
// remark on algorithm AS 181: the W-test for normality", Applied Statistics
// 44(4), 547–551), in double precision as in R's shapiro.test.

// Sample-size limits of AS R94.
const (
	// SWMinN is the smallest sample size the Shapiro–Wilk test accepts.
	SWMinN = 3
	// SWMaxN is the largest sample size AS R94's p-value approximation covers.
	SWMaxN = 5000
)

// swSizeError reports a sample size outside [min, max] (max 0: no upper bound).
type swSizeError struct {
	test     string
	n        int
	min, max int
}

func (e *swSizeError) Error() string {
	if e.max > 0 {
		return fmt.Sprintf("%s: n=%d: need %d ≤ n ≤ %d", e.test, e.n, e.min, e.max)
	}
	return fmt.Sprintf("%s: n=%d: need n ≥ %d", e.test, e.n, e.min)
}

// Is makes the error match ErrSampleSize.
func (e *swSizeError) Is(target error) bool { return target == ErrSampleSize }

// swNonFiniteError reports the first NaN or ±Inf value of an input.
type swNonFiniteError struct {
	test  string
	index int
	value float64
}

func (e *swNonFiniteError) Error() string {
	return fmt.Sprintf("%s: x[%d]=%v: non-finite value", e.test, e.index, e.value)
}

// Is makes the error match ErrNonFinite.
func (e *swNonFiniteError) Is(target error) bool { return target == ErrNonFinite }

// swCheckFinite returns a swNonFiniteError for the first NaN or ±Inf of x.
func swCheckFinite(test string, x []float64) error {
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return &swNonFiniteError{test: test, index: i, value: v}
		}
	}
	return nil
}

// SWResult is the outcome of a Shapiro–Wilk test.
type SWResult struct {
	// W is the Shapiro–Wilk statistic, in (0, 1]; values near 1 are
	// consistent with normality.
	W float64
	// P is the p-value of W under the null hypothesis of normality (AS R94's
	// normalising approximation; exact for n = 3).
	P float64
	// Degenerate is true when all values are equal (zero range). R refuses
	// such a sample; here it gives W = 1, P = 1 (a point mass counts as
	// Gaussian in the audit, and is reported separately).
	Degenerate bool
}

// AS R94 polynomial coefficients (lowest order first), as published.
var (
	swC1 = [6]float64{0, 0.221157, -0.147981, -2.07119, 4.434685, -2.706056}
	swC2 = [6]float64{0, 0.042981, -0.293762, -1.752461, 5.682633, -3.582633}
	swC3 = [4]float64{0.544, -0.39978, 0.025054, -6.714e-4}
	swC4 = [4]float64{1.3822, -0.77857, 0.062767, -0.0020322}
	swC5 = [4]float64{-1.5861, -0.31082, -0.083751, 0.0038915}
	swC6 = [3]float64{-0.4803, -0.082676, 0.0030302}
	swG  = [2]float64{-2.273, 0.459}
)

// swPoly evaluates c[0] + c[1]·x + … by Horner's rule (AS 181.2's order).
func swPoly(c []float64, x float64) float64 {
	r := c[0]
	if len(c) > 1 {
		p := x * c[len(c)-1]
		for j := len(c) - 2; j > 0; j-- {
			p = (p + c[j]) * x
		}
		r += p
	}
	return r
}

// ShapiroWilk holds the AS R94 coefficients and normalising constants for
// one sample size n, computed once by [NewShapiroWilk] and reused for any
// number of samples of that size. It is immutable and safe for concurrent
// use.
type ShapiroWilk struct {
	n int
	// half holds a_1 ≥ a_2 ≥ … ≥ a_{n/2} > 0: a_i multiplies
	// x_(n+1−i) − x_(i) (1-based order statistics); 2·Σ a_i² = 1.
	half []float64
	// asa is the full coefficient vector for ascending x, centred by its
	// (rounding-level) mean as in AS R94; ssa = Σ asa².
	asa []float64
	ssa float64
	// p-value constants: for 4 ≤ n ≤ 11, y = −log(gamma − log(1−W)); for
	// n ≥ 12, y = log(1−W); P = Pr(Z > (y − mu)/sigma).
	gamma, mu, sigma float64
	// bufs recycles the scratch slices of Test.
	bufs sync.Pool
}

// NewShapiroWilk computes the AS R94 coefficients for samples of size n,
// 3 ≤ n ≤ 5000. The error for other n wraps [ErrSampleSize].
func NewShapiroWilk(n int) (*ShapiroWilk, error) {
	if n < SWMinN || n > SWMaxN {
		return nil, &swSizeError{test: "shapiro-wilk", n: n, min: SWMinN, max: SWMaxN}
	}
	nn2 := n / 2
	an := float64(n)
	a := make([]float64, nn2) // a[k] is AS R94's a_{k+1}
	if n == 3 {
		a[0] = math.Sqrt(0.5)
	} else {
		// Expected normal order statistics m_i (Blom-type approximation)
		// corrected in the two extreme coefficients by Royston's polynomials.
		an25 := an + 0.25
		summ2 := 0.0
		for i := range a {
			a[i] = swNormQuantile((float64(i+1) - 0.375) / an25)
			summ2 += a[i] * a[i]
		}
		summ2 *= 2
		ssumm2 := math.Sqrt(summ2)
		rsn := 1 / math.Sqrt(an)
		a1 := swPoly(swC1[:], rsn) - a[0]/ssumm2
		var i1 int
		var fac float64
		if n > 5 {
			i1 = 2
			a2 := -a[1]/ssumm2 + swPoly(swC2[:], rsn)
			fac = math.Sqrt((summ2 - 2*(a[0]*a[0]) - 2*(a[1]*a[1])) /
				(1 - 2*(a1*a1) - 2*(a2*a2)))
			a[1] = a2
		} else {
			i1 = 1
			fac = math.Sqrt((summ2 - 2*(a[0]*a[0])) / (1 - 2*(a1*a1)))
		}
		a[0] = a1
		for i := i1; i < nn2; i++ {
			a[i] /= -fac
		}
	}

	// Full vector for ascending x: −a_{i+1} for the lower half, +a for the
	// mirrored upper half, 0 in the middle when n is odd; centred by its
	// mean (zero up to rounding), summed in index order as AS R94 does.
	coef := make([]float64, n)
	for i := 0; i < nn2; i++ {
		coef[i] = -a[i]
		coef[n-1-i] = a[i]
	}
	sa := 0.0
	for _, c := range coef {
		sa += c
	}
	sa /= an
	ssa := 0.0
	for i, c := range coef {
		coef[i] = c - sa
		ssa += coef[i] * coef[i]
	}

	s := &ShapiroWilk{n: n, half: a, asa: coef, ssa: ssa}
	switch {
	case n == 3:
		// exact distribution; no constants
	case n <= 11:
		s.gamma = swPoly(swG[:], an)
		s.mu = swPoly(swC3[:], an)
		s.sigma = math.Exp(swPoly(swC4[:], an))
	default:
		ln := math.Log(an)
		s.mu = swPoly(swC5[:], ln)
		s.sigma = math.Exp(swPoly(swC6[:], ln))
	}
	s.bufs.New = func() any { return newSortScratch(n) }
	return s, nil
}

// N returns the sample size the coefficients were computed for.
func (s *ShapiroWilk) N() int { return s.n }

// Coefficients returns a copy of the n/2 AS R94 coefficients a_1 ≥ … ≥
// a_{n/2}: W is the squared correlation of the sorted sample with the
// antisymmetric vector whose i-th pair weight a_i multiplies
// x_(n+1−i) − x_(i); 2·Σ a_i² = 1. Useful to compute W elsewhere (a GPU).
func (s *ShapiroWilk) Coefficients() []float64 { return slices.Clone(s.half) }

// Test runs the Shapiro–Wilk test on x, which must hold exactly N() finite
// values in any order. x is not modified: the values are sorted into a
// recycled scratch slice (radix sort from n = 96 on, pdqsort below).
func (s *ShapiroWilk) Test(x []float64) (SWResult, error) {
	if len(x) != s.n {
		return SWResult{}, s.lenError(len(x))
	}
	if err := swCheckFinite("shapiro-wilk", x); err != nil {
		return SWResult{}, err
	}
	scr := s.bufs.Get().(*sortScratch)
	r, err := s.TestSorted(scr.sorted(x))
	s.bufs.Put(scr)
	return r, err
}

// TestSorted runs the Shapiro–Wilk test on x, which must hold exactly N()
// finite values in ascending order (checked). It does not allocate and
// makes two streaming passes over x.
func (s *ShapiroWilk) TestSorted(x []float64) (SWResult, error) {
	n := s.n
	if len(x) != n {
		return SWResult{}, s.lenError(len(x))
	}
	x = x[:n]
	x0, xn := x[0], x[n-1]
	rng := xn - x0
	if math.IsNaN(rng) || math.IsInf(x0, 0) || math.IsInf(xn, 0) {
		return SWResult{}, s.badSorted(x)
	}
	if rng == 0 {
		// Sorted with equal ends: all equal, unless the order is wrong.
		for _, v := range x {
			if v != x0 {
				return SWResult{}, s.badSorted(x)
			}
		}
		return SWResult{W: 1, P: 1, Degenerate: true}, nil
	}
	if rng < 0 {
		return SWResult{}, s.badSorted(x)
	}

	// Work on y_i = (x_i − x_(1))/range ∈ [0, 1]: scale-free, and exact
	// differences for data with a large common offset. h rescales by a
	// power of two when the range overflows or its inverse would.
	h := 1.0
	if math.IsInf(rng, 0) {
		h = 0.5
	} else if rng < 0x1p-1000 {
		h = 0x1p60
	}
	inv := 1 / (xn*h - x0*h)
	c := x0 * h

	// Pass 1: mean of y, and the order check.
	sum := 0.0
	prev := x0
	sorted := true
	for _, v := range x {
		sorted = sorted && v >= prev
		prev = v
		sum += (v*h - c) * inv
	}
	if !sorted || math.IsNaN(sum) || math.IsInf(sum, 0) {
		return SWResult{}, s.badSorted(x)
	}
	mean := sum / float64(n)

	// Pass 2: centred sums of squares and cross-products.
	asa := s.asa[:n]
	var ssx, sax float64
	for i, v := range x {
		d := (v*h-c)*inv - mean
		ssx += d * d
		sax += asa[i] * d
	}

	// 1 − W computed as AS R94 does, without cancellation for W near 1.
	ssassx := math.Sqrt(s.ssa * ssx)
	w1 := (ssassx - sax) * (ssassx + sax) / (s.ssa * ssx)
	if w1 < 0 {
		w1 = 0 // rounding on a perfectly "normal-scored" sample
	}
	w := 1 - w1
	return SWResult{W: w, P: s.pvalue(w, w1)}, nil
}

// PValue returns the AS R94 p-value of a Shapiro–Wilk statistic w computed
// elsewhere for a sample of size N(). Values of w outside (0, 1] give NaN.
func (s *ShapiroWilk) PValue(w float64) float64 {
	if !(w > 0 && w <= 1) {
		return math.NaN()
	}
	return s.pvalue(w, 1-w)
}

// pvalue is AS R94's significance level of W (w1 = 1 − W, computed
// accurately by the caller).
func (s *ShapiroWilk) pvalue(w, w1 float64) float64 {
	if s.n == 3 {
		// Exact: P = (6/π)(asin √W − asin √(3/4)), with R's 15-digit
		// constants, so that W = 3/4 (two equal values) gives P = 0 as in R
		// despite W's last-bit rounding.
		const pi6, stqr = 1.90985931710274, 1.04719755119660
		p := pi6 * (math.Asin(math.Sqrt(w)) - stqr)
		return max(p, 0)
	}
	y := math.Log(w1)
	if s.n <= 11 {
		if y >= s.gamma {
			// Beyond the approximation's support: R's "obvious" value.
			return 1e-99
		}
		y = -math.Log(s.gamma - y)
	}
	return swNormSF((y - s.mu) / s.sigma)
}

func (s *ShapiroWilk) lenError(got int) error {
	return fmt.Errorf("shapiro-wilk: got %d values, coefficients are for n=%d: %w", got, s.n, ErrSampleSize)
}

// badSorted builds the error for an input TestSorted cannot use: a
// non-finite value, or values out of ascending order.
func (s *ShapiroWilk) badSorted(x []float64) error {
	if err := swCheckFinite("shapiro-wilk", x); err != nil {
		return err
	}
	for i := 1; i < len(x); i++ {
		if x[i] < x[i-1] {
			return fmt.Errorf("shapiro-wilk: x[%d]=%v < x[%d]=%v: %w", i, x[i], i-1, x[i-1], ErrNotSorted)
		}
	}
	return fmt.Errorf("shapiro-wilk: cannot scale values spanning [%v, %v]", x[0], x[len(x)-1])
}

// SWCache is a concurrency-safe cache of [ShapiroWilk] coefficients per
// sample size. The zero value is ready to use and unbounded; Max > 0 bounds
// the number of sizes kept (an arbitrary one is dropped to make room).
type SWCache struct {
	// Max is the most sample sizes kept; 0 means no bound. Set it before
	// the first Get.
	Max int
	mu  sync.RWMutex
	m   map[int]*ShapiroWilk
}

// Get returns the coefficients for sample size n, computing them on first
// use. The error for n outside [3, 5000] wraps [ErrSampleSize].
func (c *SWCache) Get(n int) (*ShapiroWilk, error) {
	c.mu.RLock()
	s := c.m[n]
	c.mu.RUnlock()
	if s != nil {
		return s, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.m[n]; s != nil {
		return s, nil
	}
	s, err := NewShapiroWilk(n)
	if err != nil {
		return nil, err
	}
	if c.m == nil {
		c.m = make(map[int]*ShapiroWilk)
	}
	if c.Max > 0 && len(c.m) >= c.Max {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[n] = s
	return s, nil
}

// swMemo backs ShapiroWilkTest; bounded so that odd sizes cannot pile up.
var swMemo = &SWCache{Max: 64}

// ShapiroWilkTest runs the Shapiro–Wilk test on x (3 ≤ len(x) ≤ 5000, finite
// values, any order; x is not modified), with coefficients from a bounded
// package-level cache. For many samples of one size, [NewShapiroWilk] once
// and [ShapiroWilk.Test] are the direct route.
func ShapiroWilkTest(x []float64) (SWResult, error) {
	s, err := swMemo.Get(len(x))
	if err != nil {
		return SWResult{}, err
	}
	return s.Test(x)
}

// swNormSF is the standard normal upper tail Pr(Z > z), accurate in both tails.
func swNormSF(z float64) float64 { return 0.5 * math.Erfc(z/math.Sqrt2) }

// swNormCDF is the standard normal Pr(Z ≤ z), accurate in both tails.
func swNormCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

// swNormQuantile is the standard normal quantile function for 0 < p < 1: the
// rational approximation behind math.Erfinv (Wichura's AS 241), or for tiny p
// Abramowitz & Stegun 26.2.23, refined by Newton steps on the CDF of the
// tail nearer z, for full double precision.
func swNormQuantile(p float64) float64 {
	switch {
	case math.IsNaN(p) || p < 0 || p > 1:
		return math.NaN()
	case p == 0:
		return math.Inf(-1)
	case p == 1:
		return math.Inf(1)
	case p > 0.5:
		return -swNormQuantile(1 - p) // 1 − p is exact for p > 0.5
	}
	var z float64
	steps := 1
	if p >= 1e-8 {
		z = -math.Sqrt2 * math.Erfinv(1-2*p)
	} else {
		// 1 − 2p would lose p's digits: start from A&S 26.2.23 (error
		// < 4.5e-4) and polish.
		t := math.Sqrt(-2 * math.Log(p))
		z = -(t - (2.515517+t*(0.802853+t*0.010328))/
			(1+t*(1.432788+t*(0.189269+t*0.001308))))
		steps = 3
	}
	for ; steps > 0; steps-- {
		pdf := math.Exp(-0.5*z*z) / math.Sqrt(2*math.Pi)
		if pdf == 0 {
			break
		}
		z -= (swNormCDF(z) - p) / pdf
	}
	return z
}
