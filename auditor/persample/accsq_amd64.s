//go:build amd64 && !purego

#include "textflag.h"

// func accSq32(n16 int, acc *float64, v *float32, set bool, out *[16]float64)
// For the 16·n16 values of v: acc[k] = float64(v[k]) (set) or
// acc[k] += float64(v[k]), and lane j of out[4m:4m+4] = Σ_i v[16i+4m+j]²
// in float64 added in i order (the sums of simd.SqSums32, bit for bit).
TEXT ·accSq32(SB), NOSPLIT, $0-40
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
