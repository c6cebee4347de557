//go:build amd64 && !purego

#include "textflag.h"

// func bnSums32(n8 int, x, d *float32, m float64, out *[16]float64)
// Lane j of out[0:8] is Σ_i d[8i+j]·(x[8i+j] − m), lane j of out[8:16]
// Σ_i d[8i+j], in float64 (each float32 converted exactly), added in i
// order. The same kernel as auditor/graph/internal/simd.BnSums32 (which
// this package cannot import).
TEXT ·bnSums32(SB), NOSPLIT, $0-40
	MOVQ         n8+0(FP), CX
	MOVQ         x+8(FP), SI
	MOVQ         d+16(FP), DX
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

// func sqSums32(n16 int, v *float32, out *[16]float64)
// Lane j of out[4k:4k+4] is Σ_i v[16i+4k+j]² in float64 (each float32
// converted exactly), added in i order.
TEXT ·sqSums32(SB), NOSPLIT, $0-24
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
