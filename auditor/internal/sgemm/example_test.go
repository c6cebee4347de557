package sgemm_test

import (
	"fmt"

	"github.com/gnaudit/gnaudit/auditor/internal/sgemm"
	"gonum.org/v1/gonum/blas"
)

// C = A·Bᵀ + C for a 2×3 A and a 2×3 B (so Bᵀ is 3×2), C stored with a
// leading dimension of 3: its third column is not part of the matrix and
// is left alone.
func ExampleSgemm() {
	a := []float32{
		1, 2, 3,
		4, 5, 6,
	}
	b := []float32{
		1, 0, -1,
		0.5, 0.5, 0.5,
	}
	c := []float32{
		10, 20, 99,
		30, 40, 99,
	}
	sgemm.Sgemm(blas.NoTrans, blas.Trans, 2, 2, 3, 1, a, 3, b, 3, 1, c, 3)
	fmt.Println(c)
	// Output: [8 23 99 28 47.5 99]
}

// The pure-Go build installs the package as gorgonia's BLAS
// (auditor/graph/blas_gonum.go: gorgonia.Use(sgemm.Implementation{})); it
// is gonum's BLAS with this package's Sgemm.
func ExampleImplementation() {
	var impl sgemm.Implementation
	x := []float32{3, 4}
	fmt.Println(impl.Snrm2(2, x, 1)) // gonum's routine
	c := make([]float32, 1)
	impl.Sgemm(blas.NoTrans, blas.NoTrans, 1, 1, 2, 1, x, 2, x, 1, 0, c, 1) // this package's
	fmt.Println(c[0])
	// Output:
	// 5
	// 25
}
