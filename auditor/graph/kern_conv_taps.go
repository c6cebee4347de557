package graph

import (
	"github.com/gnaudit/gnaudit/auditor/internal/sgemm"
)

// convTaps enables convFwdTaps: on CPUs whose best kernel of
// auditor/internal/sgemm is the AVX2+FMA one or the AVX-512 one (the
// latter's kern8x32taps: resnet20's 16- and 32-channel layers, forward
// without kept columns and input gradient, 8.1/6.9 and 7.9/7.3 cpu-ms by
// im2col and OpenBLAS against 5.8/5.4 and 5.1/4.9 by taps, one thread;
// Intel family 6 model 167, OpenBLAS Cooperlake, docs/performance.md
// "taps512"). A variable for tests.
var convTaps = sgemm.Kernel() == "avx2" || sgemm.Kernel() == "avx512"

// tapsMinP is the smallest output map convFwdTaps takes. With AVX2:
// resnet20's 32×32 and 16×16 maps (16 and 32 channels) run 1.2–2.5× faster
// than by im2col and OpenBLAS's product, its 8×8 maps (64 channels; a
// sample's padded rows, 8×10 columns, fill a fraction of the 24-column
// tiles) no faster (BenchmarkTaps, BenchmarkResNet20ConvLayers; AMD EPYC
// family 25 model 1, docs/performance.md "r20"), and convFwdTapsBatched was
// not measured there. With AVX-512 the 8×8 maps go batched, 16 samples to a
// row of 128 columns: 180–193 GFLOP/s of useful work in isolation against
// 63–67 one sample at a time, and the layer's forward / input gradient 5.1
// / 5.2 cpu-ms against 7.1 / 6.8 by im2col (one thread, Intel family 6
// model 167, "taps512"). A variable for tests.
var tapsMinP = func() int {
	if sgemm.Kernel() == "avx512" {
		return 64
	}
	return 256
}()

// tapsOK reports whether convFwdTaps computes this convolution: one group,
// stride and dilation 1, an output map of the input's size (pads kh−1 and
// kw−1 in all), at least tapsMinP positions, at most 576 rows of the
// column matrix.
func (g *geom) tapsOK() bool {
	return g.group == 1 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 &&
		g.oh == g.h && g.ow == g.w && g.pt >= 0 && g.pl >= 0 && g.pb >= 0 && g.pr >= 0 &&
		g.oh*g.ow >= tapsMinP && g.c*g.kh*g.kw <= 576
}

// tapsFor reports whether convFwdTaps computes the forward pass of a
// convolution of element type T: such a convolution keeps no column
// matrix for its weight gradient (nor for Net.ConvColumns), whose forward
// pass by im2col costs more than the weight gradient's own im2col saves
// (resnet20's 16-channel 32×32 layer: forward 26–31 cpu-ms kept against
// 11–13 by taps, BenchmarkResNet20ConvLayers fwd/fwd0).
func tapsFor[T float](g *geom) bool {
	var z T
	_, f32 := any(z).(float32)
	return f32 && convTaps && g.tapsOK()
}

