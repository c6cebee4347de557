//go:build amd64 && !purego

package sgemm

import "golang.org/x/sys/cpu"

// hasAVX2: the AVX2+FMA microkernel runs on this CPU.
var hasAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// hasAVX512: the AVX-512 microkernel runs on this CPU (x/sys/cpu reports
// AVX512F only where the OS saves the ZMM state too).
var hasAVX512 = hasAVX2 && cpu.X86.HasAVX512F

// useGonum: on an amd64 CPU without AVX2 or FMA, gonum's Sgemm (SSE
// assembly) is faster than the portable kernel, and Sgemm calls it.
var useGonum = !hasAVX2

// AVX-512 register tile: 8 rows of 2 ZMM registers (16 accumulators).
const (
	mr512 = 8
	nr512 = 32
)

// avx2 is the AVX2+FMA variant: the 4×24 kernel, as the portable one.
var avx2 = &variant{name: "avx2", mr: mr, nr: nr, dotMaxM: 64, kern: kernelAVX2,
	packStrip: packStripAVX2, packStripT: packStripTAVX2, dot: dotAsm, taps: tapsAVX2}

// avx512 is the AVX-512 variant: the 8×32 kernel, strips of 32 columns,
// the 4×3 dot products 16 floats a step.
var avx512 = &variant{name: "avx512", mr: mr512, nr: nr512, dotMaxM: 32, kern: kernelAVX512,
	packStrip: packStrip512, packStripT: packStripT512, dot: dotAVX512, taps: tapsAVX512}

// variants are the kernels this CPU runs, best first.
var variants = func() []*variant {
	var v []*variant
	if hasAVX512 {
		v = append(v, avx512)
	}
	if hasAVX2 {
		v = append(v, avx2)
	}
	return append(v, generic)
}()

// kern4x24 is the AVX2+FMA microkernel (kernel_amd64.s): the tile is 4
// rows of 3 YMM registers; each of the kc steps broadcasts A's 4 values and
// loads one 24-float row of B (rows ldb floats apart).
//
//go:noescape
func kern4x24(kc int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mode int)

// kernelAVX2 calls kern4x24 after checking that the strips and the tile
// lie within their slices.
func kernelAVX2(kc int, a, b []float32, ldb int, c []float32, ldc int, alpha, beta float32, mode int) {
	_ = a[kc*mr-1]
	_ = b[(kc-1)*ldb+nr-1]
	_ = c[(mr-1)*ldc+nr-1]
	kern4x24(kc, &a[0], &b[0], ldb, &c[0], ldc, alpha, beta, mode)
}

// kern4x24taps is the AVX2+FMA microkernel of Taps (kernel_amd64.s): the
// 4×24 tile of Σ_t A_t·B_t over nt taps in registers, tap t's packed A
// strip at a + t·astride, its B rows at b + offs[t], ldb apart; C
// overwritten.
//
//go:noescape
func kern4x24taps(nt, kc int, a *float32, astride int, b *float32, offs *int, ldb int, c *float32, ldc int)

// tapsAVX2 calls kern4x24taps after checkTaps.
func tapsAVX2(kc int, a []float32, astride int, b []float32, offs []int, ldb int, c []float32, ldc int) {
	checkTaps(mr, nr, kc, a, astride, b, offs, ldb, c, ldc)
	kern4x24taps(len(offs), kc, &a[0], astride, &b[0], &offs[0], ldb, &c[0], ldc)
}

// checkTaps checks that the nt = len(offs) packed strips of an mr-row
// tile kernel of Taps (kc steps, astride apart), the rows of B its offsets
// reach (nr columns, ldb apart) and its mr×nr tile of C lie within their
// slices.
func checkTaps(mr, nr, kc int, a []float32, astride int, b []float32, offs []int, ldb int, c []float32, ldc int) {
	_ = a[(len(offs)-1)*astride+kc*mr-1]
	for _, off := range offs {
		_ = b[off+(kc-1)*ldb+nr-1]
	}
	_ = c[(mr-1)*ldc+nr-1]
}

// kern8x32 is the AVX-512 microkernel (kernel512_amd64.s): the tile is 8
// rows of 2 ZMM registers; each of the kc steps broadcasts A's 8 values and
// loads one 32-float row of B (rows ldb floats apart).
//
//go:noescape
func kern8x32(kc int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mode int)

// kernelAVX512 calls kern8x32 after checking that the strips and the tile
// lie within their slices.
func kernelAVX512(kc int, a, b []float32, ldb int, c []float32, ldc int, alpha, beta float32, mode int) {
	_ = a[kc*mr512-1]
	_ = b[(kc-1)*ldb+nr512-1]
	_ = c[(mr512-1)*ldc+nr512-1]
	kern8x32(kc, &a[0], &b[0], ldb, &c[0], ldc, alpha, beta, mode)
}

