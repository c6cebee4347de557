package graph

import (
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gnaudit/gnaudit/internal/approx"
)

// denseCases are geometries the dense path accepts: alexnet-cifar's conv2
// (5×5 pad 2 on 4×4) and conv3–5 (3×3 pad 1 on 2×2) with few channels,
// strides, dilations, asymmetric and one-sided pads, pads that leave
// output positions meeting no input, non-square maps and a 1-D one.
var denseCases = []geom{
	{n: 3, c: 4, m: 5, h: 4, w: 4, kh: 5, kw: 5, pt: 2, pl: 2, pb: 2, pr: 2},
	{n: 4, c: 3, m: 6, h: 2, w: 2, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1},
	{n: 2, c: 2, m: 3, h: 3, w: 3, kh: 5, kw: 5, sh: 2, sw: 2, pt: 2, pl: 2, pb: 2, pr: 2},
	{n: 2, c: 2, m: 2, h: 2, w: 3, kh: 3, kw: 3, dh: 2, dw: 2, pt: 2, pl: 2, pb: 2, pr: 1},
	{n: 2, c: 3, m: 2, h: 2, w: 3, kh: 7, kw: 7, pt: 3, pl: 3, pb: 3, pr: 3},
	{n: 3, c: 2, m: 4, h: 2, w: 2, kh: 3, kw: 3, pt: 2, pl: 0, pb: 0, pr: 2},
	{n: 2, c: 2, m: 3, h: 1, w: 1, kh: 3, kw: 3, pt: 4, pl: 1, pb: 4, pr: 1},
	{n: 2, c: 3, m: 2, h: 1, w: 5, kh: 1, kw: 7, pl: 3, pr: 3},
	{n: 1, c: 64, m: 8, h: 4, w: 4, kh: 5, kw: 5, pt: 2, pl: 2, pb: 2, pr: 2},
}

// TestDenseOK checks which convolutions take the dense path.
func TestDenseOK(t *testing.T) {
	for _, tc := range []struct {
		g    geom
		want bool
	}{
		{geom{n: 128, c: 64, m: 192, h: 4, w: 4, kh: 5, kw: 5, pt: 2, pl: 2, pb: 2, pr: 2}, true},    // alexnet conv2
		{geom{n: 128, c: 384, m: 256, h: 2, w: 2, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1}, true},   // conv4
		{geom{n: 128, c: 3, m: 64, h: 32, w: 32, kh: 11, kw: 11, sh: 4, sw: 4, pt: 5, pl: 5}, false}, // conv1
		{geom{n: 128, c: 64, m: 64, h: 8, w: 8, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1}, false},    // resnet20 stage 3
		{geom{n: 2, c: 4, m: 4, h: 2, w: 2, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1, group: 2}, false},
		{geom{n: 2, c: 4, m: 4, h: 3, w: 3, kh: 3, kw: 4}, false}, // 9 of 12 taps: more than 3/4
		{geom{n: 2, c: 4096, m: 4096, h: 2, w: 2, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1}, false},
	} {
		g := convCase(tc.g)
		if got := g.denseOK(); got != tc.want {
			t.Errorf("%+v: denseOK %v, want %v", tc.g, got, tc.want)
		}
	}
}

