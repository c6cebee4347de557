//go:build amd64 && !purego

#include "textflag.h"

// func ReluMask32(n8 int, out, x, v *float32)
// out = v AND (x NLE_UQ 0): all ones where !(x <= 0), i.e. x > 0 or NaN.
TEXT ·ReluMask32(SB), NOSPLIT, $0-32
	MOVQ   n8+0(FP), CX
	MOVQ   out+8(FP), DI
	MOVQ   x+16(FP), SI
	MOVQ   v+24(FP), DX
	VXORPS Y15, Y15, Y15

relu4:
	CMPQ    CX, $4
	JL      relu1
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VCMPPS  $0x16, Y15, Y0, Y0
	VCMPPS  $0x16, Y15, Y1, Y1
	VCMPPS  $0x16, Y15, Y2, Y2
	VCMPPS  $0x16, Y15, Y3, Y3
	VANDPS  (DX), Y0, Y0
	VANDPS  32(DX), Y1, Y1
	VANDPS  64(DX), Y2, Y2
	VANDPS  96(DX), Y3, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, SI
	ADDQ    $128, DX
	ADDQ    $128, DI
	SUBQ    $4, CX
	JMP     relu4

relu1:
	TESTQ   CX, CX
	JE      reludone
	VMOVUPS (SI), Y0
	VCMPPS  $0x16, Y15, Y0, Y0
	VANDPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JMP     relu1

reludone:
	VZEROUPPER
	RET

// func AddRow32(n8 int, out, a, b *float32)
TEXT ·AddRow32(SB), NOSPLIT, $0-32
	MOVQ n8+0(FP), CX
	MOVQ out+8(FP), DI
	MOVQ a+16(FP), SI
	MOVQ b+24(FP), DX

add4:
	CMPQ    CX, $4
	JL      add1
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VADDPS  (DX), Y0, Y0
	VADDPS  32(DX), Y1, Y1
	VADDPS  64(DX), Y2, Y2
	VADDPS  96(DX), Y3, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, SI
	ADDQ    $128, DX
	ADDQ    $128, DI
	SUBQ    $4, CX
	JMP     add4

add1:
	TESTQ   CX, CX
	JE      adddone
	VMOVUPS (SI), Y0
	VADDPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JMP     add1

adddone:
	VZEROUPPER
	RET

// func Axpb32(n8 int, out, x *float32, s, t float32)
TEXT ·Axpb32(SB), NOSPLIT, $0-32
	MOVQ         n8+0(FP), CX
	MOVQ         out+8(FP), DI
	MOVQ         x+16(FP), SI
	VBROADCASTSS s+24(FP), Y14
	VBROADCASTSS t+28(FP), Y15

axpb4:
	CMPQ    CX, $4
	JL      axpb1
	VMULPS  (SI), Y14, Y0
	VMULPS  32(SI), Y14, Y1
	VMULPS  64(SI), Y14, Y2
	VMULPS  96(SI), Y14, Y3
	VADDPS  Y15, Y0, Y0
	VADDPS  Y15, Y1, Y1
	VADDPS  Y15, Y2, Y2
	VADDPS  Y15, Y3, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, SI
	ADDQ    $128, DI
	SUBQ    $4, CX
	JMP     axpb4

axpb1:
	TESTQ   CX, CX
	JE      axpbdone
	VMULPS  (SI), Y14, Y0
	VADDPS  Y15, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JMP     axpb1

axpbdone:
	VZEROUPPER
	RET

// func Scale32(n8 int, out, x *float32, s float32)
TEXT ·Scale32(SB), NOSPLIT, $0-28
	MOVQ         n8+0(FP), CX
	MOVQ         out+8(FP), DI
	MOVQ         x+16(FP), SI
	VBROADCASTSS s+24(FP), Y14

scale4:
	CMPQ    CX, $4
	JL      scale1
	VMULPS  (SI), Y14, Y0
	VMULPS  32(SI), Y14, Y1
	VMULPS  64(SI), Y14, Y2
	VMULPS  96(SI), Y14, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, SI
	ADDQ    $128, DI
	SUBQ    $4, CX
	JMP     scale4

scale1:
	TESTQ   CX, CX
	JE      scaledone
	VMULPS  (SI), Y14, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JMP     scale1

scaledone:
	VZEROUPPER
	RET

