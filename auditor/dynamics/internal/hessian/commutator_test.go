package hessian

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/gnaudit/gnaudit/internal/approx"
)

// CommutatorSE against the Monte-Carlo spread of the commutator over
// independent replicate samples with a known C_U: the jackknife standard
// error is calibrated (its mean within 20 % of the replicates' standard
// deviation) for a commutator far from 0, and the mean commutator is the
// true one within a few standard errors.
func TestCommutatorSECalibrated(t *testing.T) {
	h := []float64{4, 2, 1}
	for _, tc := range []struct {
		name string
		c    []float64 // true C_U, row-major
		n    int       // samples per replicate
	}{
		{"off-diagonal 0.5", []float64{2, 0.5, 0.2, 0.5, 1, 0.1, 0.2, 0.1, 0.5}, 400},
		{"off-diagonal 0.3, n 1000", []float64{1, 0.3, 0, 0.3, 1, 0.3, 0, 0.3, 1}, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mat.NewSymDense(3, tc.c)
			var chol mat.Cholesky
			if !chol.Factorize(c) {
				t.Fatal("C not positive definite")
			}
			var l mat.TriDense
			chol.LTo(&l)
			truth := Align(h, c).Commutator
			rng := rand.New(rand.NewPCG(7, uint64(tc.n)))
			const reps = 300
			var vals, ses []float64
			for r := 0; r < reps; r++ {
				proj := make([][]float64, tc.n)
				for i := range proj {
					z := mat.NewVecDense(3, []float64{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()})
					var x mat.VecDense
					x.MulVec(&l, z)
					proj[i] = []float64{x.AtVec(0) + 3, x.AtVec(1) - 1, x.AtVec(2)} // a mean does not matter
				}
				cov := mat.NewSymDense(3, nil)
				for a := 0; a < 3; a++ {
					for b := a; b < 3; b++ {
						ma, mb, mab := 0.0, 0.0, 0.0
						for _, p := range proj {
							ma += p[a]
							mb += p[b]
							mab += p[a] * p[b]
						}
						nf := float64(tc.n)
						cov.SetSym(a, b, (mab/nf-ma*mb/(nf*nf))*nf/(nf-1))
					}
				}
				se, err := CommutatorSE(h, proj, 10)
				if err != nil {
					t.Fatal(err)
				}
				vals = append(vals, Align(h, cov).Commutator)
				ses = append(ses, se)
			}
			m, sd := meanSD(vals)
			mse, _ := meanSD(ses)
			t.Logf("true %.4f, mean %.4f, sd %.4f, mean jackknife se %.4f", truth, m, sd, mse)
			if r := mse / sd; r < 0.8 || r > 1.25 {
				t.Errorf("jackknife se %.4g against the replicates' sd %.4g (ratio %.3f)", mse, sd, r)
			}
			approx.Abs(t, fmt.Sprintf("mean commutator (sd %.3g; 4 SE + 0.1 sd)", sd), m, truth, 4*sd/math.Sqrt(reps)+0.1*sd)
		})
	}
}

// CommutatorSE's errors and its zero for a C_U that commutes exactly.
func TestCommutatorSEEdges(t *testing.T) {
	h := []float64{2, 1}
	if _, err := CommutatorSE(h, [][]float64{{1, 2}, {3, 4}}, 10); err == nil {
		t.Error("2 samples for 10 groups: no error")
	}
	proj := make([][]float64, 40)
	for i := range proj {
		proj[i] = []float64{1, 2, 3}
	}
	if _, err := CommutatorSE(h, proj, 4); err == nil {
		t.Error("3 projections for K = 2: no error")
	}
	// independent coordinates with exactly zero sample cross-covariance:
	// ±1 patterns balanced in every group
	for i := range proj {
		proj[i] = []float64{float64(1 - 2*(i%2)), float64(1 - 2*((i/2)%2))}
	}
	se, err := CommutatorSE(h, proj, 5)
	if err != nil {
		t.Fatal(err)
	}
	if se > 1e-12 {
		t.Errorf("balanced design: se %g, want 0", se)
	}
}
