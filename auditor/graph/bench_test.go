package graph

import (
	"math/rand"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gnaudit/gnaudit/auditor/ir"
	"gorgonia.org/gorgonia"
)

// alexnetCIFAR is the paper's CIFAR AlexNet (METHOD.md §8): five convs
// (64×3×11×11 stride 4 pad 5; 192×64×5×5 pad 2; 384, 256, 256 × 3×3 pad 1)
// with ReLU, 2×2 max-pooling after conv1, conv2 and conv5, then fully
// connected 256 → 256 → 256 → 10, with He-scaled random weights.
func alexnetCIFAR() *ir.Model {
	b := newModel(13, -1, 3, 32, 32)
	he := func(fanIn int) float64 { return 1.4142 / float64(sqrt(fanIn)) }
	pool := at("kernel_shape", ais(2, 2), "strides", ais(2, 2))
	x := "x"
	convs := []struct {
		out, in, k, stride, pad int64
		pool                    bool
	}{
		{64, 3, 11, 4, 5, true}, {192, 64, 5, 1, 2, true}, {384, 192, 3, 1, 1, false},
		{256, 384, 3, 1, 1, false}, {256, 256, 3, 1, 1, true},
	}
	for i, c := range convs {
		name := "conv" + string(rune('1'+i))
		w := b.param(name+".weight", he(int(c.in*c.k*c.k)), true, c.out, c.in, c.k, c.k)
		bias := b.param(name+".bias", 0.01, true, c.out)
		x = b.op("Conv", at("strides", ais(c.stride, c.stride), "pads", ais(c.pad, c.pad, c.pad, c.pad)), x, w, bias)
		x = b.op("Relu", nil, x)
		if c.pool {
			x = b.op("MaxPool", pool, x)
		}
	}
	x = b.op("Flatten", nil, x)
	fcs := [][2]int64{{256, 256}, {256, 256}, {10, 256}}
	for i, f := range fcs {
		name := "fc" + string(rune('1'+i))
		x = b.op("Gemm", at("transB", ai(1)), x, b.param(name+".weight", he(int(f[1])), true, f[0], f[1]), b.param(name+".bias", 0.01, true, f[0]))
		if i < 2 {
			x = b.op("Relu", nil, x)
		}
	}
	return b.output(x)
}

func sqrt(n int) float64 {
	x := float64(n)
	r := x
	for i := 0; i < 30; i++ {
		r = (r + x/r) / 2
	}
	return r
}

func TestAlexNetCIFARShapes(t *testing.T) {
	net, err := Build(alexnetCIFAR(), Options{Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"conv1.weight": 23232, "conv2.weight": 307200, "conv3.weight": 663552,
		"conv4.weight": 884736, "conv5.weight": 589824, "fc3.weight": 2560}
	for _, p := range net.Params() {
		if n, ok := want[p.Name]; ok && prod(p.Shape) != n {
			t.Errorf("%s has %d weights, want %d", p.Name, prod(p.Shape), n)
		}
	}
	if net.Classes() != 10 {
		t.Fatalf("classes %d", net.Classes())
	}
	rng := rand.New(rand.NewSource(3))
	if _, err := net.LossGrad(randVec(rng, 2*3*32*32), []int{1, 7}); err != nil {
		t.Fatal(err)
	}
}

// TestBLASSelection checks which BLAS gorgonia (and so the executor's
// matrix products) uses: gonum's with auditor/internal/sgemm's Sgemm by
// default, OpenBLAS with -tags openblas.
func TestBLASSelection(t *testing.T) {
	typ := reflect.TypeOf(gorgonia.WhichBLAS()).String()
	want := map[string]string{"gonum": "sgemm.Implementation", "openblas": "netlib.Implementation"}[BLASName]
	if !strings.Contains(typ, want) {
		t.Fatalf("BLAS %s with build %q, want %s", typ, BLASName, want)
	}
	// And it computes: a 3×2 · 2×2 product.
	a := []float32{1, 2, 3, 4, 5, 6}
	bm := []float32{1, -1, 2, 0.5}
	c := make([]float32, 6)
	gemm(false, false, 3, 2, 2, 1, a, 2, bm, 2, 0, c, 2)
	w := []float32{5, 0, 11, -1, 17, -2}
	for i := range w {
		if c[i] != w[i] {
			t.Fatalf("gemm = %v, want %v", c, w)
		}
	}
}

// BenchmarkAlexNetStep is one forward + backward pass (summed loss,
// gradients of all parameters) of the CIFAR AlexNet at batch 128, float32.
// Compare `go test -bench AlexNetStep` with and without `-tags openblas`.
func BenchmarkAlexNetStep(b *testing.B) {
	benchStep(b, 128)
}

func benchStep(b *testing.B, batch int) {
	net, err := Build(alexnetCIFAR(), Options{Batch: batch})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	x := randVec(rng, batch*3*32*32)
	labels := make([]int, batch)
	for i := range labels {
		labels[i] = rng.Intn(10)
	}
	if _, err := net.LossGrad(x, labels); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := net.LossGrad(x, labels); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/step")
}

// BenchmarkGemmShapes times one single-threaded BLAS call (blasGemm, as
// each goroutine of gemm makes it) for the products that dominate the
// executor on resnet20 and alexnet-cifar at batch 128, and reports
// GFLOP/s of the thread's CPU time (cpu-GFLOP/s, on Linux; robust to other
// jobs on the machine) and of wall time: C[M, N] = op(A) · op(B), inner dimension K, N one block of
// output positions. scripts/bench_blascore.sh runs it under every
// OpenBLAS core; the GFLOP/s are the figure behind blascore's table.
func BenchmarkGemmShapes(b *testing.B) {
	for _, s := range []struct {
		name    string
		tA, tB  bool
		m, n, k int
	}{
		{"square512", false, false, 512, 512, 512},
		{"fwd16x1024x144", false, false, 16, 1024, 144},    // resnet20 stage 1: W · cols
		{"fwd32x1024x288", false, false, 32, 1024, 288},    // stage 2
		{"fwd64x1024x576", false, false, 64, 1024, 576},    // stage 3
		{"dW16x144x16384", false, true, 16, 144, 16384},    // stage 1 weight gradient: gy · colsᵀ
		{"dW64x576x8192", false, true, 64, 576, 8192},      // stage 3 weight gradient
		{"dX576x8192x64", true, false, 576, 8192, 64},      // input gradient Wᵀ · gy
		{"alex384x512x1728", false, false, 384, 512, 1728}, // alexnet-cifar conv3 forward
	} {
		b.Run(s.name, func(b *testing.B) {
			rng := rand.New(rand.NewSource(1))
			a := make([]float32, s.m*s.k)
			bm := make([]float32, s.k*s.n)
			c := make([]float32, s.m*s.n)
			for i := range a {
				a[i] = rng.Float32()
			}
			for i := range bm {
				bm[i] = rng.Float32()
			}
			lda, ldb := s.k, s.n
			if s.tA {
				lda = s.m
			}
			if s.tB {
				ldb = s.k
			}
			now, ok := threadCPU()
			if ok {
				defer runtime.UnlockOSThread()
			}
			blasGemm(s.tA, s.tB, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n)
			b.ResetTimer()
			var t0 time.Duration
			if ok {
				t0 = now()
			}
			for i := 0; i < b.N; i++ {
				blasGemm(s.tA, s.tB, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n)
			}
			flop := 2 * float64(s.m*s.n*s.k) * float64(b.N)
			b.ReportMetric(flop/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			if ok {
				b.ReportMetric(flop/(now()-t0).Seconds()/1e9, "cpu-GFLOP/s")
			}
		})
	}
}
