//go:build amd64 && !purego

package persample

import "golang.org/x/sys/cpu"

// hasSums: the AVX2 kernels of sums_amd64.s run on this CPU.
var hasSums = cpu.X86.HasAVX2

//go:noescape
func bnSums32(n8 int, x, d *float32, m float64, out *[16]float64)

//go:noescape
func sqSums32(n16 int, v *float32, out *[16]float64)
