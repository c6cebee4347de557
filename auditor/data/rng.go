package data

import (
	"hash/fnv"
	"math/bits"
	"math/rand/v2"
)

// Rand is gnaudit's deterministic random source. It uses PCG-DXSM
// (math/rand/v2.PCG, whose output sequence is fixed by its specification)
// and its own bounded-integer, shuffling and sampling algorithms, so that a
// seed gives the same draws on every Go version and platform.
//
// Independent streams come from one seed by naming them: NewRand(seed,
// "pool") and NewRand(seed, "coords/conv1.weight") do not overlap in any
// useful sense, and adding a stream never changes another one.
type Rand struct{ src *rand.PCG }

// NewRand returns the stream named stream of seed.
func NewRand(seed int64, stream string) *Rand {
	h := fnv.New64a()
	h.Write([]byte(stream))
	return &Rand{src: rand.NewPCG(uint64(seed), h.Sum64())}
}

// Uint64 returns 64 uniformly random bits.
func (r *Rand) Uint64() uint64 { return r.src.Uint64() }

// Float64 returns a uniform value in [0, 1) with 53 random bits.
func (r *Rand) Float64() float64 { return float64(r.src.Uint64()>>11) * 0x1p-53 }

// IntN returns a uniform integer in [0, n), using Lemire's multiply-shift
// method with rejection (exactly uniform). n must be positive; IntN returns 0
// for n <= 0.
func (r *Rand) IntN(n int) int {
	if n <= 1 {
		return 0
	}
	bound := uint64(n)
	hi, lo := bits.Mul64(r.src.Uint64(), bound)
	if lo < bound {
		thresh := -bound % bound
		for lo < thresh {
			hi, lo = bits.Mul64(r.src.Uint64(), bound)
		}
	}
	return int(hi)
}

// Perm returns a uniformly random permutation of 0..n-1 (Fisher–Yates).
func (r *Rand) Perm(n int) []int {
	p := make([]int, max(n, 0))
	for i := range p {
		p[i] = i
	}
	r.Shuffle(p)
	return p
}

// Shuffle permutes p uniformly at random in place (Fisher–Yates, from the
// last element down).
func (r *Rand) Shuffle(p []int) {
	for i := len(p) - 1; i > 0; i-- {
		j := r.IntN(i + 1)
		p[i], p[j] = p[j], p[i]
	}
}

// Sample returns k distinct integers drawn uniformly without replacement from
// 0..n-1, in draw order (a partial Fisher–Yates shuffle). It returns nil when
// k < 0 or k > n.
func (r *Rand) Sample(n, k int) []int {
	if k < 0 || k > n {
		return nil
	}
	s := NewSampler(r, n)
	return append([]int(nil), s.Draw(k)...)
}

// Sampler draws repeated samples without replacement from 0..n-1 with O(k)
// work per draw of k, reusing one permutation of size n: a partial
// Fisher–Yates shuffle started from any arrangement of 0..n-1 still yields a
// uniformly random k-subset in uniformly random order.
type Sampler struct {
	r    *Rand
	perm []int
}

// NewSampler returns a Sampler of 0..n-1 driven by r.
func NewSampler(r *Rand, n int) *Sampler {
	p := make([]int, max(n, 0))
	for i := range p {
		p[i] = i
	}
	return &Sampler{r: r, perm: p}
}

// Draw returns k distinct values (k is clamped to [0, n]). The returned slice
// is owned by the Sampler and valid until the next Draw.
func (s *Sampler) Draw(k int) []int {
	n := len(s.perm)
	k = min(max(k, 0), n)
	for i := 0; i < k; i++ {
		j := i + s.r.IntN(n-i)
		s.perm[i], s.perm[j] = s.perm[j], s.perm[i]
	}
	return s.perm[:k]
}
