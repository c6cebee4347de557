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
					a := maxArg2x2(src, base, g.w)
					dst[oh*g.ow+ow] = src[a]
					d := a - base // 0, 1, w, w+1
					if d >= g.w {
						d = d - g.w + 2
					}
					ix[oh*g.ow+ow] = uint8(d)
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
			for oh := 0; oh < g.oh; oh++ {
				r0 := d[2*oh*g.w:][:2*g.ow]
				r1 := d[(2*oh+1)*g.w:][:2*g.ow]
				for ow := 0; ow < g.ow; ow++ {
					v := gp[oh*g.ow+ow]
					k := ix[oh*g.ow+ow]
					// 0 + v, as maxPoolGrad's sum into a cleared dx
					// (−0 becomes +0)
					var a, b, c, e T
					switch k {
					case 0:
						a += v
					case 1:
						b += v
					case 2:
						c += v
					default:
						e += v
					}
					r0[2*ow], r0[2*ow+1] = a, b
					r1[2*ow], r1[2*ow+1] = c, e
				}
			}
		}
	})
}
