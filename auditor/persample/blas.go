package persample

import (
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
		blasImpl().Ssyrk(blas.Upper, blas.Trans, p, r, 1, a, lda, 0, c, p)
		for i := 0; i < p; i++ {
			for j := i; j < p; j++ {
				out[i*p+j] = float64(c[i*p+j])
			}
		}
	case []float64:
		blasImpl().Dsyrk(blas.Upper, blas.Trans, p, r, 1, a, lda, 0, out, p)
	}
}
