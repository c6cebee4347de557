package stats

import (
	"fmt"
	"math"
)

// McCulloch's (1986) tables, exactly as in scipy.stats._levy_stable
// (_fitstart_S1, scipy 1.10). (pylevy's fit_levy is a maximum-likelihood
// fit by L-BFGS-B, not this quantile method.)
var (
	// Table III/IV abscissae: ν_α (rows) and ν_β (columns).
	mcNuAlpha = [...]float64{2.439, 2.5, 2.6, 2.7, 2.8, 3, 3.2, 3.5, 4, 5, 6, 8, 10, 15, 25}
	mcNuBeta  = [...]float64{0, 0.1, 0.2, 0.3, 0.5, 0.7, 1}

	// Table III: α = ψ1(ν_α, ν_β), rows ν_α, columns ν_β.
	mcAlphaTable = [15][7]float64{
		{2.000, 2.000, 2.000, 2.000, 2.000, 2.000, 2.000},
		{1.916, 1.924, 1.924, 1.924, 1.924, 1.924, 1.924},
		{1.808, 1.813, 1.829, 1.829, 1.829, 1.829, 1.829},
		{1.729, 1.730, 1.737, 1.745, 1.745, 1.745, 1.745},
		{1.664, 1.663, 1.663, 1.668, 1.676, 1.676, 1.676},
		{1.563, 1.560, 1.553, 1.548, 1.547, 1.547, 1.547},
		{1.484, 1.480, 1.471, 1.460, 1.448, 1.438, 1.438},
		{1.391, 1.386, 1.378, 1.364, 1.337, 1.318, 1.318},
		{1.279, 1.273, 1.266, 1.250, 1.210, 1.184, 1.150},
		{1.128, 1.121, 1.114, 1.101, 1.067, 1.027, 0.973},
		{1.029, 1.021, 1.014, 1.004, 0.974, 0.935, 0.874},
		{0.896, 0.892, 0.884, 0.883, 0.855, 0.823, 0.769},
		{0.818, 0.812, 0.806, 0.801, 0.780, 0.756, 0.691},
		{0.698, 0.695, 0.692, 0.689, 0.676, 0.656, 0.597},
		{0.593, 0.590, 0.588, 0.586, 0.579, 0.563, 0.513},
	}

	// Table IV: β = ψ2(ν_α, ν_β), rows ν_α, columns ν_β.
	mcBetaTable = [15][7]float64{
		{0, 2.160, 1.000, 1.000, 1.000, 1.000, 1.000},
		{0, 1.592, 3.390, 1.000, 1.000, 1.000, 1.000},
		{0, 0.759, 1.800, 1.000, 1.000, 1.000, 1.000},
		{0, 0.482, 1.048, 1.694, 1.000, 1.000, 1.000},
		{0, 0.360, 0.760, 1.232, 2.229, 1.000, 1.000},
		{0, 0.253, 0.518, 0.823, 1.575, 1.000, 1.000},
		{0, 0.203, 0.410, 0.632, 1.244, 1.906, 1.000},
		{0, 0.165, 0.332, 0.499, 0.943, 1.560, 1.000},
		{0, 0.136, 0.271, 0.404, 0.689, 1.230, 2.195},
		{0, 0.109, 0.216, 0.323, 0.539, 0.827, 1.917},
		{0, 0.096, 0.190, 0.284, 0.472, 0.693, 1.759},
		{0, 0.082, 0.163, 0.243, 0.412, 0.601, 1.596},
		{0, 0.074, 0.147, 0.220, 0.377, 0.546, 1.482},
		{0, 0.064, 0.128, 0.191, 0.330, 0.478, 1.362},
		{0, 0.056, 0.112, 0.167, 0.285, 0.428, 1.274},
	}

	// Table V/VII abscissae: α (rows, ascending here; the paper and scipy
	// list them descending) and β (columns).
	mcAlpha = [...]float64{0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2}
	mcBeta  = [...]float64{0, 0.25, 0.5, 0.75, 1}

	// Table V: ν_c = ψ3(α, β), rows α ascending, columns β.
	mcNuCTable = [16][5]float64{
		{2.588, 3.073, 4.534, 6.636, 9.144},
		{2.337, 2.634, 3.542, 4.808, 6.247},
		{2.189, 2.392, 3.004, 3.844, 4.775},
		{2.098, 2.244, 2.676, 3.265, 3.912},
		{2.040, 2.149, 2.461, 2.886, 3.356},
		{2.000, 2.085, 2.311, 2.624, 2.973},
		{1.980, 2.040, 2.205, 2.435, 2.696},
		{1.965, 2.007, 2.125, 2.294, 2.491},
		{1.955, 1.984, 2.067, 2.188, 2.333},
		{1.946, 1.967, 2.022, 2.106, 2.211},
		{1.939, 1.952, 1.988, 2.045, 2.116},
		{1.933, 1.940, 1.962, 1.997, 2.043},
		{1.927, 1.930, 1.943, 1.961, 1.987},
		{1.921, 1.922, 1.927, 1.936, 1.947},
		{1.914, 1.915, 1.916, 1.918, 1.921},
		{1.908, 1.908, 1.908, 1.908, 1.908},
	}

	// Table VII: ν_ζ = ψ5(α, β), rows α ascending, columns β.
	mcNuZetaTable = [16][5]float64{
		{0, -0.061, -0.279, -0.659, -1.198},
		{0, -0.078, -0.272, -0.581, -0.997},
		{0, -0.089, -0.262, -0.520, -0.853},
		{0, -0.096, -0.250, -0.469, -0.742},
		{0, -0.099, -0.237, -0.424, -0.652},
		{0, -0.098, -0.223, -0.380, -0.576},
		{0, -0.095, -0.208, -0.346, -0.508},
		{0, -0.090, -0.192, -0.310, -0.447},
		{0, -0.084, -0.173, -0.276, -0.390},
		{0, -0.075, -0.154, -0.241, -0.335},
		{0, -0.066, -0.134, -0.206, -0.283},
		{0, -0.056, -0.111, -0.170, -0.232},
		{0, -0.043, -0.088, -0.132, -0.179},
		{0, -0.030, -0.061, -0.092, -0.123},
		{0, -0.017, -0.032, -0.049, -0.064},
		{0, 0.000, 0.000, 0.000, 0.000},
	}
)

