package persample

// tapConv computes |g_i|² and coordinates of a convolution weight's
// per-sample gradient on a small input map (alexnet-cifar's conv2–5: 4×4
// and 2×2 maps, kernels 5×5 and 3×3) from the executor's input x and δ
// alone, without the column matrix U(x_i), which the executor's dense
// convolution no longer keeps (graph.Net.ConvColumns would build it for
// the pass). With pairs(k) the (output position p, input position q)
// pairs that kernel tap k joins,
//
//	g_i[o, c, k] = Σ_{(p,q) ∈ pairs(k)} δ_i[o, p] · x_i[c, q],
//
// and, per group, U(x_i)ᵀU(x_i) = Σ_k Σ over pairs (p,q), (p′,q′) of
// pairs(k) of Gx[q, q′] at (p, p′), Gx = x_i x_iᵀ the HW × HW Gram matrix of
// the input positions, so that
//
//	|g_i|² = Σ_pp′ (δ_iᵀδ_i)[p, p′] · (U(x_i)ᵀU(x_i))[p, p′]
//	       = Σ_t w_t · G1[a_t] · Gx[b_t]
//
// over a table of (a, b, w) built once (upper triangles, w = 1 on the
// diagonal of G1 and 2 off it, equal entries merged). Gx costs C·HW²/2
// multiply-adds against U(x_i)'s Gram's C·kh·kw·P²/2, and a coordinate
// |pairs(k)| instead of P.
type tapConv[T float] struct {
	g      *geom
	xv, dv []T // the executor's input [B, C, H·W] and δ [B, M, P]
	hw, p  int
	cg, og int     // channels and outputs per group
	pstart []int32 // pairs of tap k: pp[pstart[k]:pstart[k+1]]
	pp, pq []int32
	ta, tb []int32 // the norm's table: G1 index, Gx index, weight
	tw     []float64
}

// tapMaxHW is the largest input map (H·W) and output map (P) of a
// convolution whose norms and coordinates tapConv computes.
const tapMaxHW = 16

// tapConvs enables tapConv (a variable so that tests compare the paths).
var tapConvs = true

// newTapConv returns the tapConv of Conv use u when its maps are small,
// the executor's buffers are T and the convolution is 1-D or 2-D; nil
// otherwise.
func newTapConv[T float](ps *pass, u *use) (*tapConv[T], error) {
	if !tapConvs || ps.net == nil {
		return nil, nil
	}
	n := u.node
	xv, dv, x, dy, ok := convViews[T](ps, n)
	if !ok {
		return nil, nil
	}
	ws, err := ps.shape(u.input)
	if err != nil {
		return nil, err
	}
	if len(x.shape) == 0 || x.shape[0] != ps.batch || len(dy.shape) == 0 || dy.shape[0] != ps.batch {
		return nil, nil
	}
	g, err := convGeom(n, x.shape, ws, dy.shape)
	if err != nil {
		return nil, err
	}
	hw, P := g.h*g.w, g.oh*g.ow
	if hw > tapMaxHW || P > tapMaxHW {
		return nil, nil
	}
	t := &tapConv[T]{g: g, xv: xv, dv: dv, hw: hw, p: P, cg: g.c / g.group, og: g.m / g.group}
	K := g.kh * g.kw
	t.pstart = make([]int32, K+1)
	for ky := 0; ky < g.kh; ky++ {
		for kx := 0; kx < g.kw; kx++ {
			k := ky*g.kw + kx
			for oy := 0; oy < g.oh; oy++ {
				iy := oy*g.sh - g.pt + ky*g.dh
				if iy < 0 || iy >= g.h {
					continue
				}
				for ox := 0; ox < g.ow; ox++ {
					ix := ox*g.sw - g.pl + kx*g.dw
					if ix < 0 || ix >= g.w {
						continue
					}
					t.pp = append(t.pp, int32(oy*g.ow+ox))
					t.pq = append(t.pq, int32(iy*g.w+ix))
				}
			}
			t.pstart[k+1] = int32(len(t.pp))
		}
	}
	// the norm's table, entries merged
	type key struct{ a, b int32 }
	wt := map[key]float64{}
	var order []key
	for k := 0; k < K; k++ {
		lo, hi := t.pstart[k], t.pstart[k+1]
		for s := lo; s < hi; s++ {
			for r := lo; r < hi; r++ {
				p1, p2 := t.pp[s], t.pp[r]
				if p1 > p2 {
					continue
				}
				q1, q2 := min(t.pq[s], t.pq[r]), max(t.pq[s], t.pq[r])
				kk := key{p1*int32(P) + p2, q1*int32(hw) + q2}
				w := 2.0
				if p1 == p2 {
					w = 1
				}
				if _, seen := wt[kk]; !seen {
					order = append(order, kk)
				}
				wt[kk] += w
			}
		}
	}
	for _, kk := range order {
		t.ta, t.tb, t.tw = append(t.ta, kk.a), append(t.tb, kk.b), append(t.tw, wt[kk])
	}
	return t, nil
}

