//go:build amd64 && !purego

#include "textflag.h"

// One step p of the 4×24 tile: B's row p (at BX) in Y12–Y14, A's four values
// broadcast in turn into Y15; accumulators Y0–Y11 (row r in Y(3r)…Y(3r+2)).
#define STEP(aoff, boff) \
	VMOVUPS      boff(BX), Y12         \
	VMOVUPS      boff+32(BX), Y13      \
	VMOVUPS      boff+64(BX), Y14      \
	VBROADCASTSS aoff(AX), Y15         \
	VFMADD231PS  Y12, Y15, Y0          \
	VFMADD231PS  Y13, Y15, Y1          \
	VFMADD231PS  Y14, Y15, Y2          \
	VBROADCASTSS aoff+4(AX), Y15       \
	VFMADD231PS  Y12, Y15, Y3          \
	VFMADD231PS  Y13, Y15, Y4          \
	VFMADD231PS  Y14, Y15, Y5          \
	VBROADCASTSS aoff+8(AX), Y15       \
	VFMADD231PS  Y12, Y15, Y6          \
	VFMADD231PS  Y13, Y15, Y7          \
	VFMADD231PS  Y14, Y15, Y8          \
	VBROADCASTSS aoff+12(AX), Y15      \
	VFMADD231PS  Y12, Y15, Y9          \
	VFMADD231PS  Y13, Y15, Y10         \
	VFMADD231PS  Y14, Y15, Y11

// Row stores of the three modes; DX is the row, SI the row stride in bytes.
#define STORE0(r0, r1, r2) \
	VMOVUPS r0, (DX)                   \
	VMOVUPS r1, 32(DX)                 \
	VMOVUPS r2, 64(DX)                 \
	ADDQ    SI, DX

#define STORE1(r0, r1, r2) \
	VADDPS  (DX), r0, r0               \
	VADDPS  32(DX), r1, r1             \
	VADDPS  64(DX), r2, r2             \
	VMOVUPS r0, (DX)                   \
	VMOVUPS r1, 32(DX)                 \
	VMOVUPS r2, 64(DX)                 \
	ADDQ    SI, DX

#define STOREB(r0, r1, r2) \
	VFMADD231PS (DX), Y13, r0          \
	VFMADD231PS 32(DX), Y13, r1        \
	VFMADD231PS 64(DX), Y13, r2        \
	VMOVUPS     r0, (DX)               \
	VMOVUPS     r1, 32(DX)             \
	VMOVUPS     r2, 64(DX)             \
	ADDQ        SI, DX

// func kern4x24(kc int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mode int)
TEXT ·kern4x24(SB), NOSPLIT, $0-64
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ ldb+24(FP), R10
	SHLQ $2, R10
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), SI
	SHLQ $2, SI

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

	// One step p per iteration: A's strip is packed (4 values per p), B's
	// rows are R10 bytes apart (packed: 96).
	TESTQ CX, CX
	JZ    store

loop:
	STEP(0, 0)
	ADDQ $16, AX
	ADDQ R10, BX
	DECQ CX
	JNZ  loop

store:
	VBROADCASTSS alpha+48(FP), Y12
	VMULPS       Y12, Y0, Y0
	VMULPS       Y12, Y1, Y1
	VMULPS       Y12, Y2, Y2
	VMULPS       Y12, Y3, Y3
	VMULPS       Y12, Y4, Y4
	VMULPS       Y12, Y5, Y5
	VMULPS       Y12, Y6, Y6
	VMULPS       Y12, Y7, Y7
	VMULPS       Y12, Y8, Y8
	VMULPS       Y12, Y9, Y9
	VMULPS       Y12, Y10, Y10
	VMULPS       Y12, Y11, Y11

	MOVQ mode+56(FP), R8
	CMPQ R8, $1
	JEQ  addone
	JGT  addbeta

	STORE0(Y0, Y1, Y2)
	STORE0(Y3, Y4, Y5)
	STORE0(Y6, Y7, Y8)
	STORE0(Y9, Y10, Y11)
	VZEROUPPER
	RET

