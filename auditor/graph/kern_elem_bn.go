package graph

import "math"

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
// and the plane, accumulated in float64 (4 partial sums per plane, added
// per plane). dscale = sx/√(var+eps) and dbias = sg. scale is read only
// for dx; sx or sg may be nil when not wanted.
func bnGradSums[T float](dx []T, sx, sg []float64, x, scale, mean, vr, gy []T, g *bnGeom) {
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
				var x0, x1, x2, x3, g0, g1, g2, g3 float64
				k := 0
				for ; k+4 <= len(gs); k += 4 {
					v0, v1, v2, v3 := float64(gs[k]), float64(gs[k+1]), float64(gs[k+2]), float64(gs[k+3])
					x0 += v0 * (float64(xs[k]) - m)
					x1 += v1 * (float64(xs[k+1]) - m)
					x2 += v2 * (float64(xs[k+2]) - m)
					x3 += v3 * (float64(xs[k+3]) - m)
					g0 += v0
					g1 += v1
					g2 += v2
					g3 += v3
				}
				for ; k < len(gs); k++ {
					v := float64(gs[k])
					x0 += v * (float64(xs[k]) - m)
					g0 += v
				}
				ax += (x0 + x1) + (x2 + x3)
				ag += (g0 + g1) + (g2 + g3)
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
