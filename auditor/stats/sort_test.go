package stats

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// sortGens are the data sets of the sort tests: negatives, zeros of both
// signs, ties, subnormals, infinities, extremes and float32-rounded values.
func sortGens(rng *rand.Rand) map[string]func() float64 {
	return map[string]func() float64{
		"normal":   rng.NormFloat64,
		"scales":   func() float64 { return rng.NormFloat64() * math.Pow(10, float64(rng.IntN(40)-20)) },
		"float32":  func() float64 { return float64(float32(rng.NormFloat64())) },
		"ties":     func() float64 { return float64(rng.IntN(7) - 3) },
		"positive": rng.ExpFloat64,
		"negative": func() float64 { return -rng.ExpFloat64() },
		"extremes": func() float64 {
			vals := []float64{0, math.Copysign(0, -1), 5e-324, -5e-324, math.MaxFloat64, -math.MaxFloat64,
				math.SmallestNonzeroFloat64 * 3, 1, -1, 1e-300, -1e300, math.Inf(1), math.Inf(-1)}
			return vals[rng.IntN(len(vals))]
		},
		"offset": func() float64 { return 1e9 + rng.NormFloat64() },
	}
}

// checkSorted fails unless got equals want (slices.Sort's order) value by
// value, with −0 before +0 where radix is set.
func checkSorted(t *testing.T, what string, got, want []float64, radix bool) {
	t.Helper()
	for i := range want {
		if got[i] != want[i] { // −0 == +0
			t.Fatalf("%s: at %d got %v want %v", what, i, got[i], want[i])
		}
		if radix && i > 0 && got[i] == 0 && got[i-1] == 0 && math.Signbit(got[i]) && !math.Signbit(got[i-1]) {
			t.Fatalf("%s: +0 before −0 at %d", what, i)
		}
	}
}

// TestSortFloat64: SortFloat64 gives slices.Sort's order (up to the sign of
// zero) on both sides of radixSortMin, with scratch of the right size, none
// (it allocates) and in place; the recycled sortScratch agrees.
func TestSortFloat64(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for name, g := range sortGens(rng) {
		for _, n := range []int{0, 1, 2, 5, 95, 96, 97, 600, 2000, 5000} {
			x := make([]float64, n)
			for i := range x {
				x[i] = g()
			}
			want := slices.Sorted(slices.Values(x))
			what := fmt.Sprintf("%s n=%d", name, n)
			orig := slices.Clone(x)

			got := SortFloat64(make([]float64, n+3), x, make([]uint64, 2*n))
			if len(got) != n {
				t.Fatalf("%s: returned %d values", what, len(got))
			}
			checkSorted(t, what, got, want, n >= radixSortMin)
			if !slices.Equal(x, orig) {
				t.Fatalf("%s: src modified", what)
			}
			if g2 := SortFloat64(make([]float64, n), x, nil); !slices.Equal(g2, got) {
				t.Fatalf("%s: without scratch differs", what)
			}
			inPlace := slices.Clone(x)
			if g3 := SortFloat64(inPlace, inPlace, make([]uint64, 2*n)); !slices.Equal(g3, got) {
				t.Fatalf("%s: in place differs", what)
			}
			if g4 := newSortScratch(n).sorted(x); !slices.Equal(g4, got) {
				t.Fatalf("%s: sortScratch differs", what)
			}
			if g5 := new(sortScratch).sorted(x); !slices.Equal(g5, got) {
				t.Fatalf("%s: grown sortScratch differs", what)
			}
		}
	}
}

// TestSortFloat64NoAlloc: with scratch of 2·n, SortFloat64 allocates
// nothing; so do SortFloat32To64 and, once warm, McCulloch.
func TestSortFloat64NoAlloc(t *testing.T) {
	x := swBenchColumns(600, 1)[0]
	x32 := make([]float32, len(x))
	for i, v := range x {
		x32[i] = float32(v)
	}
	dst, k, q := make([]float64, 600), make([]uint64, 1200), make([]uint32, 1200)
	if a := testing.AllocsPerRun(20, func() { SortFloat64(dst, x, k) }); a != 0 {
		t.Errorf("SortFloat64: %v allocations per call", a)
	}
	if a := testing.AllocsPerRun(20, func() { SortFloat32To64(dst, x32, q) }); a != 0 {
		t.Errorf("SortFloat32To64: %v allocations per call", a)
	}
	// McCulloch recycles its sorted copy: nothing in the steady state.
	if a := testing.AllocsPerRun(20, func() { _, _ = McCulloch(x) }); a > 0.1 {
		t.Errorf("McCulloch: %v allocations per call", a)
	}
}

