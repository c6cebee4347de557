package graph

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// The BatchNormalization kernels before kern_elem_bn.go (commit 9149304),
// kept as references: one channel at a time, one float64 accumulator.

func oldBnFwd[T float](y, x, scale, bias, mean, vr []T, g *bnGeom) {
	for c := 0; c < g.c; c++ {
		s := float64(scale[c]) / math.Sqrt(float64(vr[c])+g.eps)
		sh := float64(bias[c]) - float64(mean[c])*s
		ts, tsh := T(s), T(sh)
		for i := 0; i < g.n; i++ {
			src := x[(i*g.c+c)*g.p:][:g.p]
			dst := y[(i*g.c+c)*g.p:][:g.p]
			for k, v := range src {
				dst[k] = v*ts + tsh
			}
		}
	}
}

func oldBnGradX[T float](dx, scale, vr, gy []T, g *bnGeom) {
	for c := 0; c < g.c; c++ {
		s := T(float64(scale[c]) / math.Sqrt(float64(vr[c])+g.eps))
		for i := 0; i < g.n; i++ {
			src := gy[(i*g.c+c)*g.p:][:g.p]
			dst := dx[(i*g.c+c)*g.p:][:g.p]
			for k, v := range src {
				dst[k] = v * s
			}
		}
	}
}

func oldBnGradScale[T float](ds, x, mean, vr, gy []T, g *bnGeom) {
	for c := 0; c < g.c; c++ {
		m := float64(mean[c])
		acc := 0.0
		for i := 0; i < g.n; i++ {
			xs := x[(i*g.c+c)*g.p:][:g.p]
			gs := gy[(i*g.c+c)*g.p:][:g.p]
			for k, v := range xs {
				acc += float64(gs[k]) * (float64(v) - m)
			}
		}
		ds[c] = T(acc / math.Sqrt(float64(vr[c])+g.eps))
	}
}

// bnCase is a BatchNormalization operand set of geometry g.
type bnCase[T float] struct {
	g                     *bnGeom
	x, gy                 []T
	scale, bias, mean, vr []T
	absX, absG            []float64 // per channel Σ|gy·(x−mean)|, Σ|gy|
	name                  string
}

func newBnCase[T float](rng *rand.Rand, n, c, p int, special bool) *bnCase[T] {
	g := &bnGeom{n: n, c: c, p: p, eps: 1e-5}
	bc := &bnCase[T]{g: g, name: fmt.Sprintf("N%dC%dP%d/special=%v", n, c, p, special)}
	gen := func(k int) []float64 {
		v := make([]float64, k)
		for i := range v {
			v[i] = rng.NormFloat64()
		}
		return v
	}
	xs, gs := gen(n*c*p), gen(n*c*p)
	if special {
		xs, gs = fillVals(rng, n*c*p), fillVals(rng, n*c*p)
	}
	bc.x, bc.gy = toT[T](xs), toT[T](gs)
	bc.scale, bc.bias, bc.mean = toT[T](gen(c)), toT[T](gen(c)), toT[T](gen(c))
	vr := gen(c)
	for i := range vr {
		vr[i] = vr[i]*vr[i] + 0.1
	}
	bc.vr = toT[T](vr)
	bc.absX, bc.absG = make([]float64, c), make([]float64, c)
	for i := 0; i < n*c*p; i++ {
		ch := i / p % c
		gv := float64(bc.gy[i])
		bc.absX[ch] += math.Abs(gv * (float64(bc.x[i]) - float64(bc.mean[ch])))
		bc.absG[ch] += math.Abs(gv)
	}
	return bc
}

// sameSum reports whether a reordered float64 sum got equals want within
// 1e-12 of Σ|terms| (bound) in float64; for float32 results, within one
// float32 rounding of that; NaN and ±Inf must match exactly.
func sameSum[T float](got, want T, bound float64) bool {
	if math.IsNaN(float64(want)) || math.IsInf(float64(want), 0) {
		return math.IsNaN(float64(got)) == math.IsNaN(float64(want)) && (math.IsNaN(float64(got)) || got == want)
	}
	tol := 1e-12 * bound
	if _, is32 := any(got).(float32); is32 {
		tol += 6e-8*math.Abs(float64(want)) + 1e-45
	}
	return math.Abs(float64(got)-float64(want)) <= tol
}

