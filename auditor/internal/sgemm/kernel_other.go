//go:build !amd64 || purego

package sgemm

// hasAsm: no assembly microkernel on this architecture (or with the purego
// build tag).
const hasAsm = false

// useGonum: the portable kernel is used (gonum's Sgemm is pure Go here too).
const useGonum = false

// kernelAsm is never called where hasAsm is false.
func kernelAsm(kc int, a, b []float32, ldb int, c []float32, ldc int, alpha, beta float32, mode int) {
	kernelGeneric(kc, a, b, ldb, c, ldc, alpha, beta, mode)
}

// dotAsm is never called where hasAsm is false.
func dotAsm(k8 int, a []float32, lda int, b []float32, ldb int, out *[12]float32) {
	dotGeneric(k8, a, lda, b, ldb, out)
}

// packStripAsm is never called where hasAsm is false.
func packStripAsm(kb int, src []float32, lds int, dst []float32) {
	packStripGeneric(kb, src, lds, dst)
}

// packStripTAsm is never called where hasAsm is false.
func packStripTAsm(kb int, src []float32, lds int, dst []float32) {
	packStripTGeneric(kb, src, lds, dst)
}
