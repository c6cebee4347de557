package builtin

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/gnaudit/gnaudit/auditor/stats"
	"github.com/gnaudit/gnaudit/plugins"
)

// Keys of the kurtosis-bound analysis.
const (
	KurtosisBoundName = "kurtosis-bound"
	// Per coordinate (no batch size): ρ/σ³ and √κ of the per-sample noise.
	KeyRhoSigma3 = "rho_sigma3"
	KeySqrtKappa = "sqrt_kappa"
	// Summary, no batch size: quantiles at plugins.SpineProbs (5, 25, 50,
	// 75, 95 %) and histograms of ρ/σ³ and √κ over the layer's coordinates
	// (zero-variance coordinates excluded), their count, the threshold.
	KeyRhoSigma3Quantiles = "rho_sigma3_quantiles"
	KeySqrtKappaQuantiles = "sqrt_kappa_quantiles"
	KeyRhoSigma3Hist      = "rho_sigma3_hist"
	KeySqrtKappaHist      = "sqrt_kappa_hist"
	KeyZeroVariance       = "zero_variance"
	KeyThreshold          = "threshold"
	// Summary @B: quantiles of the Berry–Esseen bound C·ρ/(σ³√B), the
	// predicted Gaussian share (% of coordinates with bound < threshold,
	// zero-variance ones counted Gaussian) and, when normality ran, the
	// measured Gaussianity % (copied from its result).
	KeyBoundQuantiles   = "bound_quantiles"
	KeyPredictedPercent = "predicted_percent"
	KeyMeasuredPercent  = "measured_percent"
	// Per coordinate (no batch size): skewness γ₁ and excess kurtosis γ₂
	// of the per-sample noise (NaN for zero variance).
	KeySkewness       = "skewness"
	KeyExcessKurtosis = "excess_kurtosis"
	// Summary @B, the calibrated prediction (METHOD.md §4): the predicted
	// Shapiro–Wilk pass rate of the non-degenerate coordinates, in %, for
	// batches drawn as in this audit (from the pool of N, with its skewness
	// factor) and for i.i.d. batches (the noise law itself); the measured
	// non-degenerate pass rate (copied from
	// normality); the quantile spine t_B = Q_{p_B}(ρ/σ³) at the measured
	// pass rate p_B, and t_B/√B.
	KeyCalibratedPercent            = "calibrated_percent"
	KeyCalibratedIIDPercent         = "calibrated_iid_percent"
	KeyMeasuredNonDegeneratePercent = "measured_nondegenerate_percent"
	KeySpine                        = "spine_rho_sigma3"
	KeySpineOverSqrtB               = "spine_over_sqrt_b"
	// No batch size: the smallest batch size whose calibrated i.i.d. pass
	// rate reaches the target (the recommended batch size for Gaussian
	// noise at n mini-batches), and the target, in %.
	KeyRecommendedBatchSize = "recommended_batch_size"
	KeyTargetPercent        = "target_percent"
)

// KurtosisBound is the Berry–Esseen analysis (METHOD.md §4). From the
// per-sample noise sums over the pool it computes, per coordinate, ρ/σ³ and
// √κ, and per batch size B the bound C·ρ/(σ³√B) on the Kolmogorov distance
// between the standardized mini-batch noise and N(0, 1).
//
// The bound is reported as a bound. Its "predicted Gaussian share" (the
// share of coordinates whose bound is below the KS critical distance
// c(α)/√n) is not a prediction of the measured share: it is structurally 0
// below B ≈ 25 at n = 200 (even exactly Gaussian summands, ρ/σ³ = 1.596,
// need B > 62), and a deviation below the threshold can still be detected —
// Shapiro–Wilk rejects mixtures whose Kolmogorov distance is 20× below it.
// It is neither conservative nor an upper bound on what the test sees.
//
// The calibrated prediction reads the same moments through the test: a
// batch mean of B summands has skewness γ₁/√B (times the pool factor) and
// excess kurtosis γ₂/B, and the probability that a normality test on n
// such means rejects at level α is ≈ P(χ²₂(λ) > χ²_{2,1−α}), λ = n·[γ₁²/(6B)
// + γ₂²/(24B²)] (stats.PredictedRejection; docs/statistics.md records its
// agreement with simulated Shapiro–Wilk rates). The predicted pass rate is
// the mean of 1 − P(reject) over the non-degenerate coordinates. The
// measured share is taken from the normality analysis, which the runner
// runs first and passes as prior result (Needs).
type KurtosisBound struct{}

