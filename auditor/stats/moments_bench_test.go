package stats

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// benchData returns n centred SαS(1.7) values (heavy-tailed, like gradient
// noise) from a fixed seed.
func benchData(n int) []float64 {
	rng := rand.New(rand.NewPCG(42, uint64(n)))
	x := make([]float64, n)
	for i := range x {
		x[i] = SampleStable(rng, 1.7, 0, 1, 0)
	}
	return x
}

// sinkF keeps results alive so the compiler cannot drop the work.
var sinkF float64

// BenchmarkMomentsAdd: one streaming Welford/Pébay update (ns per value).
func BenchmarkMomentsAdd(b *testing.B) {
	x := benchData(4096)
	var m Moments
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Add(x[i&4095])
	}
	sinkF = m.M4
}

// BenchmarkCentredSumsAdd: the fixed-centre peer of BenchmarkMomentsAdd.
func BenchmarkCentredSumsAdd(b *testing.B) {
	x := benchData(4096)
	var c CentredSums
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Add(x[i&4095])
	}
	sinkF = c.S4
}

// BenchmarkMomentsMerge: one pairwise combination.
func BenchmarkMomentsMerge(b *testing.B) {
	var p, q Moments
	p.AddSlice(benchData(300))
	q.AddSlice(benchData(301))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p = p.Merge(q)
		p.N = 300
	}
	sinkF = p.M4
}

// BenchmarkDescribe600: two-pass description of one 600-value column.
func BenchmarkDescribe600(b *testing.B) {
	x := benchData(600)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, _ := Describe(x)
		sinkF = d.Abs3Standardized
	}
}

// BenchmarkMomentsAddSlice600: the one-pass peer of BenchmarkDescribe600.
func BenchmarkMomentsAddSlice600(b *testing.B) {
	x := benchData(600)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var m Moments
		m.AddSlice(x)
		sinkF = m.M4
	}
}

// BenchmarkMcCulloch600: McCulloch's estimator on one 600-value column.
func BenchmarkMcCulloch600(b *testing.B) {
	x := benchData(600)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, _ := McCulloch(x)
		sinkF = p.Alpha
	}
}

// BenchmarkMcCullochColumns600 times McCulloch on 512 distinct SαS(1.7)
// columns of 600 values, taken in turn, so that the branch predictor cannot
// learn a comparison sort's outcomes as it does on BenchmarkMcCulloch600's
// single column: McCulloch (radix-sorted recycled copy), its peer
// Clone+slices.Sort+Sorted (what McCulloch did before it used SortFloat64,
// plus McCullochSorted's order check) and Sorted (McCullochSorted alone on
// presorted columns).
func BenchmarkMcCullochColumns600(b *testing.B) {
	rng := rand.New(rand.NewPCG(9, 10))
	cols := make([][]float64, 512)
	sorted := make([][]float64, len(cols))
	for j := range cols {
		cols[j] = make([]float64, 600)
		for i := range cols[j] {
			cols[j][i] = SampleStable(rng, 1.7, 0, 1, 0)
		}
		sorted[j] = slices.Sorted(slices.Values(cols[j]))
	}
	b.Run("McCulloch", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			p, _ := McCulloch(cols[i%len(cols)])
			sinkF = p.Alpha
		}
	})
	b.Run("Clone+slices.Sort+Sorted", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			s := slices.Clone(cols[i%len(cols)])
			slices.Sort(s)
			p, _ := McCullochSorted(s)
			sinkF = p.Alpha
		}
	})
	b.Run("Sorted", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			p, _ := McCullochSorted(sorted[i%len(sorted)])
			sinkF = p.Alpha
		}
	})
}

// BenchmarkMcCullochSorted600: McCulloch's estimator on one sorted
// 600-value column (McCullochSorted: no copy, no sort).
func BenchmarkMcCullochSorted600(b *testing.B) {
	x := slices.Sorted(slices.Values(benchData(600)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, _ := McCullochSorted(x)
		sinkF = p.Alpha
	}
}

// BenchmarkSort600: copying and sorting 600 values with slices.Sort, the
// sort McCulloch used before SortFloat64 (the peer of
// BenchmarkMcCulloch600).
func BenchmarkSort600(b *testing.B) {
	x := benchData(600)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := slices.Clone(x)
		slices.Sort(s)
		sinkF = s[300]
	}
}

// BenchmarkMohammadi600: the log-moment estimator on one 600-value column
// (K1 = 24, K2 = 25).
func BenchmarkMohammadi600(b *testing.B) {
	x := benchData(600)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sinkF, _ = TailIndexMohammadi(x)
	}
}
