//go:build !amd64 || purego

package persample

// hasSums: no assembly kernels here (the Go loops run).
const hasSums = false

func bnSums32(n8 int, x, d *float32, m float64, out *[16]float64) {
	panic("persample: no assembly kernels")
}

func sqSums32(n16 int, v *float32, out *[16]float64) {
	panic("persample: no assembly kernels")
}