func testBnKernels[T float](t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, sz := range [][3]int{{1, 1, 1}, {2, 3, 5}, {3, 2, 7}, {4, 5, 17}, {2, 16, 64}, {5, 3, 1}, {1, 4, 1031}} {
		for _, special := range []bool{false, true} {
			bc := newBnCase[T](rng, sz[0], sz[1], sz[2], special)
			g, size := bc.g, len(bc.x)
			t.Run(bc.name, func(t *testing.T) {
				y, wy := make([]T, size), make([]T, size)
				bnFwd(y, bc.x, bc.scale, bc.bias, bc.mean, bc.vr, g)
				oldBnFwd(wy, bc.x, bc.scale, bc.bias, bc.mean, bc.vr, g)
				dx, wdx := make([]T, size), make([]T, size)
				bnGradX(dx, bc.scale, bc.vr, bc.gy, g)
				oldBnGradX(wdx, bc.scale, bc.vr, bc.gy, g)
				fdx := make([]T, size)
				sx, sg := make([]float64, g.c), make([]float64, g.c)
				bnGradSums(fdx, sx, sg, bc.x, bc.scale, bc.mean, bc.vr, bc.gy, g)
				for i := range y {
					if !sameBits(float64(y[i]), float64(wy[i])) {
						t.Fatalf("bnFwd [%d] = %v, want %v", i, y[i], wy[i])
					}
					if !sameBits(float64(dx[i]), float64(wdx[i])) || !sameBits(float64(fdx[i]), float64(wdx[i])) {
						t.Fatalf("dx [%d] = %v (bnGradX), %v (bnGradSums), want %v", i, dx[i], fdx[i], wdx[i])
					}
				}
				ds, wds, ds2 := make([]T, g.c), make([]T, g.c), make([]T, g.c)
				oldBnGradScale(wds, bc.x, bc.mean, bc.vr, bc.gy, g)
				bnGradScale(ds, bc.x, bc.mean, bc.vr, bc.gy, g, make([]float64, g.c))
				bnScaleFromSums(ds2, sx, bc.vr, g)
				db, wdb := make([]T, g.c), make([]T, g.c)
				channelSum(wdb, bc.gy, g.n, g.c, g.p, &scratch[T]{})
				for c := range db {
					db[c] = T(sg[c])
				}
				for c := 0; c < g.c; c++ {
					bs := bc.absX[c] / math.Sqrt(float64(bc.vr[c])+g.eps)
					if !sameSum(ds[c], wds[c], bs) || !sameSum(ds2[c], wds[c], bs) {
						t.Errorf("dscale[%d] = %v (bnGradScale), %v (bnGradSums), want %v", c, ds[c], ds2[c], wds[c])
					}
					if !sameSum(db[c], wdb[c], bc.absG[c]) {
						t.Errorf("dbias[%d] = %v, want %v", c, db[c], wdb[c])
					}
				}
			})
		}
	}
}

// TestBatchNormKernels checks the BatchNormalization kernels against the
// previous ones: the forward pass and dx bit for bit, dscale and dbias (a
// reordered float64 sum) within 1e-12 of Σ|terms| (plus one float32
// rounding in float32), on odd sizes, with NaN, ±Inf, ±0 and subnormals.
func TestBatchNormKernels(t *testing.T) {
	t.Run("float32", testBnKernels[float32])
	t.Run("float64", testBnKernels[float64])
}

// BenchmarkBatchNormBackward times the backward pass of one resnet20
// stage-1 BatchNormalization at batch 128 ([128, 16, 32·32], float32): the
// three kernels before (dx, dscale, dbias: three reads of gy) and the
// fused bnGradSums (one).
func BenchmarkBatchNormBackward(b *testing.B) {
	bc := newBnCase[float32](rand.New(rand.NewPCG(5, 6)), 128, 16, 1024, false)
	g := bc.g
	dx, ds, db := make([]float32, len(bc.x)), make([]float32, g.c), make([]float32, g.c)
	sx, sg := make([]float64, g.c), make([]float64, g.c)
	sc := &scratch[float32]{}
	b.Run("old", func(b *testing.B) {
		for b.Loop() {
			oldBnGradX(dx, bc.scale, bc.vr, bc.gy, g)
			oldBnGradScale(ds, bc.x, bc.mean, bc.vr, bc.gy, g)
			channelSum(db, bc.gy, g.n, g.c, g.p, sc)
		}
	})
	b.Run("fused", func(b *testing.B) {
		for b.Loop() {
			bnGradSums(dx, sx, sg, bc.x, bc.scale, bc.mean, bc.vr, bc.gy, g)
			bnScaleFromSums(ds, sx, bc.vr, g)
		}
	})
	b.Run("fwd-old", func(b *testing.B) {
		for b.Loop() {
			oldBnFwd(dx, bc.x, bc.scale, bc.bias, bc.mean, bc.vr, g)
		}
	})
	b.Run("fwd-new", func(b *testing.B) {
		for b.Loop() {
			bnFwd(dx, bc.x, bc.scale, bc.bias, bc.mean, bc.vr, g)
		}
	})
}