// TestSortFloat32To64: the float32 sort gives slices.Sort's order of the
// converted values, and reports false for a NaN or ±Inf.
func TestSortFloat32To64(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for name, g := range sortGens(rng) {
		for _, n := range []int{0, 1, 5, 95, 96, 600, 2000} {
			x32 := make([]float32, n)
			for i := range x32 {
				x32[i] = float32(g()) // large values round to ±Inf
			}
			want := make([]float64, n)
			for i, v := range x32 {
				want[i] = float64(v)
			}
			slices.Sort(want)
			finite := !slices.ContainsFunc(want, func(v float64) bool { return math.IsInf(v, 0) })
			what := fmt.Sprintf("%s n=%d", name, n)
			for _, scratch := range [][]uint32{make([]uint32, 2*n), nil} {
				got := make([]float64, n)
				if ok := SortFloat32To64(got, x32, scratch); ok != finite {
					t.Fatalf("%s: ok = %v, want %v", what, ok, finite)
				}
				if finite {
					checkSorted(t, what, got, want, true)
				}
			}
		}
	}
	if SortFloat32To64(make([]float64, 3), []float32{1, float32(math.NaN()), 2}, nil) {
		t.Error("NaN accepted")
	}
}

// TestMcCullochSorted: McCullochSorted agrees with McCulloch bit for bit on
// both sides of radixSortMin and reports unsorted, short and non-finite
// input with McCulloch's sentinels.
func TestMcCullochSorted(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, n := range []int{5, 50, 95, 96, 600, 3000} {
		x := make([]float64, n)
		for i := range x {
			x[i] = SampleStable(rng, 1.4, 0.3, 2, 1)
		}
		orig := slices.Clone(x)
		p, err := McCulloch(x)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if !slices.Equal(x, orig) {
			t.Fatalf("n=%d: McCulloch modified its input", n)
		}
		// The reference sort is slices.Sort, as McCulloch used before.
		sorted := slices.Sorted(slices.Values(x))
		ps, err := McCullochSorted(sorted)
		if err != nil || ps != p {
			t.Errorf("n=%d: McCullochSorted = %+v, %v; McCulloch %+v", n, ps, err, p)
		}
	}
	for _, tc := range []struct {
		name string
		x    []float64
		want error
	}{
		{"unsorted", []float64{1, 2, 4, 3, 5, 6}, ErrNotSorted},
		{"short", []float64{1, 2, 3, 4}, ErrSampleSize},
		{"nan", []float64{1, 2, 3, math.NaN(), 5}, ErrNonFinite},
		{"inf", []float64{1, 2, 3, 4, math.Inf(1)}, ErrNonFinite},
		{"degenerate", []float64{0, 1, 1, 1, 1, 1, 2}, ErrDegenerateQuantiles},
	} {
		p, err := McCullochSorted(tc.x)
		if !errors.Is(err, tc.want) || !math.IsNaN(p.Alpha) {
			t.Errorf("%s: %+v, %v; want %v", tc.name, p, err, tc.want)
		}
		if tc.want == ErrNotSorted {
			continue
		}
		if _, e2 := McCulloch(tc.x); e2 == nil || e2.Error() != err.Error() {
			t.Errorf("%s: McCulloch error %v, McCullochSorted %v", tc.name, e2, err)
		}
	}
}

// BenchmarkSWSort compares the radix sort with slices.Sort (the peer) at the
// sizes around radixSortMin and the audit's sizes.
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
				radixSort64(dst, src[i%len(src)], k1, k2)
			}
		})
	}
}
