// Package simd holds AVX2 float32 kernels: those of auditor/graph's
// element-wise operators (ReLU, Add, BatchNormalization) and the sums of
// auditor/persample (BatchNormalization's per-sample scale and shift,
// squared norms with the span sums of Σ g_i, the segment dot products of its coordinates). They live
// in a package of their own because a package that uses cgo
// (auditor/graph with the openblas build tag) cannot hold Go assembly,
// and under auditor/internal so that both packages share them.
//
// Each kernel works on n8·8 elements given by pointers; the caller checks
// the bounds. Each computes, lane by lane, the same IEEE float32 operation
// as the Go loop it replaces (no FMA), so results are equal bit for bit.
// Has reports whether they run on this CPU; where it is false (another
// architecture, the purego build tag, a CPU without AVX2) they panic.
package simd
