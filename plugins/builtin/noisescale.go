package builtin

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/gnaudit/gnaudit/auditor/noise"
	"github.com/gnaudit/gnaudit/auditor/stats"
	"github.com/gnaudit/gnaudit/plugins"
)

// Keys of the noise-scale analysis (per layer summary and model values).
const (
	NoiseScaleName = "noise-scale"
	KeyTraceCov    = "trace_cov"    // plug-in tr Σ = Σ|g_i|²/N − |ḡ|² (as collected)
	KeyGradNormSq  = "grad_norm_sq" // plug-in |ḡ|²
	// KeyBSimple is the unbiased B_simple = tr Σ̂ / |G|²_u (METHOD.md §6),
	// NaN when |G|²_u ≤ 0 (no signal detected, KeyNoSignal = 1).
	KeyBSimple = "b_simple"
	// KeyBSimplePlugIn is the plug-in ratio TraceCov/GradNormSq reported
	// before version 1.1 (biased low: ≈ B·N/(N+B), never above ≈ N).
	KeyBSimplePlugIn      = "b_simple_plugin"
	KeyTraceCovUnbiased   = "trace_cov_unbiased"    // tr Σ̂ of the data set
	KeyGradNormSqUnbiased = "grad_norm_sq_unbiased" // |G|²_u = |ḡ|² − tr Σ̂·(1/N − 1/M)
	KeyNoSignal           = "no_signal"             // 1 when |G|²_u ≤ 0
	KeyBSimpleSE          = "b_simple_se"           // standard error of b_simple (delta method)
	KeyBSimpleLow         = "b_simple_low"          // confidence bounds (from those of the parts)
	KeyBSimpleHigh        = "b_simple_high"         // NaN: unbounded (|G|² may be 0)
	KeyTraceCovSE         = "trace_cov_se"          // standard errors of the parts
	KeyGradNormSqSE       = "grad_norm_sq_se"
	KeyDataSize           = "data_size" // M used for the finite-population factor (NaN: infinite)
	// KeyConfidence is the confidence level of the bounds.
	KeyConfidence = "confidence"
)

// NoiseScale computes the gradient noise scale B_simple = tr(Σ)/|G|²
// (METHOD.md §6; McCandlish et al. 2018) per layer, over all coordinates of
// the parameter, and for the model (sums over layers).
//
// The plug-in ratio tr Σ_pool/|ḡ|² is biased: E|ḡ|² = |G|² + tr Σ/N, so it
// estimates ≈ B·N/(N+B) and cannot exceed about N. The analysis reports the
// unbiased-parts estimate from the stored sums S = Σ_i |g_i|² and g = |ḡ|²:
// s² = (S − N·g)/(N−1), |G|²_u = g − s²·(1/N − 1/M), tr Σ̂ = s²·(M−1)/M,
// B̂ = tr Σ̂/|G|²_u, with M the data set the pool of N was drawn from
// without replacement (M infinite: B̂ = N(S − N·g)/(N²·g − S); M = N: the
// plug-in ratio, exact). |G|²_u ≤ 0 means the mean gradient is not
// distinguishable from noise: B̂ is undefined and no_signal is 1.
//
// The standard errors of the parts come from a Gaussian model of the pool
// mean: Var|ḡ|² ≈ 4 GᵀΣG/N·c + 2 tr(Σ²)/N²·c², c = (M−N)/(M−1), Var tr Σ̂ ≈
// 2 tr(Σ²)/N, where GᵀΣG and tr(Σ²) are estimated from the stored
// mini-batch noise rows (ξ_S·ḡ and ξ_S·ξ_S' of disjoint batches) at the
// smallest batch size, with the survey-sampling correction when only some
// coordinates were tested. The standard error of B̂ is the delta method;
// the bounds at confidence level 1−2a are (see NoiseScaleBounds)
// tr Σ̂·(1 ∓ z·r_T)/(|G|²_u ± z·SE_G): the lower one is defined even when
// |G|²_u ≤ 0, the upper one is unbounded (NaN) when |G|²_u − z·SE_G ≤ 0.
//
// The ratio is computed from the stored plug-in TraceCov (s² = N·TraceCov/
// (N−1), the same as from Σ|g_i|²), so that the in-process and plugin
// protocol results agree.
type NoiseScale struct{}

