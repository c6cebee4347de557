package reports

import (
	"fmt"
	"math"

	"github.com/gnaudit/gnaudit/auditor/noise"
)

// AddWeightDecay adds to the noise-scale sections of cp (built from set)
// the gradient noise scale of the step SGD with weight decay λ takes,
// tr Σ̂ / |G + λθ|² (METHOD.md §6): |G + λθ|² is estimated without bias by
// |G|²_u + 2λ·ḡ·θ + λ²·|θ|², where |θ|² is exact and ḡ·θ is
// (Size/m)·Σ_{tested j} ḡ_j θ_j over the m tested coordinates (a uniform
// sample; exact when all are tested). params maps a layer's parameter
// name to its values at the checkpoint (flat, row-major); layers without
// values or without the unbiased parts are left as they are, and the model
// value is set only when every layer has one. λ ≤ 0 does nothing.
func AddWeightDecay(cp *Checkpoint, set *noise.Set, params map[string][]float32, lambda float64) error {
	if !(lambda > 0) {
		return nil
	}
	if len(cp.Layers) != len(set.Layers) {
		return fmt.Errorf("weight decay: checkpoint has %d layers, noise set %d", len(cp.Layers), len(set.Layers))
	}
	var tr, den float64
	all := true
	for i := range set.Layers {
		l := &set.Layers[i]
		ns := cp.Layers[i].NoiseScale
		theta, ok := params[l.Parameter]
		if ns == nil || !ok || !ns.TraceCovUnbiased.Set || !ns.GradNormSqUnbiased.Set || len(l.Mean) != len(l.Coords) {
			all = false
			continue
		}
		if len(theta) != l.Size {
			return fmt.Errorf("weight decay: parameter %s has %d values, the noise set says %d", l.Parameter, len(theta), l.Size)
		}
		th2 := 0.0
		for _, v := range theta {
			th2 += float64(v) * float64(v)
		}
		dot := 0.0
		for c, j := range l.Coords {
			dot += l.Mean[c] * float64(theta[j])
		}
		if m := len(l.Coords); m > 0 {
			dot *= float64(l.Size) / float64(m)
		}
		d := ns.GradNormSqUnbiased.Float() + 2*lambda*dot + lambda*lambda*th2
		ns.WeightDecay = Some(lambda)
		ns.BSimpleWeightDecay = Some(ratio(ns.TraceCovUnbiased.Float(), d))
		tr += ns.TraceCovUnbiased.Float()
		den += d
	}
	if ns := cp.NoiseScale; ns != nil && all {
		ns.WeightDecay = Some(lambda)
		ns.BSimpleWeightDecay = Some(ratio(tr, den))
	}
	return nil
}

func ratio(a, b float64) float64 {
	if !(b > 0) {
		return math.NaN()
	}
	return a / b
}
