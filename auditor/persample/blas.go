package persample

import (
	"unsafe"

	"github.com/gnaudit/gnaudit/auditor/graph"
	"github.com/gnaudit/gnaudit/auditor/internal/sgemm"
	"github.com/gnaudit/gnaudit/auditor/internal/simd"
	"gonum.org/v1/gonum/blas"
	"gorgonia.org/gorgonia"
)

// float is the element type of the per-sample matrices: float32 (default)
// or float64 (Options.Float64).
type float interface{ ~float32 | ~float64 }

// blasImpl is the BLAS of the per-sample products: the one gorgonia, and so
// the graph executor, uses — gonum's pure-Go BLAS by default, OpenBLAS with
// the openblas build tag (auditor/graph/blas_openblas.go installs it with
// gorgonia.Use).
func blasImpl() gorgonia.BLAS { return gorgonia.WhichBLAS() }

// rowKernelMaxP is the largest inner dimension for which mulNN uses its
// row kernel instead of the BLAS GEMM.
const rowKernelMaxP = 32

// mulNN computes c = alpha·a·b for row-major a (m×k), b (k×n) and c (m×n,
// leading dimension ldc). Per-sample gradients have a small inner
// dimension k (the output positions of a convolution) and a large output:
// for k ≤ rowKernelMaxP each row of c is built in cache by k AXPYs and
// written once, where a GEMM with beta = 0 would first clear all of c.
func mulNN[T float](m, n, k int, alpha float64, a, b []T, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	impl := blasImpl()
	if k > rowKernelMaxP {
		switch a := any(a).(type) {
		case []float32:
			impl.Sgemm(blas.NoTrans, blas.NoTrans, m, n, k, float32(alpha), a, k, any(b).([]float32), n, 0, any(c).([]float32), ldc)
		case []float64:
			impl.Dgemm(blas.NoTrans, blas.NoTrans, m, n, k, alpha, a, k, any(b).([]float64), n, 0, any(c).([]float64), ldc)
		}
		return
	}
	switch a := any(a).(type) {
	case []float32:
		b, c := any(b).([]float32), any(c).([]float32)
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			clear(row)
			for l, v := range a[i*k : (i+1)*k] {
				if v != 0 {
					impl.Saxpy(n, float32(alpha)*v, b[l*n:(l+1)*n], 1, row, 1)
				}
			}
		}
	case []float64:
		b, c := any(b).([]float64), any(c).([]float64)
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			clear(row)
			for l, v := range a[i*k : (i+1)*k] {
				if v != 0 {
					impl.Daxpy(n, alpha*v, b[l*n:(l+1)*n], 1, row, 1)
				}
			}
		}
	}
}

// gram computes the upper triangle of the p×p matrix c = aᵀa for row-major
// a (r×p) when trans, or c = a·aᵀ for a (p×r) otherwise.
func gram(trans bool, p, r int, a, c []float64) {
	if trans {
		blasImpl().Dsyrk(blas.Upper, blas.Trans, p, r, 1, a, p, 0, c, p)
	} else {
		blasImpl().Dsyrk(blas.Upper, blas.NoTrans, p, r, 1, a, r, 0, c, p)
	}
}

// mulNT computes c = alpha·a·bᵀ for row-major a (m×k, leading dimension
// lda), b (n×k, leading dimension ldb) and c (m×n, leading dimension ldc).
func mulNT[T float](m, n, k int, alpha float64, a []T, lda int, b []T, ldb int, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	impl := blasImpl()
	switch a := any(a).(type) {
	case []float32:
		impl.Sgemm(blas.NoTrans, blas.Trans, m, n, k, float32(alpha), a, lda, any(b).([]float32), ldb, 0, any(c).([]float32), ldc)
	case []float64:
		impl.Dgemm(blas.NoTrans, blas.Trans, m, n, k, alpha, a, lda, any(b).([]float64), ldb, 0, any(c).([]float64), ldc)
	}
}

