package train

import (
	"fmt"
	"math"
)

// SGD is the momentum optimiser of METHOD.md §7 on named float64
// parameters: v ← μ v − η (g + λ θ), θ ← θ + v, v starting at 0. The zero
// value is plain SGD without weight decay.
type SGD struct {
	Momentum    float64 // μ
	WeightDecay float64 // λ
	vel         map[string][]float64
}

// Update applies one step to theta in place, with gradient grad (the mean
// gradient of the batch) and learning rate lr; decay false leaves weight
// decay out for this parameter (λ = 0). The velocity of name is created at
// the first call.
func (o *SGD) Update(name string, theta, grad []float64, lr float64, decay bool) error {
	if len(theta) != len(grad) {
		return fmt.Errorf("train: SGD: parameter %q has %d values but its gradient %d", name, len(theta), len(grad))
	}
	if o.vel == nil {
		o.vel = map[string][]float64{}
	}
	v, ok := o.vel[name]
	if !ok {
		v = make([]float64, len(theta))
		o.vel[name] = v
	} else if len(v) != len(theta) {
		return fmt.Errorf("train: SGD: parameter %q has %d values, its velocity %d", name, len(theta), len(v))
	}
	mu, lam := o.Momentum, o.WeightDecay
	if !decay {
		lam = 0
	}
	for i, th := range theta {
		v[i] = mu*v[i] - lr*(grad[i]+lam*th)
		theta[i] = th + v[i]
	}
	return nil
}

// Velocity returns a copy of the velocity of name (nil before its first
// update).
func (o *SGD) Velocity(name string) []float64 {
	v, ok := o.vel[name]
	if !ok {
		return nil
	}
	return append([]float64(nil), v...)
}

// validate checks μ and λ.
func (o *SGD) validate() error {
	if !(o.Momentum >= 0 && o.Momentum < 1) {
		return fmt.Errorf("momentum %v outside [0, 1)", o.Momentum)
	}
	if !(o.WeightDecay >= 0) || math.IsInf(o.WeightDecay, 0) {
		return fmt.Errorf("weight decay %v must be finite and ≥ 0", o.WeightDecay)
	}
	return nil
}
