package sgemm

import (
	"fmt"
	"math/rand"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// benchShapes are the executor's float32 products at batch 128, as
// blasGemm (auditor/graph) makes them in the OpenBLAS build, one goroutine's
// share each (logged from BenchmarkPerSampleResNet20_128 and
// BenchmarkPerSampleAlexNet128/{lossgrad,collect} in auditor/persample),
// the largest shares of their flops: convolution forward (NN), weight
// gradient (NT), input gradient (TN).
var benchShapes = []struct {
	model   string
	tA, tB  blas.Transpose
	m, n, k int
}{
	{"resnet20", blas.NoTrans, blas.NoTrans, 16, 1024, 144},
	{"resnet20", blas.NoTrans, blas.NoTrans, 32, 1024, 288},
	{"resnet20", blas.NoTrans, blas.NoTrans, 64, 1024, 576},
	{"resnet20", blas.NoTrans, blas.NoTrans, 64, 4096, 576},
	{"resnet20", blas.NoTrans, blas.NoTrans, 16, 1024, 27},
	{"resnet20", blas.NoTrans, blas.NoTrans, 32, 16384, 144},
	{"resnet20", blas.NoTrans, blas.NoTrans, 64, 4096, 288},
	{"resnet20", blas.NoTrans, blas.Trans, 16, 144, 1024},
	{"resnet20", blas.NoTrans, blas.Trans, 32, 288, 1024},
	{"resnet20", blas.NoTrans, blas.Trans, 64, 288, 8192},
	{"resnet20", blas.NoTrans, blas.Trans, 64, 144, 8192},
	{"resnet20", blas.NoTrans, blas.Trans, 32, 80, 32768},
	{"resnet20", blas.NoTrans, blas.Trans, 16, 27, 1024},
	{"resnet20", blas.Trans, blas.NoTrans, 288, 4096, 64},
	// collect's per-sample products (auditor/persample shiftConv.fullT,
	// one per kernel tap, and mmExp.fullT of the stride-2 layers)
	{"resnet20", blas.NoTrans, blas.Trans, 16, 16, 1088},
	{"resnet20", blas.NoTrans, blas.Trans, 32, 32, 288},
	{"resnet20", blas.NoTrans, blas.Trans, 64, 64, 80},
	{"resnet20", blas.NoTrans, blas.Trans, 32, 144, 256},
	{"resnet20", blas.NoTrans, blas.Trans, 64, 288, 64},
	{"resnet20", blas.Trans, blas.NoTrans, 144, 16384, 32},
	{"alexnet", blas.NoTrans, blas.NoTrans, 192, 1024, 1600},
	{"alexnet", blas.NoTrans, blas.NoTrans, 256, 256, 3456},
	{"alexnet", blas.NoTrans, blas.NoTrans, 384, 256, 1728},
	{"alexnet", blas.NoTrans, blas.NoTrans, 256, 256, 2304},
	{"alexnet", blas.NoTrans, blas.NoTrans, 64, 4096, 363},
	{"alexnet", blas.NoTrans, blas.Trans, 192, 800, 2048},
	{"alexnet", blas.NoTrans, blas.Trans, 256, 1728, 512},
	{"alexnet", blas.NoTrans, blas.Trans, 384, 864, 512},
	{"alexnet", blas.NoTrans, blas.Trans, 256, 1152, 512},
	{"alexnet", blas.NoTrans, blas.Trans, 64, 192, 8192},
	{"alexnet", blas.Trans, blas.NoTrans, 1600, 1024, 192},
	{"alexnet", blas.Trans, blas.NoTrans, 1728, 512, 256},
	{"alexnet", blas.Trans, blas.NoTrans, 864, 512, 384},
	{"alexnet", blas.Trans, blas.NoTrans, 1152, 512, 256},
}

// sgemmFunc is an Sgemm's signature.
type sgemmFunc = func(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

// benchImpl is one Sgemm of BenchmarkSgemm: gonum's, OpenBLAS's (with the
// openblas build tag, openblas_bench_test.go), or this package's Serial
// with variant v forced.
type benchImpl struct {
	name string
	v    *variant
	f    sgemmFunc
}

// peerImpls are the other Sgemms BenchmarkSgemm compares with.
var peerImpls = []benchImpl{{"gonum", nil, gonum.Implementation{}.Sgemm}}

// BenchmarkSgemm compares this package's Serial (each kernel variant this
// CPU runs, single-threaded as each goroutine of the executor's gemm calls
// it) with gonum's Sgemm and, with -tags openblas, OpenBLAS's on
// benchShapes; the GFLOP/s metric counts 2mnk flops per product, per
// second of wall time and of the process's CPU time (less disturbed by
// other jobs on a shared machine). Run single-threaded:
//
//	CGO_LDFLAGS=-lopenblas OPENBLAS_NUM_THREADS=1 go test -tags openblas -cpu 1 -run - -bench Sgemm ./auditor/internal/sgemm/
func BenchmarkSgemm(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	for _, s := range benchShapes {
		p := newProblem(rng, s.tA, s.tB, s.m, s.n, s.k, 1, 0, 0)
		name := fmt.Sprintf("%s/%c%c_%dx%dx%d", s.model, s.tA, s.tB, s.m, s.n, s.k)
		impls := append([]benchImpl(nil), peerImpls...)
		if testing.Short() {
			impls = impls[:1]
		}
		for _, v := range variants {
			impls = append(impls, benchImpl{v.name, v, Serial})
		}
		for _, im := range impls {
			b.Run(name+"/"+im.name, func(b *testing.B) {
				f := im.f
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