// convFwdTaps computes a float32 convolution (tapsOK) without a column
// matrix, one sample at a time: the sample's input zero-padded to
// xp [C, Hp, Wp] (Hp = H + pt + pb, Wp = W + pl + pr), tap (ky, kx) is the
// product W_t [M × C]·xp at offset ky·Wp + kx with rows Hp·Wp apart, over
// the columns q = oy·Wp + ox (the columns ox ≥ OW are dropped), summed over
// the taps by sgemm.Taps; then the valid columns (plus the bias) are copied
// into the output planes. It reports false (and does nothing) for float64
// or when convTaps is off. The sums are those of im2col's product in
// another order: for each output, Σ over taps of Σ over channels.
func convFwdTaps[T float](out, x, w, b []T, g *geom, sc *scratch[T]) bool {
	if !convTaps || !g.tapsOK() {
		return false
	}
	x32, ok := any(x).([]float32)
	if !ok {
		return false
	}
	out32, w32 := any(out).([]float32), any(w).([]float32)
	var b32 []float32
	if b != nil {
		b32 = any(b).([]float32)
	}
	if S := tapsBatch(g); S > 1 {
		convFwdTapsBatched(out32, x32, w32, b32, g, any(sc).(*scratch[float32]), S)
		return true
	}
	K := g.kh * g.kw
	hp, wp := g.h+g.pt+g.pb, g.w+g.pl+g.pr
	ldx := hp * wp
	P, HW := g.oh*g.ow, g.h*g.w
	nq := (g.oh-1)*wp + g.ow
	mr, nr := sgemm.TapTile()
	ldc := (nq + nr - 1) / nr * nr
	mp := (g.m + mr - 1) / mr * mr
	offs := g.tapOffsets(wp, 1)
	// xp holds the padded planes and the columns the last tile reads past
	// the last plane's end
	nx := max(g.c*ldx, (g.c-1)*ldx+offs[K-1]+ldc)
	nw := workers(g.n * g.m * g.c * K * P)
	for wi := 0; wi < nw; wi++ {
		sc.worker(wi, 0, nx)
		sc.worker(wi, 1, mp*ldc)
	}
	ap := packTapWeights(w32, g, &sc.taps, &sc.tapsA)
	parallelS(g.n, g.m*g.c*K*P, 1, func(wi, s0, s1 int) {
		xp := any(sc.wb[wi][0]).([]float32)[:nx]
		cb := any(sc.wb[wi][1]).([]float32)[:mp*ldc]
		for s := s0; s < s1; s++ {
			clear(xp)
			xs := x32[s*g.c*HW:][:g.c*HW]
			for c := 0; c < g.c; c++ {
				for y := 0; y < g.h; y++ {
					copy(xp[c*ldx+(y+g.pt)*wp+g.pl:][:g.w], xs[c*HW+y*g.w:][:g.w])
				}
			}
			sgemm.TapsPacked(g.m, nq, g.c, ap, offs, xp, ldx, cb, ldc)
			os := out32[s*g.m*P:][:g.m*P]
			for m := 0; m < g.m; m++ {
				row := cb[m*ldc:]
				dst := os[m*P:][:P]
				for oy := 0; oy < g.oh; oy++ {
					copy(dst[oy*g.ow:][:g.ow], row[oy*wp:][:g.ow])
				}
				if b32 != nil {
					bv := b32[m]
					for p := range dst {
						dst[p] += bv
					}
				}
			}
		}
	})
	return true
}

// tapsBatched enables convFwdTapsBatched (a variable for tests).
var tapsBatched = true

