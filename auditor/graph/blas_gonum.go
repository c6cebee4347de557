//go:build !openblas

package graph

// BLASName names the BLAS implementation the executor was built with:
// gonum's pure-Go BLAS by default, "openblas" with the openblas build tag.
const BLASName = "gonum"

// blasSplit: gonum's Sgemm and Dgemm spread large products over goroutines
// themselves.
const blasSplit = false
