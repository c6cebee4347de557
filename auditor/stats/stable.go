package stats

import (
	"math"
	"math/rand/v2"
)

// StableParams are the four parameters of an α-stable law in Nolan's S1
// parameterization (scipy.stats.levy_stable's default, and McCulloch's):
// characteristic function
//
//	E e^{itX} = exp(iδt − |γt|^α (1 − iβ sign(t) tan(πα/2)))   (α ≠ 1)
//	E e^{itX} = exp(iδt − |γt| (1 + iβ (2/π) sign(t) log|t|))   (α = 1)
//
// with α = Alpha ∈ (0, 2], β = Beta ∈ [−1, 1], γ = Scale > 0 and
// δ = Location. For β = 0 the S0 and S1 locations coincide; otherwise see
// LocationS0. With α = 2 the law is N(δ, 2γ²).
type StableParams struct {
	Alpha, Beta, Scale, Location float64
}

// LocationS0 returns the location in Nolan's S0 parameterization
// (scipy's _fitstart_S0 mapping): δ0 = δ1 + βγ tan(πα/2) for α ≠ 1 and
// δ0 = δ1 + (2/π)βγ log γ for α = 1.
func (p StableParams) LocationS0() float64 {
	if p.Alpha == 1 {
		return p.Location + 2*p.Beta*p.Scale*math.Log(p.Scale)/math.Pi
	}
	return p.Location + p.Beta*p.Scale*math.Tan(math.Pi*p.Alpha/2)
}

// SampleStable draws one value from the α-stable law S1(alpha, beta, scale,
// loc) (see StableParams) with the Chambers–Mallows–Stuck (1976) method in
// the form of Weron (1996): V uniform on (−π/2, π/2), W standard
// exponential, and for α ≠ 1
//
//	B = arctan(β tan(πα/2))/α,  S = (1 + β² tan²(πα/2))^{1/(2α)},
//	X = S · sin(α(V+B))/cos(V)^{1/α} · (cos(V − α(V+B))/W)^{(1−α)/α},
//
// returned as scale·X + loc; for α = 1,
//
//	X = (2/π)[(π/2 + βV) tan V − β log((π/2)W cos V/(π/2 + βV))],
//
// returned as scale·X + (2/π)β·scale·log(scale) + loc.
//
// rng is a math/rand/v2 generator (any Source, e.g. rand.NewPCG); results
// are reproducible for a given seeded source. SampleStable returns NaN for
// parameters outside α ∈ (0, 2], β ∈ [−1, 1], scale > 0, finite loc.
func SampleStable(rng *rand.Rand, alpha, beta, scale, loc float64) float64 {
	if !(alpha > 0 && alpha <= 2) || !(beta >= -1 && beta <= 1) || !(scale > 0) ||
		math.IsInf(scale, 0) || math.IsNaN(loc) || math.IsInf(loc, 0) || rng == nil {
		return math.NaN()
	}
	// V in the open interval (−π/2, π/2): Float64 is in [0, 1), reject 0.
	u := rng.Float64()
	for u == 0 {
		u = rng.Float64()
	}
	v := math.Pi * (u - 0.5)
	w := rng.ExpFloat64()
	if alpha == 1 {
		h := math.Pi/2 + beta*v
		x := (2 / math.Pi) * (h*math.Tan(v) - beta*math.Log((math.Pi/2)*w*math.Cos(v)/h))
		return scale*x + (2/math.Pi)*beta*scale*math.Log(scale) + loc
	}
	var b, s float64
	if beta != 0 {
		t := beta * math.Tan(math.Pi*alpha/2)
		b = math.Atan(t) / alpha
		s = math.Pow(1+t*t, 1/(2*alpha))
	} else {
		s = 1
	}
	avb := alpha * (v + b)
	x := s * math.Sin(avb) / math.Pow(math.Cos(v), 1/alpha) *
		math.Pow(math.Cos(v-avb)/w, (1-alpha)/alpha)
	return scale*x + loc
}
