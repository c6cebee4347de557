package sgemm

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
)

// TestTaps checks Taps on every kernel variant this CPU runs against the
// sums in float64, within the float32 bound γ·Σ|terms| (γ = 2(T·k+2)u),
// on shapes with and without edge rows and columns, and that the rows
// past m come out zero.
func TestTaps(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for _, v := range variants {
		for _, s := range []struct{ m, n, k, nt int }{
			{16, 1088, 16, 9}, {32, 288, 32, 9}, {4, 24, 1, 1}, {5, 25, 3, 2}, {7, 100, 9, 4}, {1, 1, 1, 3}, {9, 47, 17, 5},
		} {
			t.Run(fmt.Sprintf("%s/%dx%dx%d/taps%d", v.name, s.m, s.n, s.k, s.nt), func(t *testing.T) {
				forced = v
				defer func() { forced = nil }()
				mr, nr := TapTile()
				ldb := s.n + 7
				offs := make([]int, s.nt)
				for i := range offs {
					offs[i] = rng.Intn(11)
				}
				maxOff := 10
				b := make([]float32, (s.k-1)*ldb+maxOff+roundUp(s.n, nr))
				a := make([]float32, s.nt*s.m*s.k)
				for _, x := range [][]float32{a, b} {
					for i := range x {
						x[i] = float32(rng.NormFloat64())
					}
				}
				ldc := roundUp(s.n, nr) + 3
				c := make([]float32, roundUp(s.m, mr)*ldc)
				for i := range c {
					c[i] = float32(math.NaN())
				}
				Taps(s.m, s.n, s.k, a, offs, b, ldb, c, ldc, nil)
				g := 2 * float64(s.nt*s.k+2) / (1 << 24)
				for i := 0; i < roundUp(s.m, mr); i++ {
					for j := 0; j < s.n; j++ {
						got := float64(c[i*ldc+j])
						if i >= s.m {
							if got != 0 {
								t.Fatalf("c[%d,%d] = %v past m, want 0", i, j, got)
							}
							continue
						}
						var sum, abs float64
						for tp, off := range offs {
							for p := 0; p < s.k; p++ {
								x := float64(a[(tp*s.m+i)*s.k+p]) * float64(b[off+p*ldb+j])
								sum += x
								abs += math.Abs(x)
							}
						}
						if d := math.Abs(got - sum); !(d <= g*abs) {
							t.Fatalf("c[%d,%d] = %v, want %v ± %.3g", i, j, got, sum, g*abs)
						}
					}
				}
			})
		}
	}
}

// BenchmarkTaps times Taps on resnet20's stride-1 3×3 layers, one sample
// (16 channels on 32×32, 32 on 16×16, 64 on 8×8; the padded planes as
// rows), GFLOP/s counting the whole tiles' multiply-adds.
func BenchmarkTaps(b *testing.B) {
	for _, s := range []struct{ c, hw int }{{16, 32}, {32, 16}, {64, 8}} {
		for _, reg := range []bool{true, false} {
			b.Run(fmt.Sprintf("%dx%dx%d/tapsKernel=%v", s.c, s.hw, s.hw, reg), func(b *testing.B) {
				v := kernel()
				if !reg {
					saved := *v
					defer func() { *v = saved }()
					v.taps = nil
				}
				wp := s.hw + 2
				ldx := wp * wp
				n := s.hw * wp
				_, nr := TapTile()
				x := make([]float32, s.c*ldx+nr+2*wp+2)
				a := make([]float32, 9*s.c*s.c)
				for i := range a {
					a[i] = 0.01
				}
				offs := make([]int, 9)
				for t := range offs {
					offs[t] = t/3*wp + t%3
				}
				ldc := roundUp(n, nr)
				c := make([]float32, roundUp(s.c, 8)*ldc)
				var ap []float32
				for i := 0; i < b.N; i++ {
					ap = Taps(s.c, n, s.c, a, offs, x, ldx, c, ldc, ap)
				}
				b.ReportMetric(2*9*float64(s.c*s.c*s.hw*s.hw)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
