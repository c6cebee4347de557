package persample

import (
	"gonum.org/v1/gonum/blas"
	"gorgonia.org/gorgonia"
)

// float is the element type of the per-sample matrices: float32 (default)
// or float64 (Options.Float64).
type float interface{ ~float32 | ~float64 }

// blasImpl is the BLAS of the GEMMs: the one gorgonia (and so the graph
// executor) uses — gonum's pure-Go BLAS, or whatever gorgonia.Use installed
// — unless a build tag sets another one (see blas_openblas.go).
var blasImpl = func() gorgonia.BLAS { return gorgonia.WhichBLAS() }

// gemm computes c = alpha·a·bᵀ + beta·c for row-major a (m×k, lda = k) and
// b (n×k, ldb = k): the product of two matrices stored with the shared
// dimension contiguous.
func gemmNT[T float](m, n, k int, alpha float64, a, b []T, beta float64, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	impl := blasImpl()
	switch a := any(a).(type) {
	case []float32:
		impl.Sgemm(blas.NoTrans, blas.Trans, m, n, k, float32(alpha), a, k, any(b).([]float32), k, float32(beta), any(c).([]float32), ldc)
	case []float64:
		impl.Dgemm(blas.NoTrans, blas.Trans, m, n, k, alpha, a, k, any(b).([]float64), k, beta, any(c).([]float64), ldc)
	}
}

// gramTN computes the upper triangle of c = aᵀa (p×p) for row-major a (r×p).
func gramTN(r, p int, a, c []float64) {
	blasImpl().Dsyrk(blas.Upper, blas.Trans, p, r, 1, a, p, 0, c, p)
}
