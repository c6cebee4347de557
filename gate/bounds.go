package gate

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/gnaudit/gnaudit/auditor/stats"
	"github.com/gnaudit/gnaudit/plugins"
	"github.com/gnaudit/gnaudit/plugins/builtin"
	"github.com/gnaudit/gnaudit/reports"
)

// Comparison modes of a policy (Policy.Compare).
const (
	CompareBound = "bound" // confidence bounds with a multiple-testing correction (default)
	ComparePoint = "point" // point estimates against the thresholds (before 1.1)
)

// Corrections across the checks of a policy (Policy.Correction).
const (
	CorrectionHolm = "holm" // Holm's step-down (default)
	CorrectionNone = "none" // every check at level alpha
)

// DefaultAlpha is the default family-wise false-failure rate of a policy.
const DefaultAlpha = 0.05

// evidence is what a check knows about the uncertainty of its measured
// value: the one-sided p-value of "the true value meets the threshold"
// and the favourable-side confidence bound at a one-sided level.
type evidence struct {
	p     float64
	bound func(level float64) float64
	what  string // "upper" or "lower" (the bound's side)
	note  string // what was measured, to prefix a failure's message ("" none)
}

// checkMethod validates the comparison settings of p.
func (p *Policy) checkMethod() error {
	switch p.Compare {
	case "", CompareBound, ComparePoint:
	default:
		return fmt.Errorf("compare %q: want bound or point", p.Compare)
	}
	switch p.Correction {
	case "", CorrectionHolm, CorrectionNone:
	default:
		return fmt.Errorf("correction %q: want holm or none", p.Correction)
	}
	if p.Alpha != nil && !(*p.Alpha > 0 && *p.Alpha < 1) {
		return fmt.Errorf("alpha %v: want 0 < alpha < 1", *p.Alpha)
	}
	return nil
}

func (p *Policy) alpha() float64 {
	if p.Alpha != nil {
		return *p.Alpha
	}
	return DefaultAlpha
}

// binomialEvidence: k passes of m for a min_gaussianity threshold t (%):
// exact binomial p = P(X ≤ k | m, t/100), Clopper–Pearson upper bound.
func binomialEvidence(k, m int, t float64) *evidence {
	p0 := t / 100
	var pv float64
	switch {
	case p0 <= 0:
		pv = 1
	case p0 >= 1:
		pv = map[bool]float64{true: 1, false: 0}[k >= m]
	default:
		pv = distuv.Binomial{N: float64(m), P: p0}.CDF(float64(k))
	}
	return &evidence{p: pv, what: "upper", bound: func(a float64) float64 {
		if k >= m {
			return 100
		}
		return 100 * distuv.Beta{Alpha: float64(k + 1), Beta: float64(m - k)}.Quantile(1-a)
	}}
}

// spineCDF returns the share of coordinates at or below x from a quantile
// spine (5, 25, 50, 75, 95 %), linear between the quantiles and clamped to
// [0.05, 0.95] outside (the side favourable to the run).
func spineCDF(q reports.Quantiles, x float64) float64 {
	ps := []float64{0.05, 0.25, 0.5, 0.75, 0.95}
	vs := []float64{float64(q.P5), float64(q.P25), float64(q.P50), float64(q.P75), float64(q.P95)}
	if x <= vs[0] {
		return 0.05
	}
	for i := 1; i < len(vs); i++ {
		if x <= vs[i] {
			if vs[i] == vs[i-1] {
				return ps[i]
			}
			return ps[i-1] + (ps[i]-ps[i-1])*(x-vs[i-1])/(vs[i]-vs[i-1])
		}
	}
	return 0.95
}

