//go:build openblas

package graph

// With the openblas build tag, gorgonia (and gorgonia.org/tensor, and this
// package's kernels, which call gorgonia.WhichBLAS) use OpenBLAS through
// gonum's cgo bindings instead of gonum's pure-Go BLAS. Needs cgo and
// Debian's libopenblas-dev.

/*
#cgo LDFLAGS: -lopenblas
void openblas_set_num_threads(int);
*/
import "C"

import (
	"gonum.org/v1/netlib/blas/netlib"
	"gorgonia.org/gorgonia"
)

// BLASName names the BLAS implementation the executor was built with.
const BLASName = "openblas"

// blasSplit: gemm splits large products over goroutines (par.go), each
// calling OpenBLAS single-threaded.
const blasSplit = true

func init() {
	gorgonia.Use(netlib.Implementation{})
	// OpenBLAS's own threads would spin between products while the Go
	// kernels run; the executor parallelises over goroutines instead (this
	// overrides OPENBLAS_NUM_THREADS for the whole process).
	C.openblas_set_num_threads(1)
}
