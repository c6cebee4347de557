package stats_test

import (
	"fmt"

	"github.com/gnaudit/gnaudit/auditor/stats"
)

// Build the coefficients once per sample size, then test every column.
// (R's shapiro.test gives the same W and p on the first two columns.)
func ExampleShapiroWilk() {
	sw, err := stats.NewShapiroWilk(10)
	if err != nil {
		panic(err)
	}
	columns := [][]float64{
		{2.1, -0.3, 0.8, 1.4, -1.2, 0.1, 0.6, -0.7, 0.4, -0.2}, // roughly normal
		{0, 0, 0, 0, 0, 0, 0, 0, 0, 9},                         // one spike
		{3, 3, 3, 3, 3, 3, 3, 3, 3, 3},                         // point mass
	}
	for _, x := range columns {
		r, err := sw.Test(x)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("W=%.4f p=%.4g gaussian(α=0.05)=%v degenerate=%v\n", r.W, r.P, r.P > 0.05, r.Degenerate)
	}
	_, err = stats.ShapiroWilkTest([]float64{1, 2})
	fmt.Println(err)
	// Output:
	// W=0.9869 p=0.9913 gaussian(α=0.05)=true degenerate=false
	// W=0.3657 p=1.004e-07 gaussian(α=0.05)=false degenerate=false
	// W=1.0000 p=1 gaussian(α=0.05)=true degenerate=true
	// shapiro-wilk: n=2: need 3 ≤ n ≤ 5000
}
