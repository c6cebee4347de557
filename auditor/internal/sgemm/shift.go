package sgemm

// DotShift3 computes, for i < m, j < n and t < 3,
//
//	c[i·ldc + j·cs + t] = alpha · Σ_{p<k} a[i·lda + p] · b[j·ldb + t + p],
//
// the dot products of m rows of A with n rows of B each read at three
// consecutive shifts (c is overwritten, not read). A stride-1
// convolution's weight gradient over a zero-padded input has this form:
// the rows of A are the output gradient's channels, the rows of B the
// padded input's channels, and the three shifts three neighbouring
// kernel columns, so that the gradient needs no column matrix. The sums
// run on dotGemm's dot-product path (dotBlocks: the variant's 4×3
// kernel on four rows of A against the three shifted reads of one row of
// B, kdc-deep passes), the edge rows and the last k mod 8 terms in scalar
// code; the error bound is a float32 sum of k products (see the tests).
// It runs on the calling goroutine.
func DotShift3(m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, c []float32, ldc, cs int) {
	switch {
	case m < 0 || n < 0 || k < 0:
		panic("sgemm: DotShift3: negative dimension")
	case m == 0 || n == 0:
		return
	case lda < k || ldb < 0 || cs < 3 || ldc < 0:
		panic("sgemm: DotShift3: bad leading dimension")
	case k > 0 && len(a) < (m-1)*lda+k:
		panic("sgemm: DotShift3: a too short")
	case k > 0 && len(b) < (n-1)*ldb+k+2:
		panic("sgemm: DotShift3: b too short")
	case len(c) < (m-1)*ldc+(n-1)*cs+3:
		panic("sgemm: DotShift3: c too short")
	}
	if k == 0 {
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				clear(c[i*ldc+j*cs:][:3])
			}
		}
		return
	}
	dotBlocks(kernel(), m, n, k, alpha, a, lda, b, ldb, 1, 0, c, ldc, cs)
}
