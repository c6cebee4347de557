package graph

import "github.com/gnaudit/gnaudit/auditor/internal/simd"

// Dispatch to the AVX2 float32 kernels (package simd) where the CPU
// has them: each helper runs the kernel over the longest multiple of 8
// elements and returns that count (0 without assembly, for other element
// types, or below 8 elements); the caller's Go loop does the rest. The
// bounds are checked here, before the assembly reads or writes.

func reluAsm[T float](out, x, v []T) int {
	x32, ok := any(x).([]float32)
	n8 := len(x) / 8
	if !ok || !simd.Has || n8 == 0 {
		return 0
	}
	o32, v32 := any(out).([]float32), any(v).([]float32)
	_, _ = o32[n8*8-1], v32[n8*8-1]
	simd.ReluMask32(n8, &o32[0], &x32[0], &v32[0])
	return n8 * 8
}

func addAsm[T float](out, a, b []T) int {
	o32, ok := any(out).([]float32)
	n8 := len(out) / 8
	if !ok || !simd.Has || n8 == 0 {
		return 0
	}
	a32, b32 := any(a).([]float32), any(b).([]float32)
	_, _ = a32[n8*8-1], b32[n8*8-1]
	simd.AddRow32(n8, &o32[0], &a32[0], &b32[0])
	return n8 * 8
}

// axpbAsm computes out = x·s + t (product, then sum) over len(x) elements.
func axpbAsm[T float](out, x []T, s, t T) int {
	x32, ok := any(x).([]float32)
	n8 := len(x) / 8
	if !ok || !simd.Has || n8 == 0 {
		return 0
	}
	o32 := any(out).([]float32)
	_ = o32[n8*8-1]
	simd.Axpb32(n8, &o32[0], &x32[0], float32(s), float32(t))
	return n8 * 8
}

// scaleAsm computes out = x·s over len(x) elements.
func scaleAsm[T float](out, x []T, s T) int {
	x32, ok := any(x).([]float32)
	n8 := len(x) / 8
	if !ok || !simd.Has || n8 == 0 {
		return 0
	}
	o32 := any(out).([]float32)
	_ = o32[n8*8-1]
	simd.Scale32(n8, &o32[0], &x32[0], float32(s))
	return n8 * 8
}

// bnSumsAsm writes the 16 lane sums of bnPlaneSums over the longest
// multiple of 8 elements into l and returns that count.
func bnSumsAsm[T float](xs, gs []T, m float64, l *[16]float64) int {
	g32, ok := any(gs).([]float32)
	n8 := len(gs) / 8
	if !ok || !simd.Has || n8 == 0 {
		return 0
	}
	x32 := any(xs).([]float32)
	_ = x32[n8*8-1]
	simd.BnSums32(n8, &x32[0], &g32[0], m, l)
	return n8 * 8
}

// useElemAsm switches the assembly kernels on (where simd.Has); the
// tests turn it off to run the Go loops on the same data.
var useElemAsm = true