// Describe implements plugins.Analysis.
func (NoiseScale) Describe(context.Context) (plugins.Description, error) {
	return plugins.Description{
		Name:    NoiseScaleName,
		Version: Version,
		Summary: "gradient noise scale B_simple = tr(Σ)/|G|² (unbiased, with standard error) per layer and for the model",
		Params: []plugins.Param{
			{Name: "data_size", Type: plugins.TypeString, Default: "auto",
				Doc: "M, samples of the data set the pool was drawn from, for the finite-population factor: auto (from the noise set), inf, or a number"},
			{Name: "confidence", Type: plugins.TypeFloat, Default: "0.95", Doc: "confidence level of b_simple_low/high"},
		},
	}, nil
}

// BSimple returns traceCov/gradNormSq, NaN when gradNormSq is not positive
// (the plug-in ratio).
func BSimple(traceCov, gradNormSq float64) float64 {
	if !(gradNormSq > 0) {
		return math.NaN()
	}
	return traceCov / gradNormSq
}

// NoiseScaleEstimate is the unbiased gradient noise scale of a parameter
// (or a model) from its pool sums.
type NoiseScaleEstimate struct {
	TraceCov   float64 // tr Σ̂ of the data set
	GradNormSq float64 // |G|²_u (may be ≤ 0)
	BSimple    float64 // TraceCov/GradNormSq, NaN when GradNormSq ≤ 0
}

// UnbiasedNoiseScale returns the unbiased-parts estimate of B_simple from
// S = Σ_i |g_i|² (sumNormSq) and g = |ḡ|² (gradNormSq) over a pool of n
// samples drawn without replacement from a data set of m samples (m ≤ 0:
// infinite). See NoiseScale.
func UnbiasedNoiseScale(sumNormSq, gradNormSq float64, n, m int) NoiseScaleEstimate {
	if n < 2 {
		return NoiseScaleEstimate{math.NaN(), math.NaN(), math.NaN()}
	}
	N := float64(n)
	return UnbiasedNoiseScaleFromTrace(math.Max(0, sumNormSq/N-gradNormSq), gradNormSq, n, m)
}

// UnbiasedNoiseScaleFromTrace is UnbiasedNoiseScale from the plug-in trace
// tr Σ_pool = S/N − g (noise.Layer.TraceCov).
func UnbiasedNoiseScaleFromTrace(traceCov, gradNormSq float64, n, m int) NoiseScaleEstimate {
	if n < 2 {
		return NoiseScaleEstimate{math.NaN(), math.NaN(), math.NaN()}
	}
	N := float64(n)
	s2 := math.Max(0, traceCov*N/(N-1))
	inv, tr := 1/N, s2
	if m > 0 && m >= n {
		M := float64(m)
		inv -= 1 / M
		tr = s2 * (M - 1) / M
	}
	e := NoiseScaleEstimate{TraceCov: tr, GradNormSq: gradNormSq - s2*inv, BSimple: math.NaN()}
	if e.GradNormSq > 0 {
		e.BSimple = e.TraceCov / e.GradNormSq
	}
	return e
}

// noiseMoments are the second-order quantities behind the standard error
// of B_simple: Q = GᵀΣG and P = tr(Σ²), estimated from mini-batch rows.
type noiseMoments struct {
	Q, P float64
	ok   bool
}

