package graph

import (
	"math"
	"math/rand"
	"testing"
)

// gemmRuleShapes are products on both sides of useOurSgemm's rule (the
// executor's shapes and the rule's edges).
var gemmRuleShapes = []struct {
	tA, tB  bool
	m, n, k int
	routed  bool // by the OpenBLAS build on a CPU with AVX-512
	avx2    bool // by the OpenBLAS build on a CPU with AVX2 and no AVX-512
}{
	{false, false, 16, 1024, 144, true, true},
	{false, false, 32, 1024, 288, true, false},
	{false, false, 64, 1024, 576, true, false},
	{false, false, 16, 1024, 27, true, true},
	{false, false, 64, 2048, 9, true, false},
	{false, false, 65, 1024, 144, false, false},
	{false, false, 64, 4096, 576, false, false},
	{false, false, 32, 2049, 64, false, false},
	{false, true, 16, 144, 1024, true, true},
	{false, true, 32, 288, 1024, true, true},
	{false, true, 32, 64, 4096, true, true},
	{false, true, 33, 288, 1024, false, false},
	{false, true, 64, 288, 8192, false, false},
	{false, true, 16, 63, 1024, false, true},
	{false, true, 32, 80, 4097, false, false},
	{true, false, 16, 1024, 144, false, false},
	{true, true, 16, 144, 64, false, false},
	{false, false, 192, 1024, 1600, false, false},
	{false, false, 16, 2048, 144, true, true},
	{false, false, 16, 2049, 144, false, false},
	{false, false, 17, 1024, 144, true, false},
	{false, true, 16, 27, 1024, false, true},
	{false, true, 16, 23, 1024, false, false},
	{false, true, 32, 80, 32768, false, false},
}

// TestGemmRouted checks blasGemm's float32 products, routed to
// auditor/internal/sgemm or not, against a float64 reference within the
// float32 summation bound γ·(|alpha|·Σ|a||b| + |beta|·|c|), γ = 2(k+3)u.
func TestGemmRouted(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	const alpha, beta = 1.5, -0.5
	for _, s := range gemmRuleShapes {
		if s.m*s.n*s.k > 1<<25 {
			continue // the rule's edges only (TestUseOurSgemm); too slow here
		}
		a := make([]float32, s.m*s.k)
		b := make([]float32, s.k*s.n)
		c := make([]float32, s.m*s.n)
		for _, x := range [][]float32{a, b, c} {
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
		}
		lda, ldb := s.k, s.n
		if s.tA {
			lda = s.m
		}
		if s.tB {
			ldb = s.k
		}
		at := func(i, l int) float64 {
			if s.tA {
				return float64(a[l*lda+i])
			}
			return float64(a[i*lda+l])
		}
		bt := func(l, j int) float64 {
			if s.tB {
				return float64(b[j*ldb+l])
			}
			return float64(b[l*ldb+j])
		}
		got := append([]float32(nil), c...)
		blasGemm(s.tA, s.tB, s.m, s.n, s.k, float32(alpha), a, lda, b, ldb, float32(beta), got, s.n)
		g := 2 * float64(s.k+3) / (1 << 24)
		bad := 0
		for i := 0; i < s.m; i++ {
			for j := 0; j < s.n; j++ {
				var sum, abs float64
				for l := 0; l < s.k; l++ {
					x := at(i, l) * bt(l, j)
					sum += x
					abs += math.Abs(x)
				}
				c0 := float64(c[i*s.n+j])
				want := alpha*sum + beta*c0
				tol := g * (alpha*abs + math.Abs(beta*c0))
				if d := math.Abs(float64(got[i*s.n+j]) - want); !(d <= tol) {
					if bad++; bad <= 3 {
						t.Errorf("%+v: c[%d,%d] = %v, want %v ± %.3g", s, i, j, got[i*s.n+j], want, tol)
					}
				}
			}
		}
	}
}
