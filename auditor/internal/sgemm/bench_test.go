package sgemm

import (
	"fmt"
	"math/rand"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// benchShapes are the executor's float32 products at batch 128 (logged
// from BenchmarkPerSampleResNet20_128 and BenchmarkPerSampleAlexNet128
// in auditor/persample, pure-Go build), the largest shares of their
// flops: per-sample-block convolution forward (NN), weight gradient (NT),
// input gradient (TN).
var benchShapes = []struct {
	model   string
	tA, tB  blas.Transpose
	m, n, k int
}{
	{"resnet20", blas.NoTrans, blas.NoTrans, 16, 1024, 144},
	{"resnet20", blas.NoTrans, blas.NoTrans, 32, 1024, 288},
	{"resnet20", blas.NoTrans, blas.NoTrans, 16, 144, 1024},
	{"resnet20", blas.NoTrans, blas.Trans, 16, 144, 1024},
	{"resnet20", blas.NoTrans, blas.Trans, 64, 576, 64},
	{"resnet20", blas.NoTrans, blas.NoTrans, 64, 8192, 576},
	{"resnet20", blas.NoTrans, blas.Trans, 64, 576, 8192},
	{"resnet20", blas.Trans, blas.NoTrans, 144, 32768, 32},
	{"alexnet", blas.NoTrans, blas.NoTrans, 192, 2048, 1600},
	{"alexnet", blas.NoTrans, blas.Trans, 192, 1600, 2048},
	{"alexnet", blas.Trans, blas.NoTrans, 1600, 2048, 192},
	{"alexnet", blas.NoTrans, blas.NoTrans, 256, 512, 3456},
	{"alexnet", blas.NoTrans, blas.NoTrans, 64, 8192, 363},
	{"alexnet", blas.NoTrans, blas.Trans, 64, 363, 64},
}

// BenchmarkSgemm compares this package's Sgemm (each kernel variant this
// CPU runs) with gonum's on benchShapes; the GFLOP/s metric counts 2mnk
// flops per product, per second of wall time and of the process's CPU
// time (less disturbed by other jobs on a shared machine). `go test -bench Sgemm ./auditor/internal/sgemm/`.
func BenchmarkSgemm(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	for _, s := range benchShapes {
		p := newProblem(rng, s.tA, s.tB, s.m, s.n, s.k, 1, 0, 0)
		name := fmt.Sprintf("%s/%c%c_%dx%dx%d", s.model, s.tA, s.tB, s.m, s.n, s.k)
		type impl struct {
			name string
			v    *variant // forced variant; nil: gonum's Sgemm
		}
		impls := []impl{{"gonum", nil}}
		if !testing.Short() {
			for _, v := range variants {
				impls = append(impls, impl{v.name, v})
			}
		}
		for _, im := range impls {
			b.Run(name+"/"+im.name, func(b *testing.B) {
				f := gonum.Implementation{}.Sgemm
				if im.v != nil {
					f = Sgemm
				}
				forced = im.v
				defer func() { forced = nil }()
				start := cpuTime()
				for i := 0; i < b.N; i++ {
					f(p.tA, p.tB, p.m, p.n, p.k, 1, p.a, p.lda, p.b, p.ldb, 0, p.c, p.ldc)
				}
				flops := 2 * float64(s.m*s.n*s.k) * float64(b.N)
				b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				if cpu := (cpuTime() - start).Seconds(); cpu > 0 {
					b.ReportMetric(flops/cpu/1e9, "GFLOP/cpu-s")
				}
			})
		}
	}
}