// gramT computes the upper triangle of the p×p matrix c = aᵀa for a (r×p,
// leading dimension lda) in the precision of T, and returns it as float64
// in *out (the lower triangle is left unset).
func gramT[T float](p, r int, a []T, lda int, buf *[]T, out []float64) {
	switch a := any(a).(type) {
	case []float32:
		*buf = grow(*buf, p*p)
		c := any(*buf).([]float32)
		if isGonum && serialProducts {
			// gonum's Ssyrk runs at a fraction of sgemm's speed: the
			// whole product (twice the operations) is still faster.
			gramSerial(p, r, a, lda, c)
		} else {
			blasImpl().Ssyrk(blas.Upper, blas.Trans, p, r, 1, a, lda, 0, c, p)
		}
		for i := 0; i < p; i++ {
			for j := i; j < p; j++ {
				out[i*p+j] = float64(c[i*p+j])
			}
		}
	case []float64:
		blasImpl().Dsyrk(blas.Upper, blas.Trans, p, r, 1, a, lda, 0, out, p)
	}
}

// serialProducts enables the float32 per-sample products on
// auditor/internal/sgemm's single-threaded Serial (mmExp.serial): in the
// pure-Go build, where the BLAS's Sgemm is sgemm's parallel one (the
// workers already split the samples), and in the OpenBLAS build for the
// shapes where sgemm's AVX-512 kernel is the faster (few rows and few
// positions, see mmExp.serial). A variable so that tests compare both.
var serialProducts = true

// serialNT computes c = alpha·a·bᵀ (float32) as mulNT, on the calling
// goroutine with sgemm.Serial.
func serialNT(m, n, k int, alpha float64, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	sgemm.Serial(blas.NoTrans, blas.Trans, m, n, k, float32(alpha), a, lda, b, ldb, 0, c, ldc)
}

// gramSerial computes c = aᵀa (all of it) for a float32 a (r×p, leading
// dimension lda) with sgemm.Serial into buf (p×p).
func gramSerial(p, r int, a []float32, lda int, buf []float32) {
	sgemm.Serial(blas.Trans, blas.NoTrans, p, p, r, 1, a, lda, a, lda, 0, buf, p)
}

// simdSums enables the assembly kernels of sums_amd64.s (a variable so
// that tests compare them with the Go loops).
var simdSums = simd.Has

// bnSums returns Σ_k d[k]·(x[k] − m) and Σ_k d[k] in float64 (each
// product of the exactly converted float32 values, as dotShift4 and sum4,
// in another order of additions), with simd.BnSums32 where the CPU has it.
func bnSums(d, x []float32, m float64) (dot, sum float64) {
	x = x[:len(d)]
	n8 := 0
	if simdSums && len(d) >= 8 {
		n8 = len(d) / 8
		var out [16]float64
		simd.BnSums32(n8, (*float32)(unsafe.Pointer(&x[0])), (*float32)(unsafe.Pointer(&d[0])), m, &out)
		dot = ((out[0] + out[1]) + (out[2] + out[3])) + ((out[4] + out[5]) + (out[6] + out[7]))
		sum = ((out[8] + out[9]) + (out[10] + out[11])) + ((out[12] + out[13]) + (out[14] + out[15]))
	}
	for k := n8 * 8; k < len(d); k++ {
		dot += float64(d[k]) * (float64(x[k]) - m)
		sum += float64(d[k])
	}
	return dot, sum
}

// sqNorm32 is sqNorm for float32 values, with simd.SqSums32 where the CPU has
// it (Σ v² of the converted values in float64, 16 partial sums).
func sqNorm32(v []float32) float64 {
	if !simdSums || len(v) < 16 {
		return sqNorm(v)
	}
	n16 := len(v) / 16
	var out [16]float64
	simd.SqSums32(n16, (*float32)(unsafe.Pointer(&v[0])), &out)
	s := 0.0
	for _, x := range out {
		s += x
	}
	for _, x := range v[n16*16:] {
		s += float64(x) * float64(x)
	}
	return s
}

// isGonum reports whether the BLAS is gonum's (the pure-Go build).
const isGonum = graph.BLASName == "gonum"

// oursPerSample: the float32 per-sample products run on
// auditor/internal/sgemm's Serial (always in the pure-Go build; in the
// OpenBLAS build where graph.PerSampleSgemm says so: CPUs with AVX2 and
// no AVX-512).
var oursPerSample = graph.PerSampleSgemm()
