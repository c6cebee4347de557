//go:build openblas

package sgemm

import "gonum.org/v1/netlib/blas/netlib"

// With the openblas build tag BenchmarkSgemm also times OpenBLAS (gonum's
// cgo bindings; link with CGO_LDFLAGS=-lopenblas, one thread with
// OPENBLAS_NUM_THREADS=1), the executor's BLAS in that build.
func init() {
	peerImpls = append(peerImpls, benchImpl{"openblas", nil, netlib.Implementation{}.Sgemm})
}
