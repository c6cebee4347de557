// Package series estimates means of functions of correlated time series
// with error bars from batch means: the series are cut into Blocks
// consecutive blocks of equal length, and a statistic f of the series'
// means gets its standard error from the jackknife over blocks (leave one
// block out). With blocks much longer than the correlation time the block
// means are nearly independent and the error bar is honest; [Estimate]
// records the block length so that a report can compare it with the
// correlation time.
package series

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Blocks is the default number of blocks.
const Blocks = 20

// Value is an estimate with its standard error.
type Value struct {
	Est float64 `json:"value"`
	SE  float64 `json:"se"`
}

// MarshalJSON writes {"value": v, "se": s}, a non-finite number as null.
func (v Value) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, `{"value":%s,"se":%s}`, num(v.Est), num(v.SE)), nil
}

// UnmarshalJSON reads MarshalJSON's form (null as NaN), or a bare number
// (an estimate written without its standard error: SE NaN).
func (v *Value) UnmarshalJSON(b []byte) error {
	var bare *float64
	if err := json.Unmarshal(b, &bare); err == nil {
		v.Est, v.SE = math.NaN(), math.NaN()
		if bare != nil {
			v.Est = *bare
		}
		return nil
	}
	var raw struct{ Value, SE *float64 }
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	v.Est, v.SE = math.NaN(), math.NaN()
	if raw.Value != nil {
		v.Est = *raw.Value
	}
	if raw.SE != nil {
		v.SE = *raw.SE
	}
	return nil
}

func num(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "null"
	}
	return strconv.FormatFloat(x, 'g', -1, 64)
}

// String formats v as "est ± se".
func (v Value) String() string { return fmt.Sprintf("%.4g ± %.2g", v.Est, v.SE) }

// BlockMeans returns the means of nb consecutive blocks of x of equal
// length ⌊len(x)/nb⌋ (a remainder at the start is dropped, so the blocks
// end at the last sample).
func BlockMeans(x []float64, nb int) ([]float64, error) {
	if nb < 2 {
		return nil, fmt.Errorf("%d blocks: need at least 2", nb)
	}
	l := len(x) / nb
	if l < 1 {
		return nil, fmt.Errorf("%d samples for %d blocks", len(x), nb)
	}
	off := len(x) - l*nb
	out := make([]float64, nb)
	for b := range out {
		s := 0.0
		for _, v := range x[off+b*l : off+(b+1)*l] {
			s += v
		}
		out[b] = s / float64(l)
	}
	return out, nil
}

// Estimate evaluates f at the overall means of the series and its
// jackknife standard error over nb blocks; all series must have the same
// length. The estimate is jackknife-bias-corrected (nb f(m̄) − (nb−1)
// mean_b f(m̄₍b₎)), which removes the O(1/K) bias of nonlinear f such as
// a variance E[x²] − E[x]² or a ratio.
func Estimate(nb int, f func(means []float64) float64, xs ...[]float64) (Value, error) {
	if len(xs) == 0 {
		return Value{}, errors.New("no series")
	}
	bm := make([][]float64, len(xs))
	for i, x := range xs {
		if len(x) != len(xs[0]) {
			return Value{}, fmt.Errorf("series %d has %d samples, series 0 %d", i, len(x), len(xs[0]))
		}
		var err error
		if bm[i], err = BlockMeans(x, nb); err != nil {
			return Value{}, err
		}
	}
	all := make([]float64, len(xs))
	for i := range xs {
		all[i] = mean(bm[i])
	}
	full := f(all)
	loo := make([]float64, nb)
	m := make([]float64, len(xs))
	n := float64(nb)
	for b := 0; b < nb; b++ {
		for i := range xs {
			m[i] = (n*all[i] - bm[i][b]) / (n - 1)
		}
		loo[b] = f(m)
	}
	lm := mean(loo)
	ss := 0.0
	for _, v := range loo {
		ss += (v - lm) * (v - lm)
	}
	return Value{Est: n*full - (n-1)*lm, SE: math.Sqrt((n - 1) / n * ss)}, nil
}

// Mean is Estimate of the mean of x.
func Mean(nb int, x []float64) (Value, error) {
	return Estimate(nb, func(m []float64) float64 { return m[0] }, x)
}

// Variance is Estimate of Var x = E[x²] − E[x]².
func Variance(nb int, x []float64) (Value, error) {
	return Estimate(nb, func(m []float64) float64 { return m[1] - m[0]*m[0] }, x, squares(x))
}

// Covariance is Estimate of Cov(x, y).
func Covariance(nb int, x, y []float64) (Value, error) {
	xy := make([]float64, len(x))
	for i := range x {
		xy[i] = x[i] * y[i]
	}
	return Estimate(nb, func(m []float64) float64 { return m[2] - m[0]*m[1] }, x, y, xy)
}

// LagCovariance is Estimate of E[x_{t+1} y_t] − E[x] E[y] over the pairs
// (t, t+1) of the series.
func LagCovariance(nb int, x, y []float64) (Value, error) {
	if len(x) != len(y) || len(x) < 2 {
		return Value{}, errors.New("lag covariance: need two series of equal length ≥ 2")
	}
	n := len(x) - 1
	xy := make([]float64, n)
	for t := 0; t < n; t++ {
		xy[t] = x[t+1] * y[t]
	}
	return Estimate(nb, func(m []float64) float64 { return m[2] - m[0]*m[1] }, x[1:], y[:n], xy)
}

func squares(x []float64) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = v * v
	}
	return out
}

func mean(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}
