//go:build !openblas

package blascore

// Built reports whether the binary uses OpenBLAS (the openblas build tag).
const Built = false

// coreName is "" without OpenBLAS.
func coreName() string { return "" }
