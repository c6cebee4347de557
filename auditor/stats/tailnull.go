package stats

import (
	"math"
	"math/rand/v2"
	"sort"
	"sync"
)

// TailNull is the law of the tail-index estimators under the Gaussian null
// for samples of n values: what α̂ looks like when every coordinate is
// exactly Gaussian (α = 2). A layer median near 2 cannot reveal a heavy
// minority; the share of coordinates below the null's 5 % quantile can.
type TailNull struct {
	N int // sample size
	// Columns is the number of simulated Gaussian columns.
	Columns int
	// Quantiles of α̂ at 5 % and 50 % per estimator.
	MohammadiP05, MohammadiMedian float64
	McCullochP05, McCullochMedian float64
}

// tailNullColumns is the number of simulated columns per n (the 5 %
// quantile then has a Monte Carlo SE of ≈ 0.01).
const tailNullColumns = 4000

var tailNullCache sync.Map // n → *TailNull

// GaussianTailNull returns the Gaussian null of the tail-index estimators
// for samples of n values (n ≥ 4), simulated once per n with a fixed seed
// (4000 columns) and cached.
func GaussianTailNull(n int) *TailNull {
	if v, ok := tailNullCache.Load(n); ok {
		return v.(*TailNull)
	}
	t := simulateTailNull(n, tailNullColumns, uint64(n))
	v, _ := tailNullCache.LoadOrStore(n, t)
	return v.(*TailNull)
}

func simulateTailNull(n, cols int, seed uint64) *TailNull {
	r := rand.New(rand.NewPCG(seed, 0x7a11))
	x := make([]float64, n)
	var mo, mc []float64
	for c := 0; c < cols; c++ {
		for i := range x {
			x[i] = r.NormFloat64()
		}
		if a, err := TailIndexMohammadi(x); err == nil {
			mo = append(mo, a)
		}
		if p, err := McCulloch(x); err == nil {
			mc = append(mc, p.Alpha)
		}
	}
	q := func(xs []float64, p float64) float64 {
		if len(xs) == 0 {
			return math.NaN()
		}
		sort.Float64s(xs)
		return percentileSorted(xs, p)
	}
	return &TailNull{N: n, Columns: cols,
		MohammadiP05: q(mo, 0.05), MohammadiMedian: q(mo, 0.5),
		McCullochP05: q(mc, 0.05), McCullochMedian: q(mc, 0.5)}
}
