package persample

import (
	"testing"
	"time"

	"github.com/gnaudit/gnaudit/auditor/internal/sgemm"
	"gonum.org/v1/gonum/blas"
)

func TestZZShapes(t *testing.T) {
	type sh struct {
		name       string
		m, n, k    int
		lda, ldb   int
	}
	B := 128
	shapes := []sh{
		{"s3 colm fullT cols x rows", 576, 64, 64, B * 64, 64},
		{"s3 colm full rows x cols", 64, 576, 64, 64, B * 64},
		{"s3 288", 288, 64, 64, B * 64, 64},
		{"s3 288 full", 64, 288, 64, 64, B * 64},
		{"l2.0c1 fullT", 144, 32, 256, B * 256, 256},
		{"l2.0c1 full", 32, 144, 256, 256, B * 256},
		{"ax conv1 fullT", 363, 64, 64, B * 64, 64},
		{"ax conv1 full", 64, 363, 64, 64, B * 64},
		{"s1 shift", 16, 16, 1088, 1088 + 2, 1088},
		{"s2 shift", 32, 32, 288, 288 + 2, 288},
		{"s1 im2col full", 16, 144, 1024, 1024, 1024},
		{"s2 im2col full", 32, 288, 256, 256, 256},
		{"s1 im2col fullT", 144, 16, 1024, 1024, 1024},
	}
	for _, s := range shapes {
		a := make([]float32, s.m*s.lda+s.k)
		b := make([]float32, s.n*s.ldb+s.k)
		for i := range a {
			a[i] = float32(i%7) * 0.1
		}
		for i := range b {
			b[i] = float32(i%5) * 0.1
		}
		c := make([]float32, s.m*s.n)
		run := func(f func()) float64 {
			best := 1e9
			for r := 0; r < 3; r++ {
				t0 := time.Now()
				for it := 0; it < 200; it++ {
					f()
				}
				best = min(best, time.Since(t0).Seconds()/200)
			}
			return 2 * float64(s.m*s.n*s.k) / best / 1e9
		}
		ob := run(func() { mulNT(s.m, s.n, s.k, 1, a, s.lda, b, s.ldb, c, s.n) })
		ours := run(func() {
			sgemm.Serial(blas.NoTrans, blas.Trans, s.m, s.n, s.k, 1, a, s.lda, b, s.ldb, 0, c, s.n)
		})
		t.Logf("%-28s %4dx%4dx%4d  blas %6.1f  ours %6.1f GFLOP/s", s.name, s.m, s.n, s.k, ob, ours)
	}
}
