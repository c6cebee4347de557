package train

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Schedule gives the learning rate η_k of update k (0-based) of total.
type Schedule interface {
	// LR returns η for update step (0 ≤ step < total).
	LR(step, total int) float64
	// String describes the schedule for reports.
	String() string
}

// Constant is a constant learning rate.
type Constant float64

// LR returns the constant.
func (c Constant) LR(step, total int) float64 { return float64(c) }

// String is e.g. "constant 0.01".
func (c Constant) String() string { return fmt.Sprintf("constant %g", float64(c)) }

// MultiStep multiplies the learning rate by Gamma at fractions of training:
// update k uses Base·Gamma^j, j the number of fractions f in At with
// k ≥ f·total. So with total = 500 and At = {0.5, 0.75}, updates 0–249 use
// Base, 250–374 Base·Gamma and 375–499 Base·Gamma² (with total = 3, updates
// 0 and 1 use Base and update 2 Base·Gamma, since 2 ≥ 1.5 but 2 < 2.25).
type MultiStep struct {
	Base  float64
	Gamma float64
	At    []float64 // increasing fractions in (0, 1]
}

// Paper is the paper's schedule: 0.1, then 0.01 from 50 % and 0.001 from
// 75 % of training.
func Paper() MultiStep {
	return MultiStep{Base: 0.1, Gamma: 0.1, At: []float64{0.5, 0.75}}
}

// Milestone is the first update that uses the rate after fraction f of
// total updates: the smallest k with k ≥ f·total (a relative tolerance of
// 1e-12 absorbs rounding, so 0.7·10 gives 7).
func Milestone(f float64, total int) int {
	x := f * float64(total)
	return int(math.Ceil(x - 1e-12*math.Max(1, math.Abs(x))))
}

// LR returns Base·Gamma^j (see MultiStep), rounded to 15 significant
// digits so that 0.1·0.1 is 0.01 and not 0.010000000000000002.
func (s MultiStep) LR(step, total int) float64 {
	lr := s.Base
	for _, f := range s.At {
		if step >= Milestone(f, total) {
			lr *= s.Gamma
		}
	}
	r, err := strconv.ParseFloat(strconv.FormatFloat(lr, 'g', 15, 64), 64)
	if err != nil {
		return lr
	}
	return r
}

// String is e.g. "step 0.1 ×0.1 at 50%, 75%".
func (s MultiStep) String() string {
	parts := make([]string, len(s.At))
	for i, f := range s.At {
		parts[i] = fmt.Sprintf("%g%%", 100*f)
	}
	return fmt.Sprintf("step %g ×%g at %s", s.Base, s.Gamma, strings.Join(parts, ", "))
}

// validate checks a schedule's parameters.
func (s MultiStep) validate() error {
	if !(s.Base > 0) || math.IsInf(s.Base, 0) {
		return fmt.Errorf("learning rate %v must be positive and finite", s.Base)
	}
	if !(s.Gamma > 0) || math.IsInf(s.Gamma, 0) {
		return fmt.Errorf("schedule factor %v must be positive and finite", s.Gamma)
	}
	prev := 0.0
	for _, f := range s.At {
		if !(f > prev) || f > 1 {
			return fmt.Errorf("schedule fractions %v must increase within (0, 1]", s.At)
		}
		prev = f
	}
	return nil
}
