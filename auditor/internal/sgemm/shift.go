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
// run on the dot-product kernel of the CPU's variant (the 4×3 block of
// rows of A against the three shifted reads of one row of B, kdc-deep
// passes), the edge rows and the last k mod 8 terms in scalar code; the
// error bound is a float32 sum of k products (see the tests). It runs on
// the calling goroutine.
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
	dot := kernel().dot
	var out [12]float32
	mf := m / 4 * 4
	for pc := 0; pc < k; pc += kdc {
		kb := min(kdc, k-pc)
		k8 := kb / 8
		first := pc == 0
		// four rows of A stay in L1 while the rows of B stream past
		for i0 := 0; i0 < mf; i0 += 4 {
			ai := a[i0*lda+pc:]
			for j := 0; j < n; j++ {
				bj := b[j*ldb+pc:]
				dot(k8, ai, lda, bj, 1, &out)
				for p := 8 * k8; p < kb; p++ {
					b0, b1, b2 := bj[p], bj[p+1], bj[p+2]
					for r := 0; r < 4; r++ {
						v := ai[r*lda+p]
						out[3*r] += v * b0
						out[3*r+1] += v * b1
						out[3*r+2] += v * b2
					}
				}
				for r := 0; r < 4; r++ {
					store3(c[(i0+r)*ldc+j*cs:], alpha, out[3*r:3*r+3], first)
				}
			}
		}
		for i := mf; i < m; i++ {
			ai := a[i*lda+pc : i*lda+pc+kb]
			for j := 0; j < n; j++ {
				bj := b[j*ldb+pc:]
				var s [3]float32
				for p, v := range ai {
					s[0] += v * bj[p]
					s[1] += v * bj[p+1]
					s[2] += v * bj[p+2]
				}
				store3(c[i*ldc+j*cs:], alpha, s[:], first)
			}
		}
	}
}

// store3 writes (first pass) or adds alpha times s's three sums to c.
func store3(c []float32, alpha float32, s []float32, first bool) {
	c = c[:3]
	for t, v := range s[:3] {
		if first {
			c[t] = alpha * v
		} else {
			c[t] += alpha * v
		}
	}
}
