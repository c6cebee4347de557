//go:build !amd64 || purego

package persample

// segDots32 has no kernel here (simd.Has is false).
func segDots32(n4, p4 int, l, u *float32, out *float64) { panic("persample: no segDots32 kernel") }
