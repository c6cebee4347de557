package stats

import (
	"fmt"
	"math"
	"testing"

	"github.com/gnaudit/gnaudit/internal/approx"
)

// TestGaussianTailNull: the Gaussian null of the estimators against the
// review's numpy/scipy simulation (docs/statistics.md, "Tail index: the
// null band"; 40 layers × 256 coordinates): n = 200: Mohammadi median
// 1.976, 5 % quantile 1.50; McCulloch (scipy's _fitstart) median 2.000,
// 5 % quantile 1.67; n = 600: 5 % quantiles 1.64 / 1.78. Tolerance 0.04
// (Monte Carlo SE ≈ 0.01 here, ≈ 0.01 there).
func TestGaussianTailNull(t *testing.T) {
	for _, c := range []struct {
		n                          int
		moP05, moMed, mcP05, mcMed float64
	}{
		{200, 1.50, 1.976, 1.67, 2.0},
		{600, 1.64, math.NaN(), 1.78, 2.0},
	} {
		tn := GaussianTailNull(c.n)
		t.Logf("n=%d: Mohammadi p05 %.3f median %.3f; McCulloch p05 %.3f median %.3f", c.n, tn.MohammadiP05, tn.MohammadiMedian, tn.McCullochP05, tn.McCullochMedian)
		for _, x := range []struct {
			name      string
			got, want float64
		}{
			{"Mohammadi 5 %", tn.MohammadiP05, c.moP05}, {"Mohammadi median", tn.MohammadiMedian, c.moMed},
			{"McCulloch 5 %", tn.McCullochP05, c.mcP05}, {"McCulloch median", tn.McCullochMedian, c.mcMed},
		} {
			if !math.IsNaN(x.want) {
				approx.Abs(t, fmt.Sprintf("n=%d %s", c.n, x.name), x.got, x.want, 0.04)
			}
		}
		if GaussianTailNull(c.n) != tn {
			t.Error("not cached")
		}
	}
}