addone:
	STORE1(Y0, Y1, Y2)
	STORE1(Y3, Y4, Y5)
	STORE1(Y6, Y7, Y8)
	STORE1(Y9, Y10, Y11)
	VZEROUPPER
	RET

addbeta:
	VBROADCASTSS beta+52(FP), Y13
	STOREB(Y0, Y1, Y2)
	STOREB(Y3, Y4, Y5)
	STOREB(Y6, Y7, Y8)
	STOREB(Y9, Y10, Y11)
	VZEROUPPER
	RET

// Horizontal sum of Y(r) into the float32 at off(DI), with X15 as scratch.
#define HSUM(yr, xr, off) \
	VEXTRACTF128 $1, yr, X15           \
	VADDPS       X15, xr, xr           \
	VHADDPS      xr, xr, xr            \
	VHADDPS      xr, xr, xr            \
	VMOVSS       xr, off(DI)

// func dot4x3(k8 int, a *float32, lda int, b *float32, ldb int, out *[12]float32)
//
// out[3r+j] = Σ_{p<8·k8} a[r·lda+p]·b[j·ldb+p] for r < 4, j < 3: twelve dot
// products of four rows of A with three rows of B, 8 floats a step.
TEXT ·dot4x3(SB), NOSPLIT, $0-48
	MOVQ k8+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ lda+16(FP), R10
	SHLQ $2, R10
	LEAQ (R10)(R10*2), R12
	MOVQ b+24(FP), BX
	MOVQ ldb+32(FP), R11
	SHLQ $2, R11
	MOVQ out+40(FP), DI

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	TESTQ  CX, CX
	JZ     dsum

dloop:
	VMOVUPS     (BX), Y12
	VMOVUPS     (BX)(R11*1), Y13
	VMOVUPS     (BX)(R11*2), Y14
	VMOVUPS     (AX), Y15
	VFMADD231PS Y12, Y15, Y0
	VFMADD231PS Y13, Y15, Y1
	VFMADD231PS Y14, Y15, Y2
	VMOVUPS     (AX)(R10*1), Y15
	VFMADD231PS Y12, Y15, Y3
	VFMADD231PS Y13, Y15, Y4
	VFMADD231PS Y14, Y15, Y5
	VMOVUPS     (AX)(R10*2), Y15
	VFMADD231PS Y12, Y15, Y6
	VFMADD231PS Y13, Y15, Y7
	VFMADD231PS Y14, Y15, Y8
	VMOVUPS     (AX)(R12*1), Y15
	VFMADD231PS Y12, Y15, Y9
	VFMADD231PS Y13, Y15, Y10
	VFMADD231PS Y14, Y15, Y11
	ADDQ        $32, AX
	ADDQ        $32, BX
	DECQ        CX
	JNZ         dloop

dsum:
	HSUM(Y0, X0, 0)
	HSUM(Y1, X1, 4)
	HSUM(Y2, X2, 8)
	HSUM(Y3, X3, 12)
	HSUM(Y4, X4, 16)
	HSUM(Y5, X5, 20)
	HSUM(Y6, X6, 24)
	HSUM(Y7, X7, 28)
	HSUM(Y8, X8, 32)
	HSUM(Y9, X9, 36)
	HSUM(Y10, X10, 40)
	HSUM(Y11, X11, 44)
	VZEROUPPER
	RET

// func pack24(kb int, src *float32, lds int, dst *float32)
//
// Copies kb rows of 24 floats, lds floats apart in src, to dst (packed B).
TEXT ·pack24(SB), NOSPLIT, $0-32
	MOVQ  kb+0(FP), CX
	MOVQ  src+8(FP), SI
	MOVQ  lds+16(FP), R8
	SHLQ  $2, R8
	MOVQ  dst+24(FP), DI
	TESTQ CX, CX
	JZ    pdone

ploop:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	ADDQ    R8, SI
	ADDQ    $96, DI
	DECQ    CX
	JNZ     ploop

pdone:
	VZEROUPPER
	RET