// TestConvDense checks the dense forward pass and both gradients against
// the im2col path (float64, to 1e-12) and, in float32, against the
// float64 results (to 1e-5), on denseCases with and without bias.
func TestConvDense(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	for k, g0 := range denseCases {
		g := convCase(g0)
		if !g.denseOK() {
			t.Fatalf("case %d %+v: not dense", k, g0)
		}
		P := g.oh * g.ow
		x, w, b, gy := convInputs(rng, &g)
		for _, bias := range []bool{false, true} {
			t.Run(fmt.Sprint(k, "/bias=", bias), func(t *testing.T) {
				var bb []float64
				if bias {
					bb = b
				}
				gr := g
				sc := &scratch[float64]{}
				want := make([]float64, g.n*g.m*P)
				convFwd(want, x, w, bb, &gr, sc, nil)
				wantDX := make([]float64, len(x))
				convGradX(wantDX, w, gy, &gr, sc)
				wantDW := make([]float64, len(w))
				convGradW(wantDW, x, gy, &gr, sc, nil)

				gd := g
				d := newDenseConv[float64](&gd)
				got := make([]float64, len(want))
				d.fwd(got, x, w, bb, nil)
				gotDX := make([]float64, len(x))
				d.gradX(gotDX, w, gy)
				gotDW := make([]float64, len(w))
				d.gradW(gotDW, x, gy, &scratch[float64]{})
				approx.Slice(t, "out", got, want, approx.Float64, approx.Float64)
				approx.Slice(t, "dx", gotDX, wantDX, approx.Float64, approx.Float64)
				approx.Slice(t, "dw", gotDW, wantDW, approx.Float64, approx.Float64)

				g32 := g
				d32 := newDenseConv[float32](&g32)
				o32 := make([]float32, len(want))
				var b32 []float32
				if bias {
					b32 = f32s(b)
				}
				d32.fwd(o32, f32s(x), f32s(w), b32, nil)
				dx32 := make([]float32, len(x))
				d32.gradX(dx32, f32s(w), f32s(gy))
				dw32 := make([]float32, len(w))
				d32.gradW(dw32, f32s(x), f32s(gy), &scratch[float32]{})
				// float32 sums of K terms: within 1e-5 of Σ|terms| (the
				// same convolutions of the absolute values)
				abs := func(v []float64) []float64 {
					r := make([]float64, len(v))
					for i, e := range v {
						r[i] = max(e, -e)
					}
					return r
				}
				var ab []float64
				if bias {
					ab = abs(b)
				}
				refOut := make([]float64, len(want))
				convFwd(refOut, abs(x), abs(w), ab, &gr, sc, nil)
				refDX := make([]float64, len(x))
				convGradX(refDX, abs(w), abs(gy), &gr, sc)
				refDW := make([]float64, len(w))
				convGradW(refDW, abs(x), abs(gy), &gr, sc, nil)
				within32(t, "out32", f64s(o32), want, refOut)
				within32(t, "dx32", f64s(dx32), wantDX, refDX)
				within32(t, "dw32", f64s(dw32), wantDW, refDW)
			})
		}
	}
}

// TestDenseWeights checks that the unrolled weights follow the weights:
// reused when they are the same bit for bit, rebuilt when one element
// changes (also only its sign of zero), and the output then that of the
// new weights.
func TestDenseWeights(t *testing.T) {
	g := convCase(denseCases[0])
	rng := rand.New(rand.NewSource(8))
	x := randVec(rng, g.n*g.c*g.h*g.w)
	w := randVec(rng, g.m*g.c*g.kh*g.kw)
	d := newDenseConv[float64](&g)
	out := make([]float64, g.n*g.m*g.oh*g.ow)
	d.fwd(out, x, w, nil, nil)
	wd := d.wd
	w2 := slices.Clone(w)
	if got := d.weights(w2); &got[0] != &wd[0] || !slices.Equal(got, wd) {
		t.Fatal("equal weights: Wd not reused as it was")
	}
	for _, tc := range []struct {
		name string
		v    float64
	}{{"value", 0.25}, {"zero", 0}, {"negative zero", negZero()}} {
		w2[7] = tc.v
		d.fwd(out, x, w2, nil, nil)
		want := make([]float64, len(out))
		gr := g
		convFwd(want, x, w2, nil, &gr, &scratch[float64]{}, nil)
		if !approx.Slice(t, tc.name, out, want, approx.Float64, approx.Float64) {
			continue
		}
		if !weightsSame(d.wsrc, w2) {
			t.Errorf("%s: Wd not rebuilt from the new weights", tc.name)
		}
	}
}

func negZero() float64 {
	z := 0.0
	return -z
}

// TestDenseColumns checks the column matrix a dense convolution computes
// on demand (colCache.later, ready) against the one the im2col path keeps.
func TestDenseColumns(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	for k, g0 := range denseCases {
		g := convCase(g0)
		x := randVec(rng, g.n*g.c*g.h*g.w)
		w := randVec(rng, g.m*g.c*g.kh*g.kw)
		out := make([]float64, g.n*g.m*g.oh*g.ow)
		ref := &colCache[float64]{}
		gr := g
		convFwd(out, x, w, nil, &gr, &scratch[float64]{}, ref)
		cc := &colCache[float64]{buf: make([]float64, len(ref.buf))}
		for i := range cc.buf {
			cc.buf[i] = 7 // a previous pass's columns
		}
		gd := g
		d := newDenseConv[float64](&gd)
		d.fwd(out, x, w, nil, cc)
		if cc.valid {
			t.Errorf("case %d: columns computed before they were asked for", k)
		}
		if !cc.ready() || !slices.Equal(cc.buf, ref.buf) {
			t.Errorf("case %d: columns on demand differ from the im2col path's", k)
		}
		if !cc.ready() {
			t.Errorf("case %d: second ready false", k)
		}
	}
}

