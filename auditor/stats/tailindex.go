package stats

import (
	"fmt"
	"math"
)

// mohammadiMinNonZero is the least number of non-zero values that
// TailIndexMohammadi accepts: K1 ≥ 2 and K2 ≥ 2 need K ≥ 4.
const mohammadiMinNonZero = 4

// MohammadiSplit returns the block length K1 and block count K2 that
// TailIndexMohammadi uses for K values: K1 is the largest divisor of K with
// K1 ≤ √K, K2 = K/K1, so that all K values are used. When K has no good
// divisor (K1 < ⌊√K⌋/2, e.g. K prime) it falls back to K1 = ⌊√K⌋ and
// K2 = ⌊K/K1⌋, dropping the last K − K1·K2 < K1 values; used is K1·K2.
// K < 4 gives (0, 0, 0).
func MohammadiSplit(k int) (k1, k2, used int) {
	if k < mohammadiMinNonZero {
		return 0, 0, 0
	}
	r := int(math.Sqrt(float64(k)))
	for r*r > k {
		r--
	}
	for (r+1)*(r+1) <= k {
		r++
	}
	for d := r; d >= 1; d-- {
		if k%d == 0 {
			k1 = d
			break
		}
	}
	if 2*k1 < r || k1 < 2 {
		k1 = r
	}
	k2 = k / k1
	return k1, k2, k1 * k2
}

// TailIndexMohammadi estimates the tail index α of a symmetric α-stable
// sample with the log-moment estimator of Mohammadi, Mohammadpour and Ogata
// (2015, "On estimating the tail index and the spectral measure of
// multivariate α-stable distributions", Metrika 78), in the form used by
// Şimşekli, Sagun and Gürbüzbalaban (2019): with K1, K2 from MohammadiSplit
// and block sums Y_k = Σ_{j=1..K1} X_{(k−1)K1+j},
//
//	1/α̂ = (1/log K1) · [ (1/K2) Σ_k log|Y_k| − (1/K) Σ_i log|X_i| ],
//
// clipped to α̂ ∈ (0, 2] (a non-positive 1/α̂, or one below 1/2, gives 2).
// The estimator rests on Y_k having the law of K1^{1/α}·X for i.i.d. SαS
// values, so it is unbiased for 1/α on stable data, whatever the scale.
//
// The input is assumed CENTRED (location 0; for the audit, per-sample noise
// ξ_i = g_i − ḡ); the function does not centre it, because subtracting a
// sample mean would correlate the values.
//
// Exact zeros, where log|x| = −∞, are handled as follows: zeros in x are
// removed before blocking (the values keep their order), which estimates
// the tail index of the law of x conditional on x ≠ 0 — the same α for a
// zero-inflated stable law such as the gradient of a sometimes-inactive
// ReLU unit; a block sum that is exactly zero (only possible for discrete
// data) is left out of the Y average. An error wrapping ErrAllZero is
// returned when fewer than 4 values (it then wraps ErrSampleSize as well),
// or no block sum, are non-zero, and one wrapping ErrNonFinite for NaN/Inf
// input; α̂ is NaN then.
func TailIndexMohammadi(x []float64) (float64, error) {
	zeros := 0
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return math.NaN(), fmt.Errorf("tail index (Mohammadi): value %d is %v: %w", i, v, ErrNonFinite)
		}
		if v == 0 {
			zeros++
		}
	}
	nz := x // read only
	if zeros > 0 {
		nz = make([]float64, 0, len(x)-zeros)
		for _, v := range x {
			if v != 0 {
				nz = append(nz, v)
			}
		}
	}
	k1, k2, used := MohammadiSplit(len(nz))
	if used == 0 {
		return math.NaN(), fmt.Errorf("tail index (Mohammadi): %d non-zero of %d values, need %d: %w (%w)",
			len(nz), len(x), mohammadiMinNonZero, ErrAllZero, ErrSampleSize)
	}
	nz = nz[:used]
	sumLogX := 0.0
	for _, v := range nz {
		sumLogX += math.Log(math.Abs(v))
	}
	sumLogY, nY := 0.0, 0
	for k := 0; k < k2; k++ {
		y := 0.0
		for _, v := range nz[k*k1 : (k+1)*k1] {
			y += v
		}
		if y != 0 {
			sumLogY += math.Log(math.Abs(y))
			nY++
		}
	}
	if nY == 0 {
		return math.NaN(), fmt.Errorf("tail index (Mohammadi): all %d block sums are zero: %w", k2, ErrAllZero)
	}
	inv := (sumLogY/float64(nY) - sumLogX/float64(used)) / math.Log(float64(k1))
	if !(inv > 0.5) {
		return 2, nil
	}
	return 1 / inv, nil
}
