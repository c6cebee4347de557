//go:build amd64 && !purego

#include "textflag.h"

// func segDots32(n4, p4 int, l, u *float32, out *float64)
// For the 4·n4 segments s of 4·p4 values: out[s] = (t0 + t1) + (t2 + t3),
// t_j = Σ_m l[s·4p4 + 4m + j]·u[s·4p4 + 4m + j] added in m order (float64
// products of the exactly converted values): dotSegs's sums, bit for bit.
TEXT ·segDots32(SB), NOSPLIT, $0-40
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
