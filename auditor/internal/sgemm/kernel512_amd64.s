//go:build amd64 && !purego

#include "textflag.h"

// One step of the 8×32 tile: B's row (b0, b1: its two 16-float halves) in
// Z16–Z17, A's eight values (at aoff(AX)) broadcast into Z18–Z25;
// accumulators Z0–Z15 (row r in Z(2r), Z(2r+1)).
#define STEP8(aoff, b0, b1) \
	VMOVUPS      b0, Z16                \
	VMOVUPS      b1, Z17                \
	VBROADCASTSS aoff(AX), Z18          \
	VBROADCASTSS aoff+4(AX), Z19        \
	VFMADD231PS  Z16, Z18, Z0           \
	VFMADD231PS  Z17, Z18, Z1           \
	VFMADD231PS  Z16, Z19, Z2           \
	VFMADD231PS  Z17, Z19, Z3           \
	VBROADCASTSS aoff+8(AX), Z20        \
	VBROADCASTSS aoff+12(AX), Z21       \
	VFMADD231PS  Z16, Z20, Z4           \
	VFMADD231PS  Z17, Z20, Z5           \
	VFMADD231PS  Z16, Z21, Z6           \
	VFMADD231PS  Z17, Z21, Z7           \
	VBROADCASTSS aoff+16(AX), Z22       \
	VBROADCASTSS aoff+20(AX), Z23       \
	VFMADD231PS  Z16, Z22, Z8           \
	VFMADD231PS  Z17, Z22, Z9           \
	VFMADD231PS  Z16, Z23, Z10          \
	VFMADD231PS  Z17, Z23, Z11          \
	VBROADCASTSS aoff+24(AX), Z24       \
	VBROADCASTSS aoff+28(AX), Z25       \
	VFMADD231PS  Z16, Z24, Z12          \
	VFMADD231PS  Z17, Z24, Z13          \
	VFMADD231PS  Z16, Z25, Z14          \
	VFMADD231PS  Z17, Z25, Z15

// The 8×32 tile's accumulators Z0–Z15 set to zero.
#define ZERO16 \
	VPXORD Z0, Z0, Z0 \
	VPXORD Z1, Z1, Z1 \
	VPXORD Z2, Z2, Z2 \
	VPXORD Z3, Z3, Z3 \
	VPXORD Z4, Z4, Z4 \
	VPXORD Z5, Z5, Z5 \
	VPXORD Z6, Z6, Z6 \
	VPXORD Z7, Z7, Z7 \
	VPXORD Z8, Z8, Z8 \
	VPXORD Z9, Z9, Z9 \
	VPXORD Z10, Z10, Z10 \
	VPXORD Z11, Z11, Z11 \
	VPXORD Z12, Z12, Z12 \
	VPXORD Z13, Z13, Z13 \
	VPXORD Z14, Z14, Z14 \
	VPXORD Z15, Z15, Z15

// Four steps of the 8×32 tile: A's packed strip at AX (8 values a step),
// B's rows at BX, R10 bytes apart, r3 = 3·R10; AX and BX advanced past them.
#define STEP8X4(r3) \
	STEP8(0, (BX), 64(BX))                \
	STEP8(32, (BX)(R10*1), 64(BX)(R10*1)) \
	STEP8(64, (BX)(R10*2), 64(BX)(R10*2)) \
	STEP8(96, (BX)(r3*1), 64(BX)(r3*1))   \
	ADDQ $128, AX                         \
	LEAQ (BX)(R10*4), BX

// Row stores of the three modes; DX is the row, SI the row stride in bytes.
#define ZSTORE0(r0, r1) \
	VMOVUPS r0, (DX)                    \
	VMOVUPS r1, 64(DX)                  \
	ADDQ    SI, DX

#define ZSTORE1(r0, r1) \
	VADDPS  (DX), r0, r0                \
	VADDPS  64(DX), r1, r1              \
	VMOVUPS r0, (DX)                    \
	VMOVUPS r1, 64(DX)                  \
	ADDQ    SI, DX

#define ZSTOREB(r0, r1) \
	VFMADD231PS (DX), Z17, r0           \
	VFMADD231PS 64(DX), Z17, r1         \
	VMOVUPS     r0, (DX)                \
	VMOVUPS     r1, 64(DX)              \
	ADDQ        SI, DX

// func kern8x32(kc int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mode int)
TEXT ·kern8x32(SB), NOSPLIT, $0-64
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ ldb+24(FP), R10
	SHLQ $2, R10
	LEAQ (R10)(R10*2), R11
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), SI
	SHLQ $2, SI

	ZERO16

	// Four steps per iteration, then one at a time: A's strip is packed
	// (8 values per step), B's rows are R10 bytes apart (packed: 128).
	MOVQ  CX, R9
	SHRQ  $2, R9
	ANDQ  $3, CX
	TESTQ R9, R9
	JZ    rest

