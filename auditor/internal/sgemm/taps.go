package sgemm

// TapTile returns the tile Taps computes in on this CPU: its rows (mr) and
// columns (nr).
func TapTile() (rows, cols int) {
	v := kernel()
	return v.mr, v.nr
}

// Taps computes, on the calling goroutine, the sum of T = len(offs)
// products c = Σ_t A_t·B_t: A_t is the m×k row-major matrix at a[t·m·k:]
// and B_t the k×n matrix at b[offs[t]:] with rows ldb apart (an implicit
// GEMM: the kernel taps of a stride-1 convolution read the zero-padded
// input planes, ldb apart per channel, at the tap's offset, with no column
// matrix). It writes whole tiles (TapTile): rows [0, roundUp(m, mr)) and
// columns [0, roundUp(n, nr)) of c (rows ldc ≥ roundUp(n, nr) apart); the
// rows past m are zero, the columns past n unspecified, and it reads B_t's
// columns up to roundUp(n, nr), which b must hold. Each tile sums its
// taps in order, k multiply-adds each, with the tile in registers (AVX2:
// across all taps; else across a tap and in c between taps). ap is the scratch for A's packed strips,
// grown as needed and returned.
func Taps(m, n, k int, a []float32, offs []int, b []float32, ldb int, c []float32, ldc int, ap []float32) []float32 {
	if m <= 0 || n <= 0 || k <= 0 || len(offs) == 0 {
		return ap
	}
	ap = PackTaps(m, k, len(offs), a, ap)
	TapsPacked(m, n, k, ap, offs, b, ldb, c, ldc)
	return ap
}

// PackTaps packs the nt row-major m×k matrices A_t at a[t·m·k:] into
// Taps's strips (in ap, grown as needed and returned), for TapsPacked to
// reuse over many products with the same A (one per sample of a
// convolution).
func PackTaps(m, k, nt int, a []float32, ap []float32) []float32 {
	mr := kernel().mr
	mp := roundUp(m, mr)
	_ = a[nt*m*k-1]
	ap = grow(ap, nt*mp*k)
	for t := 0; t < nt; t++ {
		packA(mr, false, a[t*m*k:], k, 0, 0, m, k, ap[t*mp*k:])
	}
	return ap
}

// TapsPacked is Taps with A packed by PackTaps (same m, k and number of
// taps, on the same CPU).
func TapsPacked(m, n, k int, ap []float32, offs []int, b []float32, ldb int, c []float32, ldc int) {
	v := kernel()
	mr, nr := v.mr, v.nr
	nt := len(offs)
	if m <= 0 || n <= 0 || k <= 0 || nt == 0 {
		return
	}
	mp := roundUp(m, mr)
	if ldc < roundUp(n, nr) {
		panic("sgemm: Taps: ldc < roundUp(n, nr)")
	}
	_ = ap[nt*mp*k-1]
	_ = c[(mp-1)*ldc+roundUp(n, nr)-1]
	kern := v.kern
	for jr := 0; jr < n; jr += nr {
		for ir := 0; ir < mp; ir += mr {
			cc := c[ir*ldc+jr:]
			if v.taps != nil {
				v.taps(k, ap[ir*k:], mp*k, b[jr:], offs, ldb, cc, ldc)
				continue
			}
			for t, off := range offs {
				as := ap[t*mp*k+ir*k:][:mr*k]
				if t == 0 {
					kern(k, as, b[off+jr:], ldb, cc, ldc, 1, 0, modeZero)
				} else {
					kern(k, as, b[off+jr:], ldb, cc, ldc, 1, 1, modeOne)
				}
			}
		}
	}
}