// bnGradSumsRef is the previous bnGradSums (channel by channel, a
// channel's planes swept in batch order): the reference of
// TestBnGradSumsSweep. It is the backward pass of y = (x − mean)·s + bias in one read of
// gy and x: dx = gy·s (in T, as bnGradX; skipped when dx is nil), and per
// channel c, into sx[c] and sg[c], Σ gy·(x − mean) and Σ gy over the batch
// and the plane, accumulated in float64 (bnPlaneSums per plane, the planes'
// sums added in batch order). dscale = sx/√(var+eps) and dbias = sg. scale is read only
// for dx; sx or sg may be nil when not wanted.
func bnGradSumsRef[T float](dx []T, sx, sg []float64, x, scale, mean, vr, gy []T, g *bnGeom) {
	p := g.p
	parallel(g.c, g.n*p, 1, func(c0, c1 int) {
		for c := c0; c < c1; c++ {
			var s T
			if dx != nil {
				s = T(float64(scale[c]) / math.Sqrt(float64(vr[c])+g.eps))
			}
			m := float64(mean[c])
			ax, ag := 0.0, 0.0
			for i := 0; i < g.n; i++ {
				o := (i*g.c + c) * p
				gs := gy[o : o+p]
				xs := x[o : o+p]
				if dx != nil {
					bnScaleRow(dx[o:o+p], gs, s)
				}
				px, pg := bnPlaneSums(xs, gs, m)
				ax += px
				ag += pg
			}
			if sx != nil {
				sx[c] = ax
			}
			if sg != nil {
				sg[c] = ag
			}
		}
	})
}

// TestBnGradSumsSweep checks the sample-major bnGradSums against the
// channel-by-channel sweep it replaced, bit for bit (dx, both sums; the
// sums are added in the same order), float32 and float64, on odd sizes,
// resnet20's shapes and special values (NaN, ±Inf, ±0, subnormals), with
// and without dx.
func TestBnGradSumsSweep(t *testing.T) {
	t.Run("float32", testBnGradSumsSweep[float32])
	t.Run("float64", testBnGradSumsSweep[float64])
}

func testBnGradSumsSweep[T float](t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, sz := range [][3]int{{1, 1, 1}, {2, 3, 5}, {4, 5, 17}, {5, 3, 1}, {1, 4, 1031}, {16, 16, 64}, {8, 64, 64}, {4, 16, 1024}} {
		for _, special := range []bool{false, true} {
			bc := newBnCase[T](rng, sz[0], sz[1], sz[2], special)
			g, size := bc.g, len(bc.x)
			t.Run(bc.name, func(t *testing.T) {
				for _, withDx := range []bool{true, false} {
					var dx, wdx []T
					if withDx {
						dx, wdx = make([]T, size), make([]T, size)
					}
					sx, sg := make([]float64, g.c), make([]float64, g.c)
					wsx, wsg := make([]float64, g.c), make([]float64, g.c)
					bnGradSums(dx, sx, sg, bc.x, bc.scale, bc.mean, bc.vr, bc.gy, g)
					bnGradSumsRef(wdx, wsx, wsg, bc.x, bc.scale, bc.mean, bc.vr, bc.gy, g)
					for i := range dx {
						if !sameBits(float64(dx[i]), float64(wdx[i])) {
							t.Fatalf("dx[%d] = %v, want %v", i, dx[i], wdx[i])
						}
					}
					for c := range sx {
						if !sameBits(sx[c], wsx[c]) || !sameBits(sg[c], wsg[c]) {
							t.Fatalf("channel %d: sums %v %v, want %v %v", c, sx[c], sg[c], wsx[c], wsg[c])
						}
					}
				}
			})
		}
	}
}

// BenchmarkBnGradSumsSweep times bnGradSums (sample-major) against the
// channel-by-channel sweep it replaced, on resnet20's three stages at
// batch 128, in the calling thread's CPU time (run with -cpu 1).
func BenchmarkBnGradSumsSweep(b *testing.B) {
	for _, sz := range [][3]int{{128, 16, 1024}, {128, 32, 256}, {128, 64, 64}} {
		bc := newBnCase[float32](rand.New(rand.NewPCG(5, 6)), sz[0], sz[1], sz[2], false)
		g := bc.g
		dx := make([]float32, len(bc.x))
		sx, sg := make([]float64, g.c), make([]float64, g.c)
		for _, v := range []struct {
			name string
			f    func(dx []float32, sx, sg []float64, x, scale, mean, vr, gy []float32, g *bnGeom)
		}{{"ref", bnGradSumsRef[float32]}, {"new", bnGradSums[float32]}} {
			b.Run(fmt.Sprintf("C%dP%d/%s", g.c, g.p, v.name), func(b *testing.B) {
				now, _ := threadCPU()
				t0 := now()
				for range b.N {
					v.f(dx, sx, sg, bc.x, bc.scale, bc.mean, bc.vr, bc.gy, g)
				}
				b.ReportMetric(float64((now()-t0).Microseconds())/float64(b.N), "cpu-us/op")
			})
		}
	}
}
