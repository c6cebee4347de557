package sgemm

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
)

// TestDotShift3 checks DotShift3 on every kernel variant this CPU runs
// against the sums in float64, within the float32 bound γ·|alpha|·Σ|terms|
// (γ = 2(k+2⌈k/kdc⌉)u, a sum of k products in ⌈k/kdc⌉ passes), on shapes
// with and without edge rows, k below one step of the kernel, odd numbers
// of 8-float steps and more than one kdc pass, and that the elements of c
// it does not own (between the three of one j, past the last) are left
// alone, and that the outputs' old values are overwritten.
func TestDotShift3(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	for _, v := range variants {
		for _, s := range []struct{ m, n, k, cs int }{
			{16, 16, 1088, 9}, {32, 32, 288, 9}, {4, 1, 8, 3}, {5, 3, 7, 3}, {7, 5, 24, 6}, {1, 1, 1, 3}, {9, 4, 2100, 9}, {3, 2, 1025, 4}, {64, 16, 80, 27},
		} {
			t.Run(fmt.Sprintf("%s/%dx%dx%d/cs%d", v.name, s.m, s.n, s.k, s.cs), func(t *testing.T) {
				forced = v
				defer func() { forced = nil }()
				lda, ldb := s.k+rng.Intn(5), s.k+2+rng.Intn(7)
				ldc := s.n*s.cs + rng.Intn(3)
				a := randSlice(rng, (s.m-1)*lda+s.k)
				b := randSlice(rng, (s.n-1)*ldb+s.k+2)
				c := make([]float32, (s.m-1)*ldc+(s.n-1)*s.cs+3+5)
				const guard = -12345
				for i := range c {
					c[i] = guard
				}
				// the outputs' old values (overwritten)
				init := map[int]float32{}
				for i := 0; i < s.m; i++ {
					for j := 0; j < s.n; j++ {
						for tt := 0; tt < 3; tt++ {
							idx := i*ldc + j*s.cs + tt
							init[idx] = float32(rng.NormFloat64())
							c[idx] = init[idx]
						}
					}
				}
				alpha := float32(0.75)
				DotShift3(s.m, s.n, s.k, alpha, a, lda, b, ldb, c, ldc, s.cs)
				kp := (s.k + kdc - 1) / kdc
				g := 2 * float64(s.k+2*kp) * u
				for i := 0; i < s.m; i++ {
					for j := 0; j < s.n; j++ {
						for tt := 0; tt < 3; tt++ {
							idx := i*ldc + j*s.cs + tt
							var sum, abs float64
							for p := 0; p < s.k; p++ {
								x := float64(a[i*lda+p]) * float64(b[j*ldb+tt+p])
								sum += x
								abs += math.Abs(x)
							}
							want, got := float64(alpha)*sum, float64(c[idx])
							tol := g * float64(alpha) * abs
							if math.Abs(got-want) > tol || math.IsNaN(got) {
								t.Fatalf("c[%d,%d,%d] = %v, want %v (tolerance %.3g)", i, j, tt, got, want, tol)
							}
						}
					}
				}
				for i, x := range c {
					if _, ok := init[i]; !ok && x != guard {
						t.Fatalf("c[%d] = %v written, not one of the outputs", i, x)
					}
				}
			})
		}
	}
}

// TestDotShift3Degenerate: k = 0 writes zeros, m or n = 0 writes nothing,
// and short slices panic with DotShift3's message.
func TestDotShift3Degenerate(t *testing.T) {
	c := []float32{1, 2, 3, 4, 5, 6, 7}
	DotShift3(2, 1, 0, 1, nil, 0, nil, 0, c, 4, 3)
	if want := []float32{0, 0, 0, 4, 0, 0, 0}; fmt.Sprint(c) != fmt.Sprint(want) {
		t.Errorf("k = 0: c = %v, want %v", c, want)
	}
	DotShift3(0, 3, 5, 1, nil, 5, nil, 5, nil, 0, 3)
	DotShift3(3, 0, 5, 1, nil, 5, nil, 5, nil, 0, 3)
	for name, f := range map[string]func(){
		"a": func() {
			DotShift3(2, 1, 4, 1, make([]float32, 7), 4, make([]float32, 6), 6, make([]float32, 6), 3, 3)
		},
		"b": func() {
			DotShift3(2, 1, 4, 1, make([]float32, 8), 4, make([]float32, 5), 6, make([]float32, 6), 3, 3)
		},
		"c": func() {
			DotShift3(2, 1, 4, 1, make([]float32, 8), 4, make([]float32, 6), 6, make([]float32, 5), 3, 3)
		},
		"cs": func() {
			DotShift3(2, 1, 4, 1, make([]float32, 8), 4, make([]float32, 6), 6, make([]float32, 6), 3, 2)
		},
	} {
		func() {
			defer func() {
				if r := recover(); r == nil {
					t.Errorf("%s too short: no panic", name)
				}
			}()
			f()
		}()
	}
}
