package stats

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSWRadixSort: the radix sort gives slices.Sort's order (up to the sign
// of zero) on data with negatives, zeros, ties, subnormals and extremes.
func TestSWRadixSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	gens := map[string]func() float64{
		"normal":   rng.NormFloat64,
		"ties":     func() float64 { return float64(rng.IntN(7) - 3) },
		"positive": rng.ExpFloat64,
		"negative": func() float64 { return -rng.ExpFloat64() },
		"extremes": func() float64 {
			vals := []float64{0, math.Copysign(0, -1), 5e-324, -5e-324, math.MaxFloat64, -math.MaxFloat64,
				math.SmallestNonzeroFloat64 * 3, 1, -1, 1e-300, -1e300}
			return vals[rng.IntN(len(vals))]
		},
		"offset": func() float64 { return 1e9 + rng.NormFloat64() },
	}
	for name, g := range gens {
		for _, n := range []int{1, 2, 95, 96, 97, 600, 5000} {
			x := make([]float64, n)
			for i := range x {
				x[i] = g()
			}
			want := slices.Clone(x)
			slices.Sort(want)
			got := make([]float64, n)
			swRadixSort(got, x, make([]uint64, n), make([]uint64, n))
			for i := range got {
				if got[i] != want[i] { // −0 == +0
					t.Fatalf("%s n=%d: at %d got %v want %v", name, n, i, got[i], want[i])
				}
				if i > 0 && got[i] == 0 && got[i-1] == 0 && math.Signbit(got[i]) && !math.Signbit(got[i-1]) {
					t.Fatalf("%s n=%d: +0 before −0 at %d", name, n, i)
				}
			}
			s := newSWScratch(n)
			if y := s.sortInto(x); !slices.Equal(y, got) && n >= swRadixMin {
				t.Fatalf("%s n=%d: sortInto differs", name, n)
			}
		}
	}
}

// BenchmarkSWSort compares the radix sort with slices.Sort (the peer) at the
// sizes around swRadixMin and the audit's sizes.
func BenchmarkSWSort(b *testing.B) {
	for _, n := range []int{32, 64, 96, 128, 200, 600, 5000} {
		// Many distinct columns, so that the branch predictor cannot learn
		// the comparison outcomes of a few repeated inputs.
		src := swBenchColumns(n, max(16, 1<<18/n))
		dst := make([]float64, n)
		k1, k2 := make([]uint64, n), make([]uint64, n)
		b.Run(fmt.Sprintf("slices.Sort/n=%d", n), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				copy(dst, src[i%len(src)])
				slices.Sort(dst)
			}
		})
		b.Run(fmt.Sprintf("radix/n=%d", n), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				swRadixSort(dst, src[i%len(src)], k1, k2)
			}
		})
	}
}
