package linear_test

import (
	"fmt"

	"gonum.org/v1/gonum/mat"

	"github.com/gnaudit/gnaudit/auditor/dynamics/internal/linear"
)

// The stationary covariance of SGD with momentum on a two-mode quadratic
// whose noise is not aligned with the curvature, against the closed form
// of one mode, the fluctuation–dissipation relation and detailed balance.
func ExampleStationary() {
	h := mat.NewSymDense(2, []float64{2, 0, 0, 0.5})
	c := mat.NewSymDense(2, []float64{1, 0.3, 0.3, 0.5})
	p := linear.Params{LR: 0.05, Momentum: 0.9, Batch: 8}
	sol, err := linear.Stationary(h, c, p)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("Var x1 = %.6f (closed form %.6f)\n", sol.X().At(0, 0), linear.ModeVarX(2, 1, p))
	xg, vv := sol.FDR(h)
	fmt.Printf("FDR ratio %.6f\n", xg/(p.FDRFactor()*vv))
	a := linear.Antisym(sol.Lag1())
	fmt.Printf("lag-1 antisymmetry %.2e (‖[H,C]‖ relative %.3f)\n", a.At(0, 1), linear.Commutator(h, c))
	// Output:
	// Var x1 = 0.016047 (closed form 0.016047)
	// FDR ratio 1.000000
	// lag-1 antisymmetry -9.01e-04 (‖[H,C]‖ relative 0.258)
}
