package graph

// im2col by shifted plane copies.
//
// When a convolution keeps the width of its input (stride 1 in both
// directions and ow = w, e.g. 3×3 with pads 1), row (c, i, j) of a sample's
// column block is the sample's channel-c input plane shifted by
// s = (i·dh − pt)·w + j·dw − pl elements: element q = oh·ow + ow' of the row
// is plane[q + s] wherever (oh, ow') reads inside the input. One copy of the
// whole plane therefore fills the row, except at the positions that read
// padding: whole output rows above and below the input (cleared), and the
// first and last columns of each output row, where the shifted copy wrapped
// into the neighbouring input row (overwritten with zeros). The result is
// exactly im2colRowsCh's, with one copy per sample and row of the column
// matrix instead of one per output row.

// shiftIm2col reports whether im2col copies whole shifted planes
// (im2colShiftCh): stride 1 in both directions, the output as wide as the
// input, and output maps of at least shiftMinP positions.
func (g *geom) shiftIm2col() bool {
	return g.sh == 1 && g.sw == 1 && g.ow == g.w && g.oh > 0 && g.oh*g.ow >= shiftMinP
}

// shiftMinP is the smallest output map (OH·OW) im2col copies by shifted
// planes: measured (BenchmarkIm2col, Zen 5) 2–4× faster than the row sweep
// and the gather table on resnet20's 32×32, 16×16 and 8×8 maps, as fast on
// alexnet-cifar's 4×4 and slower on its 2×2, where the copies are a few
// elements long. A variable for tests.
var shiftMinP = 64

// im2colShiftCh is im2colRowsCh for channels [c0, c1) of a geometry with
// shiftIm2col.
func im2colShiftCh[T float](cols, x []T, g *geom, c0, c1 int) {
	im2colShiftChLd(cols, x, g, c0, c1, g.n*g.oh*g.ow)
}

// im2colShiftChLd is im2colShiftCh into a column matrix whose rows lie ld
// elements apart (ld ≥ N·OH·OW): the blocked convolution writes a block's
// columns straight into the whole batch's kept matrix.
func im2colShiftChLd[T float](cols, x []T, g *geom, c0, c1, ld int) {
	P := g.oh * g.ow
	NP := g.n * P
	hw := g.h * g.w
	ow := g.ow
	for c := c0; c < c1; c++ {
		for i := 0; i < g.kh; i++ {
			ohLo, ohHi := validRange(g.oh, 1, i*g.dh-g.pt, g.h)
			for j := 0; j < g.kw; j++ {
				row := cols[((c*g.kh+i)*g.kw+j)*ld:][:NP]
				owLo, owHi := validRange(ow, 1, j*g.dw-g.pl, g.w)
				if ohLo >= ohHi || owLo >= owHi {
					clear(row)
					continue
				}
				s := (i*g.dh-g.pt)*g.w + j*g.dw - g.pl
				// the copied range of q: the valid output rows, cut to
				// the source plane (the cut positions all read padding)
				qa, qb := max(ohLo*ow, -s), min(ohHi*ow, hw-s)
				// the positions of the valid output rows that read left
				// or right padding (the copy wrapped into a neighbouring
				// input row there): [lo, lo+nl) and [hi, hi+nr) of each
				lo, hi := ohLo*ow, ohLo*ow+owHi
				nl, nr := owLo, ow-owHi
				end := ohHi * ow
				for n := 0; n < g.n; n++ {
					src := x[(n*g.c+c)*hw:][:hw]
					dst := row[n*P:][:P]
					clear(dst[:qa])
					copy(dst[qa:qb], src[qa+s:qb+s])
					clear(dst[qb:])
					if nl > 0 {
						for q := lo; q < end; q += ow {
							for k := q; k < q+nl; k++ {
								dst[k] = 0
							}
						}
					}
					if nr > 0 {
						for q := hi; q < end; q += ow {
							for k := q; k < q+nr; k++ {
								dst[k] = 0
							}
						}
					}
				}
			}
		}
	}
}

// pointwise reports whether g is a 1×1 convolution with stride 1 and no
// padding, whose column matrix for one sample is the sample's input planes
// themselves ([C, H·W]): the blocked convolution then skips im2col on
// blocks of one sample.
func (g *geom) pointwise() bool {
	return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 &&
		g.pt == 0 && g.pl == 0 && g.pb == 0 && g.pr == 0 && g.oh == g.h && g.ow == g.w
}
