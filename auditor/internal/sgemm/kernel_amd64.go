//go:build amd64 && !purego

package sgemm

import "golang.org/x/sys/cpu"

// hasAsm: the AVX2+FMA microkernel runs on this CPU.
var hasAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// useGonum: on an amd64 CPU without AVX2 or FMA, gonum's Sgemm (SSE
// assembly) is faster than the portable kernel, and Sgemm calls it.
var useGonum = !hasAsm

// kern4x24 is the AVX2+FMA microkernel (kernel_amd64.s): the tile is 4
// rows of 3 YMM registers; each of the kc steps broadcasts A's 4 values and
// loads one 24-float row of B (rows ldb floats apart).
//
//go:noescape
func kern4x24(kc int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mode int)

// kernelAsm calls the assembly microkernel after checking that the strips
// and the tile lie within their slices.
func kernelAsm(kc int, a, b []float32, ldb int, c []float32, ldc int, alpha, beta float32, mode int) {
	_ = a[kc*mr-1]
	_ = b[(kc-1)*ldb+nr-1]
	_ = c[(mr-1)*ldc+nr-1]
	kern4x24(kc, &a[0], &b[0], ldb, &c[0], ldc, alpha, beta, mode)
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

// pack24 copies kb rows of 24 floats, lds apart, from src to dst
// (kernel_amd64.s).
//
//go:noescape
func pack24(kb int, src *float32, lds int, dst *float32)

// packStripAsm packs one whole strip of B (not transposed) with pack24.
func packStripAsm(kb int, src []float32, lds int, dst []float32) {
	_ = src[(kb-1)*lds+nr-1]
	_ = dst[kb*nr-1]
	pack24(kb, &src[0], lds, &dst[0])
}

// packT8 transposes 8 rows of B (lds apart) into packed B, 8·k8 values
// each (kernel_amd64.s).
//
//go:noescape
func packT8(k8 int, src *float32, lds int, dst *float32)

// packStripTAsm packs one whole strip of B transposed (nr rows of kb
// values, lds apart) with packT8, the last kb mod 8 values in Go.
func packStripTAsm(kb int, src []float32, lds int, dst []float32) {
	_ = src[(nr-1)*lds+kb-1]
	_ = dst[kb*nr-1]
	k8 := kb / 8
	if k8 > 0 {
		for g := 0; g < nr; g += 8 {
			packT8(k8, &src[g*lds], lds, &dst[g])
		}
	}
	for j := 0; j < nr; j++ {
		row := src[j*lds : j*lds+kb]
		for p := 8 * k8; p < kb; p++ {
			dst[p*nr+j] = row[p]
		}
	}
}
