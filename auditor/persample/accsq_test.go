package persample

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
)

// TestNormSum checks paramRun.normSum (simd.AccSq32 where the CPU has the
// kernels) against sqNorm32 and addSum bit for bit, and |g|² against a
// plain float64 sum, for a span's first sample (set) and a later one (add).
func TestNormSum(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for _, n := range []int{1, 15, 16, 17, 31, 48, 63, 1000, 36869} {
		for _, first := range []bool{true, false} {
			t.Run(fmt.Sprintf("n=%d/first=%v", n, first), func(t *testing.T) {
				g := make([]float32, n)
				for j := range g {
					g[j] = float32(r.NormFloat64() * math.Exp(4*r.Float64()-2))
				}
				prev := make([]float64, 2*n)
				for j := range prev {
					prev[j] = r.NormFloat64()
				}
				run := func(kernel bool) ([]float64, float64) {
					defer func(v bool) { accSqKernel = v }(accSqKernel)
					accSqKernel = kernel
					pr := &paramRun[float32]{info: &ParamInfo{Size: n}, sums: append([]float64(nil), prev...)}
					w := &worker[float32]{span: 1, first: first}
					var sq float64
					pr.normSum(w, g, &sq)
					return pr.sums, sq
				}
				sumsK, sqK := run(true)
				sumsG, sqG := run(false)
				if sqK != sqG {
					t.Errorf("|g|²: kernel %v, Go %v", sqK, sqG)
				}
				naive := 0.0
				for _, v := range g {
					naive += float64(v) * float64(v)
				}
				if math.Abs(sqK-naive) > 1e-13*naive {
					t.Errorf("|g|² %v, naive %v", sqK, naive)
				}
				for j := range sumsK {
					if sumsK[j] != sumsG[j] {
						t.Fatalf("sums[%d]: kernel %v, Go %v", j, sumsK[j], sumsG[j])
					}
				}
				for j := 0; j < n; j++ {
					want := float64(g[j])
					if !first {
						want += prev[n+j]
					}
					if sumsK[n+j] != want || sumsK[j] != prev[j] {
						t.Fatalf("span sums at %d: %v (other span %v), want %v (%v)", j, sumsK[n+j], sumsK[j], want, prev[j])
					}
				}
			})
		}
	}
}