// convInputs draws a convolution's input, weights, bias and output
// gradient for g.
func convInputs(rng *rand.Rand, g *geom) (x, w, b, gy []float64) {
	return randVec(rng, g.n*g.c*g.h*g.w), randVec(rng, g.m*g.c*g.kh*g.kw), randVec(rng, g.m), randVec(rng, g.n*g.m*g.oh*g.ow)
}

// within32 checks float32 results got against float64 ones want to 1e-5
// of the sums of absolute terms sabs (plus 1e-30; a NaN is out of bounds),
// reporting the first few out of bounds.
func within32(t *testing.T, what string, got, want, sabs []float64) {
	t.Helper()
	bad := 0
	for i := range want {
		if d := got[i] - want[i]; !(max(d, -d) <= 1e-5*sabs[i]+1e-30) {
			if bad++; bad <= 3 {
				t.Errorf("%s[%d] = %.9g, want %.9g (Σ|terms| %.3g)", what, i, got[i], want[i], sabs[i])
			}
		}
	}
}

// alexnetConvs are alexnet-cifar's convolutions at batch 128 (the zoo's
// model; scripts/bench/persample_torch.py).
var alexnetConvs = []struct {
	name string
	g    geom
}{
	{"conv1", geom{n: 128, c: 3, m: 64, h: 32, w: 32, kh: 11, kw: 11, sh: 4, sw: 4, pt: 5, pl: 5, pb: 5, pr: 5}},
	{"conv2", geom{n: 128, c: 64, m: 192, h: 4, w: 4, kh: 5, kw: 5, pt: 2, pl: 2, pb: 2, pr: 2}},
	{"conv3", geom{n: 128, c: 192, m: 384, h: 2, w: 2, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1}},
	{"conv4", geom{n: 128, c: 384, m: 256, h: 2, w: 2, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1}},
	{"conv5", geom{n: 128, c: 256, m: 256, h: 2, w: 2, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1}},
}

// BenchmarkAlexNetConvLayers times each of alexnet-cifar's convolutions at
// batch 128, float32, on all threads: forward pass (fwd, with the column
// matrix kept for dw as in a training graph), input gradient (dx) and
// weight gradient (dw), by the im2col path and, where denseOK, the dense
// one (fwd0: the forward without a kept column matrix); wall ns/op and
// the process's cpu-ms/op (the per-layer table of
// docs/performance.md, section exec4; torch's side is
// scripts/bench_layers_torch.py).
func BenchmarkAlexNetConvLayers(b *testing.B) { benchConvLayers(b, alexnetConvs) }

// resnet20Convs are resnet20's convolutions at batch 128 (the zoo's model:
// 3×3 pad 1, no bias; the stride-2 ones open stages 2 and 3).
var resnet20Convs = []struct {
	name string
	g    geom
}{
	{"conv0_3to16_32x32", geom{n: 128, c: 3, m: 16, h: 32, w: 32, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1}},
	{"s1_16to16_32x32", geom{n: 128, c: 16, m: 16, h: 32, w: 32, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1}},
	{"s2a_16to32_s2", geom{n: 128, c: 16, m: 32, h: 32, w: 32, kh: 3, kw: 3, sh: 2, sw: 2, pt: 1, pl: 1, pb: 1, pr: 1}},
	{"s2_32to32_16x16", geom{n: 128, c: 32, m: 32, h: 16, w: 16, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1}},
	{"s3a_32to64_s2", geom{n: 128, c: 32, m: 64, h: 16, w: 16, kh: 3, kw: 3, sh: 2, sw: 2, pt: 1, pl: 1, pb: 1, pr: 1}},
	{"s3_64to64_8x8", geom{n: 128, c: 64, m: 64, h: 8, w: 8, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1}},
}

// BenchmarkResNet20ConvLayers is BenchmarkAlexNetConvLayers on resnet20's
// convolutions (torch's side: scripts/bench_layers_torch.py --model resnet20).
func BenchmarkResNet20ConvLayers(b *testing.B) { benchConvLayers(b, resnet20Convs) }

