//go:build !amd64 || purego

package persample

// accSq32 is never called without the assembly kernels (simdSums is
// false there).
func accSq32(n16 int, acc *float64, v *float32, set bool, out *[16]float64) {
	panic("persample: no assembly kernels")
}
