//go:build !amd64 || purego

package sgemm

// hasAsm: no assembly microkernel on this architecture (or with the purego
// build tag).
const hasAsm = false

// kernelAsm is never called where hasAsm is false.
func kernelAsm(kc int, a, b []float32, ldb int, c []float32, ldc int, alpha, beta float32, mode int) {
	kernelGeneric(kc, a, b, ldb, c, ldc, alpha, beta, mode)
}
