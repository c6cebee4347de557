//go:build !amd64 || purego

package sgemm

// useGonum: the portable kernel is used (gonum's Sgemm is pure Go here too).
const useGonum = false

// variants: no assembly microkernel on this architecture (or with the
// purego build tag).
var variants = []*variant{generic}
