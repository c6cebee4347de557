package builtin

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/gnaudit/gnaudit/plugins"
	"github.com/gnaudit/gnaudit/plugins/stats"
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
)

// AlphaStable estimates the tail index α of the mini-batch noise of every
// tested coordinate and batch size (METHOD.md §5), with the log-moment
// estimator of Mohammadi et al. (2015) and McCulloch's (1986) quantile
// estimator, on the n mini-batch noise values (centred by construction:
// ξ_S = g_S − ḡ). α = 2 is Gaussian.
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
	return errors.Is(err, stats.ErrAllZero) || errors.Is(err, stats.ErrDegenerateQuantiles) || errors.Is(err, stats.ErrTooFewValues)
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
	return &session{layer: func(ctx context.Context, in *plugins.LayerInput) (*plugins.LayerResult, error) {
		l := in.Layer
		nc := len(l.Coords)
		res := &plugins.LayerResult{Parameter: l.Parameter}
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
				vals               []float64
				median, hist, undf string
			}{
				{am, KeyAlphaMohammadiMedian, KeyAlphaMohammadiHist, KeyUndefinedMohammadi},
				{ac, KeyAlphaMcCullochMedian, KeyAlphaMcCullochHist, KeyUndefinedMcCulloch},
			} {
				q, used := plugins.Quantiles(e.vals, 0.5)
				h, _ := plugins.NewHistogram(edges, e.vals)
				res.Summary = append(res.Summary,
					plugins.Num(e.median, b, q[0]),
					plugins.Hist(e.hist, b, h),
					plugins.Num(e.undf, b, float64(nc-used)))
			}
		}
		return res, nil
	}}, nil
}
