package stats

import "errors"

// The sentinel errors of the package, one per meaning. Every error a function
// of this package returns wraps one (or, for TailIndexMohammadi on too few
// non-zero values, two) of them, so callers test with errors.Is.
var (
	// ErrSampleSize is wrapped by the errors reporting a sample size outside a
	// statistic's valid range (too few values for a moment, a test or a
	// tail index; more than a test covers), or a sample whose length does not
	// match the size a [ShapiroWilk] was built for.
	ErrSampleSize = errors.New("sample size out of range")
	// ErrNonFinite is wrapped by the errors reporting a NaN or ±Inf input.
	ErrNonFinite = errors.New("non-finite value")
	// ErrZeroVariance reports a sample whose variance is zero (to the
	// resolution of float64 relative to its mean), so that standardized
	// quantities (skewness, kurtosis, ρ/σ³) are undefined.
	ErrZeroVariance = errors.New("zero variance")
	// ErrNotSorted is wrapped by the errors of the *Sorted functions when
	// their input is not in ascending order.
	ErrNotSorted = errors.New("values not in ascending order")
	// ErrAllZero reports a sample with too few non-zero values for the
	// log-moment tail-index estimator.
	ErrAllZero = errors.New("too few non-zero values")
	// ErrDegenerateQuantiles reports a sample whose interquartile range (or
	// 5–95 % range) is zero, so that McCulloch's quantile ratios are undefined
	// (for example a coordinate that is exactly zero for most samples).
	ErrDegenerateQuantiles = errors.New("degenerate quantiles")
)