// mcInterval returns i and the weight t ∈ [0, 1] with
// x ≈ (1−t)·grid[i] + t·grid[i+1], after clamping x to [grid[0],
// grid[len−1]] — the constant extrapolation that FITPACK's bispev (behind
// scipy's RectBivariateSpline) applies outside the knot range.
func mcInterval(grid []float64, x float64) (int, float64) {
	last := len(grid) - 1
	if x <= grid[0] {
		return 0, 0
	}
	if x >= grid[last] {
		return last - 1, 1
	}
	i := 0
	for i+1 < last && x >= grid[i+1] {
		i++
	}
	return i, (x - grid[i]) / (grid[i+1] - grid[i])
}

// mcBilinear interpolates a table (rows over rowGrid, columns over colGrid)
// bilinearly, as RectBivariateSpline with kx = ky = 1, s = 0 does.
func mcBilinear(table func(r, c int) float64, rowGrid, colGrid []float64, r, c float64) float64 {
	i, t := mcInterval(rowGrid, r)
	j, u := mcInterval(colGrid, c)
	return (1-t)*(1-u)*table(i, j) + (1-t)*u*table(i, j+1) +
		t*(1-u)*table(i+1, j) + t*u*table(i+1, j+1)
}

func mcPsi1(nuAlpha, nuBeta float64) float64 {
	return mcBilinear(func(r, c int) float64 { return mcAlphaTable[r][c] },
		mcNuAlpha[:], mcNuBeta[:], nuAlpha, math.Abs(nuBeta))
}

func mcPsi2(nuAlpha, nuBeta float64) float64 {
	v := mcBilinear(func(r, c int) float64 { return mcBetaTable[r][c] },
		mcNuAlpha[:], mcNuBeta[:], nuAlpha, math.Abs(nuBeta))
	if nuBeta > 0 {
		return v
	}
	return -v
}

func mcPsi3(alpha, beta float64) float64 {
	return mcBilinear(func(r, c int) float64 { return mcNuCTable[r][c] },
		mcAlpha[:], mcBeta[:], alpha, math.Abs(beta))
}

func mcPsi5(alpha, beta float64) float64 {
	v := mcBilinear(func(r, c int) float64 { return mcNuZetaTable[r][c] },
		mcAlpha[:], mcBeta[:], alpha, math.Abs(beta))
	if beta > 0 {
		return v
	}
	return -v
}

// percentileSorted returns the q-quantile (q ∈ [0, 1]) of sorted data with
// linear interpolation between order statistics, numpy.percentile's default
// ("linear", Hyndman–Fan type 7): h = q·(n−1).
func percentileSorted(s []float64, q float64) float64 {
	h := q * float64(len(s)-1)
	lo := math.Floor(h)
	i := int(lo)
	if i >= len(s)-1 {
		return s[len(s)-1]
	}
	t := h - lo
	a, b := s[i], s[i+1]
	// numpy's _lerp: a + t(b−a), computed from the upper end when t ≥ 0.5.
	if t >= 0.5 {
		return b - (b-a)*(1-t)
	}
	return a + (b-a)*t
}

