//go:build openblas

package graph

// With the openblas build tag, gorgonia (and gorgonia.org/tensor, and this
// package's kernels, which call gorgonia.WhichBLAS) use OpenBLAS through
// gonum's cgo bindings instead of gonum's pure-Go BLAS. Needs cgo and
// Debian's libopenblas-dev.

/*
#cgo LDFLAGS: -lopenblas
*/
import "C"

import (
	"gonum.org/v1/netlib/blas/netlib"
	"gorgonia.org/gorgonia"
)

// BLASName names the BLAS implementation the executor was built with.
const BLASName = "openblas"

func init() { gorgonia.Use(netlib.Implementation{}) }