// kern8x32taps is the AVX-512 microkernel of Taps (kernel512_amd64.s):
// kern4x24taps's sum over the taps on the 8×32 tile of kern8x32.
//
//go:noescape
func kern8x32taps(nt, kc int, a *float32, astride int, b *float32, offs *int, ldb int, c *float32, ldc int)

// tapsAVX512 calls kern8x32taps after checkTaps.
func tapsAVX512(kc int, a []float32, astride int, b []float32, offs []int, ldb int, c []float32, ldc int) {
	checkTaps(mr512, nr512, kc, a, astride, b, offs, ldb, c, ldc)
	kern8x32taps(len(offs), kc, &a[0], astride, &b[0], &offs[0], ldb, &c[0], ldc)
}

// dot4x3 is the AVX2+FMA dot-product kernel (kernel_amd64.s): the 4×3
// dot products of rows of A (lda apart) with rows of B (ldb apart) over
// 8·k8 elements.
//
//go:noescape
func dot4x3(k8 int, a *float32, lda int, b *float32, ldb int, out *[12]float32)

// dotAsm calls the assembly dot-product kernel after checking that the rows
// lie within their slices.
func dotAsm(k8 int, a []float32, lda int, b []float32, ldb int, out *[12]float32) {
	if k8 == 0 {
		*out = [12]float32{}
		return
	}
	_ = a[3*lda+8*k8-1]
	_ = b[2*ldb+8*k8-1]
	dot4x3(k8, &a[0], lda, &b[0], ldb, out)
}

// dot4x3z is dot4x3 with ZMM registers (kernel512_amd64.s).
//
//go:noescape
func dot4x3z(k8 int, a *float32, lda int, b *float32, ldb int, out *[12]float32)

// dotAVX512 calls dot4x3z after checking that the rows lie within their
// slices.
func dotAVX512(k8 int, a []float32, lda int, b []float32, ldb int, out *[12]float32) {
	if k8 == 0 {
		*out = [12]float32{}
		return
	}
	_ = a[3*lda+8*k8-1]
	_ = b[2*ldb+8*k8-1]
	dot4x3z(k8, &a[0], lda, &b[0], ldb, out)
}

// pack24 copies kb rows of 24 floats, lds apart, from src to dst
// (kernel_amd64.s).
//
//go:noescape
func pack24(kb int, src *float32, lds int, dst *float32)

// packStripAVX2 packs one whole 24-column strip of B (not transposed) with
// pack24.
func packStripAVX2(kb int, src []float32, lds int, dst []float32) {
	_ = src[(kb-1)*lds+nr-1]
	_ = dst[kb*nr-1]
	pack24(kb, &src[0], lds, &dst[0])
}

// pack32 copies kb rows of 32 floats, lds apart, from src to dst
// (kernel512_amd64.s).
//
//go:noescape
func pack32(kb int, src *float32, lds int, dst *float32)

// packStrip512 packs one whole 32-column strip of B (not transposed) with
// pack32.
func packStrip512(kb int, src []float32, lds int, dst []float32) {
	_ = src[(kb-1)*lds+nr512-1]
	_ = dst[kb*nr512-1]
	pack32(kb, &src[0], lds, &dst[0])
}

// packT8 transposes 8 rows of B (lds apart) into packed B with rows ldd
// floats apart, 8·k8 values each (kernel_amd64.s).
//
//go:noescape
func packT8(k8 int, src *float32, lds int, dst *float32, ldd int)

// packStripTAsm packs one whole w-column strip of B transposed (w rows of
// kb values, lds apart; w a multiple of 8) with packT8, the last kb mod 8
// values in Go.
func packStripTAsm(w, kb int, src []float32, lds int, dst []float32) {
	_ = src[(w-1)*lds+kb-1]
	_ = dst[kb*w-1]
	k8 := kb / 8
	if k8 > 0 {
		for g := 0; g < w; g += 8 {
			packT8(k8, &src[g*lds], lds, &dst[g], w)
		}
	}
	for j := 0; j < w; j++ {
		row := src[j*lds : j*lds+kb]
		for p := 8 * k8; p < kb; p++ {
			dst[p*w+j] = row[p]
		}
	}
}

// packStripTAVX2 packs one whole 24-column strip of B transposed.
func packStripTAVX2(kb int, src []float32, lds int, dst []float32) {
	packStripTAsm(nr, kb, src, lds, dst)
}

// packStripT512 packs one whole 32-column strip of B transposed.
func packStripT512(kb int, src []float32, lds int, dst []float32) {
	packStripTAsm(nr512, kb, src, lds, dst)
}
