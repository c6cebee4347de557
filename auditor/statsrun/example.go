package statsrun

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gnaudit/gnaudit/auditor/matrix"
	"github.com/gnaudit/gnaudit/auditor/stats"
)

// ExampleColumns names the columns of ExampleMatrix, in order.
var ExampleColumns = []string{
	"normal", "student_t3", "uniform", "laplace", "exponential", "stable_a1.5", "cauchy", "constant",
}

// ExampleMatrix returns a rows × 8 matrix of independent draws from known
// laws (see ExampleColumns), reproducible for a seed, for demos and
// documentation: a Gaussian column (expected W near 1, α = 2), three light-
// or moderately heavy-tailed symmetric ones, a skewed one, two α-stable ones
// (α = 1.5 and the Cauchy α = 1) and a constant (degenerate) column.
func ExampleMatrix(rows int, seed uint64) (*matrix.Matrix, error) {
	if rows < 1 {
		return nil, fmt.Errorf("example matrix: %d rows, need at least 1", rows)
	}
	rng := rand.New(rand.NewPCG(seed, 0x6e61756469742121))
	cols := make([][]float64, len(ExampleColumns))
	for j := range cols {
		cols[j] = make([]float64, rows)
	}
	for i := 0; i < rows; i++ {
		z := rng.NormFloat64()
		chi3 := 0.0
		for k := 0; k < 3; k++ {
			g := rng.NormFloat64()
			chi3 += g * g
		}
		sign := 1.0
		if rng.IntN(2) == 0 {
			sign = -1
		}
		cols[0][i] = 2*rng.NormFloat64() + 1
		cols[1][i] = z / math.Sqrt(chi3/3)
		cols[2][i] = 2*rng.Float64() - 1
		cols[3][i] = sign * rng.ExpFloat64()
		cols[4][i] = rng.ExpFloat64()
		cols[5][i] = stats.SampleStable(rng, 1.5, 0, 1, 0)
		cols[6][i] = stats.SampleStable(rng, 1, 0, 1, 0)
		cols[7][i] = 0.25
	}
	m, err := matrix.FromColumns(cols...)
	if err != nil {
		return nil, err
	}
	m.Names = append([]string(nil), ExampleColumns...)
	return m, nil
}
