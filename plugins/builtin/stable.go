package builtin

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/gnaudit/gnaudit/auditor/stats"
	"github.com/gnaudit/gnaudit/plugins"
)

// Keys of the alpha-stable analysis.
const (
	AlphaStableName = "alpha-stable"
	// Per coordinate @B: tail index α by each estimator (NaN where
	// undefined: zero-range columns, too few non-zero values, zero IQR).
	KeyAlphaMohammadi = "alpha_mohammadi"
	KeyAlphaMcCulloch = "alpha_mcculloch"
	// Summary @B: median α over the defined values, histogram on [0, 2]
	// and count of undefined values, per estimator.
	KeyAlphaMohammadiMedian = "alpha_mohammadi_median"
	KeyAlphaMcCullochMedian = "alpha_mcculloch_median"
	KeyAlphaMohammadiHist   = "alpha_mohammadi_hist"
	KeyAlphaMcCullochHist   = "alpha_mcculloch_hist"
	KeyUndefinedMohammadi   = "undefined_mohammadi"
	KeyUndefinedMcCulloch   = "undefined_mcculloch"
	// No batch size: the Gaussian null band of each estimator for the
	// audit's n (stats.GaussianTailNull): its 5 % quantile and median.
	KeyNullMohammadiP05    = "null_mohammadi_p05"
	KeyNullMohammadiMedian = "null_mohammadi_median"
	KeyNullMcCullochP05    = "null_mcculloch_p05"
	KeyNullMcCullochMedian = "null_mcculloch_median"
	// Summary @B: % of the defined coordinates whose α̂ is below the null
	// 5 % quantile (5 % expected when every coordinate is Gaussian; a heavy
	// minority shows here, not in the median).
	KeyBelowNullMohammadi = "below_null_mohammadi_percent"
	KeyBelowNullMcCulloch = "below_null_mcculloch_percent"
)

// AlphaStable estimates the tail index α of the mini-batch noise of every
// tested coordinate and batch size (METHOD.md §5), with the log-moment
// estimator of Mohammadi et al. (2015) and McCulloch's (1986) quantile
// estimator, on the n mini-batch noise values (centred by construction:
// ξ_S = g_S − ḡ). α = 2 is Gaussian. The McCulloch estimator is the
// quantile method (it is also the starting point of scipy's levy_stable
// fit, _fitstart); pylevy's fit_levy, used by some papers, is a maximum-
// likelihood fit instead. The per-coordinate use is the paper's Figure 7;
// Şimşekli et al. (2019) pool all parameters into one estimate.
//
// Since the estimators scatter widely at small n (for exactly Gaussian
// columns at n = 200 the Mohammadi 5 % quantile is ≈ 1.50), the analysis
// reports the Gaussian null band for the audit's n and the share of
// coordinates below the null 5 % quantile.
type AlphaStable struct{}

// Describe implements plugins.Analysis.
func (AlphaStable) Describe(context.Context) (plugins.Description, error) {
	return plugins.Description{
		Name:    AlphaStableName,
		Version: Version,
		Summary: "tail index α per coordinate and batch size (Mohammadi log-moment, McCulloch quantiles) → histograms, median α vs B",
		Params: []plugins.Param{
			{Name: "bins", Type: plugins.TypeInt, Default: "40", Doc: "histogram bins on [0, 2]"},
			workersParam,
		},
	}, nil
}

// undefined reports whether err means "α not defined for this column"
// rather than bad input.
func undefined(err error) bool {
	return errors.Is(err, stats.ErrAllZero) || errors.Is(err, stats.ErrDegenerateQuantiles) || errors.Is(err, stats.ErrSampleSize)
}

// Start implements plugins.Analysis.
func (AlphaStable) Start(_ context.Context, req *plugins.StartRequest) (plugins.Session, error) {
	bins, err := req.Params.Int("bins")
	if err != nil {
		return nil, err
	}
	if bins < 1 || bins > 10000 {
		return nil, fmt.Errorf("parameter bins = %d, want 1…10000", bins)
	}
	w, err := workers(req.Params)
	if err != nil {
		return nil, err
	}
	edges := make([]float64, bins+1)
	for i := range edges {
		edges[i] = 2 * float64(i) / float64(bins)
	}
	bs := req.Set.BatchSizes
	null := stats.GaussianTailNull(max(4, req.Set.Batches))
	return &session{layer: func(ctx context.Context, in *plugins.LayerInput) (*plugins.LayerResult, error) {
		l := in.Layer
		nc := len(l.Coords)
		res := &plugins.LayerResult{Parameter: l.Parameter}
		res.Summary = append(res.Summary,
			plugins.Num(KeyNullMohammadiP05, 0, null.MohammadiP05), plugins.Num(KeyNullMohammadiMedian, 0, null.MohammadiMedian),
			plugins.Num(KeyNullMcCullochP05, 0, null.McCullochP05), plugins.Num(KeyNullMcCullochMedian, 0, null.McCullochMedian))
		bufs := make([][]float64, w)
		for k, b := range bs {
			am := make([]float64, nc)
			ac := make([]float64, nc)
			err := parallel(ctx, nc, w, func(wi, lo, hi int) error {
				var n int
				bufs[wi], n = columns(l, k, lo, hi, bufs[wi])
				for c := lo; c < hi; c++ {
					col := bufs[wi][(c-lo)*n : (c-lo+1)*n]
					a, err := stats.TailIndexMohammadi(col)
					if err != nil && !undefined(err) {
						return fmt.Errorf("layer %q, coordinate %d, batch size %d: %w", l.Parameter, l.Coords[c], b, err)
					}
					if err != nil {
						a = math.NaN()
					}
					am[c] = a
					p, err := stats.McCulloch(col)
					if err != nil && !undefined(err) {
						return fmt.Errorf("layer %q, coordinate %d, batch size %d: %w", l.Parameter, l.Coords[c], b, err)
					}
					if err != nil {
						p.Alpha = math.NaN()
					}
					ac[c] = p.Alpha
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
			res.PerCoordinate = append(res.PerCoordinate, plugins.Arr(KeyAlphaMohammadi, b, am), plugins.Arr(KeyAlphaMcCulloch, b, ac))
			for _, e := range []struct {
				vals                      []float64
				median, hist, undf, below string
				p05                       float64
			}{
				{am, KeyAlphaMohammadiMedian, KeyAlphaMohammadiHist, KeyUndefinedMohammadi, KeyBelowNullMohammadi, null.MohammadiP05},
				{ac, KeyAlphaMcCullochMedian, KeyAlphaMcCullochHist, KeyUndefinedMcCulloch, KeyBelowNullMcCulloch, null.McCullochP05},
			} {
				q, used := plugins.Quantiles(e.vals, 0.5)
				h, _ := plugins.NewHistogram(edges, e.vals)
				below := 0
				for _, a := range e.vals {
					if a < e.p05 {
						below++
					}
				}
				res.Summary = append(res.Summary,
					plugins.Num(e.median, b, q[0]),
					plugins.Hist(e.hist, b, h),
					plugins.Num(e.undf, b, float64(nc-used)),
					plugins.Num(e.below, b, percent(below, used)))
			}
		}
		return res, nil
	}}, nil
}