loop4:
	STEP8X4(R11)
	DECQ R9
	JNZ  loop4

rest:
	TESTQ CX, CX
	JZ    store

loop1:
	STEP8(0, (BX), 64(BX))
	ADDQ $32, AX
	ADDQ R10, BX
	DECQ CX
	JNZ  loop1

store:
	VBROADCASTSS alpha+48(FP), Z16
	VMULPS       Z16, Z0, Z0
	VMULPS       Z16, Z1, Z1
	VMULPS       Z16, Z2, Z2
	VMULPS       Z16, Z3, Z3
	VMULPS       Z16, Z4, Z4
	VMULPS       Z16, Z5, Z5
	VMULPS       Z16, Z6, Z6
	VMULPS       Z16, Z7, Z7
	VMULPS       Z16, Z8, Z8
	VMULPS       Z16, Z9, Z9
	VMULPS       Z16, Z10, Z10
	VMULPS       Z16, Z11, Z11
	VMULPS       Z16, Z12, Z12
	VMULPS       Z16, Z13, Z13
	VMULPS       Z16, Z14, Z14
	VMULPS       Z16, Z15, Z15

	MOVQ mode+56(FP), R8
	CMPQ R8, $1
	JEQ  addone
	JGT  addbeta

	ZSTORE0(Z0, Z1)
	ZSTORE0(Z2, Z3)
	ZSTORE0(Z4, Z5)
	ZSTORE0(Z6, Z7)
	ZSTORE0(Z8, Z9)
	ZSTORE0(Z10, Z11)
	ZSTORE0(Z12, Z13)
	ZSTORE0(Z14, Z15)
	VZEROUPPER
	RET

addone:
	ZSTORE1(Z0, Z1)
	ZSTORE1(Z2, Z3)
	ZSTORE1(Z4, Z5)
	ZSTORE1(Z6, Z7)
	ZSTORE1(Z8, Z9)
	ZSTORE1(Z10, Z11)
	ZSTORE1(Z12, Z13)
	ZSTORE1(Z14, Z15)
	VZEROUPPER
	RET

addbeta:
	VBROADCASTSS beta+52(FP), Z17
	ZSTOREB(Z0, Z1)
	ZSTOREB(Z2, Z3)
	ZSTOREB(Z4, Z5)
	ZSTOREB(Z6, Z7)
	ZSTOREB(Z8, Z9)
	ZSTOREB(Z10, Z11)
	ZSTOREB(Z12, Z13)
	ZSTOREB(Z14, Z15)
	VZEROUPPER
	RET

// func pack32(kb int, src *float32, lds int, dst *float32)
//
// Copies kb rows of 32 floats, lds floats apart in src, to dst (packed B).
TEXT ·pack32(SB), NOSPLIT, $0-32
	MOVQ  kb+0(FP), CX
	MOVQ  src+8(FP), SI
	MOVQ  lds+16(FP), R8
	SHLQ  $2, R8
	MOVQ  dst+24(FP), DI
	TESTQ CX, CX
	JZ    zdone

zloop:
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z1
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	ADDQ    R8, SI
	ADDQ    $128, DI
	DECQ    CX
	JNZ     zloop

zdone:
	VZEROUPPER
	RET

// Horizontal sum of Z(r) into the float32 at off(DI), with Y15/X15 as
// scratch (the VEX adds clear the upper halves, no longer needed).
#define ZHSUM(zr, yr, xr, off) \
	VEXTRACTF64X4 $1, zr, Y15           \
	VADDPS        Y15, yr, yr           \
	VEXTRACTF128  $1, yr, X15           \
	VADDPS        X15, xr, xr           \
	VHADDPS       xr, xr, xr            \
	VHADDPS       xr, xr, xr            \
	VMOVSS        xr, off(DI)

// func dot4x3z(k8 int, a *float32, lda int, b *float32, ldb int, out *[12]float32)
//
// As dot4x3 with ZMM registers: 16 floats a step, the last 8 (k8 odd)
// with a masked load of the low half.
TEXT ·dot4x3z(SB), NOSPLIT, $0-48
	MOVQ k8+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ lda+16(FP), R10
	SHLQ $2, R10
	LEAQ (R10)(R10*2), R12
	MOVQ b+24(FP), BX
	MOVQ ldb+32(FP), R11
	SHLQ $2, R11
	MOVQ out+40(FP), DI

	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	MOVQ   CX, R9
	SHRQ   $1, R9
	JZ     zhalf