// spineQuantile inverts spineCDF (clamped to the spine's ends).
func spineQuantile(q reports.Quantiles, p float64) float64 {
	ps := []float64{0.05, 0.25, 0.5, 0.75, 0.95}
	vs := []float64{float64(q.P5), float64(q.P25), float64(q.P50), float64(q.P75), float64(q.P95)}
	if p <= ps[0] {
		return vs[0]
	}
	for i := 1; i < len(ps); i++ {
		if p <= ps[i] {
			return vs[i-1] + (vs[i]-vs[i-1])*(p-ps[i-1])/(ps[i]-ps[i-1])
		}
	}
	return vs[len(vs)-1]
}

// spineDefined reports whether q is a usable spine: defined and
// non-decreasing.
func spineDefined(q reports.Quantiles) bool {
	return q.P5.Defined() && q.P25.Defined() && q.P50.Defined() && q.P75.Defined() && q.P95.Defined() &&
		q.P5 <= q.P25 && q.P25 <= q.P50 && q.P50 <= q.P75 && q.P75 <= q.P95
}

// signP returns the sign-test p-value of "the median is on the favourable
// side" when a share f of m coordinates is on the favourable side:
// P(Bin(m, ½) ≤ f·m).
func signP(f float64, m int) float64 {
	return distuv.Binomial{N: float64(m), P: 0.5}.CDF(math.Floor(f*float64(m) + 1e-9))
}

// medianShift is the probability offset of a one-sided confidence bound of
// the median at level a over m coordinates (normal approximation of the
// sign test).
func medianShift(a float64, m int) float64 {
	return distuv.UnitNormal.Quantile(1-a) * 0.5 / math.Sqrt(float64(m))
}

// berryEvidence: the median Berry–Esseen bound ≤ t, from the bound's spine
// over m coordinates (sign test); the bound is the median's lower bound.
func berryEvidence(q reports.Quantiles, m int, t float64) *evidence {
	if m < 1 || !spineDefined(q) {
		return nil
	}
	return &evidence{p: signP(spineCDF(q, t), m), what: "lower", bound: func(a float64) float64 {
		return spineQuantile(q, 0.5-medianShift(a, m))
	}}
}

// histCDF returns the share of the histogram's values below x (linear
// within a bin), and the number of values.
func histCDF(h *plugins.Histogram, x float64) (float64, int) {
	total := h.Underflow + h.Overflow
	for _, c := range h.Counts {
		total += c
	}
	if total == 0 {
		return math.NaN(), 0
	}
	below := float64(h.Underflow)
	for i, c := range h.Counts {
		lo, hi := h.Edges[i], h.Edges[i+1]
		switch {
		case x >= hi:
			below += float64(c)
		case x > lo:
			below += float64(c) * (x - lo) / (hi - lo)
		}
	}
	if x > h.Edges[len(h.Edges)-1] {
		below += float64(h.Overflow)
	}
	return below / float64(total), int(total)
}

// histQuantile inverts histCDF.
func histQuantile(h *plugins.Histogram, p float64) float64 {
	_, n := histCDF(h, 0)
	target := p * float64(n)
	acc := float64(h.Underflow)
	if target <= acc {
		return h.Edges[0]
	}
	for i, c := range h.Counts {
		if acc+float64(c) >= target && c > 0 {
			return h.Edges[i] + (h.Edges[i+1]-h.Edges[i])*(target-acc)/float64(c)
		}
		acc += float64(c)
	}
	return h.Edges[len(h.Edges)-1]
}

// tailEvidence: the median α̂ ≥ t, from the estimator's histogram (sign
// test); the bound is the median's upper bound.
func tailEvidence(h *plugins.Histogram, t float64) *evidence {
	if h == nil || len(h.Edges) < 2 {
		return nil
	}
	below, m := histCDF(h, t)
	if m == 0 {
		return nil
	}
	return &evidence{p: signP(1-below, m), what: "upper", bound: func(a float64) float64 {
		return histQuantile(h, 0.5+medianShift(a, m))
	}}
}

