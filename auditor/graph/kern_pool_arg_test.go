package graph

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
	"time"
)

// TestMaxPoolArgs checks the 2×2 max pooling with the maxima kept for the
// gradient against maxPoolFwd and maxPoolGrad bit for bit: random data
// with ties, ±0, NaNs and infinities, even and odd maps, gradients of −0;
// and that geometries other than 2×2 stride 2 fall back.
func TestMaxPoolArgs(t *testing.T) {
	specials := []float32{0, float32(math.Copysign(0, -1)), 1, 1, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), -2}
	for k, tc := range []struct {
		g      geom
		argsOK bool
	}{
		{geom{n: 3, c: 4, h: 8, w: 8, kh: 2, kw: 2, sh: 2, sw: 2}, true},
		{geom{n: 2, c: 3, h: 5, w: 7, kh: 2, kw: 2, sh: 2, sw: 2}, true},
		{geom{n: 2, c: 2, h: 2, w: 2, kh: 2, kw: 2, sh: 2, sw: 2}, true},
		{geom{n: 2, c: 2, h: 6, w: 6, kh: 3, kw: 3, sh: 2, sw: 2}, false},
		{geom{n: 2, c: 2, h: 6, w: 6, kh: 2, kw: 2, sh: 1, sw: 1}, false},
	} {
		g := convCase(tc.g)
		g.m = g.c
		rng := rand.New(rand.NewSource(int64(k)))
		for _, mix := range []float64{0, 0.3} {
			t.Run(fmt.Sprint(k, "/", mix), func(t *testing.T) {
				x := make([]float32, g.n*g.c*g.h*g.w)
				for i := range x {
					if rng.Float64() < mix {
						x[i] = specials[rng.Intn(len(specials))]
					} else {
						x[i] = float32(rng.Intn(5)) // ties
					}
				}
				gy := make([]float32, g.n*g.c*g.oh*g.ow)
				for i := range gy {
					gy[i] = float32(rng.NormFloat64())
					if i%7 == 0 {
						gy[i] = float32(math.Copysign(0, -1))
					}
				}
				want := make([]float32, len(gy))
				maxPoolFwd(want, x, &g)
				wantDX := make([]float32, len(x))
				maxPoolGrad(wantDX, x, gy, &g)
				pa := &poolArgs{}
				got := make([]float32, len(gy))
				maxPoolFwdArgs(got, x, &g, pa)
				if pa.valid != tc.argsOK {
					t.Fatalf("maxima kept %v, want %v", pa.valid, tc.argsOK)
				}
				gotDX := make([]float32, len(x))
				for i := range gotDX {
					gotDX[i] = 9 // not cleared by the caller
				}
				maxPoolGradArgs(gotDX, x, gy, &g, pa)
				if !sameBits32(got, want) {
					t.Errorf("forward differs from maxPoolFwd")
				}
				if !sameBits32(gotDX, wantDX) {
					t.Errorf("gradient differs from maxPoolGrad")
				}
			})
		}
	}
}

// sameBits32 reports whether a and b are equal bit for bit.
func sameBits32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// BenchmarkMaxPool2x2 times alexnet-cifar's first max pooling (2×2 on
// [128, 64, 8, 8], float32) forward and backward: recomputing the maxima
// in the gradient (old) and with the maxima kept (args); thread CPU with
// -cpu 1.
func BenchmarkMaxPool2x2(b *testing.B) {
	g := convCase(geom{n: 128, c: 64, h: 8, w: 8, kh: 2, kw: 2, sh: 2, sw: 2})
	rng := rand.New(rand.NewSource(1))
	x := make([]float32, g.n*g.c*g.h*g.w)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	gy := x[:g.n*g.c*g.oh*g.ow]
	out, dx := make([]float32, len(gy)), make([]float32, len(x))
	for _, kept := range []bool{false, true} {
		b.Run(fmt.Sprint("kept=", kept), func(b *testing.B) {
			var pa *poolArgs
			if kept {
				pa = &poolArgs{}
			}
			now, ok := threadCPU()
			var t0 time.Duration
			if ok {
				t0 = now()
			}
			for range b.N {
				maxPoolFwdArgs(out, x, &g, pa)
				maxPoolGradArgs(dx, x, gy, &g, pa)
			}
			if ok {
				b.ReportMetric(float64((now()-t0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
			}
		})
	}
}
