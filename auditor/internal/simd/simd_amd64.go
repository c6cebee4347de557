//go:build amd64 && !purego

package simd

import "golang.org/x/sys/cpu"

// Has: the AVX2 element-wise kernels (simd_amd64.s) run on
// this CPU.
var Has = cpu.X86.HasAVX2

// AVX2 float32 kernels over n8·8 elements (simd_amd64.s).

// ReluMask32 sets out[i] = v[i] where !(x[i] <= 0) (x > 0 or NaN), else +0.
//
//go:noescape
func ReluMask32(n8 int, out, x, v *float32)

// AddRow32 sets out[i] = a[i] + b[i].
//
//go:noescape
func AddRow32(n8 int, out, a, b *float32)

// Axpb32 sets out[i] = x[i]·s + t (a product, then a sum: no FMA).
//
//go:noescape
func Axpb32(n8 int, out, x *float32, s, t float32)

// Scale32 sets out[i] = x[i]·s.
//
//go:noescape
func Scale32(n8 int, out, x *float32, s float32)

// BnSums32 sets lane j of out[0:8] to Σ_i gy[8i+j]·(x[8i+j] − m) and of
// out[8:16] to Σ_i gy[8i+j] (i < n8), in float64: each term as Go computes
// float64(gy)·(float64(x) − m), added in i order.
//
//go:noescape
func BnSums32(n8 int, x, gy *float32, m float64, out *[16]float64)

// SqSums32 sets lane j of out[4k:4k+4] to Σ_i v[16i+4k+j]² (i < n16), in
// float64 (each float32 converted exactly), added in i order.
//
//go:noescape
func SqSums32(n16 int, v *float32, out *[16]float64)

// SegDots32: for the 4·n4 segments s of 4·p4 values, out[s] =
// (t0 + t1) + (t2 + t3) with t_j = Σ_m l[s·4p4+4m+j]·u[s·4p4+4m+j] added in
// m order in float64 (persample's segment dot products, bit for bit).
//
//go:noescape
func SegDots32(n4, p4 int, l, u *float32, out *float64)

// AccSq32 sets (set) or adds float64(v[k]) into acc[k] for the 16·n16
// values of v and sets lane j of out[4m:4m+4] to Σ_i v[16i+4m+j]² in
// float64, added in i order: in one sweep, SqSums32's sums and
// persample's span sums of Σ g_i, bit for bit.
//
//go:noescape
func AccSq32(n16 int, acc *float64, v *float32, set bool, out *[16]float64)
