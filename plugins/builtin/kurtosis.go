package builtin

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/gnaudit/gnaudit/plugins"
	"github.com/gnaudit/gnaudit/plugins/stats"
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
)

// KurtosisBound is the Berry–Esseen analysis (METHOD.md §4). From the
// per-sample noise sums over the pool it computes, per coordinate, ρ/σ³ and
// √κ, and per batch size B the bound C·ρ/(σ³√B) on the Kolmogorov distance
// between the standardized mini-batch noise and N(0, 1).
//
// The predicted Gaussian share at B is the share of coordinates whose bound
// is below a threshold. The default threshold ("auto") is the asymptotic
// Kolmogorov–Smirnov critical distance c(α)/√n for the n mini-batches of the
// audit, c(α) = √(−½ ln(α/2)) (1.358 at α = 0.05): a deviation from Φ
// smaller than that cannot be detected at level α by a KS test on n values.
// Since Berry–Esseen is a worst-case bound, the predicted share is a
// conservative estimate: coordinates with a larger bound may still look
// Gaussian, so the prediction is expected to lie at or below the measured
// share (and to rise with B the same way). The measured share is taken from
// the normality analysis, which the runner runs first and passes as prior
// result (Needs); without it only the prediction is reported.
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
	bs := req.Set.BatchSizes
	return &session{layer: func(ctx context.Context, in *plugins.LayerInput) (*plugins.LayerResult, error) {
		l := in.Layer
		nc := len(l.Coords)
		rho := make([]float64, nc)
		sk := make([]float64, nc)
		zero := 0
		for c := 0; c < nc; c++ {
			cs := stats.CentredSums{N: n, S2: l.S2[c], S3: l.S3[c], S4: l.S4[c], A3: l.A3[c]}
			rho[c] = cs.Abs3Standardized()
			sk[c] = cs.SqrtKurtosis()
			if l.S2[c] == 0 {
				zero++
			} else if math.IsNaN(rho[c]) || math.IsNaN(sk[c]) {
				return nil, fmt.Errorf("layer %q, coordinate %d: moment sums S2=%v S4=%v A3=%v give no ratio", l.Parameter, l.Coords[c], l.S2[c], l.S4[c], l.A3[c])
			}
		}
		res := &plugins.LayerResult{Parameter: l.Parameter}
		res.PerCoordinate = []plugins.Value{plugins.Arr(KeyRhoSigma3, 0, rho), plugins.Arr(KeySqrtKappa, 0, sk)}
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
		}
		return res, ctx.Err()
	}}, nil
}
