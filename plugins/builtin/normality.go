package builtin

import (
	"context"
	"fmt"
	"math"

	"github.com/gnaudit/gnaudit/auditor/stats"
	"github.com/gnaudit/gnaudit/plugins"
)

// Keys of the normality analysis. Values marked @B exist per audited batch
// size.
const (
	NormalityName = "normality"
	// Per coordinate @B: the Shapiro–Wilk p-value (1 for a degenerate,
	// zero-range column).
	KeyPValue = "p_value"
	// Summary @B.
	KeyGaussianityPercent = "gaussianity_percent" // 100·#(p>α)/#tested, degenerate counted Gaussian
	KeyGaussian           = "gaussian"            // #(p>α), degenerate included
	KeyDegenerate         = "degenerate"          // #zero-range columns
	KeyTested             = "tested"              // #tested coordinates
	KeyPValueHist         = "p_value_hist"        // 20 bins on [0, 1], degenerate excluded
	KeyAlpha              = "alpha"               // the level used (no batch size)
	// Summary @B, the pass rate over the non-degenerate coordinates only
	// (METHOD.md §3, "Reading the Gaussianity %"): the primary number.
	KeyNonDegeneratePercent = "nondegenerate_percent" // 100·#(p>α)/#non-degenerate
	KeyPercentLow           = "nondegenerate_low"     // Wilson interval of it
	KeyPercentHigh          = "nondegenerate_high"
	// KeyNonGaussianPercent is the moment estimate of the share of
	// non-Gaussian coordinates, 100·(R−α)/(1−α) with R the rejection rate
	// (a lower bound where the test's power is below 1), with the Wilson
	// interval of R carried through; KeyNonGaussianStorey is 100·(1−π̂₀),
	// Storey's estimate from the p-values (λ = 0.5).
	KeyNonGaussianPercent = "non_gaussian_percent"
	KeyNonGaussianLow     = "non_gaussian_low"
	KeyNonGaussianHigh    = "non_gaussian_high"
	KeyNonGaussianStorey  = "non_gaussian_storey"
	// No batch size: the ceiling 100·(1−α) of the pass rate (exactly
	// Gaussian noise passes at this rate) and the confidence level.
	KeyCeilingPercent = "ceiling_percent"
	KeyConfidenceNorm = "confidence"
)

// Normality is the Shapiro–Wilk analysis (METHOD.md §3): for every tested
// coordinate and batch size B, the test on the n mini-batch noise values;
// a coordinate is Gaussian when p > α. Zero-range columns are counted as
// Gaussian and reported apart as degenerate.
type Normality struct {
	// Tester, when set, runs the test on all columns of a batch size at once
	// (e.g. on the GPU); nil runs auditor/stats on the CPU.
	Tester ColumnTester
}

// ColumnTester runs the Shapiro–Wilk test on every column of a row-major
// float32 matrix (rows = the n observations, as noise.Layer.MiniBatch holds
// them) with the coefficients of sw. Its results must agree with
// sw.Test on each column (W to 1e-10; the accelerator's float64 arithmetic
// differs only in summation order).
type ColumnTester interface {
	ShapiroWilkColumns(m []float32, cols int, sw *stats.ShapiroWilk) ([]stats.SWResult, error)
}

// Describe implements plugins.Analysis.
func (Normality) Describe(context.Context) (plugins.Description, error) {
	return plugins.Description{
		Name:    NormalityName,
		Version: Version,
		Summary: "Shapiro–Wilk (AS R94) per coordinate and batch size → Gaussianity % per layer",
		Params: []plugins.Param{
			{Name: "alpha", Type: plugins.TypeFloat, Default: "0.05", Doc: "level: a coordinate is Gaussian when p > alpha"},
			{Name: "confidence", Type: plugins.TypeFloat, Default: "0.95", Doc: "confidence level of the intervals of the pass rate and the non-Gaussian share"},
			workersParam,
		},
	}, nil
}