// func BnSums32(n8 int, x, gy *float32, m float64, out *[16]float64)
// Lane j of out[0:8] is Σ_i gy[8i+j]·(x[8i+j] − m), lane j of out[8:16]
// Σ_i gy[8i+j], in float64 (each float32 converted exactly).
TEXT ·BnSums32(SB), NOSPLIT, $0-40
	MOVQ         n8+0(FP), CX
	MOVQ         x+8(FP), SI
	MOVQ         gy+16(FP), DX
	VBROADCASTSD m+24(FP), Y15
	MOVQ         out+32(FP), DI
	VXORPD       Y0, Y0, Y0
	VXORPD       Y1, Y1, Y1
	VXORPD       Y2, Y2, Y2
	VXORPD       Y3, Y3, Y3

sums:
	TESTQ     CX, CX
	JE        sumsdone
	VCVTPS2PD (DX), Y4
	VCVTPS2PD 16(DX), Y5
	VCVTPS2PD (SI), Y6
	VCVTPS2PD 16(SI), Y7
	VSUBPD    Y15, Y6, Y6
	VSUBPD    Y15, Y7, Y7
	VMULPD    Y4, Y6, Y6
	VMULPD    Y5, Y7, Y7
	VADDPD    Y6, Y0, Y0
	VADDPD    Y7, Y1, Y1
	VADDPD    Y4, Y2, Y2
	VADDPD    Y5, Y3, Y3
	ADDQ      $32, SI
	ADDQ      $32, DX
	DECQ      CX
	JMP       sums

sumsdone:
	VMOVUPD Y0, (DI)
	VMOVUPD Y1, 32(DI)
	VMOVUPD Y2, 64(DI)
	VMOVUPD Y3, 96(DI)
	VZEROUPPER
	RET

// func SqSums32(n16 int, v *float32, out *[16]float64)
// Lane j of out[4k:4k+4] is Σ_i v[16i+4k+j]² in float64 (each float32
// converted exactly), added in i order.
TEXT ·SqSums32(SB), NOSPLIT, $0-24
	MOVQ   n16+0(FP), CX
	MOVQ   v+8(FP), SI
	MOVQ   out+16(FP), DI
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3

sq:
	TESTQ     CX, CX
	JE        sqdone
	VCVTPS2PD (SI), Y4
	VCVTPS2PD 16(SI), Y5
	VCVTPS2PD 32(SI), Y6
	VCVTPS2PD 48(SI), Y7
	VMULPD    Y4, Y4, Y4
	VMULPD    Y5, Y5, Y5
	VMULPD    Y6, Y6, Y6
	VMULPD    Y7, Y7, Y7
	VADDPD    Y4, Y0, Y0
	VADDPD    Y5, Y1, Y1
	VADDPD    Y6, Y2, Y2
	VADDPD    Y7, Y3, Y3
	ADDQ      $64, SI
	DECQ      CX
	JMP       sq

sqdone:
	VMOVUPD Y0, (DI)
	VMOVUPD Y1, 32(DI)
	VMOVUPD Y2, 64(DI)
	VMOVUPD Y3, 96(DI)
	VZEROUPPER
	RET

// func SegDots32(n4, p4 int, l, u *float32, out *float64)
// For the 4·n4 segments s of 4·p4 values: out[s] = (t0 + t1) + (t2 + t3),
// t_j = Σ_m l[s·4p4 + 4m + j]·u[s·4p4 + 4m + j] added in m order (float64
// products of the exactly converted values): persample's dotSegs sums, bit for bit.
TEXT ·SegDots32(SB), NOSPLIT, $0-40
	MOVQ n4+0(FP), CX
	MOVQ p4+8(FP), BX
	MOVQ l+16(FP), SI
	MOVQ u+24(FP), DX
	MOVQ out+32(FP), DI

loop4:
	TESTQ CX, CX
	JE    done
	// four segments: partial sums in Y4..Y7
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	VXORPD Y6, Y6, Y6
	VXORPD Y7, Y7, Y7
	MOVQ   BX, AX
	MOVQ   BX, R8
	SHLQ   $4, R8          // bytes per segment: 16·p4
	MOVQ   SI, R9
	MOVQ   DX, R10

