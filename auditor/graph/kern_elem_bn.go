package graph

import (
	"math"
	"sync"
)

// Inference BatchNormalization kernels over x [N, C, P]: one pass per
// channel plane, planes shared out to the workers (a channel's sums are
// made by one worker, in a fixed order, so results do not depend on the
// number of workers).

// bnCoef returns the per-channel factor s = scale/√(var+eps) and shift
// bias − mean·s, in float64, as bnFwd has always computed them.
func bnCoef[T float](scale, bias, mean, vr []T, c int, eps float64) (s, sh float64) {
	s = float64(scale[c]) / math.Sqrt(float64(vr[c])+eps)
	if bias != nil {
		sh = float64(bias[c]) - float64(mean[c])*s
	}
	return s, sh
}

// bnGradSums is the backward pass of y = (x − mean)·s + bias in one read of
// gy and x: dx = gy·s (in T, as bnGradX; skipped when dx is nil), and per
// channel c, into sx[c] and sg[c], Σ gy·(x − mean) and Σ gy over the batch
// and the plane, accumulated in float64 (bnPlaneSums per plane, the planes'
// sums added in batch order). dscale = sx/√(var+eps) and dbias = sg. scale is read only
// for dx; sx or sg may be nil when not wanted.
//
// The planes are swept in memory order (sample-major, as bnFwd), shared out
// to the workers, each plane's two sums kept; the channels' sums are then
// added up in batch order, so the result does not depend on the split (and
// is bit for bit that of a channel-by-channel sweep). Sample-major keeps
// the reads and writes sequential where a channel's planes lie C·P apart
// (short planes of 8×8 maps are a few cache lines each).
func bnGradSums[T float](dx []T, sx, sg []float64, x, scale, mean, vr, gy []T, g *bnGeom) {
	p := g.p
	np := g.n * g.c
	buf := bnSumsPool.Get().(*[]float64)
	if cap(*buf) < 2*np {
		*buf = make([]float64, 2*np)
	}
	ps := (*buf)[:2*np] // plane pl's sums at ps[2·pl], ps[2·pl+1]
	parallel(np, p, 1, func(pl0, pl1 int) {
		for pl := pl0; pl < pl1; pl++ {
			c := pl % g.c
			o := pl * p
			gs := gy[o : o+p]
			if dx != nil {
				s := T(float64(scale[c]) / math.Sqrt(float64(vr[c])+g.eps))
				bnScaleRow(dx[o:o+p], gs, s)
			}
			ps[2*pl], ps[2*pl+1] = bnPlaneSums(x[o:o+p], gs, float64(mean[c]))
		}
	})
	for c := 0; c < g.c; c++ {
		ax, ag := 0.0, 0.0
		for i := 0; i < g.n; i++ {
			pl := i*g.c + c
			ax += ps[2*pl]
			ag += ps[2*pl+1]
		}
		if sx != nil {
			sx[c] = ax
		}
		if sg != nil {
			sg[c] = ag
		}
	}
	bnSumsPool.Put(buf)
}

// bnSumsPool holds bnGradSums's per-plane sums buffers.
var bnSumsPool = sync.Pool{New: func() any { return new([]float64) }}

// bnScaleRow sets dst = src·s (len(src) elements).
func bnScaleRow[T float](dst, src []T, s T) {
	dst = dst[:len(src)]
	if useElemAsm {
		k := scaleAsm(dst, src, s)
		src, dst = src[k:], dst[k:]
	}
	for k, v := range src {
		dst[k] = v * s
	}
}

// bnPlaneSums returns Σ g·(x − m) and Σ g over one plane in float64, as 8
// partial sums (lane j takes the elements k ≡ j mod 8, in k order; the
// assembly kernel and the Go loop make the same ones) added pairwise.
func bnPlaneSums[T float](xs, gs []T, m float64) (sx, sg float64) {
	var l [16]float64
	xs = xs[:len(gs)]
	k := 0
	if useElemAsm {
		k = bnSumsAsm(xs, gs, m, &l)
	}
	for ; k+8 <= len(gs); k += 8 {
		for j := 0; j < 8; j++ {
			v := float64(gs[k+j])
			l[j] += v * (float64(xs[k+j]) - m)
			l[8+j] += v
		}
	}
	for j := 0; k < len(gs); k, j = k+1, j+1 {
		v := float64(gs[k])
		l[j] += v * (float64(xs[k]) - m)
		l[8+j] += v
	}
	sx = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]))
	sg = ((l[8] + l[9]) + (l[10] + l[11])) + ((l[12] + l[13]) + (l[14] + l[15]))
	return sx, sg
}
