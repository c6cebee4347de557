//go:build gnaudit_cuda

package cuda

import (
	"math/rand/v2"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/stats"
)

// BenchmarkShapiroWilk1M times the GPU Shapiro–Wilk statistic over 1,000,000
// columns of n = 600 already on the device (one op = all columns: W on the
// GPU, p-values on the host, results back in host memory).
func BenchmarkShapiroWilk1M(b *testing.B) {
	const n, cols = 600, 1_000_000
	r := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, n*cols)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	dx := up(b, x)
	defer dev.Free(dx)
	sw, err := stats.NewShapiroWilk(n)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := dev.ShapiroWilk(dx, cols, sw); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cols)*float64(b.N)/b.Elapsed().Seconds(), "columns/s")
}

// BenchmarkGemm times a 4096³ SGEMM and reports TFLOP/s.
func BenchmarkGemm(b *testing.B) {
	const m = 4096
	r := rand.New(rand.NewPCG(2, 2))
	da, db := up(b, randF32(r, m*m)), up(b, randF32(r, m*m))
	dc, _ := dev.Alloc(m*m, 4)
	defer dev.Free(da, db, dc)
	g := Gemm{M: m, N: m, K: m, Alpha: 1, Lda: m, Ldb: m, Ldc: m}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := dev.Gemm(g, da, db, dc); err != nil {
			b.Fatal(err)
		}
	}
	if err := dev.Sync(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(2*float64(m)*m*m*float64(b.N)/b.Elapsed().Seconds()/1e12, "TFLOP/s")
}
