//go:build !openblas

package graph

import (
	"github.com/gnaudit/gnaudit/auditor/internal/sgemm"
	"gorgonia.org/gorgonia"
)

// BLASName names the BLAS implementation the executor was built with:
// gonum's pure-Go BLAS by default, "openblas" with the openblas build tag.
const BLASName = "gonum"

// blasSplit: the pure-Go Sgemm (auditor/internal/sgemm) and gonum's Dgemm
// spread large products over goroutines themselves.
const blasSplit = false

func init() {
	// gonum's pure-Go BLAS with a SIMD Sgemm (AVX2+FMA assembly where the
	// CPU has it, several times gonum's own Sgemm): gorgonia,
	// gorgonia.org/tensor, this package's kernels and auditor/persample
	// (which call gorgonia.WhichBLAS) all use it.
	gorgonia.Use(sgemm.Implementation{})
}

// useOurSgemm: in the pure-Go build gorgonia.WhichBLAS is already
// auditor/internal/sgemm's (see blas_openblas.go for the OpenBLAS build's
// rule).
func useOurSgemm(tA, tB bool, m, n, k int) bool { return false }

// oursFor reports whether a float32 product of blasGemm's computes with
// auditor/internal/sgemm: always in the pure-Go build.
func oursFor(tA, tB bool, m, n, k int) bool { return true }

// PerSampleSgemm reports whether auditor/persample computes its float32
// per-sample products on auditor/internal/sgemm's Serial: always in the
// pure-Go build (see blas_openblas.go for the OpenBLAS build's rule).
func PerSampleSgemm() bool { return true }