// newConvTap is newConv for a request without Full: a tapConv where the
// maps are small (mmExp.tap set; no view, no column matrix), else
// newConv.
func newConvTap[T float](ps *pass, u *use) (*mmExp[T], error) {
	t, err := newTapConv[T](ps, u)
	if err != nil || t == nil {
		if err != nil {
			return nil, err
		}
		return newConv[T](ps, u)
	}
	return &mmExp[T]{groups: t.g.group, rows: t.og, cols: t.cg * t.g.kh * t.g.kw, p: t.p, alpha: 1, tap: t}, nil
}

// norm returns |g_i|² of sample i.
func (t *tapConv[T]) norm(w *worker[T], i int) float64 {
	g := t.g
	P, HW := t.p, t.hw
	w.g1 = grow(w.g1, P*P)
	w.g2 = grow(w.g2, HW*HW)
	d := t.dv[i*g.m*P : (i+1)*g.m*P]
	x := t.xv[i*g.c*HW : (i+1)*g.c*HW]
	s := 0.0
	for b := 0; b < g.group; b++ {
		L := d[b*t.og*P : (b+1)*t.og*P]
		X := x[b*t.cg*HW : (b+1)*t.cg*HW]
		if P <= smallGramP {
			smallGram(P, t.og, L, w.g1)
		} else {
			gramT(P, t.og, L, P, &w.gt, w.g1)
		}
		if HW <= smallGramP {
			smallGram(HW, t.cg, X, w.g2)
		} else {
			gramT(HW, t.cg, X, HW, &w.gt, w.g2)
		}
		g1, gx := w.g1, w.g2
		tb, tw := t.tb[:len(t.ta)], t.tw[:len(t.ta)]
		for q, a := range t.ta {
			s += tw[q] * g1[a] * gx[tb[q]]
		}
	}
	return max(s, 0)
}

// offsets returns, per coordinate j (flat in the weight [M, C/group, kh,
// kw]), its δ row offset, its input row offset and its tap.
func (t *tapConv[T]) offsets(coords []int) []int32 {
	g := t.g
	K := g.kh * g.kw
	CK := t.cg * K
	offs := make([]int32, 3*len(coords))
	for q, j := range coords {
		o, rem := j/CK, j%CK
		c, k := rem/K, rem%K
		ch := (o/t.og)*t.cg + c
		offs[3*q], offs[3*q+1], offs[3*q+2] = int32(o*t.p), int32(ch*t.hw), int32(k)
	}
	return offs
}

// coords writes the coordinates of sample i whose offsets returned offs
// into dst.
func (t *tapConv[T]) coords(i int, offs []int32, dst []float64) {
	g := t.g
	d := t.dv[i*g.m*t.p : (i+1)*g.m*t.p]
	x := t.xv[i*g.c*t.hw : (i+1)*g.c*t.hw]
	for q := range dst {
		dr, xr, k := d[offs[3*q]:], x[offs[3*q+1]:], offs[3*q+2]
		lo, hi := t.pstart[k], t.pstart[k+1]
		pp, pq := t.pp[lo:hi], t.pq[lo:hi]
		s := 0.0
		for r, p := range pp {
			s += float64(dr[p]) * float64(xr[pq[r]])
		}
		dst[q] = s
	}
}