// Start implements plugins.Analysis.
func (a Normality) Start(_ context.Context, req *plugins.StartRequest) (plugins.Session, error) {
	alpha, err := req.Params.Float("alpha")
	if err != nil {
		return nil, err
	}
	if !(alpha > 0 && alpha < 1) {
		return nil, fmt.Errorf("parameter alpha = %v, want 0 < alpha < 1", alpha)
	}
	conf, err := req.Params.Float("confidence")
	if err != nil {
		return nil, err
	}
	if !(conf > 0 && conf < 1) {
		return nil, fmt.Errorf("parameter confidence = %v, want 0 < confidence < 1", conf)
	}
	w, err := workers(req.Params)
	if err != nil {
		return nil, err
	}
	n := req.Set.Batches
	sw, err := stats.NewShapiroWilk(n)
	if err != nil {
		return nil, fmt.Errorf("Shapiro–Wilk over %d mini-batches per batch size: %w", n, err)
	}
	bs := req.Set.BatchSizes
	return &session{layer: func(ctx context.Context, in *plugins.LayerInput) (*plugins.LayerResult, error) {
		l := in.Layer
		nc := len(l.Coords)
		res := &plugins.LayerResult{Parameter: l.Parameter}
		bufs := make([][]float64, w)
		for k, b := range bs {
			p := make([]float64, nc)
			degen := make([]bool, nc)
			if a.Tester != nil {
				rs, err := a.Tester.ShapiroWilkColumns(l.MiniBatch[k], nc, sw)
				if err != nil {
					return nil, fmt.Errorf("layer %q, batch size %d: %w", l.Parameter, b, err)
				}
				if len(rs) != nc {
					return nil, fmt.Errorf("layer %q, batch size %d: %d results for %d coordinates", l.Parameter, b, len(rs), nc)
				}
				for c, r := range rs {
					p[c], degen[c] = r.P, r.Degenerate
				}
			}
			err := parallel(ctx, nc, w, func(wi, lo, hi int) error {
				if a.Tester != nil {
					return nil
				}
				var n int
				bufs[wi], n = columns(l, k, lo, hi, bufs[wi])
				for c := lo; c < hi; c++ {
					r, err := sw.Test(bufs[wi][(c-lo)*n : (c-lo+1)*n])
					if err != nil {
						return fmt.Errorf("layer %q, coordinate %d, batch size %d: %w", l.Parameter, l.Coords[c], b, err)
					}
					p[c], degen[c] = r.P, r.Degenerate
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
			gauss, nd := 0, 0
			hist, _ := plugins.NewHistogram(unitEdges(20), nil)
			for c := range p {
				if degen[c] {
					nd++
					gauss++
					continue
				}
				if p[c] > alpha {
					gauss++
				}
				hist.Add(p[c])
			}
			res.PerCoordinate = append(res.PerCoordinate, plugins.Arr(KeyPValue, b, p))
			res.Summary = append(res.Summary,
				plugins.Num(KeyGaussianityPercent, b, percent(gauss, nc)),
				plugins.Num(KeyGaussian, b, float64(gauss)),
				plugins.Num(KeyDegenerate, b, float64(nd)),
				plugins.Num(KeyTested, b, float64(nc)),
				plugins.Hist(KeyPValueHist, b, hist))
			res.Summary = append(res.Summary, passRate(b, gauss-nd, nc-nd, alpha, conf, nonDegenerate(p, degen))...)
		}
		res.Summary = append(res.Summary, plugins.Num(KeyAlpha, 0, alpha),
			plugins.Num(KeyCeilingPercent, 0, 100*(1-alpha)), plugins.Num(KeyConfidenceNorm, 0, conf))
		return res, nil
	}}, nil
}

// unitEdges returns bins+1 equal edges on [0, 1].
func unitEdges(bins int) []float64 {
	e := make([]float64, bins+1)
	for i := range e {
		e[i] = float64(i) / float64(bins)
	}
	return e
}

func nonDegenerate(p []float64, degen []bool) []float64 {
	out := make([]float64, 0, len(p))
	for c, x := range p {
		if !degen[c] {
			out = append(out, x)
		}
	}
	return out
}

// passRate returns the summary values of a pass rate of pass out of m
// non-degenerate coordinates at batch size b (NaN when m = 0).
func passRate(b, pass, m int, alpha, conf float64, ps []float64) []plugins.Value {
	nan := math.NaN()
	pct, lo, hi, ng, ngLo, ngHi, st := nan, nan, nan, nan, nan, nan, nan
	if m > 0 {
		pct = percent(pass, m)
		l, h := stats.Wilson(pass, m, 1-conf)
		lo, hi = 100*l, 100*h
		r := 1 - float64(pass)/float64(m)
		ng = 100 * stats.NonNullShare(r, alpha)
		ngLo, ngHi = 100*stats.NonNullShare(1-h, alpha), 100*stats.NonNullShare(1-l, alpha)
		st = 100 * (1 - stats.StoreyPi0(ps, 0.5))
	}
	return []plugins.Value{
		plugins.Num(KeyNonDegeneratePercent, b, pct),
		plugins.Num(KeyPercentLow, b, lo),
		plugins.Num(KeyPercentHigh, b, hi),
		plugins.Num(KeyNonGaussianPercent, b, ng),
		plugins.Num(KeyNonGaussianLow, b, ngLo),
		plugins.Num(KeyNonGaussianHigh, b, ngHi),
		plugins.Num(KeyNonGaussianStorey, b, st),
	}
}
