// Package synth builds synthetic noise sets with known properties, for tests
// and demonstrations of the analyses: per-sample noise drawn i.i.d. from a
// chosen law per coordinate, collected exactly as METHOD.md §1 prescribes
// (centred on the pool mean, mini-batch means of disjoint batches when
// n·B ≤ N, uniform draws without replacement otherwise).
package synth

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gnaudit/gnaudit/auditor/noise"
)

// Law draws one per-sample noise value.
type Law func(r *rand.Rand) float64

// Gaussian is N(0, 1).
func Gaussian(r *rand.Rand) float64 { return r.NormFloat64() }

// Cauchy is the standard Cauchy law (α = 1: no mean, mini-batch means stay
// Cauchy for every B).
func Cauchy(r *rand.Rand) float64 { return math.Tan(math.Pi * (r.Float64() - 0.5)) }

// Exponential is Exp(1) − 1 shifted to mean 0 before collection: a
// skewed law with finite moments (skewness 2), whose mini-batch means
// approach Gaussianity as B grows (skewness 2/√B).
func Exponential(r *rand.Rand) float64 { return r.ExpFloat64() }

// Zero is the point mass at 0 (a dead coordinate: degenerate columns).
func Zero(*rand.Rand) float64 { return 0 }

// Bernoulli returns a law of a 0/1 variable with success probability p: a
// finite-variance, heavily skewed law for small p, whose mini-batch means
// approach Gaussianity as B grows (ρ/σ³ ≈ 1/√p).
func Bernoulli(p float64) Law {
	return func(r *rand.Rand) float64 {
		if r.Float64() < p {
			return 1
		}
		return 0
	}
}

// LayerSpec describes one synthetic layer: Laws[c] is the law of tested
// coordinate c.
type LayerSpec struct {
	Name      string
	Parameter string
	Laws      []Law
	// Size is the parameter size (≥ len(Laws)); 0 means len(Laws).
	Size int
}

// Spec describes a synthetic noise set.
type Spec struct {
	Seed       uint64
	Pool       int
	Batches    int
	BatchSizes []int
	Layers     []LayerSpec
}

// Repeat returns n copies of law.
func Repeat(n int, law Law) []Law {
	out := make([]Law, n)
	for i := range out {
		out[i] = law
	}
	return out
}

// Set builds the noise set of spec. TraceCov and GradNormSq cover the tested
// coordinates only (the synthetic layer has no untested ones); the mean
// gradient ḡ_j of coordinate j is set to 0.01·(j+1), so |ḡ|² is known.
func Set(spec Spec) (*noise.Set, error) {
	if spec.Pool < 1 || spec.Batches < 1 {
		return nil, fmt.Errorf("synth: pool %d, batches %d", spec.Pool, spec.Batches)
	}
	r := rand.New(rand.NewPCG(spec.Seed, 0x9e3779b97f4a7c15))
	set := &noise.Set{Version: noise.Version, Model: "synthetic", Seed: int64(spec.Seed), Pool: spec.Pool,
		Batches: spec.Batches, BatchSizes: append([]int(nil), spec.BatchSizes...)}
	xi := make([]float64, spec.Pool)
	perm := make([]int, spec.Pool)
	for _, ls := range spec.Layers {
		nc := len(ls.Laws)
		size := ls.Size
		if size < nc {
			size = nc
		}
		l := noise.Layer{Name: ls.Name, Parameter: ls.Parameter, Kind: "weight", Shape: []int{size}, Size: size,
			Coords: make([]int, nc), Mean: make([]float64, nc), S2: make([]float64, nc), S3: make([]float64, nc),
			S4: make([]float64, nc), A3: make([]float64, nc), MiniBatch: make([][]float32, len(spec.BatchSizes)),
			Overlap: make([]bool, len(spec.BatchSizes))}
		for k, b := range spec.BatchSizes {
			l.MiniBatch[k] = make([]float32, spec.Batches*nc)
			l.Overlap[k] = spec.Batches*b > spec.Pool
		}
		for c, law := range ls.Laws {
			l.Coords[c] = c
			mean := 0.0
			for i := range xi {
				xi[i] = law(r)
				mean += xi[i]
			}
			mean /= float64(spec.Pool)
			for i := range xi {
				x := xi[i] - mean
				xi[i] = x
				l.S2[c] += x * x
				l.S3[c] += x * x * x
				l.S4[c] += x * x * x * x
				l.A3[c] += x * x * math.Abs(x)
			}
			g := 0.01 * float64(c+1)
			l.Mean[c] = g
			l.TraceCov += l.S2[c] / float64(spec.Pool)
			l.GradNormSq += g * g
			for k, b := range spec.BatchSizes {
				if b > spec.Pool {
					return nil, fmt.Errorf("synth: batch size %d > pool %d", b, spec.Pool)
				}
				disjoint := spec.Batches*b <= spec.Pool
				for i := range perm {
					perm[i] = i
				}
				r.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
				for s := 0; s < spec.Batches; s++ {
					var idx []int
					if disjoint {
						idx = perm[s*b : (s+1)*b]
					} else {
						// Partial Fisher–Yates: b distinct samples.
						for i := 0; i < b; i++ {
							j := i + r.IntN(spec.Pool-i)
							perm[i], perm[j] = perm[j], perm[i]
						}
						idx = perm[:b]
					}
					sum := 0.0
					for _, i := range idx {
						sum += xi[i]
					}
					l.MiniBatch[k][s*nc+c] = float32(sum / float64(b))
				}
			}
		}
		set.Layers = append(set.Layers, l)
	}
	return set, nil
}
