package graph

// poolArgs keeps a 2×2 stride-2 float32 max pooling's window maxima from
// its forward pass for its gradient: in every run of a tape machine the
// forward pass precedes the backward pass and no kernel overwrites its
// inputs, so the maxima still match the input when the gradient is
// computed, which then routes each output gradient without comparing
// again.
type poolArgs struct {
	idx   []uint8 // per output, the window element of the first maximum: 0 1 / 2 3
	valid bool
}

// maxPoolFwdArgs is maxPoolFwd, recording the maxima in pa where
// maxPoolArgsOK (else pa is left invalid).
func maxPoolFwdArgs[T float](out, x []T, g *geom, pa *poolArgs) {
	x32, ok := any(x).([]float32)
	if pa == nil || !ok || !pool2x2(g) {
		if pa != nil {
			pa.valid = false
		}
		maxPoolFwd(out, x, g)
		return
	}
	out32 := any(out).([]float32)
	ohw := g.oh * g.ow
	if len(pa.idx) != g.n*g.c*ohw {
		pa.idx = make([]uint8, g.n*g.c*ohw)
	}
	parallel(g.n*g.c, ohw*4, 1, func(p0, p1 int) {
		hw := g.h * g.w
		for pl := p0; pl < p1; pl++ {
			src := x32[pl*hw:][:hw]
			dst := out32[pl*ohw:][:ohw]
			ix := pa.idx[pl*ohw:][:ohw]
			for oh := 0; oh < g.oh; oh++ {
				for ow := 0; ow < g.ow; ow++ {
					base := 2*oh*g.w + 2*ow
					k, a := maxArg2x2K(src, base, g.w)
					dst[oh*g.ow+ow] = src[a]
					ix[oh*g.ow+ow] = k
				}
			}
		}
	})
	pa.valid = true
}

// maxPoolGradArgs is maxPoolGrad by the maxima the forward pass recorded
// in pa (when valid): each window of dx gets the output gradient at its
// maximum and zeros elsewhere (windows do not overlap), the elements no
// window covers zeros.
func maxPoolGradArgs[T float](dx, x, gy []T, g *geom, pa *poolArgs) {
	if pa == nil || !pa.valid || len(pa.idx) != g.n*g.c*g.oh*g.ow {
		maxPoolGrad(dx, x, gy, g)
		return
	}
	ohw, hw := g.oh*g.ow, g.h*g.w
	parallel(g.n*g.c, hw, 1, func(p0, p1 int) {
		for pl := p0; pl < p1; pl++ {
			d := dx[pl*hw:][:hw]
			gp := gy[pl*ohw:][:ohw]
			ix := pa.idx[pl*ohw:][:ohw]
			if 2*g.oh != g.h || 2*g.ow != g.w {
				clear(d)
			}
			off := [4]int{0, 1, g.w, g.w + 1}
			for oh := 0; oh < g.oh; oh++ {
				r := d[2*oh*g.w:][:g.w+2*g.ow]
				for ow := 0; ow < g.ow; ow++ {
					// zeros, then 0 + v at the maximum, as maxPoolGrad's
					// sum into a cleared dx (−0 becomes +0)
					w := r[2*ow:]
					w[0], w[1], w[g.w], w[g.w+1] = 0, 0, 0, 0
					w[off[ix[oh*g.ow+ow]&3]] += gp[oh*g.ow+ow]
				}
			}
		}
	})
}

// maxArg2x2K is maxArg2x2 that also returns the window element k (0 1 /
// 2 3) of the maximum, without branches on the data.
func maxArg2x2K(src []float32, base, w int) (uint8, int) {
	k0, k1, k2, k3 := maxKey(src[base]), maxKey(src[base+1]), maxKey(src[base+w]), maxKey(src[base+w+1])
	k, best := 0, k0
	if k1 > best {
		k, best = 1, k1
	}
	if k2 > best {
		k, best = 2, k2
	}
	if k3 > best {
		k = 3
	}
	return uint8(k), base + k&1 + k>>1*w
}
