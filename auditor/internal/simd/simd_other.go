//go:build !amd64 || purego

package simd

// Has: no assembly element-wise kernels on this architecture (or
// with the purego build tag); the Go loops run.
const Has = false

// ReluMask32 is not available here.
func ReluMask32(n8 int, out, x, v *float32) { panic("simd: no assembly kernels") }

// AddRow32 is not available here.
func AddRow32(n8 int, out, a, b *float32) { panic("simd: no assembly kernels") }

// Axpb32 is not available here.
func Axpb32(n8 int, out, x *float32, s, t float32) { panic("simd: no assembly kernels") }

// Scale32 is not available here.
func Scale32(n8 int, out, x *float32, s float32) { panic("simd: no assembly kernels") }

// BnSums32 is not available here.
func BnSums32(n8 int, x, gy *float32, m float64, out *[16]float64) {
	panic("simd: no assembly kernels")
}

// SqSums32 is not available here.
func SqSums32(n16 int, v *float32, out *[16]float64) { panic("simd: no assembly kernels") }

// SegDots32 is not available here.
func SegDots32(n4, p4 int, l, u *float32, out *float64) { panic("simd: no assembly kernels") }

// AccSq32 is not available here.
func AccSq32(n16 int, acc *float64, v *float32, set bool, out *[16]float64) {
	panic("simd: no assembly kernels")
}
