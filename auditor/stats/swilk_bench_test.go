package stats

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// swBenchColumns returns k columns of n heavy-ish tailed values.
func swBenchColumns(n, k int) [][]float64 {
	rng := rand.New(rand.NewPCG(7, 8))
	cols := make([][]float64, k)
	for j := range cols {
		cols[j] = make([]float64, n)
		for i := range cols[j] {
			cols[j][i] = rng.NormFloat64() / (0.5 + rng.Float64())
		}
	}
	return cols
}

// BenchmarkShapiroWilk600 times one column of n = 600 (the paper's number of
// batches): Unsorted is Test (copy + sort + W + p), Sorted is TestSorted
// (W + p on presorted data), SortOnly is slices.Sort of a copy, the peer that
// shows what the sort costs, and Coefficients is NewShapiroWilk(600).
func BenchmarkShapiroWilk600(b *testing.B) {
	const n = 600
	s, err := NewShapiroWilk(n)
	if err != nil {
		b.Fatal(err)
	}
	cols := swBenchColumns(n, 512) // distinct inputs: no learnt branches
	b.Run("Unsorted", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := s.Test(cols[i%len(cols)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	sorted := make([][]float64, len(cols))
	for j := range cols {
		sorted[j] = slices.Sorted(slices.Values(cols[j]))
	}
	b.Run("Sorted", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := s.TestSorted(sorted[i%len(sorted)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	buf := make([]float64, n)
	b.Run("SortOnly", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			copy(buf, cols[i%len(cols)])
			slices.Sort(buf)
		}
	})
	b.Run("Coefficients", func(b *testing.B) {
		for b.Loop() {
			if _, err := NewShapiroWilk(n); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestShapiroWilkSortedNoAlloc: TestSorted allocates nothing, and Test
// nothing in the steady state (its scratch slice is recycled).
func TestShapiroWilkSortedNoAlloc(t *testing.T) {
	s, _ := NewShapiroWilk(600)
	col := swBenchColumns(600, 1)[0]
	sorted := slices.Sorted(slices.Values(col))
	if a := testing.AllocsPerRun(100, func() { _, _ = s.TestSorted(sorted) }); a != 0 {
		t.Errorf("TestSorted: %v allocations per call", a)
	}
	if a := testing.AllocsPerRun(100, func() { _, _ = s.Test(col) }); a > 0.1 {
		t.Errorf("Test: %v allocations per call", a)
	}
}
