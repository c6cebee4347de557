package graph

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
)

// tapsCases are geometries convFwdTaps takes (tapsMinP lowered): resnet20's
// 3×3 pad 1, 5×5 pad 2, one-sided and asymmetric pads, 1×1, one row, a
// channel count that is not a multiple of the tile's rows; maps narrower
// than the tile (convFwdTapsBatched) with one short block and with several
// blocks and a short last one, and one whose two blocks are worth two
// goroutines where its 17 samples alone would not be.
var tapsCases = []geom{
	{n: 3, c: 4, m: 8, h: 32, w: 32, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1},
	{n: 2, c: 3, m: 5, h: 8, w: 8, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1},
	{n: 2, c: 2, m: 7, h: 9, w: 7, kh: 5, kw: 5, pt: 2, pl: 2, pb: 2, pr: 2},
	{n: 2, c: 3, m: 4, h: 6, w: 10, kh: 3, kw: 2, pt: 2, pl: 1},
	{n: 2, c: 5, m: 3, h: 5, w: 5, kh: 2, kw: 3, pb: 1, pl: 2},
	{n: 3, c: 6, m: 9, h: 4, w: 4, kh: 1, kw: 1},
	{n: 2, c: 2, m: 4, h: 1, w: 30, kh: 1, kw: 3, pl: 1, pr: 1},
	{n: 37, c: 5, m: 9, h: 8, w: 8, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1},
	{n: 19, c: 3, m: 6, h: 16, w: 16, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1},
	{n: 17, c: 2, m: 2, h: 8, w: 8, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1},
}

// TestConvFwdTaps checks convFwdTaps (float32, with and without bias, and
// as convGradX's transposed convolution) against the im2col path in
// float64, within 1e-5 of the sums of absolute terms, one sample at a time
// and in batched blocks (tapsBatched); and that it declines
// float64, strides and groups.
func TestConvFwdTaps(t *testing.T) {
	defer func(on bool, p int) { convTaps, tapsMinP = on, p }(convTaps, tapsMinP)
	convTaps, tapsMinP = true, 1
	rng := rand.New(rand.NewSource(9))
	abs := func(v []float64) []float64 {
		r := make([]float64, len(v))
		for i, e := range v {
			r[i] = max(e, -e)
		}
		return r
	}
	defer func(v bool) { tapsBatched = v }(tapsBatched)
	for _, batched := range []bool{false, true} {
		tapsBatched = batched
		for k, g0 := range tapsCases {
			g := convCase(g0)
			if !g.tapsOK() {
				t.Fatalf("case %d %+v: not taken", k, g0)
			}
			P := g.oh * g.ow
			x, w, b, gy := convInputs(rng, &g)
			for _, bias := range []bool{false, true} {
				t.Run(fmt.Sprint(k, "/batched=", batched, "/bias=", bias), func(t *testing.T) {
					var bb, ab []float64
					var b32 []float32
					if bias {
						bb, ab, b32 = b, abs(b), f32s(b)
					}
					gr := g
					sc := &scratch[float64]{}
					want := make([]float64, g.n*g.m*P)
					convFwd(want, x, w, bb, &gr, sc, nil)
					ref := make([]float64, len(want))
					convFwd(ref, abs(x), abs(w), ab, &gr, sc, nil)
					g32 := g
					sc32 := &scratch[float32]{}
					// worker 0's buffers hold a previous pass's values (the others'
					// are allocated by the kernel itself)
					for wi := 0; wi < 1; wi++ {
						for i := 0; i < 2; i++ {
							for j, buf := 0, sc32.worker(wi, i, 1<<17); j < len(buf); j++ {
								buf[j] = float32(math.NaN())
							}
						}
					}
					got := make([]float32, len(want))
					for i := range got {
						got[i] = 7 // a previous pass's output
					}
					if !convFwdTaps(got, f32s(x), f32s(w), b32, &g32, sc32) {
						t.Fatal("convFwdTaps declined")
					}
					within32(t, "out", f64s(got), want, ref)
					// twice on the same scratch (stale buffers)
					convFwd(got, f32s(x), f32s(w), b32, &g32, sc32, nil)
					within32(t, "out (again)", f64s(got), want, ref)
					if bias || g.transposed() == nil {
						return
					}
					wantDX := make([]float64, len(x))
					convGradX(wantDX, w, gy, &gr, sc)
					refDX := make([]float64, len(x))
					convGradX(refDX, abs(w), abs(gy), &gr, sc)
					dx := make([]float32, len(x))
					convGradX(dx, f32s(w), f32s(gy), &g32, sc32)
					within32(t, "dx", f64s(dx), wantDX, refDX)
				})
			}
		}
	}
	g := convCase(tapsCases[0])
	if convFwdTaps(make([]float64, g.n*g.m*g.oh*g.ow), randVec(rng, g.n*g.c*g.h*g.w), randVec(rng, g.m*g.c*9), nil, &g, &scratch[float64]{}) {
		t.Error("convFwdTaps took float64")
	}
	for _, g0 := range []geom{
		{n: 2, c: 4, m: 4, h: 8, w: 8, kh: 3, kw: 3, sh: 2, sw: 2, pt: 1, pl: 1, pb: 1, pr: 1},
		{n: 2, c: 4, m: 4, h: 8, w: 8, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1, group: 2},
		{n: 2, c: 4, m: 4, h: 8, w: 8, kh: 3, kw: 3, dh: 2, dw: 2, pt: 2, pl: 2, pb: 2, pr: 2},
		{n: 2, c: 4, m: 4, h: 8, w: 8, kh: 3, kw: 3},
	} {
		if g := convCase(g0); g.tapsOK() {
			t.Errorf("tapsOK(%+v) = true", g0)
		}
	}
}