inner:
	VCVTPS2PD (R9), Y0
	VCVTPS2PD (R10), Y1
	VMULPD    Y1, Y0, Y0
	VADDPD    Y0, Y4, Y4
	VCVTPS2PD (R9)(R8*1), Y0
	VCVTPS2PD (R10)(R8*1), Y1
	VMULPD    Y1, Y0, Y0
	VADDPD    Y0, Y5, Y5
	VCVTPS2PD (R9)(R8*2), Y0
	VCVTPS2PD (R10)(R8*2), Y1
	VMULPD    Y1, Y0, Y0
	VADDPD    Y0, Y6, Y6
	LEAQ      (R8)(R8*2), R11
	VCVTPS2PD (R9)(R11*1), Y0
	VCVTPS2PD (R10)(R11*1), Y1
	VMULPD    Y1, Y0, Y0
	VADDPD    Y0, Y7, Y7
	ADDQ      $16, R9
	ADDQ      $16, R10
	DECQ      AX
	JNE       inner

	// Y8 = [a0+a1, b0+b1, a2+a3, b2+b3], Y9 likewise for c, d
	VHADDPD    Y5, Y4, Y8
	VHADDPD    Y7, Y6, Y9
	VPERM2F128 $0x20, Y9, Y8, Y10
	VPERM2F128 $0x31, Y9, Y8, Y11
	VADDPD     Y11, Y10, Y10
	VMOVUPD    Y10, (DI)
	LEAQ       (SI)(R8*4), SI
	LEAQ       (DX)(R8*4), DX
	ADDQ       $32, DI
	DECQ       CX
	JMP        loop4

done:
	VZEROUPPER
	RET

// func AccSq32(n16 int, acc *float64, v *float32, set bool, out *[16]float64)
// For the 16·n16 values of v: acc[k] = float64(v[k]) (set) or
// acc[k] += float64(v[k]), and lane j of out[4m:4m+4] = Σ_i v[16i+4m+j]²
// in float64 added in i order (the sums of simd.SqSums32, bit for bit).
TEXT ·AccSq32(SB), NOSPLIT, $0-40
	MOVQ    n16+0(FP), CX
	MOVQ    acc+8(FP), DI
	MOVQ    v+16(FP), SI
	MOVBLZX set+24(FP), AX
	MOVQ    out+32(FP), DX
	VXORPD  Y0, Y0, Y0
	VXORPD  Y1, Y1, Y1
	VXORPD  Y2, Y2, Y2
	VXORPD  Y3, Y3, Y3
	TESTQ   AX, AX
	JNE     setloop

addloop:
	TESTQ     CX, CX
	JE        done
	VCVTPS2PD (SI), Y4
	VCVTPS2PD 16(SI), Y5
	VCVTPS2PD 32(SI), Y6
	VCVTPS2PD 48(SI), Y7
	VMULPD    Y4, Y4, Y8
	VMULPD    Y5, Y5, Y9
	VMULPD    Y6, Y6, Y10
	VMULPD    Y7, Y7, Y11
	VADDPD    Y8, Y0, Y0
	VADDPD    Y9, Y1, Y1
	VADDPD    Y10, Y2, Y2
	VADDPD    Y11, Y3, Y3
	VADDPD    (DI), Y4, Y4
	VADDPD    32(DI), Y5, Y5
	VADDPD    64(DI), Y6, Y6
	VADDPD    96(DI), Y7, Y7
	VMOVUPD   Y4, (DI)
	VMOVUPD   Y5, 32(DI)
	VMOVUPD   Y6, 64(DI)
	VMOVUPD   Y7, 96(DI)
	ADDQ      $64, SI
	ADDQ      $128, DI
	DECQ      CX
	JMP       addloop

setloop:
	TESTQ     CX, CX
	JE        done
	VCVTPS2PD (SI), Y4
	VCVTPS2PD 16(SI), Y5
	VCVTPS2PD 32(SI), Y6
	VCVTPS2PD 48(SI), Y7
	VMULPD    Y4, Y4, Y8
	VMULPD    Y5, Y5, Y9
	VMULPD    Y6, Y6, Y10
	VMULPD    Y7, Y7, Y11
	VADDPD    Y8, Y0, Y0
	VADDPD    Y9, Y1, Y1
	VADDPD    Y10, Y2, Y2
	VADDPD    Y11, Y3, Y3
	VMOVUPD   Y4, (DI)
	VMOVUPD   Y5, 32(DI)
	VMOVUPD   Y6, 64(DI)
	VMOVUPD   Y7, 96(DI)
	ADDQ      $64, SI
	ADDQ      $128, DI
	DECQ      CX
	JMP       setloop

done:
	VMOVUPD Y0, (DX)
	VMOVUPD Y1, 32(DX)
	VMOVUPD Y2, 64(DX)
	VMOVUPD Y3, 96(DX)
	VZEROUPPER
	RET