// noiseEvidence: B_simple ≤ t, from the unbiased parts tr Σ̂, |G|²_u and
// their standard errors (builtin.NoiseScaleBounds): the bound is the lower
// confidence bound, defined also when no signal was detected; the p-value
// is the level at which that bound equals t (by bisection on z). Reports
// without the parts (before 1.1) carry no evidence.
func noiseEvidence(ns *reports.NoiseScale, t float64) *evidence {
	if !ns.TraceCovSE.Defined() || !ns.GradNormSqSE.Defined() || !ns.TraceCovUnbiased.Defined() || !ns.GradNormSqUnbiased.Defined() || !(t > 0) {
		return nil
	}
	T, G, sT, sG := ns.TraceCovUnbiased.Float(), ns.GradNormSqUnbiased.Float(), ns.TraceCovSE.Float(), ns.GradNormSqSE.Float()
	low := func(z float64) float64 {
		lo, _ := builtin.NoiseScaleBounds(T, G, sT, sG, z)
		return lo
	}
	// low(z) decreases with z; p = Φ(−z*) with low(z*) = t.
	var p float64
	switch {
	case low(-8) <= t:
		p = 1 // even a 1 − 10⁻¹⁵ lower bound is at or below t
	case low(8) > t:
		p = distuv.UnitNormal.Survival(8)
	default:
		lo, hi := -8.0, 8.0 // low(lo) > t ≥ low(hi)
		for i := 0; i < 60; i++ {
			mid := (lo + hi) / 2
			if low(mid) > t {
				lo = mid
			} else {
				hi = mid
			}
		}
		p = distuv.UnitNormal.Survival(hi)
	}
	return &evidence{p: p, what: "lower", bound: func(a float64) float64 {
		return low(distuv.UnitNormal.Quantile(1 - a))
	}}
}

// decide applies the policy's comparison to the checks that carry
// evidence: each fails when its p-value is at or below its level (Holm's
// step-down across them, or alpha each), that is when even the confidence
// bound on the favourable side is beyond the threshold. It returns the
// method line.
func decide(p *Policy, checks []reports.GateCheck, evs []*evidence) string {
	alpha := p.alpha()
	var idx []int
	var ps []float64
	for i, e := range evs {
		if e != nil {
			idx = append(idx, i)
			ps = append(ps, e.p)
		}
	}
	if len(idx) == 0 {
		return "point estimates against the thresholds (no check carried an uncertainty)"
	}
	levels := make([]float64, len(ps))
	reject := make([]bool, len(ps))
	if p.Correction == CorrectionNone {
		for i := range ps {
			levels[i] = alpha
			reject[i] = ps[i] <= alpha
		}
	} else {
		reject, levels = stats.Holm(ps, alpha)
	}
	for j, i := range idx {
		c := &checks[i]
		e := evs[i]
		b := e.bound(levels[j])
		c.PValue, c.Level, c.Bound = reports.Some(e.p), reports.Some(levels[j]), reports.Some(b)
		c.Pass = !reject[j]
		if c.Measured.Defined() {
			c.Message = "" // a point comparison's message; an undefined value keeps its note
		}
		if !c.Pass {
			c.Message = fmt.Sprintf("%s %.4g %% bound %s %s %s (p = %.3g ≤ level %.3g)", e.what,
				100*(1-levels[j]), trim(b), map[string]string{">=": "<", "<=": ">"}[c.Op], trim(float64(c.Threshold)), e.p, levels[j])
			if e.note != "" {
				c.Message = e.note + ": " + c.Message
			}
		}
	}
	corr := "Holm's step-down correction"
	if p.Correction == CorrectionNone {
		corr = "no multiple-testing correction"
	}
	pointN := len(checks) - len(idx)
	s := fmt.Sprintf("confidence bounds: %d checks compared through one-sided confidence bounds with %s, family-wise false-failure rate ≤ %g", len(idx), corr, alpha)
	if pointN > 0 {
		s += fmt.Sprintf("; %d checks without an uncertainty compared as point estimates", pointN)
	}
	return s
}
