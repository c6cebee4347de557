//go:build amd64 && !purego

package persample

// segDots32 is dotSegs's float32 kernel for segments of a multiple of 4
// values, four segments at a time (dots_amd64.s; AVX: simd.Has).
//
//go:noescape
func segDots32(n4, p4 int, l, u *float32, out *float64)