// benchConvLayers times fwd, dx and dw of each layer (see
// BenchmarkAlexNetConvLayers).
func benchConvLayers(b *testing.B, layers []struct {
	name string
	g    geom
}) {
	rng := rand.New(rand.NewSource(1))
	f32 := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	for _, l := range layers {
		g := convCase(l.g)
		P := g.oh * g.ow
		x, w, bias := f32(g.n*g.c*g.h*g.w), f32(g.m*g.c*g.kh*g.kw), f32(g.m)
		gy := f32(g.n * g.m * P)
		out, dx, dw := make([]float32, len(gy)), make([]float32, len(x)), make([]float32, len(w))
		for _, path := range []string{"im2col", "dense"} {
			if path == "dense" && !g.denseOK() {
				continue
			}
			gg := g
			sc := &scratch[float32]{}
			cc := &colCache[float32]{}
			var d *denseConv[float32]
			if path == "dense" {
				d = newDenseConv[float32](&gg)
			}
			ops := []struct {
				name string
				fn   func()
			}{
				{"fwd", func() {
					if d != nil {
						d.fwd(out, x, w, bias, cc)
					} else {
						convFwd(out, x, w, bias, &gg, sc, cc)
					}
				}},
				{"fwd0", func() { // no kept column matrix (convolutions past the budget)
					if d != nil {
						d.fwd(out, x, w, bias, nil)
					} else {
						convFwd(out, x, w, bias, &gg, sc, nil)
					}
				}},
				{"dx", func() {
					if d != nil {
						d.gradX(dx, w, gy)
					} else {
						convGradX(dx, w, gy, &gg, sc)
					}
				}},
				{"dw", func() {
					if d != nil {
						d.gradW(dw, x, gy, sc)
					} else {
						convGradW(dw, x, gy, &gg, sc, cc)
					}
				}},
				{"dw0", func() { // no kept column matrix (fwd0's, or a taps convolution's)
					if d != nil {
						d.gradW(dw, x, gy, sc)
					} else {
						convGradW(dw, x, gy, &gg, sc, nil)
					}
				}},
			}
			for _, op := range ops {
				if (l.name == "conv1" || strings.HasPrefix(l.name, "conv0")) && op.name == "dx" {
					continue // the data's gradient is not computed
				}
				b.Run(l.name+"/"+op.name+"/"+path, func(b *testing.B) {
					ops[0].fn() // the kept columns, the dense weights
					op.fn()
					now, ok := processCPU()
					var t0 time.Duration
					if ok {
						t0 = now()
					}
					b.ResetTimer()
					for range b.N {
						op.fn()
					}
					if ok {
						b.ReportMetric(float64((now()-t0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
					}
				})
			}
		}
	}
}

// TestDenseNet checks alexnet-cifar's loss and every parameter gradient
// (conv2–5 take the dense path) against the same net built with the dense
// path off, in float64 to 1e-12 and in float32 to 1e-5 (of the largest
// gradient entry of the parameter), and the column matrices the nets
// expose (ConvColumns) to the same tolerances.
func TestDenseNet(t *testing.T) {
	defer func(v bool) { convDense = v }(convDense)
	rng := rand.New(rand.NewSource(11))
	const batch = 3
	x := randVec(rng, batch*3*32*32)
	labels := []int{1, 7, 4}
	for _, f64 := range []bool{true, false} {
		t.Run(fmt.Sprint("float64=", f64), func(t *testing.T) {
			nets := make([]*Net, 2)
			loss := make([]float64, 2)
			for k, dense := range []bool{false, true} {
				convDense = dense
				net, err := Build(alexnetCIFAR(), Options{Batch: batch, Float64: f64})
				if err != nil {
					t.Fatal(err)
				}
				if loss[k], err = net.LossGrad(x, labels); err != nil {
					t.Fatal(err)
				}
				nets[k] = net
			}
			tol := approx.Float64
			if !f64 {
				tol = 1e-5
			}
			approx.Within(t, "loss", loss[1], loss[0], tol, tol)
			for _, p := range nets[0].Params() {
				want, got := nets[0].Grad(p.Name), nets[1].Grad(p.Name)
				scale := 0.0
				for _, v := range want {
					scale = max(scale, v, -v)
				}
				approx.Slice(t, p.Name, got, want, tol*scale, tol)
			}
			n0 := 0
			for node := range nets[0].convCols {
				d0, r0, c0, ok0 := nets[0].ConvColumns(node)
				d1, r1, c1, ok1 := nets[1].ConvColumns(node)
				if !ok0 || !ok1 || r0 != r1 || c0 != c1 {
					t.Errorf("ConvColumns(%s): ok %v %v, %d×%d vs %d×%d", node, ok0, ok1, r0, c0, r1, c1)
					continue
				}
				n0++
				// the inputs of conv3–5 are outputs of dense convolutions:
				// equal up to rounding
				approx.Slice(t, "ConvColumns("+node+")", toF64s(d0), toF64s(d1), tol, tol)
			}
			if n0 < 5 {
				t.Errorf("%d column matrices compared, want 5", n0)
			}
		})
	}
}

// toF64s returns a []float32 or []float64 as float64s.
func toF64s(v any) []float64 {
	switch v := v.(type) {
	case []float64:
		return v
	case []float32:
		r := make([]float64, len(v))
		for i, e := range v {
			r[i] = float64(e)
		}
		return r
	}
	return nil
}
