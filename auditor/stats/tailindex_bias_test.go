package stats

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// TestTailIndexBiasTable prints the small-sample bias table of
// docs/statistics.md ("Tail index estimators: bias"): mean ± sd of α̂ over
// 200 seeds, for Gaussian data and SαS(1.5) data, at n = 200, 600, 2000.
// It is not part of the default run (it takes a few seconds); run it with
//
//	GNAUDIT_TAIL_BIAS=1 go test -run TestTailIndexBiasTable -v ./auditor/stats
func TestTailIndexBiasTable(t *testing.T) {
	if os.Getenv("GNAUDIT_TAIL_BIAS") == "" {
		t.Skip("set GNAUDIT_TAIL_BIAS=1 to compute the bias table")
	}
	const seeds = 200
	type law struct {
		name  string
		alpha float64
		draw  func(*rand.Rand) float64
	}
	laws := []law{
		{"Gaussian", 2, func(r *rand.Rand) float64 { return r.NormFloat64() }},
		{"SαS(1.8)", 1.8, func(r *rand.Rand) float64 { return SampleStable(r, 1.8, 0, 1, 0) }},
		{"SαS(1.5)", 1.5, func(r *rand.Rand) float64 { return SampleStable(r, 1.5, 0, 1, 0) }},
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| data | n | K1×K2 | Mohammadi α̂ (mean ± sd) | share = 2 | McCulloch α̂ (mean ± sd) | share = 2 |\n")
	fmt.Fprintf(&b, "|---|---:|---:|---|---:|---|---:|\n")
	for _, l := range laws {
		prevSD := math.Inf(1)
		for _, n := range []int{200, 600, 2000} {
			var mo, mc Moments
			var mo2, mc2 int
			x := make([]float64, n)
			for s := range seeds {
				rng := rand.New(rand.NewPCG(uint64(s), uint64(n)))
				for i := range x {
					x[i] = l.draw(rng)
				}
				a, err := TailIndexMohammadi(x)
				if err != nil {
					t.Fatal(err)
				}
				p, err := McCulloch(x)
				if err != nil {
					t.Fatal(err)
				}
				mo.Add(a)
				mc.Add(p.Alpha)
				if a == 2 {
					mo2++
				}
				if p.Alpha == 2 {
					mc2++
				}
			}
			k1, k2, _ := MohammadiSplit(n)
			sd := func(m Moments) float64 { return math.Sqrt(m.M2 / (m.N - 1)) }
			fmt.Fprintf(&b, "| %s | %d | %d×%d | %.3f ± %.3f | %d%% | %.3f ± %.3f | %d%% |\n",
				l.name, n, k1, k2, mo.Mean, sd(mo), 100*mo2/seeds, mc.Mean, sd(mc), 100*mc2/seeds)
			// Sanity: estimates are in (0, 2] and get less noisy with n.
			if !(mo.Mean > 0 && mo.Mean <= 2 && mc.Mean > 0 && mc.Mean <= 2) {
				t.Errorf("%s n=%d: means %g %g outside (0, 2]", l.name, n, mo.Mean, mc.Mean)
			}
			if !(sd(mo) < prevSD) {
				t.Errorf("%s n=%d: Mohammadi sd %g did not shrink (was %g)", l.name, n, sd(mo), prevSD)
			}
			prevSD = sd(mo)
		}
	}
	t.Logf("\n%s", b.String())
}
