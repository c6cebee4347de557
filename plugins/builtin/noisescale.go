package builtin

import (
	"context"
	"math"

	"github.com/gnaudit/gnaudit/plugins"
)

// Keys of the noise-scale analysis (per layer summary and model values).
const (
	NoiseScaleName = "noise-scale"
	KeyTraceCov    = "trace_cov"
	KeyGradNormSq  = "grad_norm_sq"
	KeyBSimple     = "b_simple" // NaN when |ḡ|² = 0
)

// NoiseScale computes the gradient noise scale B_simple = tr(Σ)/|ḡ|²
// (METHOD.md §6; McCandlish et al. 2018) per layer, over all coordinates of
// the parameter, and for the model as Σ traces / Σ squared norms.
type NoiseScale struct{}

// Describe implements plugins.Analysis.
func (NoiseScale) Describe(context.Context) (plugins.Description, error) {
	return plugins.Description{
		Name:    NoiseScaleName,
		Version: Version,
		Summary: "gradient noise scale B_simple = tr(Σ)/|ḡ|² per layer and for the model",
	}, nil
}

// BSimple returns traceCov/gradNormSq, NaN when gradNormSq is not positive.
func BSimple(traceCov, gradNormSq float64) float64 {
	if !(gradNormSq > 0) {
		return math.NaN()
	}
	return traceCov / gradNormSq
}

// Start implements plugins.Analysis.
func (NoiseScale) Start(context.Context, *plugins.StartRequest) (plugins.Session, error) {
	var tr, gn float64
	return &session{
		layer: func(_ context.Context, in *plugins.LayerInput) (*plugins.LayerResult, error) {
			l := in.Layer
			tr += l.TraceCov
			gn += l.GradNormSq
			return &plugins.LayerResult{Parameter: l.Parameter, Summary: []plugins.Value{
				plugins.Num(KeyTraceCov, 0, l.TraceCov),
				plugins.Num(KeyGradNormSq, 0, l.GradNormSq),
				plugins.Num(KeyBSimple, 0, BSimple(l.TraceCov, l.GradNormSq)),
			}}, nil
		},
		finish: func(context.Context) ([]plugins.Value, error) {
			return []plugins.Value{
				plugins.Num(KeyTraceCov, 0, tr),
				plugins.Num(KeyGradNormSq, 0, gn),
				plugins.Num(KeyBSimple, 0, BSimple(tr, gn)),
			}, nil
		},
	}, nil
}