// sampledSquare returns an unbiased estimate of (Σ_{j=1…d} x_j)² from the
// values xs of a uniform sample without replacement of len(xs) of the d
// coordinates.
func sampledSquare(xs []float64, d int) float64 {
	m := len(xs)
	if m == 0 {
		return 0
	}
	sum, sq := 0.0, 0.0
	for _, x := range xs {
		sum += x
		sq += x * x
	}
	D, Mf := float64(d), float64(m)
	t := D / Mf * sum
	if m >= d || m < 2 {
		return t * t
	}
	v := (sq - sum*sum/Mf) / (Mf - 1)
	return t*t - D*D*(1-Mf/D)/Mf*v
}

// rowMoments estimates GᵀΣG and tr(Σ²) of layer l from its mini-batch noise
// rows at the smallest batch size whose batches are disjoint (the smallest
// one otherwise), over a pool of n samples.
func rowMoments(l *noise.Layer, bs []int, n int) noiseMoments {
	nc := len(l.Coords)
	if nc == 0 || len(bs) == 0 || len(l.MiniBatch) != len(bs) || len(l.Mean) != nc {
		return noiseMoments{}
	}
	k := 0
	for i := range bs {
		if i < len(l.Overlap) && !l.Overlap[i] {
			k = i
			break
		}
	}
	rows := len(l.MiniBatch[k]) / nc
	if rows < 2 {
		return noiseMoments{}
	}
	B := float64(bs[k])
	c := 1.0
	if n > 1 {
		c = (float64(n) - B) / (float64(n) - 1) // Var ξ_S = Σ/B · c within the pool
	}
	if !(c > 0) {
		return noiseMoments{}
	}
	x := make([]float64, nc)
	q, p := 0.0, 0.0
	for r := 0; r < rows; r++ {
		row := l.MiniBatch[k][r*nc : (r+1)*nc]
		for j, v := range row {
			x[j] = float64(v) * l.Mean[j]
		}
		q += sampledSquare(x, l.Size)
		if r+1 < rows {
			next := l.MiniBatch[k][(r+1)*nc : (r+2)*nc]
			for j, v := range row {
				x[j] = float64(v) * float64(next[j])
			}
			p += sampledSquare(x, l.Size)
		}
	}
	q = math.Max(0, q/float64(rows)*B/c)
	p = math.Max(0, p/float64(rows-1)*(B/c)*(B/c))
	return noiseMoments{Q: q, P: p, ok: true}
}

// partsSE returns the standard errors of tr Σ̂ and |G|²_u (see
// NoiseScale), NaN when they cannot be estimated.
func partsSE(mo noiseMoments, n, m int) (seT, seG float64) {
	if !mo.ok {
		return math.NaN(), math.NaN()
	}
	N := float64(n)
	c := 1.0
	if m > 0 && m >= n {
		c = (float64(m) - N) / math.Max(1, float64(m)-1)
	}
	// Q from ξ_S·ḡ includes the pool-mean error: E(ξ_S·ḡ)² B/c ≈ Q + P/N.
	q := math.Max(0, mo.Q-mo.P/N)
	varG := 4*q/N*c + 2*mo.P/(N*N)*c*c
	varT := 2 * mo.P / N
	return math.Sqrt(varT), math.Sqrt(varG)
}

// NoiseScaleBounds returns the lower and upper confidence bounds of
// B_simple = T/G at one-sided normal quantile z from the parts T = tr Σ̂,
// G = |G|²_u and their standard errors: T·(1 − z·seT/T)/(G + z·seG) and
// T·(1 + z·seT/T)/(G − z·seG); a bound whose denominator is not positive is
// +Inf (the lower one then says nothing, the upper one is unbounded).
func NoiseScaleBounds(t, g, seT, seG, z float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(1)
	if d := g + z*seG; d > 0 {
		lo = math.Max(0, t-z*seT) / d
	}
	if d := g - z*seG; d > 0 {
		hi = (t + z*seT) / d
	}
	return lo, hi
}

