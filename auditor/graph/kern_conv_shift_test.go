package graph

import (
	"fmt"
	"math"
	"math/rand"
	"slices"
	"testing"
	"time"

	"github.com/gnaudit/gnaudit/auditor/internal/sgemm"
	"github.com/gnaudit/gnaudit/internal/approx"
)

// convCase completes a geometry given by input, kernel, stride, dilation
// and pads: strides and dilations of 0 become 1, and the output size is
// derived.
func convCase(g geom) geom {
	g.sh, g.sw = max(g.sh, 1), max(g.sw, 1)
	g.dh, g.dw = max(g.dh, 1), max(g.dw, 1)
	g.group = max(g.group, 1)
	g.oh = (g.h+g.pt+g.pb-(g.kh-1)*g.dh-1)/g.sh + 1
	g.ow = (g.w+g.pl+g.pr-(g.kw-1)*g.dw-1)/g.sw + 1
	return g
}

// shiftCases are width-keeping stride-1 geometries (shiftIm2col): the
// ResNet 3×3 pad-1 layers, 1×1, 5×5 pad 2 on a map narrower than the
// kernel, dilations, asymmetric and one-sided pads, pads larger than the
// input (rows that read only padding), a single row and a single column.
var shiftCases = []geom{
	{n: 3, c: 2, h: 32, w: 32, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1},
	{n: 2, c: 3, h: 16, w: 16, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1},
	{n: 2, c: 4, h: 8, w: 8, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1},
	{n: 2, c: 2, h: 2, w: 2, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1},
	{n: 2, c: 3, h: 4, w: 4, kh: 5, kw: 5, pt: 2, pl: 2, pb: 2, pr: 2},
	{n: 2, c: 3, h: 4, w: 4, kh: 1, kw: 1},
	{n: 2, c: 2, h: 7, w: 6, kh: 3, kw: 2, dh: 2, pl: 1},
	{n: 2, c: 2, h: 7, w: 6, kh: 3, kw: 2, dh: 2, pr: 1, pt: 3},
	{n: 2, c: 2, h: 9, w: 9, kh: 3, kw: 3, dh: 2, dw: 2, pt: 2, pl: 2, pb: 2, pr: 2},
	{n: 2, c: 2, h: 5, w: 6, kh: 3, kw: 3, pt: 0, pl: 2, pb: 2, pr: 0},
	{n: 1, c: 2, h: 3, w: 3, kh: 3, kw: 3, pt: 4, pl: 2, pb: 4, pr: 0},
	{n: 2, c: 2, h: 2, w: 3, kh: 7, kw: 7, pt: 3, pl: 3, pb: 3, pr: 3},
	{n: 2, c: 2, h: 1, w: 9, kh: 1, kw: 3, pl: 1, pr: 1},
	{n: 2, c: 2, h: 9, w: 1, kh: 3, kw: 1, pt: 1, pb: 1},
}