// tapsBatch returns the samples per block of convFwdTapsBatched for g, or
// 1 where convFwdTaps takes one sample at a time: where tapsBatched is off
// or the per-sample product wastes at most a fifth of its columns (its
// (OH−1)·Wp + OW columns rounded up to the tile's width nr, against OH·OW
// useful: resnet20's 32×32 and 16×16 maps, 6 and 11 % wasted; one sample
// at a time was 5.5 / 5.3 cpu-ms forward / input gradient on the 16×16
// layer against 6.6 / 7.2 batched, and the 8×8 layer 7.1 / 6.8 by im2col
// against 5.1 / 5.2 batched, one thread, docs/performance.md "taps512").
// Else the smallest S with OW·S a multiple of nr, doubled while a row of
// the block (OW·S columns) is under 128.
func tapsBatch(g *geom) int {
	_, nr := sgemm.TapTile()
	wp := g.w + g.pl + g.pr
	cols := ((g.oh-1)*wp + g.ow + nr - 1) / nr * nr
	if !tapsBatched || 4*cols <= 5*g.oh*g.ow {
		return 1
	}
	s := nr / gcd(g.ow, nr)
	for s*g.ow < 128 {
		s *= 2
	}
	return s
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// convFwdTapsBatched is convFwdTaps on maps narrower than the tile, S
// samples at a time with the sample index innermost: the block's inputs
// zero-padded to xb [C, Hp, Wp, S], so that output row oy of all S samples
// is one sgemm.TapsPacked product over OW·S columns (a multiple of the
// tile's width: no column is computed in vain), tap (ky, kx) at offset
// (ky·Wp + kx)·S with rows Hp·Wp·S apart; its columns (ox, s) are then
// scattered into the output planes (plus the bias). A last block of fewer
// samples computes the full block's columns from stale values and keeps
// only its own (each column reads only its own sample). The sums are
// convFwdTaps's, in the same order.
func convFwdTapsBatched(out, x, w, b []float32, g *geom, sc *scratch[float32], S int) {
	K := g.kh * g.kw
	hp, wp := g.h+g.pt+g.pb, g.w+g.pl+g.pr
	plane := hp * wp * S
	P, HW := g.oh*g.ow, g.h*g.w
	n := g.ow * S
	mr, nr := sgemm.TapTile()
	ldc := (n + nr - 1) / nr * nr
	mp := (g.m + mr - 1) / mr * mr
	offs := g.tapOffsets(wp, S)
	nblk := (g.n + S - 1) / S
	// buffers for as many goroutines as parallelS below may start
	work := g.m * g.c * K * P * S
	for wi := 0; wi < min(workers(nblk*work), nblk); wi++ {
		sc.worker(wi, 0, g.c*plane)
		sc.worker(wi, 1, mp*ldc)
	}
	ap := packTapWeights(w, g, &sc.taps, &sc.tapsA)
	parallelS(nblk, work, 1, func(wi, b0, b1 int) {
		xb := sc.wb[wi][0][:g.c*plane]
		cb := sc.wb[wi][1][:mp*ldc]
		for blk := b0; blk < b1; blk++ {
			n0 := blk * S
			ns := min(S, g.n-n0)
			clear(xb)
			// S values of one position at a time (one write of S floats,
			// reads of S sequential rows)
			for c := 0; c < g.c; c++ {
				for y := 0; y < g.h; y++ {
					row := xb[c*plane+((y+g.pt)*wp+g.pl)*S:][:g.w*S]
					src := x[(n0*g.c+c)*HW+y*g.w:]
					for s := 0; s < ns; s++ {
						xs := src[s*g.c*HW:][:g.w]
						for ix, v := range xs {
							row[ix*S+s] = v
						}
					}
				}
			}
			for oy := 0; oy < g.oh; oy++ {
				sgemm.TapsPacked(g.m, n, g.c, ap, offs, xb[oy*wp*S:], plane, cb, ldc)
				for m := 0; m < g.m; m++ {
					row := cb[m*ldc:][:n]
					var bv float32
					if b != nil {
						bv = b[m]
					}
					for s := 0; s < ns; s++ {
						dst := out[((n0+s)*g.m+m)*P+oy*g.ow:][:g.ow]
						for ox := range dst {
							dst[ox] = row[ox*S+s] + bv
						}
					}
				}
			}
		}
	})
}

// tapOffsets returns the offsets (ky·Wp + kx)·S of the kernel taps in
// padded planes of Wp columns with S samples innermost (S = 1: one
// sample's planes).
func (g *geom) tapOffsets(wp, S int) []int {
	offs := make([]int, g.kh*g.kw)
	for ky := 0; ky < g.kh; ky++ {
		for kx := 0; kx < g.kw; kx++ {
			offs[ky*g.kw+kx] = (ky*wp + kx) * S
		}
	}
	return offs
}

// packTapWeights packs the weights w [M, C, kh·kw] for sgemm.TapsPacked:
// by tap into *taps (wt[t, m, c] = w[m, c, t]), then into Taps's strips in
// *tapsA, which it returns (both buffers grown as needed).
func packTapWeights(w []float32, g *geom, taps, tapsA *[]float32) []float32 {
	K := g.kh * g.kw
	*taps = grow32(*taps, K*g.m*g.c)
	wt := *taps
	for m := 0; m < g.m; m++ {
		for c := 0; c < g.c; c++ {
			for t, v := range w[(m*g.c+c)*K:][:K] {
				wt[(t*g.m+m)*g.c+c] = v
			}
		}
	}
	*tapsA = sgemm.PackTaps(g.m, g.c, K, wt, *tapsA)
	return *tapsA
}

// grow32 returns s with length n, reallocated when its capacity is short.
func grow32(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}