// Describe implements plugins.Analysis.
func (KurtosisBound) Describe(context.Context) (plugins.Description, error) {
	return plugins.Description{
		Name:    KurtosisBoundName,
		Version: Version,
		Summary: "ρ/σ³, √κ and the Berry–Esseen bound per coordinate → quantile spines, predicted vs measured Gaussian share",
		Params: []plugins.Param{
			{Name: "threshold", Type: plugins.TypeString, Default: "auto",
				Doc: "bound below which a coordinate is predicted Gaussian: a number, or auto = c(alpha)/√n, the KS critical distance for n mini-batches"},
			{Name: "alpha", Type: plugins.TypeFloat, Default: "0.05", Doc: "level of the auto threshold"},
			{Name: "bins", Type: plugins.TypeInt, Default: "40", Doc: "histogram bins"},
			{Name: "target", Type: plugins.TypeFloat, Default: "0.9",
				Doc: "calibrated pass rate (below 1 − alpha) at which the recommended batch size is reached"},
		},
		Needs: []string{NormalityName},
	}, nil
}

// KSCritical returns the asymptotic Kolmogorov–Smirnov critical distance
// c(α)/√n, c(α) = √(−½ ln(α/2)).
func KSCritical(alpha float64, n int) float64 {
	return math.Sqrt(-0.5*math.Log(alpha/2)) / math.Sqrt(float64(n))
}

// Start implements plugins.Analysis.
func (KurtosisBound) Start(_ context.Context, req *plugins.StartRequest) (plugins.Session, error) {
	alpha, err := req.Params.Float("alpha")
	if err != nil {
		return nil, err
	}
	if !(alpha > 0 && alpha < 1) {
		return nil, fmt.Errorf("parameter alpha = %v, want 0 < alpha < 1", alpha)
	}
	bins, err := req.Params.Int("bins")
	if err != nil {
		return nil, err
	}
	if bins < 1 || bins > 10000 {
		return nil, fmt.Errorf("parameter bins = %d, want 1…10000", bins)
	}
	target, err := req.Params.Float("target")
	if err != nil {
		return nil, err
	}
	if !(target > 0 && target < 1-alpha) {
		return nil, fmt.Errorf("parameter target = %v, want 0 < target < 1 − alpha = %v (exactly Gaussian noise passes at 1 − alpha)", target, 1-alpha)
	}
	var thr float64
	switch t := strings.TrimSpace(req.Params["threshold"]); t {
	case "auto", "":
		if req.Set.Batches < 1 {
			return nil, fmt.Errorf("auto threshold needs at least one mini-batch")
		}
		thr = KSCritical(alpha, req.Set.Batches)
	default:
		thr, err = strconv.ParseFloat(t, 64)
		if err != nil || !(thr > 0) {
			return nil, fmt.Errorf("parameter threshold = %q, want auto or a positive number", t)
		}
	}
	n := float64(req.Set.Pool)
	pool, nb := req.Set.Pool, req.Set.Batches
	bs := req.Set.BatchSizes
	return &session{layer: func(ctx context.Context, in *plugins.LayerInput) (*plugins.LayerResult, error) {
		l := in.Layer
		nc := len(l.Coords)
		rho := make([]float64, nc)
		sk := make([]float64, nc)
		g1 := make([]float64, nc)
		g2 := make([]float64, nc)
		zero := 0
		for c := 0; c < nc; c++ {
			cs := stats.CentredSums{N: n, S2: l.S2[c], S3: l.S3[c], S4: l.S4[c], A3: l.A3[c]}
			rho[c] = cs.Abs3Standardized()
			sk[c] = cs.SqrtKurtosis()
			g1[c], g2[c] = cs.Skewness(), cs.ExcessKurtosis()
			if l.S2[c] == 0 {
				zero++
			} else if math.IsNaN(rho[c]) || math.IsNaN(sk[c]) {
				return nil, fmt.Errorf("layer %q, coordinate %d: moment sums S2=%v S4=%v A3=%v give no ratio", l.Parameter, l.Coords[c], l.S2[c], l.S4[c], l.A3[c])
			}
		}
		res := &plugins.LayerResult{Parameter: l.Parameter}
		res.PerCoordinate = []plugins.Value{plugins.Arr(KeyRhoSigma3, 0, rho), plugins.Arr(KeySqrtKappa, 0, sk),
			plugins.Arr(KeySkewness, 0, g1), plugins.Arr(KeyExcessKurtosis, 0, g2)}
		qr, _ := plugins.Quantiles(rho, plugins.SpineProbs...)
		qk, _ := plugins.Quantiles(sk, plugins.SpineProbs...)
		res.Summary = append(res.Summary,
			plugins.Arr(KeyRhoSigma3Quantiles, 0, qr),
			plugins.Arr(KeySqrtKappaQuantiles, 0, qk),
			plugins.Num(KeyZeroVariance, 0, float64(zero)),
			plugins.Num(KeyThreshold, 0, thr))
		// Histograms span the layer's own range (ρ/σ³ ≥ 1 and √κ ≥ 1
		// always, by Lyapunov's inequality; a long right tail is the
		// signal, METHOD.md §4).
		if h := plugins.AutoHistogram(rho, bins, math.NaN(), math.NaN()); h != nil {
			res.Summary = append(res.Summary, plugins.Hist(KeyRhoSigma3Hist, 0, h))
		}
		if h := plugins.AutoHistogram(sk, bins, math.NaN(), math.NaN()); h != nil {
			res.Summary = append(res.Summary, plugins.Hist(KeySqrtKappaHist, 0, h))
		}
		prior := in.Prior[NormalityName]
		bound := make([]float64, nc)
		for _, b := range bs {
			pred := 0
			for c := range rho {
				bound[c] = stats.BerryEsseenBound(rho[c], b)
				if l.S2[c] == 0 || bound[c] < thr {
					pred++
				}
			}
			qb, _ := plugins.Quantiles(bound, plugins.SpineProbs...)
			res.Summary = append(res.Summary,
				plugins.Arr(KeyBoundQuantiles, b, qb),
				plugins.Num(KeyPredictedPercent, b, percent(pred, nc)))
			if m := prior.Number(KeyGaussianityPercent, b); !math.IsNaN(m) {
				res.Summary = append(res.Summary, plugins.Num(KeyMeasuredPercent, b, m))
			}
			res.Summary = append(res.Summary,
				plugins.Num(KeyCalibratedPercent, b, 100*CalibratedPassRate(g1, g2, b, nb, pool, alpha)),
				plugins.Num(KeyCalibratedIIDPercent, b, 100*CalibratedPassRate(g1, g2, b, nb, 0, alpha)))
			if m := prior.Number(KeyNonDegeneratePercent, b); !math.IsNaN(m) {
				spine := math.NaN()
				if q, used := plugins.Quantiles(rho, m/100); used > 0 {
					spine = q[0]
				}
				res.Summary = append(res.Summary, plugins.Num(KeyMeasuredNonDegeneratePercent, b, m),
					plugins.Num(KeySpine, b, spine), plugins.Num(KeySpineOverSqrtB, b, spine/math.Sqrt(float64(b))))
			}
		}
		res.Summary = append(res.Summary,
			plugins.Num(KeyRecommendedBatchSize, 0, float64(RecommendedBatchSize(g1, g2, nb, alpha, target))),
			plugins.Num(KeyTargetPercent, 0, 100*target))
		return res, ctx.Err()
	}}, nil
}

