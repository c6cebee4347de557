package train

import (
	"fmt"
	"math"
)

// Optimizer applies one update to a named float64 parameter: theta in
// place, from the mean gradient grad of the batch and the learning rate lr;
// decay false leaves weight decay out for this parameter. [SGD] and
// [AdamW] implement it.
type Optimizer interface {
	Update(name string, theta, grad []float64, lr float64, decay bool) error
}

// The optimisers of Options.Optimizer.
const (
	OptSGD   = "sgd"
	OptAdamW = "adamw"
)

// AdamW is torch.optim.AdamW (amsgrad off, maximize off) on named float64
// parameters. Per parameter and update t = 1, 2, …:
//
//	θ ← θ (1 − η λ)                              (decoupled weight decay)
//	m ← β₁ m + (1 − β₁) g,   v ← β₂ v + (1 − β₂) g²
//	θ ← θ − η · (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε)
//
// with m = v = 0 before the first update (t counts the updates of each
// parameter). This is exactly torch's arithmetic order: the step size
// η/(1 − β₁ᵗ) multiplies m/(√v/√(1 − β₂ᵗ) + ε).
type AdamW struct {
	Beta1, Beta2 float64 // β₁, β₂ in [0, 1) (torch: 0.9, 0.999)
	Eps          float64 // ε > 0 (torch: 1e-8)
	WeightDecay  float64 // λ ≥ 0 (torch's default 0.01)
	st           map[string]*adamState
}

type adamState struct {
	t    int
	m, v []float64
}

// NewAdamW returns AdamW with torch's β₁ = 0.9, β₂ = 0.999, ε = 10⁻⁸ and
// weight decay λ.
func NewAdamW(weightDecay float64) *AdamW {
	return &AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: weightDecay}
}

// Update applies one AdamW step (see AdamW).
func (o *AdamW) Update(name string, theta, grad []float64, lr float64, decay bool) error {
	if len(theta) != len(grad) {
		return fmt.Errorf("train: AdamW: parameter %q has %d values but its gradient %d", name, len(theta), len(grad))
	}
	if o.st == nil {
		o.st = map[string]*adamState{}
	}
	s, ok := o.st[name]
	if !ok {
		s = &adamState{m: make([]float64, len(theta)), v: make([]float64, len(theta))}
		o.st[name] = s
	} else if len(s.m) != len(theta) {
		return fmt.Errorf("train: AdamW: parameter %q has %d values, its state %d", name, len(theta), len(s.m))
	}
	s.t++
	b1, b2 := o.Beta1, o.Beta2
	bc1 := 1 - math.Pow(b1, float64(s.t))
	bc2 := 1 - math.Pow(b2, float64(s.t))
	stepSize := lr / bc1
	bc2s := math.Sqrt(bc2)
	shrink := 1.0
	if decay {
		shrink = 1 - lr*o.WeightDecay
	}
	for i, g := range grad {
		th := theta[i] * shrink
		s.m[i] = b1*s.m[i] + (1-b1)*g
		s.v[i] = b2*s.v[i] + (1-b2)*g*g
		den := math.Sqrt(s.v[i])/bc2s + o.Eps
		theta[i] = th - stepSize*s.m[i]/den
	}
	return nil
}

// Moments returns copies of the first and second moment of name (nil
// before its first update).
func (o *AdamW) Moments(name string) (m, v []float64) {
	s, ok := o.st[name]
	if !ok {
		return nil, nil
	}
	return append([]float64(nil), s.m...), append([]float64(nil), s.v...)
}

// validate checks the hyper-parameters.
func (o *AdamW) validate() error {
	if !(o.Beta1 >= 0 && o.Beta1 < 1) || !(o.Beta2 >= 0 && o.Beta2 < 1) {
		return fmt.Errorf("AdamW betas (%v, %v) outside [0, 1)", o.Beta1, o.Beta2)
	}
	if !(o.Eps > 0) || math.IsInf(o.Eps, 0) {
		return fmt.Errorf("AdamW eps %v must be positive and finite", o.Eps)
	}
	if !(o.WeightDecay >= 0) || math.IsInf(o.WeightDecay, 0) {
		return fmt.Errorf("weight decay %v must be finite and ≥ 0", o.WeightDecay)
	}
	return nil
}

// Warmup multiplies a schedule by a linear warm-up over its first Steps
// updates: update k uses Then.LR(k)·min(1, (k+1)/Steps), as
// torch.optim.lr_scheduler.LambdaLR(lambda k: min(1, (k+1)/Steps)) stepped
// after every update.
type Warmup struct {
	Steps int
	Then  Schedule
}

// LR returns the warmed-up rate.
func (w Warmup) LR(step, total int) float64 {
	lr := w.Then.LR(step, total)
	if w.Steps > 0 && step+1 < w.Steps {
		lr *= float64(step+1) / float64(w.Steps)
	}
	return lr
}

// String is e.g. "linear warm-up over 100 updates, then step 0.1 ×0.1 at 50%, 75%".
func (w Warmup) String() string {
	return fmt.Sprintf("linear warm-up over %d updates, then %s", w.Steps, w.Then)
}