// McCulloch estimates the α-stable parameters of x with McCulloch's (1986)
// quantile method ("Simple consistent estimators of stable distribution
// parameters", Commun. Statist.–Simula. 15(4)), exactly as
// scipy.stats.levy_stable._fitstart (S1, scipy 1.10) does (pylevy's
// fit_levy is a maximum-likelihood fit, not this method):
//
//  1. q5, q25, q50, q75, q95: numpy.percentile (linear interpolation);
//  2. ν_α = (q95−q5)/(q75−q25), ν_β = (q95+q5−2q50)/(q95−q5);
//  3. if ν_α ≥ 2.439: α = ψ1(ν_α, |ν_β|), β = sign(ν_β)·ψ2(ν_α, |ν_β|),
//     bilinear in Tables III/IV, with ν_α and |ν_β| clamped to the table
//     range (so α ∈ [0.513, 2]); α is clipped to (0, 2] and β to [−1, 1];
//     otherwise (tails lighter than Gaussian) α = 2, β = sign(ν_β);
//  4. γ = (q75−q25)/ψ3(α, β) (Table V), ζ = q50 + γ·sign(β)·ψ5(α, |β|)
//     (Table VII) and δ = ζ − βγ tan(πα/2) (δ = ζ when α = 1).
//
// The returned Location is δ in the S1 parameterization (see StableParams;
// LocationS0 converts). x is not modified: its values are sorted into
// recycled scratch memory (SortFloat64). At α = 2 the tables give
// γ = IQR/1.908 = σ/√2 for N(μ, σ²) data, as for S1(2, ·, γ) = N(δ, 2γ²).
//
// Errors: fewer than 5 values (ErrSampleSize), a NaN/Inf
// (ErrNonFinite), or q75 == q25 (ErrDegenerateQuantiles).
func McCulloch(x []float64) (StableParams, error) {
	if err := mcCheck(x); err != nil {
		return mcBad(), err
	}
	scr := sortPool.Get().(*sortScratch)
	p, err := mcFit(scr.sorted(x))
	sortPool.Put(scr)
	return p, err
}

// McCullochSorted is McCulloch on data already sorted ascending (checked),
// for callers that have a sorted copy anyway: it neither copies nor sorts.
// It gives the same results and errors as McCulloch, and an error wrapping
// ErrNotSorted, naming the first pair out of order, when sorted is not in
// ascending order.
func McCullochSorted(sorted []float64) (StableParams, error) {
	if err := mcCheck(sorted); err != nil {
		return mcBad(), err
	}
	for i := 1; i < len(sorted); i++ {
		if sorted[i] < sorted[i-1] {
			return mcBad(), fmt.Errorf("mcculloch: x[%d]=%v < x[%d]=%v: %w", i, sorted[i], i-1, sorted[i-1], ErrNotSorted)
		}
	}
	return mcFit(sorted)
}

// mcBad is the all-NaN result that goes with an error.
func mcBad() StableParams {
	nan := math.NaN()
	return StableParams{nan, nan, nan, nan}
}

// mcCheck returns McCulloch's error for too few or non-finite values.
func mcCheck(x []float64) error {
	if len(x) < 5 {
		return fmt.Errorf("mcculloch: %d values, need at least 5: %w", len(x), ErrSampleSize)
	}
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("mcculloch: value %d is %v: %w", i, v, ErrNonFinite)
		}
	}
	return nil
}

// mcFit is McCulloch's estimator on s, sorted ascending, finite, len ≥ 5.
func mcFit(s []float64) (StableParams, error) {
	p05 := percentileSorted(s, 0.05)
	p25 := percentileSorted(s, 0.25)
	p50 := percentileSorted(s, 0.50)
	p75 := percentileSorted(s, 0.75)
	p95 := percentileSorted(s, 0.95)
	if !(p75 > p25) {
		return mcBad(), fmt.Errorf("mcculloch: %d values with q25 = q75 = %g: %w", len(s), p25, ErrDegenerateQuantiles)
	}
	nuAlpha := (p95 - p05) / (p75 - p25)
	nuBeta := (p95 + p05 - 2*p50) / (p95 - p05)

	var alpha, beta float64
	if nuAlpha >= mcNuAlpha[0] {
		alpha = min(max(mcPsi1(nuAlpha, nuBeta), 0x1p-52), 2) // scipy clips to [eps, 2]
		beta = min(max(mcPsi2(nuAlpha, nuBeta), -1), 1)
	} else {
		alpha = 2
		switch {
		case nuBeta > 0:
			beta = 1
		case nuBeta < 0:
			beta = -1
		}
	}
	c := (p75 - p25) / mcPsi3(alpha, beta)
	zeta := p50 + c*mcPsi5(alpha, beta)
	delta := zeta
	if alpha != 1 {
		delta = zeta - beta*c*math.Tan(math.Pi*alpha/2)
	}
	return StableParams{Alpha: alpha, Beta: beta, Scale: c, Location: delta}, nil
}