zdloop:
	VMOVUPS     (BX), Z12
	VMOVUPS     (BX)(R11*1), Z13
	VMOVUPS     (BX)(R11*2), Z14
	VMOVUPS     (AX), Z15
	VFMADD231PS Z12, Z15, Z0
	VFMADD231PS Z13, Z15, Z1
	VFMADD231PS Z14, Z15, Z2
	VMOVUPS     (AX)(R10*1), Z15
	VFMADD231PS Z12, Z15, Z3
	VFMADD231PS Z13, Z15, Z4
	VFMADD231PS Z14, Z15, Z5
	VMOVUPS     (AX)(R10*2), Z15
	VFMADD231PS Z12, Z15, Z6
	VFMADD231PS Z13, Z15, Z7
	VFMADD231PS Z14, Z15, Z8
	VMOVUPS     (AX)(R12*1), Z15
	VFMADD231PS Z12, Z15, Z9
	VFMADD231PS Z13, Z15, Z10
	VFMADD231PS Z14, Z15, Z11
	ADDQ        $64, AX
	ADDQ        $64, BX
	DECQ        R9
	JNZ         zdloop

zhalf:
	ANDQ $1, CX
	JZ   zdsum
	MOVL $0xff, R9
	KMOVW R9, K1
	VMOVUPS.Z   (BX), K1, Z12
	VMOVUPS.Z   (BX)(R11*1), K1, Z13
	VMOVUPS.Z   (BX)(R11*2), K1, Z14
	VMOVUPS.Z   (AX), K1, Z15
	VFMADD231PS Z12, Z15, Z0
	VFMADD231PS Z13, Z15, Z1
	VFMADD231PS Z14, Z15, Z2
	VMOVUPS.Z   (AX)(R10*1), K1, Z15
	VFMADD231PS Z12, Z15, Z3
	VFMADD231PS Z13, Z15, Z4
	VFMADD231PS Z14, Z15, Z5
	VMOVUPS.Z   (AX)(R10*2), K1, Z15
	VFMADD231PS Z12, Z15, Z6
	VFMADD231PS Z13, Z15, Z7
	VFMADD231PS Z14, Z15, Z8
	VMOVUPS.Z   (AX)(R12*1), K1, Z15
	VFMADD231PS Z12, Z15, Z9
	VFMADD231PS Z13, Z15, Z10
	VFMADD231PS Z14, Z15, Z11

zdsum:
	ZHSUM(Z0, Y0, X0, 0)
	ZHSUM(Z1, Y1, X1, 4)
	ZHSUM(Z2, Y2, X2, 8)
	ZHSUM(Z3, Y3, X3, 12)
	ZHSUM(Z4, Y4, X4, 16)
	ZHSUM(Z5, Y5, X5, 20)
	ZHSUM(Z6, Y6, X6, 24)
	ZHSUM(Z7, Y7, X7, 28)
	ZHSUM(Z8, Y8, X8, 32)
	ZHSUM(Z9, Y9, X9, 36)
	ZHSUM(Z10, Y10, X10, 40)
	ZHSUM(Z11, Y11, X11, 44)
	VZEROUPPER
	RET

// func kern8x32taps(nt, kc int, a *float32, astride int, b *float32, offs *int, ldb int, c *float32, ldc int)
//
// The 8×32 tile of Σ_t A_t·B_t over nt taps, kept in Z0–Z15 across them:
// tap t's packed A strip (8 values per step) at a + t·astride floats, its
// B rows at b + offs[t] floats, ldb floats apart; kc steps per tap, four
// at a time and then one; the tile stored into C (rows ldc floats apart),
// overwriting it.
TEXT ·kern8x32taps(SB), NOSPLIT, $0-72
	MOVQ nt+0(FP), R8
	MOVQ a+16(FP), R13
	MOVQ astride+24(FP), R9
	SHLQ $2, R9
	MOVQ b+32(FP), R12
	MOVQ offs+40(FP), R11
	MOVQ ldb+48(FP), R10
	SHLQ $2, R10
	LEAQ (R10)(R10*2), R14
	MOVQ c+56(FP), DX
	MOVQ ldc+64(FP), SI
	SHLQ $2, SI

	ZERO16

	TESTQ R8, R8
	JZ    zstore

ztap:
	MOVQ  (R11), DI
	LEAQ  (R12)(DI*4), BX
	MOVQ  R13, AX
	MOVQ  kc+8(FP), CX
	MOVQ  CX, DI
	ANDQ  $3, DI
	SHRQ  $2, CX
	TESTQ CX, CX
	JZ    zrest

zloop4:
	STEP8X4(R14)
	DECQ CX
	JNZ  zloop4

zrest:
	TESTQ DI, DI
	JZ    znext

zloop1:
	STEP8(0, (BX), 64(BX))
	ADDQ $32, AX
	ADDQ R10, BX
	DECQ DI
	JNZ  zloop1

znext:
	ADDQ $8, R11
	ADDQ R9, R13
	DECQ R8
	JNZ  ztap

zstore:
	ZSTORE0(Z0, Z1)
	ZSTORE0(Z2, Z3)
	ZSTORE0(Z4, Z5)
	ZSTORE0(Z6, Z7)
	ZSTORE0(Z8, Z9)
	ZSTORE0(Z10, Z11)
	ZSTORE0(Z12, Z13)
	ZSTORE0(Z14, Z15)
	VZEROUPPER
	RET