func parseDataSize(s string, info plugins.SetInfo) (int, error) {
	switch t := strings.TrimSpace(s); t {
	case "auto", "":
		return info.DataSize, nil
	case "inf":
		return 0, nil
	default:
		m, err := strconv.Atoi(t)
		if err != nil || m < 1 {
			return 0, fmt.Errorf("parameter data_size = %q, want auto, inf or a positive integer", t)
		}
		if m < info.Pool {
			return 0, fmt.Errorf("parameter data_size = %d is smaller than the pool of %d samples", m, info.Pool)
		}
		return m, nil
	}
}

// Start implements plugins.Analysis.
func (NoiseScale) Start(_ context.Context, req *plugins.StartRequest) (plugins.Session, error) {
	m, err := parseDataSize(req.Params["data_size"], req.Set)
	if err != nil {
		return nil, err
	}
	conf, err := req.Params.Float("confidence")
	if err != nil {
		return nil, err
	}
	if !(conf > 0 && conf < 1) {
		return nil, fmt.Errorf("parameter confidence = %v, want 0 < confidence < 1", conf)
	}
	z := stats.NormalQuantile(0.5 + conf/2)
	n := req.Set.Pool
	bs := req.Set.BatchSizes
	mval := math.NaN()
	if m > 0 {
		mval = float64(m)
	}
	var tr, gn float64
	var mq, mp float64
	allOK := true
	values := func(tr, gn float64, mo noiseMoments) []plugins.Value {
		e := UnbiasedNoiseScaleFromTrace(tr, gn, n, m)
		seT, seG := partsSE(mo, n, m)
		se, lo, hi := math.NaN(), math.NaN(), math.NaN()
		if !math.IsNaN(seG) {
			if !math.IsNaN(e.BSimple) {
				se = e.BSimple * math.Hypot(seG/e.GradNormSq, seT/e.TraceCov)
			}
			lo, hi = NoiseScaleBounds(e.TraceCov, e.GradNormSq, seT, seG, z)
			if math.IsInf(lo, 1) {
				lo = math.NaN()
			}
			if math.IsInf(hi, 1) {
				hi = math.NaN()
			}
		}
		noSig := 0.0
		if !(e.GradNormSq > 0) {
			noSig = 1
		}
		return []plugins.Value{
			plugins.Num(KeyTraceCov, 0, tr),
			plugins.Num(KeyGradNormSq, 0, gn),
			plugins.Num(KeyBSimple, 0, e.BSimple),
			plugins.Num(KeyBSimplePlugIn, 0, BSimple(tr, gn)),
			plugins.Num(KeyTraceCovUnbiased, 0, e.TraceCov),
			plugins.Num(KeyGradNormSqUnbiased, 0, e.GradNormSq),
			plugins.Num(KeyNoSignal, 0, noSig),
			plugins.Num(KeyBSimpleSE, 0, se),
			plugins.Num(KeyBSimpleLow, 0, lo),
			plugins.Num(KeyBSimpleHigh, 0, hi),
			plugins.Num(KeyTraceCovSE, 0, seT),
			plugins.Num(KeyGradNormSqSE, 0, seG),
			plugins.Num(KeyDataSize, 0, mval),
			plugins.Num(KeyConfidence, 0, conf),
		}
	}
	return &session{
		layer: func(_ context.Context, in *plugins.LayerInput) (*plugins.LayerResult, error) {
			l := in.Layer
			tr += l.TraceCov
			gn += l.GradNormSq
			mo := rowMoments(l, bs, n)
			if mo.ok {
				mq += mo.Q
				mp += mo.P
			} else {
				allOK = false
			}
			return &plugins.LayerResult{Parameter: l.Parameter, Summary: values(l.TraceCov, l.GradNormSq, mo)}, nil
		},
		finish: func(context.Context) ([]plugins.Value, error) {
			// Model level: sums over layers; cross-layer covariances are
			// left out of GᵀΣG and tr(Σ²) (a block-diagonal approximation).
			return values(tr, gn, noiseMoments{Q: mq, P: mp, ok: allOK}), nil
		},
	}, nil
}
