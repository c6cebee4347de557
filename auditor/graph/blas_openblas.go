//go:build openblas

package graph

// With the openblas build tag, gorgonia (and gorgonia.org/tensor, and this
// package's kernels, which call gorgonia.WhichBLAS) use OpenBLAS through
// gonum's cgo bindings instead of gonum's pure-Go BLAS. Needs cgo and
// Debian's libopenblas-dev.

/*
#cgo LDFLAGS: -lopenblas
void openblas_set_num_threads(int);
*/
import "C"

import (
	"github.com/gnaudit/gnaudit/auditor/internal/sgemm"
	"gonum.org/v1/netlib/blas/netlib"
	"gorgonia.org/gorgonia"
)

// BLASName names the BLAS implementation the executor was built with.
const BLASName = "openblas"

// blasSplit: gemm splits large products over goroutines (par.go), each
// calling OpenBLAS single-threaded.
const blasSplit = true

func init() {
	gorgonia.Use(netlib.Implementation{})
	// OpenBLAS's own threads would spin between products while the Go
	// kernels run; the executor parallelises over goroutines instead (this
	// overrides OPENBLAS_NUM_THREADS for the whole process).
	C.openblas_set_num_threads(1)
}

// oursAVX512: this CPU runs auditor/internal/sgemm's AVX-512 kernel, the
// only one that beats OpenBLAS on some of the executor's shapes.
var oursAVX512 = sgemm.Kernel() == "avx512"

// oursAVX2: this CPU runs auditor/internal/sgemm's AVX2+FMA kernel (and no
// AVX-512 one).
var oursAVX2 = sgemm.Kernel() == "avx2"

// useOurSgemm reports whether blasGemm computes this float32 product (one
// goroutine's share, single-threaded) with auditor/internal/sgemm's Serial
// instead of OpenBLAS: on CPUs with AVX-512, the few-row products of
// resnet20-style networks, where OpenBLAS (Cooperlake core) reaches
// 60–130 GFLOP/s and our 8×32 AVX-512 kernel 120–150:
//
//	shape (op, M×N×K)   OpenBLAS   ours AVX-512   (GFLOP/cpu-s, one thread,
//	NN 16×1024×144         84        141           AMD EPYC family 26 model 2,
//	NN 32×1024×288        129        148           Zen 5; max of 3; see
//	NN 64×1024×576        137        162           docs/performance.md,
//	NN 16×1024×27         113        119           "fast-sgemm")
//	NT 16×144×1024         62        138
//	NT 32×288×1024         86        128
//	not routed: NN 64×4096×576 125/115, NN 32×16384×144 120/119,
//	NT 64×144×8192 121/88, NT 32×80×32768 80/54, TN 144×16384×32 133/100,
//	alexnet-cifar's 192…1728-row products 0.8–1.0×.
//
// So: A not transposed, M ≤ 64 and either B not transposed with N ≤ 2048,
// or B transposed with M ≤ 32, N ≥ 64 and K ≤ 4096.
//
// On CPUs with AVX2+FMA and no AVX-512 (AMD EPYC family 25 model 1, Zen 3;
// OpenBLAS core Zen), our 4×24 kernel against OpenBLAS (three runs each,
// docs/performance.md, "r20"):
//
//	NN 16×1024×144     33–46     40          NT 16×144×1024    36–43   48–63
//	NN 16×1024×27      25–26     35–36       NT 16×27×1024     23–32   48–58
//	NN 32×1024×288     47–51     39          NT 32×288×1024    45–50   50–58
//	not routed: NT 32×80×32768 38/22, NT 64×288×8192 47/38,
//	NN 64×1024×576 59/39.
//
// So there: A not transposed and either B not transposed with M ≤ 16 and
// N ≤ 2048, or B transposed with M ≤ 32, N ≥ 24 and K ≤ 4096.
// oursFor reports whether a float32 product of blasGemm's computes with
// auditor/internal/sgemm: where useOurSgemm routes it there.
func oursFor(tA, tB bool, m, n, k int) bool { return useOurSgemm(tA, tB, m, n, k) }

func useOurSgemm(tA, tB bool, m, n, k int) bool {
	if oursAVX2 {
		return useOurSgemmAVX2(tA, tB, m, n, k)
	}
	if !oursAVX512 || tA || m > 64 {
		return false
	}
	if !tB {
		return n <= 2048
	}
	return m <= 32 && n >= 64 && k <= 4096
}

// useOurSgemmAVX2 is useOurSgemm's rule on a CPU whose best kernel of
// auditor/internal/sgemm is the AVX2 one.
func useOurSgemmAVX2(tA, tB bool, m, n, k int) bool {
	if tA {
		return false
	}
	if !tB {
		return m <= 16 && n <= 2048
	}
	return m <= 32 && n >= 24 && k <= 4096
}

// PerSampleSgemm reports whether auditor/persample computes its float32
// per-sample products (a convolution's δ_i·U(x_i)ᵀ) on
// auditor/internal/sgemm's Serial, one product over all kernel taps from
// the shifted padded input, instead of the BLAS's GEMM (one product per
// tap): in the OpenBLAS build, on CPUs whose best kernel of ours is the
// AVX2 one, where OpenBLAS (core Zen) runs the per-tap products of
// resnet20 at 24–38 GFLOP/s (NT 16×16×1088, 32×32×288, 64×64×80) and our
// kernel the whole-patch ones at 40–60 (NT 16×144×1088 …; AMD EPYC
// family 25 model 1, docs/performance.md "r20"). Not with AVX-512, where
// OpenBLAS (Cooperlake) per tap was the faster (section "fast-collect").
func PerSampleSgemm() bool { return oursAVX2 }