// CalibratedPassRate returns the calibrated predicted pass rate (0…1) of a
// normality test at level alpha on n batch means of b summands, averaged
// over the coordinates with defined skewness g1 and excess kurtosis g2
// (zero-variance coordinates, NaN, are left out); pool is the number of
// samples the batches are drawn from without replacement (≤ 0: i.i.d.).
// NaN when no coordinate is defined.
func CalibratedPassRate(g1, g2 []float64, b, n, pool int, alpha float64) float64 {
	sum, m := 0.0, 0
	for c := range g1 {
		if math.IsNaN(g1[c]) || math.IsNaN(g2[c]) {
			continue
		}
		sum += 1 - stats.PredictedRejection(g1[c], g2[c], b, n, pool, alpha)
		m++
	}
	if m == 0 {
		return math.NaN()
	}
	return sum / float64(m)
}

// maxRecommended caps the search of RecommendedBatchSize.
const maxRecommended = 1 << 30

// RecommendedBatchSize returns the smallest batch size B whose calibrated
// pass rate for i.i.d. batches (CalibratedPassRate, pool ≤ 0) reaches
// target, or −1 when no B up to 2³⁰ does (or no coordinate is defined). The
// pass rate rises with B towards 1 − alpha, so target must be below
// 1 − alpha. (Drawing without replacement from a finite data set would
// shrink the skewness further at B near the data-set size; the
// recommendation leaves that out, as a statement about the noise law.)
func RecommendedBatchSize(g1, g2 []float64, n int, alpha, target float64) int {
	ok := func(b int) bool {
		return CalibratedPassRate(g1, g2, b, n, 0, alpha) >= target
	}
	if math.IsNaN(CalibratedPassRate(g1, g2, 1, n, 0, alpha)) {
		return -1
	}
	if ok(1) {
		return 1
	}
	lo, hi := 1, 2 // ok(lo) false
	for !ok(hi) {
		lo, hi = hi, 2*hi
		if hi > maxRecommended {
			return -1
		}
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if ok(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}
