package graph

import "github.com/gnaudit/gnaudit/auditor/internal/simd"

// Dispatch to the AVX2 float32 kernels (package simd) where the CPU
// has them: each helper runs the kernel over the longest multiple of 8
// elements and returns that count (0 without assembly, for other element
// types, or below 8 elements); the caller's Go loop does the rest. The
// bounds are checked here, before the assembly reads or writes.

// views32 returns s's slices as float32 and the number of 8-element
// groups n8 of the first n elements, each slice checked to hold them; n8 is
// 0 (run the Go loop) for other element types, without the assembly, or
// below 8 elements.
func views32[T float](n int, s ...[]T) (v [3][]float32, n8 int) {
	n8 = n / 8
	if !simd.Has || n8 == 0 {
		return v, 0
	}
	for k, x := range s {
		x32, ok := any(x).([]float32)
		if !ok {
			return v, 0
		}
		_ = x32[n8*8-1]
		v[k] = x32
	}
	return v, n8
}

func reluAsm[T float](out, x, v []T) int {
	f, n8 := views32(len(x), out, x, v)
	if n8 > 0 {
		simd.ReluMask32(n8, &f[0][0], &f[1][0], &f[2][0])
	}
	return n8 * 8
}

func addAsm[T float](out, a, b []T) int {
	f, n8 := views32(len(out), out, a, b)
	if n8 > 0 {
		simd.AddRow32(n8, &f[0][0], &f[1][0], &f[2][0])
	}
	return n8 * 8
}

// axpbAsm computes out = x·s + t (product, then sum) over len(x) elements.
func axpbAsm[T float](out, x []T, s, t T) int {
	f, n8 := views32(len(x), out, x)
	if n8 > 0 {
		simd.Axpb32(n8, &f[0][0], &f[1][0], float32(s), float32(t))
	}
	return n8 * 8
}

// scaleAsm computes out = x·s over len(x) elements.
func scaleAsm[T float](out, x []T, s T) int {
	f, n8 := views32(len(x), out, x)
	if n8 > 0 {
		simd.Scale32(n8, &f[0][0], &f[1][0], float32(s))
	}
	return n8 * 8
}

// bnSumsAsm writes the 16 lane sums of bnPlaneSums over the longest
// multiple of 8 elements into l and returns that count.
func bnSumsAsm[T float](xs, gs []T, m float64, l *[16]float64) int {
	f, n8 := views32(len(gs), xs, gs)
	if n8 > 0 {
		simd.BnSums32(n8, &f[0][0], &f[1][0], m, l)
	}
	return n8 * 8
}

// useElemAsm switches the assembly kernels on (where simd.Has); the
// tests turn it off to run the Go loops on the same data.
var useElemAsm = true
