package graph

import (
	"github.com/gnaudit/gnaudit/auditor/internal/sgemm"
)

// ourSgemm is auditor/internal/sgemm's single-threaded Sgemm, for the
// float32 products useOurSgemm routes to it (OpenBLAS build; in the
// pure-Go build gorgonia.WhichBLAS is sgemm's already).
var ourSgemm = sgemm.Serial

// convSegGemm enables segGemm (a variable for tests and benchmarks).
var convSegGemm = true

// segGemm computes the blocked convolution's product of one group over a
// block of samples, out = W·cols (mg×NP, inner dimension K, the columns' rows
// ld apart), straight into the samples' output planes: column (s, p) at
// out[s·segStride + p], rows P apart. It does so (and reports true) only
// for float32 products that blasGemm computes with auditor/internal/sgemm,
// on a single goroutine, with P a multiple of its tile width
// (sgemm.SegOK); the sums are then those blasGemm gives into a buffer.
func segGemm[T float](mg, NP, K int, w, cols []T, ld int, out []T, P, segStride int) bool {
	w32, ok := any(w).([]float32)
	if !ok || !convSegGemm || !sgemm.SegOK(P) || !oursFor(false, false, mg, NP, K) {
		return false
	}
	sgemm.SerialSeg(mg, NP, K, 1, w32, K, any(cols).([]float32), ld, 0, any(out).([]float32), P, P, segStride)
	return true
}