// func packT8(k8 int, src *float32, lds int, dst *float32, ldd int)
//
// Transposes 8 rows of B (lds floats apart; row j = column j of op(B))
// into packed B: for p < 8·k8, dst[p·ldd + j] = src[j·lds + p], j < 8, in
// 8×8 blocks (unpack, shuffle, permute of 128-bit lanes).
TEXT ·packT8(SB), NOSPLIT, $0-40
	MOVQ  k8+0(FP), CX
	MOVQ  src+8(FP), SI
	MOVQ  lds+16(FP), R8
	SHLQ  $2, R8
	LEAQ  (R8)(R8*2), R9
	LEAQ  (SI)(R8*4), DX
	MOVQ  dst+24(FP), DI
	MOVQ  ldd+32(FP), R10
	SHLQ  $2, R10
	LEAQ  (R10)(R10*2), R11
	LEAQ  (DI)(R10*4), R13
	TESTQ CX, CX
	JZ    tdone

tloop:
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(R8*1), Y1
	VMOVUPS (SI)(R8*2), Y2
	VMOVUPS (SI)(R9*1), Y3
	VMOVUPS (DX), Y4
	VMOVUPS (DX)(R8*1), Y5
	VMOVUPS (DX)(R8*2), Y6
	VMOVUPS (DX)(R9*1), Y7

	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15

	VSHUFPS $0x44, Y10, Y8, Y0
	VSHUFPS $0xEE, Y10, Y8, Y1
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xEE, Y11, Y9, Y3
	VSHUFPS $0x44, Y14, Y12, Y4
	VSHUFPS $0xEE, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xEE, Y15, Y13, Y7

	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15

	VMOVUPS Y8, (DI)
	VMOVUPS Y9, (DI)(R10*1)
	VMOVUPS Y10, (DI)(R10*2)
	VMOVUPS Y11, (DI)(R11*1)
	VMOVUPS Y12, (R13)
	VMOVUPS Y13, (R13)(R10*1)
	VMOVUPS Y14, (R13)(R10*2)
	VMOVUPS Y15, (R13)(R11*1)

	ADDQ $32, SI
	ADDQ $32, DX
	LEAQ (DI)(R10*8), DI
	LEAQ (R13)(R10*8), R13
	DECQ CX
	JNZ  tloop

tdone:
	VZEROUPPER
	RET

// func kern4x24taps(nt, kc int, a *float32, astride int, b *float32, offs *int, ldb int, c *float32, ldc int)
//
// The 4×24 tile of Σ_t A_t·B_t over nt taps, kept in Y0–Y11 across them:
// tap t's packed A strip (4 values per step) at a + t·astride floats, its
// B rows at b + offs[t] floats, ldb floats apart; kc steps per tap; the
// tile stored into C (rows ldc floats apart), overwriting it.
TEXT ·kern4x24taps(SB), NOSPLIT, $0-72
	MOVQ nt+0(FP), R8
	MOVQ a+16(FP), R13
	MOVQ astride+24(FP), R9
	SHLQ $2, R9
	MOVQ b+32(FP), R12
	MOVQ offs+40(FP), R11
	MOVQ ldb+48(FP), R10
	SHLQ $2, R10
	MOVQ c+56(FP), DX
	MOVQ ldc+64(FP), SI
	SHLQ $2, SI

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

	TESTQ R8, R8
	JZ    tstore

tap:
	MOVQ (R11), DI
	LEAQ (R12)(DI*4), BX
	MOVQ R13, AX
	MOVQ kc+8(FP), CX
	TESTQ CX, CX
	JZ    tnext

tloop:
	STEP(0, 0)
	ADDQ $16, AX
	ADDQ R10, BX
	DECQ CX
	JNZ  tloop

tnext:
	ADDQ $8, R11
	ADDQ R9, R13
	DECQ R8
	JNZ  tap

tstore:
	STORE0(Y0, Y1, Y2)
	STORE0(Y3, Y4, Y5)
	STORE0(Y6, Y7, Y8)
	STORE0(Y9, Y10, Y11)
	VZEROUPPER
	RET