// TestIm2colShift checks im2col by shifted plane copies against the row
// sweep, exactly (float32 and float64), on the width-keeping geometries of
// shiftCases, and that im2col, the serial im2col of the blocked
// convolution and the goroutine split give the same matrix.
func TestIm2colShift(t *testing.T) {
	defer func(v int) { shiftMinP = v }(shiftMinP)
	shiftMinP = 1
	rng := rand.New(rand.NewSource(21))
	for k, g0 := range shiftCases {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			g := convCase(g0)
			if !g.shiftIm2col() {
				t.Fatalf("%+v: not a shift geometry", g)
			}
			x := make([]float64, g.n*g.c*g.h*g.w)
			for i := range x {
				x[i] = rng.NormFloat64()
			}
			size := g.c * g.kh * g.kw * g.n * g.oh * g.ow
			want := make([]float64, size)
			im2colRowsCh(want, x, &g, 0, g.c)
			fill := func() []float64 {
				s := make([]float64, size)
				for i := range s {
					s[i] = 7 // every element must be written
				}
				return s
			}
			got := fill()
			im2colShiftCh(got, x, &g, 0, g.c)
			if !slices.Equal(got, want) {
				t.Fatalf("im2colShiftCh and the row sweep differ")
			}
			got = fill()
			im2col(got, x, &g, &scratch[float64]{})
			if !slices.Equal(got, want) {
				t.Fatalf("im2col and the row sweep differ")
			}
			got = fill()
			im2colSerial(got, x, &g, nil)
			if !slices.Equal(got, want) {
				t.Fatalf("im2colSerial and the row sweep differ")
			}
			x32 := make([]float32, len(x))
			for i, v := range x {
				x32[i] = float32(v)
			}
			w32, g32 := make([]float32, size), make([]float32, size)
			im2colRowsCh(w32, x32, &g, 0, g.c)
			im2colShiftCh(g32, x32, &g, 0, g.c)
			if !slices.Equal(g32, w32) {
				t.Fatalf("float32: im2colShiftCh and the row sweep differ")
			}
		})
	}
	for _, g0 := range []geom{
		{n: 1, c: 1, h: 8, w: 8, kh: 3, kw: 3, sh: 2, pt: 1, pl: 1, pb: 1, pr: 1},
		{n: 1, c: 1, h: 8, w: 8, kh: 3, kw: 3, sw: 2, pt: 1, pl: 1, pb: 1, pr: 1},
		{n: 1, c: 1, h: 8, w: 8, kh: 3, kw: 3},
		{n: 1, c: 1, h: 8, w: 8, kh: 3, kw: 3, pl: 2, pr: 2},
	} {
		if g := convCase(g0); g.shiftIm2col() {
			t.Errorf("%+v: a shift geometry, want not", g)
		}
	}
	shiftMinP = 64
	for _, tc := range []struct {
		h, w int
		want bool
	}{{32, 32, true}, {8, 8, true}, {16, 4, true}, {4, 4, false}, {2, 2, false}} {
		g := convCase(geom{n: 1, c: 1, h: tc.h, w: tc.w, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1})
		if got := g.shiftIm2col(); got != tc.want {
			t.Errorf("%d×%d map: shiftIm2col %v, want %v", tc.h, tc.w, got, tc.want)
		}
	}
}

// BenchmarkIm2col times im2col by the paths before shifted copies (row
// sweep for outputs at least 16 wide, else the gather table) and by
// shifted copies, on one block of resnet20's stride-1 3×3 layers (as
// convFwdBlocked runs them) and alexnet-cifar's stride-1 layers at batch
// 128 (whole batch). Run with -cpu 1 (one goroutine).
func BenchmarkIm2col(b *testing.B) {
	for _, g0 := range []geom{
		{n: 1, c: 16, h: 32, w: 32, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1},
		{n: 4, c: 32, h: 16, w: 16, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1},
		{n: 16, c: 64, h: 8, w: 8, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1},
		{n: 128, c: 64, h: 4, w: 4, kh: 5, kw: 5, pt: 2, pl: 2, pb: 2, pr: 2},
		{n: 128, c: 192, h: 2, w: 2, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1},
	} {
		g := convCase(g0)
		x := make([]float32, g.n*g.c*g.h*g.w)
		cols := make([]float32, g.c*g.kh*g.kw*g.n*g.oh*g.ow)
		name := fmt.Sprintf("n%d_%dx%dx%d_k%d", g.n, g.c, g.h, g.w, g.kh)
		b.Run(name+"/old", func(b *testing.B) {
			b.SetBytes(int64(4 * len(cols)))
			sc := &scratch[float32]{}
			now, _ := threadCPU()
			defer func(t0 time.Duration) { b.ReportMetric(float64((now()-t0).Microseconds())/float64(b.N), "cpu-us/op") }(now())
			for range b.N {
				if g.useTable() {
					im2colTable(cols, x, &g, sc)
				} else {
					im2colRows(cols, x, &g)
				}
			}
		})
		b.Run(name+"/shift", func(b *testing.B) {
			b.SetBytes(int64(4 * len(cols)))
			now, _ := threadCPU()
			defer func(t0 time.Duration) { b.ReportMetric(float64((now()-t0).Microseconds())/float64(b.N), "cpu-us/op") }(now())
			for range b.N {
				im2colShiftCh(cols, x, &g, 0, g.c)
			}
		})
	}
}

