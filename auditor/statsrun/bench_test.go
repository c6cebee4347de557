package statsrun

import (
	"math/rand/v2"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/matrix"
	"github.com/gnaudit/gnaudit/auditor/stats"
)

// BenchmarkSortColumn600 times the Shapiro–Wilk work of one float32 column of
// 600 values three ways: the 32-bit radix sort fused with the conversion +
// TestSorted (what Run does for float32 storage), conversion + 64-bit radix
// sort + TestSorted, and conversion + ShapiroWilk.Test (its own sort).
func BenchmarkSortColumn600(b *testing.B) {
	const n = 600
	rng := rand.New(rand.NewPCG(1, 2))
	cols := make([][]float32, 256)
	for j := range cols {
		cols[j] = make([]float32, n)
		for i := range cols[j] {
			cols[j][i] = float32(rng.NormFloat64())
		}
	}
	dst, x := make([]float64, n), make([]float64, n)
	keys64, keys32 := make([]uint64, 2*n), make([]uint32, 2*n)
	sw, err := stats.NewShapiroWilk(n)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Float32Radix+TestSorted", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			stats.SortFloat32To64(dst, cols[i%len(cols)], keys32)
			sw.TestSorted(dst)
		}
	})
	b.Run("Convert+Float64Radix+TestSorted", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			for k, v := range cols[i%len(cols)] {
				x[k] = float64(v)
			}
			stats.SortFloat64(dst, x, keys64)
			sw.TestSorted(dst)
		}
	})
	b.Run("Convert+Test", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			for k, v := range cols[i%len(cols)] {
				x[k] = float64(v)
			}
			sw.Test(x)
		}
	})
}

// BenchmarkRun600x2000 times Run on a 600 × 2000 float32 matrix per section.
func BenchmarkRun600x2000(b *testing.B) {
	const rows, cols = 600, 2000
	rng := rand.New(rand.NewPCG(3, 4))
	m := &matrix.Matrix{Rows: rows, Cols: cols, Data32: make([]float32, rows*cols)}
	for i := range m.Data32 {
		m.Data32[i] = float32(rng.NormFloat64())
	}
	for _, tc := range []struct {
		name string
		secs Section
	}{{"shapiro", SectionShapiro}, {"moments", SectionMoments}, {"all", AllSections}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Run(m, Options{Sections: tc.secs}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