// BenchmarkConvBlock times the blocked forward convolution and weight
// gradient of resnet20's stride-1 3×3 layers at batch 128 for several
// block sizes (samples per block), with and without segGemm, in the calling thread's CPU time
// (cpu-ms/op; run with -cpu 1 so that the blocks stay on that thread).
func BenchmarkConvBlock(b *testing.B) {
	for _, g0 := range []geom{
		{n: 128, c: 16, m: 16, h: 32, w: 32, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1},
		{n: 128, c: 32, m: 32, h: 16, w: 16, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1},
		{n: 128, c: 64, m: 64, h: 8, w: 8, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1},
	} {
		g := convCase(g0)
		P := g.oh * g.ow
		rng := rand.New(rand.NewSource(1))
		f32 := func(n int) []float32 {
			v := make([]float32, n)
			for i := range v {
				v[i] = float32(rng.NormFloat64())
			}
			return v
		}
		x, w, gy := f32(g.n*g.c*g.h*g.w), f32(g.m*g.c*g.kh*g.kw), f32(g.n*g.m*P)
		out := make([]float32, g.n*g.m*P)
		dw := make([]float32, len(w))
		for _, nb := range []int{1, 2, 3, 4, 6, 8, 16} {
			if nb*P < 64 || nb*P > 4096 {
				continue
			}
			for _, seg := range []bool{false, true} {
				b.Run(fmt.Sprintf("%dx%dx%d/nb%d/seg=%v", g.c, g.h, g.w, nb, seg), func(b *testing.B) {
					defer func(v int, s bool) { convBlockCols, convSegGemm = v, s }(convBlockCols, convSegGemm)
					convBlockCols = nb * P
					convSegGemm = seg
					sc := &scratch[float32]{}
					now, _ := threadCPU()
					t0 := now()
					for range b.N {
						convFwd(out, x, w, nil, &g, sc, nil)
						convGradW(dw, x, gy, &g, sc, nil)
					}
					b.ReportMetric(float64((now()-t0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
				})
			}
		}
	}
}

// BenchmarkConvFwdCached times the forward convolution of resnet20's
// stage-1 layer at batch 128 with the column matrix kept for the weight
// gradient (cached) and without (blocked), on all threads.
func BenchmarkConvFwdCached(b *testing.B) {
	g := convCase(geom{n: 128, c: 16, m: 16, h: 32, w: 32, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1})
	P := g.oh * g.ow
	rng := rand.New(rand.NewSource(1))
	f32 := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	x, w := f32(g.n*g.c*g.h*g.w), f32(g.m*g.c*g.kh*g.kw)
	out := make([]float32, g.n*g.m*P)
	for _, cached := range []bool{false, true} {
		b.Run(fmt.Sprint("cached=", cached), func(b *testing.B) {
			sc := &scratch[float32]{}
			var cc *colCache[float32]
			if cached {
				cc = &colCache[float32]{}
			}
			now, _ := threadCPU()
			t0 := now()
			for range b.N {
				convFwd(out, x, w, nil, &g, sc, cc)
			}
			b.ReportMetric(float64((now()-t0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
		})
	}
}

// TestConvFwdBlockedKeepsCols checks the blocked forward convolution with
// a column cache against the whole-batch one: the same output (to 1e-12)
// and exactly the same kept column matrix, on the geometries of
// TestConvFwdBlocked and for blocks of one and several samples.
func TestConvFwdBlockedKeepsCols(t *testing.T) {
	cases := []geom{
		{n: 5, c: 4, m: 6, h: 32, w: 32, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1, group: 2},
		{n: 7, c: 3, m: 4, h: 8, w: 8, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1},
		{n: 3, c: 2, m: 3, h: 7, w: 6, kh: 3, kw: 2, sh: 2, sw: 3, dh: 2, pl: 1, pb: 2},
		{n: 4, c: 6, m: 3, h: 4, w: 4, kh: 1, kw: 1, group: 3},
		{n: 3, c: 2, m: 3, h: 20, w: 20, kh: 5, kw: 5}, // row sweep
	}
	defer func(v int) { convBlockCols = v }(convBlockCols)
	rng := rand.New(rand.NewSource(22))
	for k, g0 := range cases {
		g := convCase(g0)
		x := randVec(rng, g.n*g.c*g.h*g.w)
		w := randVec(rng, g.m*g.c/g.group*g.kh*g.kw)
		b := randVec(rng, g.m)
		want := make([]float64, g.n*g.m*g.oh*g.ow)
		convBlockCols = 0
		ref := &colCache[float64]{}
		convFwd(want, x, w, b, &g, &scratch[float64]{}, ref)
		for _, bc := range []int{1, 3 * g.oh * g.ow} {
			t.Run(fmt.Sprint(k, "/", bc), func(t *testing.T) {
				convBlockCols = bc
				got := make([]float64, len(want))
				cc := &colCache[float64]{}
				convFwd(got, x, w, b, &g, &scratch[float64]{}, cc)
				if !cc.valid || !ref.valid || !slices.Equal(cc.buf, ref.buf) {
					t.Fatalf("kept columns differ from the whole-batch path's (valid %v)", cc.valid)
				}
				for i := range got {
					if !approx.Within(t, fmt.Sprintf("out[%d]", i), got[i], want[i], approx.Float64, approx.Float64) {
						t.FailNow()
					}
				}
			})
		}
	}
}

// TestPointwise checks which geometries skip im2col on one-sample blocks
// (the 1×1 case of TestConvFwdBlocked and TestConvGradWBlocked, run with
// one-sample blocks, is one; their results there match the whole-batch
// path's).
func TestPointwise(t *testing.T) {
	for _, tc := range []struct {
		g    geom
		want bool
	}{
		{geom{n: 4, c: 6, m: 3, h: 4, w: 4, kh: 1, kw: 1, group: 3}, true},
		{geom{n: 1, c: 16, m: 32, h: 32, w: 32, kh: 1, kw: 1}, true},
		{geom{n: 1, c: 16, m: 32, h: 32, w: 32, kh: 1, kw: 1, sh: 2, sw: 2}, false},
		{geom{n: 1, c: 16, m: 32, h: 32, w: 32, kh: 1, kw: 1, pt: 1, pb: 1}, false},
		{geom{n: 1, c: 16, m: 32, h: 32, w: 32, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1}, false},
		{geom{n: 1, c: 16, m: 32, h: 32, w: 32, kh: 1, kw: 3, pl: 1, pr: 1}, false},
	} {
		if g := convCase(tc.g); g.pointwise() != tc.want {
			t.Errorf("%+v: pointwise %v, want %v", g, !tc.want, tc.want)
		}
	}
}

// TestIm2colSerialLd checks the serial im2col into rows ld apart (the
// blocked convolution writing into the kept column matrix) against the
// packed im2colSerial, exactly, on the shift, row-sweep and gather-table
// paths: every row equals the packed one and the gaps between rows keep
// what they held.
func TestIm2colSerialLd(t *testing.T) {
	defer func(v int) { shiftMinP = v }(shiftMinP)
	shiftMinP = 1
	cases := append(slices.Clone(shiftCases),
		geom{n: 3, c: 2, h: 20, w: 20, kh: 5, kw: 5},                                         // rows (ow ≥ 16, ow ≠ w)
		geom{n: 2, c: 3, h: 33, w: 18, kh: 3, kw: 3, pt: 1, pb: 1},                           // rows, padded top/bottom
		geom{n: 3, c: 2, h: 8, w: 8, kh: 3, kw: 3, sh: 2, sw: 2, pt: 1, pl: 1, pb: 1, pr: 1}, // table, padded
		geom{n: 2, c: 3, h: 9, w: 7, kh: 1, kw: 1, sh: 2, sw: 2},                             // table, unpadded
	)
	rng := rand.New(rand.NewSource(23))
	for k, g0 := range cases {
		g := convCase(g0)
		if g.useTable() && !g.shiftIm2col() {
			g.table()
		}
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			x := randVec(rng, g.n*g.c*g.h*g.w)
			NP := g.n * g.oh * g.ow
			rows := g.c * g.kh * g.kw
			pp := make([]float64, g.n*g.c*(g.h+g.pt+g.pb+g.kh*g.dh)*(g.w+g.pl+g.pr+g.kw*g.dw))
			want := make([]float64, rows*NP)
			im2colSerial(want, x, &g, pp)
			for _, gap := range []int{0, 1, 5, NP} {
				ld := NP + gap
				got := make([]float64, rows*ld)
				for i := range got {
					got[i] = 7
				}
				im2colSerialLd(got, x, &g, pp, ld)
				for r := 0; r < rows; r++ {
					if !slices.Equal(got[r*ld:][:NP], want[r*NP:][:NP]) {
						t.Fatalf("gap %d: row %d differs from the packed im2colSerial", gap, r)
					}
					for _, v := range got[r*ld+NP : (r+1)*ld] {
						if v != 7 {
							t.Fatalf("gap %d: the gap after row %d was written", gap, r)
						}
					}
				}
			}
		})
	}
}

// TestConvFwdSegGemm checks the blocked convolution with the product of a
// block written straight into the output planes (segGemm) against the
// product into a buffer permuted afterwards, bit for bit (float32: the same
// sums), with and without a kept column matrix, groups, blocks of several
// samples and a partial last block, on resnet20-style 16×16 and 8×8 maps.
func TestConvFwdSegGemm(t *testing.T) {
	cases := []geom{
		{n: 9, c: 16, m: 32, h: 16, w: 16, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1},
		{n: 18, c: 8, m: 16, h: 8, w: 8, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1},
		{n: 7, c: 8, m: 8, h: 8, w: 8, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1, group: 2},
		{n: 6, c: 4, m: 70, h: 8, w: 8, kh: 1, kw: 1}, // mg > 64: OpenBLAS's in that build
	}
	defer func(v int, s bool) { convBlockCols, convSegGemm = v, s }(convBlockCols, convSegGemm)
	rng := rand.New(rand.NewSource(24))
	used := 0
	for k, g0 := range cases {
		g := convCase(g0)
		P := g.oh * g.ow
		f32 := func(n int) []float32 {
			v := make([]float32, n)
			for i := range v {
				v[i] = float32(rng.NormFloat64())
			}
			return v
		}
		x, w, b := f32(g.n*g.c*g.h*g.w), f32(g.m*g.c/g.group*g.kh*g.kw), f32(g.m)
		if sgemm.SegOK(P) && oursFor(false, false, g.m/g.group, 4*P, g.c/g.group*g.kh*g.kw) {
			used++
		}
		for _, keep := range []bool{false, true} {
			t.Run(fmt.Sprint(k, "/keep=", keep), func(t *testing.T) {
				convBlockCols = 4 * P
				run := func(seg bool) ([]float32, []float32) {
					convSegGemm = seg
					out := make([]float32, g.n*g.m*P)
					for i := range out {
						out[i] = 7
					}
					var cc *colCache[float32]
					if keep {
						cc = &colCache[float32]{}
					}
					gg := g
					convFwd(out, x, w, b, &gg, &scratch[float32]{}, cc)
					if cc != nil {
						return out, cc.buf
					}
					return out, nil
				}
				want, wcols := run(false)
				got, gcols := run(true)
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("out[%d] = %v, want %v", i, got[i], want[i])
					}
				}
				if !slices.Equal(gcols, wcols) {
					t.Fatalf("kept columns differ")
				}
			})
		}
	}
	if used == 0 {
		t.Logf("segGemm does not apply to these geometries on this CPU/build (kernel %s)", sgemm.Kernel())
	}
}
