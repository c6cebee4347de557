package graph

import (
	"math"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gorgonia.org/gorgonia"
)

// Convolution, pooling and matrix-product kernels.

// gemm computes c = alpha·op(a)·op(b) + beta·c with the BLAS gorgonia uses
// (gorgonia.WhichBLAS: gonum's pure-Go one by default, OpenBLAS with the
// openblas build tag).
func gemm[T float](tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			for j := range row {
				row[j] *= beta
			}
		}
		return
	}
	if blasSplit {
		// Split the product into blocks of C (rows when C is taller than
		// wide, else columns), one single-threaded BLAS call each.
		if m > n {
			// fixed blocks: a product's sums may depend on where its
			// blocks start
			parallelW(m, n*k, 16, func(_, lo, hi int) {
				ao := lo * lda
				if tA {
					ao = lo
				}
				blasGemm(tA, tB, hi-lo, n, k, alpha, a[ao:], lda, b, ldb, beta, c[lo*ldc:], ldc)
			})
		} else {
			parallelW(n, m*k, 16, func(_, lo, hi int) {
				bo := lo
				if tB {
					bo = lo * ldb
				}
				blasGemm(tA, tB, m, hi-lo, k, alpha, a, lda, b[bo:], ldb, beta, c[lo:], ldc)
			})
		}
		return
	}
	blasGemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// blasGemm is one BLAS call of gemm: gorgonia.WhichBLAS's, except the
// float32 products useOurSgemm (blas_openblas.go) routes to
// auditor/internal/sgemm in the OpenBLAS build.
func blasGemm[T float](tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	ta, tb := blas.NoTrans, blas.NoTrans
	if tA {
		ta = blas.Trans
	}
	if tB {
		tb = blas.Trans
	}
	impl := gorgonia.WhichBLAS()
	switch a := any(a).(type) {
	case []float32:
		if useOurSgemm(tA, tB, m, n, k) {
			ourSgemm(ta, tb, m, n, k, float32(alpha), a, lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
			return
		}
		impl.Sgemm(ta, tb, m, n, k, float32(alpha), a, lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
	case []float64:
		impl.Dgemm(ta, tb, m, n, k, float64(alpha), a, lda, any(b).([]float64), ldb, float64(beta), any(c).([]float64), ldc)
	}
}

// scratch is working memory shared by all kernels of one graph: the tape
// machine runs one op at a time, so two buffers that grow to the largest
// need suffice.
type scratch[T float] struct {
	bufs [4][]T // 0: column matrices, 1: products, 2: a padded plane, 3: flipped weights
	acc  []float64
	wb   [][4][]T // per worker of the blocked convolution: columns, products, padded planes, dW
	// convFwdTaps: the weights by tap, and packed for sgemm.TapsPacked
	taps, tapsA []float32
}

// worker returns buffer i (as scratch.get) of worker w.
func (s *scratch[T]) worker(w, i, n int) []T {
	for len(s.wb) <= w {
		s.wb = append(s.wb, [4][]T{})
	}
	if cap(s.wb[w][i]) < n {
		s.wb[w][i] = make([]T, n)
	}
	return s.wb[w][i][:n]
}

func (s *scratch[T]) get(i, n int) []T {
	if cap(s.bufs[i]) < n {
		s.bufs[i] = make([]T, n)
	}
	return s.bufs[i][:n]
}

func (s *scratch[T]) acc64(n int) []float64 {
	if cap(s.acc) < n {
		s.acc = make([]float64, n)
	}
	a := s.acc[:n]
	for i := range a {
		a[i] = 0
	}
	return a
}

// geom is the geometry of a 2-D convolution or pooling window sweep (a 1-D
// one has h = kh = oh = 1). Pads: top, left, bottom, right.
type geom struct {
	n, c, h, w     int // input
	m              int // output channels (conv)
	group          int
	kh, kw         int
	sh, sw         int
	dh, dw         int
	pt, pl, pb, pr int
	oh, ow         int
	includePad     bool // AveragePool count_include_pad

	tab *colTable // im2col's gather table (conv), built on first use

	tr *geom // the transposed convolution's geometry (convGradX), built on first use
}

// transposed returns the geometry of the convolution that computes the
// input gradient of g directly, or nil where there is none: for stride 1,
// dilation 1 and one group, dx = gy ⋆ flip(W)ᵀ with the pads k − 1 − p (a
// "full" correlation), which gives dx the shape of x. It replaces the
// product Wᵀ·gy, whose inner dimension is only M, and the scatter-add of
// col2im by the forward pass's product shape and a gather (im2col).
func (g *geom) transposed() *geom {
	if g.tr != nil {
		return g.tr
	}
	if g.sh != 1 || g.sw != 1 || g.dh != 1 || g.dw != 1 || g.group != 1 ||
		g.m > transposedMaxM || g.h*g.w < transposedMinHW {
		return nil
	}
	t := &geom{
		n: g.n, c: g.m, h: g.oh, w: g.ow, m: g.c, group: 1,
		kh: g.kh, kw: g.kw, sh: 1, sw: 1, dh: 1, dw: 1,
		pt: g.kh - 1 - g.pt, pb: g.kh - 1 - g.pb, pl: g.kw - 1 - g.pl, pr: g.kw - 1 - g.pr,
		oh: g.h, ow: g.w,
	}
	if t.pt < 0 || t.pb < 0 || t.pl < 0 || t.pr < 0 ||
		t.h+t.pt+t.pb-t.kh+1 != g.h || t.w+t.pl+t.pr-t.kw+1 != g.w {
		return nil
	}
	g.tr = t
	return t
}

// colTable is im2col's gather table for one convolution geometry: row
// (c, i, j) of the column matrix holds, for each sample and output position
// p, element src[(i·kw + j)·P + p] of the sample's channel-c input plane,
// zero-padded to hp × wp when padded.
type colTable struct {
	src    []int32
	hp, wp int
	padded bool
}

// useTable reports whether im2col and col2im gather through the table:
// always except for wide stride-1 outputs, whose rows are copied whole.
func (g *geom) useTable() bool {
	if g.sw == 1 && g.dw == 1 && g.ow >= 16 {
		return false
	}
	return (g.h+g.pt+g.pb)*(g.w+g.pl+g.pr) < 1<<31-1
}

// table returns (building it on first use) the gather table of g.
func (g *geom) table() *colTable {
	if g.tab != nil {
		return g.tab
	}
	t := &colTable{
		hp: max(g.h+g.pt, (g.oh-1)*g.sh+(g.kh-1)*g.dh+1),
		wp: max(g.w+g.pl, (g.ow-1)*g.sw+(g.kw-1)*g.dw+1),
	}
	t.padded = g.pt != 0 || g.pl != 0 || t.hp != g.h || t.wp != g.w
	t.src = make([]int32, 0, g.kh*g.kw*g.oh*g.ow)
	for i := 0; i < g.kh; i++ {
		for j := 0; j < g.kw; j++ {
			for oh := 0; oh < g.oh; oh++ {
				y := oh*g.sh + i*g.dh
				for ow := 0; ow < g.ow; ow++ {
					t.src = append(t.src, int32(y*t.wp+ow*g.sw+j*g.dw))
				}
			}
		}
	}
	g.tab = t
	return t
}

// padInput copies every plane of x [N, C, h, w] into the interior of a
// zeroed buffer [C, N, hp, wp] (channel-major, so that im2col reads the
// planes of one channel in sequence) and returns it.
func padInput[T float](x []T, g *geom, t *colTable, sc *scratch[T]) []T {
	hpwp := t.hp * t.wp
	pp := sc.get(2, g.n*g.c*hpwp)
	parallel(g.c, g.n*hpwp, 1, func(c0, c1 int) {
		clear(pp[c0*g.n*hpwp : c1*g.n*hpwp])
		for c := c0; c < c1; c++ {
			for n := 0; n < g.n; n++ {
				src := x[(n*g.c+c)*g.h*g.w:][:g.h*g.w]
				dst := pp[(c*g.n+n)*hpwp:][:hpwp]
				for y := 0; y < g.h; y++ {
					copy(dst[(y+g.pt)*t.wp+g.pl:][:g.w], src[y*g.w:][:g.w])
				}
			}
		}
	})
	return pp
}

// validRange returns the output positions o in [0, nOut) whose input
// coordinate o·stride + offset lies in [0, size).
func validRange(nOut, stride, offset, size int) (lo, hi int) {
	if offset < 0 {
		lo = (-offset + stride - 1) / stride
	}
	if size-1-offset < 0 {
		return 0, 0
	}
	hi = (size-1-offset)/stride + 1
	if hi > nOut {
		hi = nOut
	}
	if lo > hi {
		lo = hi
	}
	return lo, hi
}

// im2col fills cols [C·kh·kw, N·OH·OW]: row (c, i, j), column (n, oh, ow) holds
// x[n, c, oh·sh − pt + i·dh, ow·sw − pl + j·dw] or 0 in the padding.
func im2col[T float](cols, x []T, g *geom, sc *scratch[T]) {
	if g.shiftIm2col() {
		parallel(g.c, g.kh*g.kw*g.n*g.oh*g.ow, 1, func(c0, c1 int) { im2colShiftCh(cols, x, g, c0, c1) })
	} else if g.useTable() {
		im2colTable(cols, x, g, sc)
	} else {
		im2colRows(cols, x, g)
	}
}

// im2colRows is im2col by a sweep over the rows of cols, copying runs of
// input rows; channels are split over goroutines (their rows are disjoint).
func im2colRows[T float](cols, x []T, g *geom) {
	parallel(g.c, g.kh*g.kw*g.n*g.oh*g.ow, 1, func(c0, c1 int) { im2colRowsCh(cols, x, g, c0, c1) })
}

// im2colRowsCh is im2colRows for channels [c0, c1).
func im2colRowsCh[T float](cols, x []T, g *geom, c0, c1 int) {
	im2colRowsChLd(cols, x, g, c0, c1, g.n*g.oh*g.ow)
}

// im2colRowsChLd is im2colRowsCh into rows ld elements apart (as
// im2colShiftChLd).
func im2colRowsChLd[T float](cols, x []T, g *geom, c0, c1, ld int) {
	P := g.oh * g.ow
	NP := g.n * P
	for c := c0; c < c1; c++ {
		for i := 0; i < g.kh; i++ {
			for j := 0; j < g.kw; j++ {
				row := cols[((c*g.kh+i)*g.kw+j)*ld:][:NP]
				owLo, owHi := validRange(g.ow, g.sw, j*g.dw-g.pl, g.w)
				for n := 0; n < g.n; n++ {
					src := x[(n*g.c+c)*g.h*g.w:][:g.h*g.w]
					dst := row[n*P:][:P]
					for oh := 0; oh < g.oh; oh++ {
						ih := oh*g.sh - g.pt + i*g.dh
						d := dst[oh*g.ow:][:g.ow]
						if ih < 0 || ih >= g.h {
							clear(d)
							continue
						}
						srow := src[ih*g.w:][:g.w]
						clear(d[:owLo])
						clear(d[owHi:])
						if owLo >= owHi {
							continue
						}
						iw := owLo*g.sw + j*g.dw - g.pl
						if g.sw == 1 {
							copy(d[owLo:owHi], srow[iw:])
						} else {
							for ow := owLo; ow < owHi; ow++ {
								d[ow] = srow[iw]
								iw += g.sw
							}
						}
					}
				}
			}
		}
	}
}

// im2colTable is im2col through the gather table: each row of cols is
// written in one sequential sweep over the samples.
func im2colTable[T float](cols, x []T, g *geom, sc *scratch[T]) {
	t := g.table()
	P := g.oh * g.ow
	NP := g.n * P
	KK := g.kh * g.kw
	hw := g.h * g.w
	// plane n of channel c is x[(n·ns + c·cs)·hw:]
	ns, cs := g.c, 1
	if t.padded {
		x, hw, ns, cs = padInput(x, g, t, sc), t.hp*t.wp, 1, g.n
	}
	parallel(g.c, KK*NP, 1, func(c0, c1 int) {
		for c := c0; c < c1; c++ {
			for ij := 0; ij < KK; ij++ {
				row := cols[(c*KK+ij)*NP:][:NP]
				src := t.src[ij*P:][:P]
				for n := 0; n < g.n; n++ {
					plane := x[(n*ns+c*cs)*hw:][:hw]
					dst := row[n*P:][:P]
					for p, s := range src {
						dst[p] = plane[s]
					}
				}
			}
		}
	})
}

// col2imTable is col2im through the gather table. Each element of dx
// receives its contributions in the same order as in col2imRows.
func col2imTable[T float](dx, cols []T, g *geom, sc *scratch[T]) {
	t := g.table()
	P := g.oh * g.ow
	NP := g.n * P
	KK := g.kh * g.kw
	hw := g.h * g.w
	acc := dx
	ns, cs := g.c, 1 // as in im2colTable
	if t.padded {
		hw, ns, cs = t.hp*t.wp, 1, g.n
		acc = sc.get(2, g.n*g.c*hw)
		clear(acc)
	}
	parallel(g.c, KK*NP, 1, func(c0, c1 int) {
		for c := c0; c < c1; c++ {
			for ij := 0; ij < KK; ij++ {
				row := cols[(c*KK+ij)*NP:][:NP]
				src := t.src[ij*P:][:P]
				for n := 0; n < g.n; n++ {
					plane := acc[(n*ns+c*cs)*hw:][:hw]
					s := row[n*P:][:P]
					for p, o := range src {
						plane[o] += s[p]
					}
				}
			}
		}
	})
	if t.padded {
		parallel(g.n, g.c*hw, 1, func(n0, n1 int) {
			for n := n0; n < n1; n++ {
				for c := 0; c < g.c; c++ {
					d := dx[(n*g.c+c)*g.h*g.w:][:g.h*g.w]
					a := acc[(c*g.n+n)*hw:][:hw]
					for y := 0; y < g.h; y++ {
						copy(d[y*g.w:][:g.w], a[(y+g.pt)*t.wp+g.pl:][:g.w])
					}
				}
			}
		})
	}
}

// col2im adds cols back into dx (the adjoint of im2col); dx must be zeroed.
func col2im[T float](dx, cols []T, g *geom, sc *scratch[T]) {
	if g.useTable() {
		col2imTable(dx, cols, g, sc)
	} else {
		col2imRows(dx, cols, g)
	}
}

// col2imRows is col2im by a sweep over the rows of cols; channels are
// split over goroutines (each writes only its own input planes).
func col2imRows[T float](dx, cols []T, g *geom) {
	parallel(g.c, g.kh*g.kw*g.n*g.oh*g.ow, 1, func(c0, c1 int) { col2imRowsCh(dx, cols, g, c0, c1) })
}

// col2imRowsCh is col2imRows for channels [c0, c1).
func col2imRowsCh[T float](dx, cols []T, g *geom, c0, c1 int) {
	P := g.oh * g.ow
	NP := g.n * P
	for c := c0; c < c1; c++ {
		for i := 0; i < g.kh; i++ {
			for j := 0; j < g.kw; j++ {
				row := cols[((c*g.kh+i)*g.kw+j)*NP:][:NP]
				owLo, owHi := validRange(g.ow, g.sw, j*g.dw-g.pl, g.w)
				for n := 0; n < g.n; n++ {
					dst := dx[(n*g.c+c)*g.h*g.w:][:g.h*g.w]
					src := row[n*P:][:P]
					for oh := 0; oh < g.oh; oh++ {
						ih := oh*g.sh - g.pt + i*g.dh
						if ih < 0 || ih >= g.h {
							continue
						}
						s := src[oh*g.ow:][:g.ow]
						drow := dst[ih*g.w:][:g.w]
						iw := owLo*g.sw + j*g.dw - g.pl
						for ow := owLo; ow < owHi; ow++ {
							drow[iw] += s[ow]
							iw += g.sw
						}
					}
				}
			}
		}
	}
}

// colCacheBudget is the number of column-matrix elements a graph keeps
// between a convolution's forward pass and its weight gradient, over all
// its convolutions (first come, first served); the others recompute im2col.
// A variable for tests.
var colCacheBudget = 1 << 25

// colCache keeps one convolution's column matrix from its forward pass for
// its weight gradient: in every run of a tape machine the forward pass
// precedes the backward pass, and no kernel overwrites its inputs, so the
// matrix still matches the input when the weight gradient is computed.
type colCache[T float] struct {
	buf   []T
	valid bool
	// a dense convolution's matrix due but not computed (later, ready):
	// the input and the convolution, guarded by mu
	mu    sync.Mutex
	x     []T
	dense *denseConv[T]
}

// cols returns the column matrix buffer of a convolution: its cache when it
// has one, else the shared scratch.
func (cc *colCache[T]) cols(n int, sc *scratch[T]) []T {
	if cc == nil {
		return sc.get(0, n)
	}
	if len(cc.buf) != n {
		cc.buf = make([]T, n)
	}
	return cc.buf
}

// convFwd computes out[n, m, :] = Σ W[m, ·] ⋆ x[n, group(m)] + b[m] by im2col
// and one matrix product per group over the whole batch; cc (may be nil)
// keeps the column matrix for convGradW.
func convFwd[T float](out, x, w, b []T, g *geom, sc *scratch[T], cc *colCache[T]) {
	if cc == nil && convFwdTaps(out, x, w, b, g, sc) {
		return
	}
	if convBlocked(g) {
		convFwdBlocked(out, x, w, b, g, sc, cc)
		return
	}
	P := g.oh * g.ow
	NP := g.n * P
	cg := g.c / g.group
	mg := g.m / g.group
	K := cg * g.kh * g.kw
	cols := cc.cols(g.c*g.kh*g.kw*NP, sc)
	im2col(cols, x, g, sc)
	if cc != nil {
		cc.valid = true
	}
	tmp := sc.get(1, g.m*NP)
	for gi := 0; gi < g.group; gi++ {
		gemm(false, false, mg, NP, K, 1, w[gi*mg*K:], K, cols[gi*K*NP:], NP, 0, tmp[gi*mg*NP:], NP)
	}
	parallel(g.n, g.m*P, 1, func(n0, n1 int) {
		for n := n0; n < n1; n++ {
			for m := 0; m < g.m; m++ {
				dst := out[(n*g.m+m)*P:][:P]
				copy(dst, tmp[m*NP+n*P:][:P])
				if b != nil {
					bv := b[m]
					for p := range dst {
						dst[p] += bv
					}
				}
			}
		}
	})
}

// convBlockCols is the number of output positions (samples × OH·OW) one
// block of the blocked convolution covers: its column matrix (C·kh·kw rows)
// then stays in a core's cache between im2col and the product, where the
// whole batch's column matrix (75 MB for a 16-channel 32×32 layer at batch
// 128) makes both passes memory-bound. A variable for tests.
var convBlockCols = 1024

// convBlock returns the samples per block of the blocked convolution.
func convBlock(g *geom) int {
	return max(1, convBlockCols/(g.oh*g.ow))
}

// convBlocked reports whether a convolution without a kept column matrix
// runs blocked: when the column block (C/group·kh·kw rows) stays small
// enough for a core's cache and there are enough blocks to keep every
// goroutine busy; else the whole-batch product, split over goroutines,
// is faster (alexnet-cifar's 192–384-channel layers on 2×2 maps).
func convBlocked(g *geom) bool {
	if convBlockCols <= 0 {
		return false
	}
	if convBlockCols < 1024 { // tests force small blocks
		return true
	}
	nblk := (g.n + convBlock(g) - 1) / convBlock(g)
	return g.c/g.group*g.kh*g.kw <= 576 && nblk >= 2*runtime.GOMAXPROCS(0)
}

// im2colSerial is im2col on the calling goroutine, with pp as the padded
// planes' buffer of the table path; for blocks of the blocked convolution.
func im2colSerial[T float](cols, x []T, g *geom, pp []T) {
	im2colSerialLd(cols, x, g, pp, g.n*g.oh*g.ow)
}

// im2colSerialLd is im2colSerial into a column matrix whose rows lie ld
// elements apart (ld ≥ N·OH·OW).
func im2colSerialLd[T float](cols, x []T, g *geom, pp []T, ld int) {
	if g.shiftIm2col() {
		im2colShiftChLd(cols, x, g, 0, g.c, ld)
		return
	}
	if !g.useTable() {
		im2colRowsChLd(cols, x, g, 0, g.c, ld)
		return
	}
	im2colSerialTable(cols, x, g, pp, ld)
}

// im2colSerialTable is im2colSerialLd through the gather table (built).
func im2colSerialTable[T float](cols, x []T, g *geom, pp []T, ld int) {
	t := g.tab
	P := g.oh * g.ow
	NP := g.n * P
	KK := g.kh * g.kw
	hw := g.h * g.w
	ns, cs := g.c, 1
	if t.padded {
		hpwp := t.hp * t.wp
		pp = pp[:g.n*g.c*hpwp]
		clear(pp)
		for c := 0; c < g.c; c++ {
			for n := 0; n < g.n; n++ {
				src := x[(n*g.c+c)*g.h*g.w:][:g.h*g.w]
				dst := pp[(c*g.n+n)*hpwp:][:hpwp]
				for y := 0; y < g.h; y++ {
					copy(dst[(y+g.pt)*t.wp+g.pl:][:g.w], src[y*g.w:][:g.w])
				}
			}
		}
		x, hw, ns, cs = pp, hpwp, 1, g.n
	}
	for c := 0; c < g.c; c++ {
		for ij := 0; ij < KK; ij++ {
			row := cols[(c*KK+ij)*ld:][:NP]
			src := t.src[ij*P:][:P]
			for n := 0; n < g.n; n++ {
				plane := x[(n*ns+c*cs)*hw:][:hw]
				dst := row[n*P:][:P]
				for p, s := range src {
					dst[p] = plane[s]
				}
			}
		}
	}
}

// blockGeom returns g for blocks of nb samples (the gather table shared).
func blockGeom(g *geom, nb int) *geom {
	if g.useTable() && !g.shiftIm2col() {
		g.table()
	}
	b := *g
	b.n = nb
	b.tr = nil
	return &b
}

// convFwdBlocked is convFwd by blocks: im2col and the product run block by
// block of samples, each block on one goroutine with its own buffers, the
// product written into out directly. With a column cache (cc non-nil) each
// block's columns are written straight into it (the whole batch's matrix,
// where the block's columns lie at n0·P of every row, rows N·P apart), and
// the product reads them from there while they are in the core's cache.
func convFwdBlocked[T float](out, x, w, b []T, g *geom, sc *scratch[T], cc *colCache[T]) {
	P := g.oh * g.ow
	cg := g.c / g.group
	mg := g.m / g.group
	K := cg * g.kh * g.kw
	nb := min(convBlock(g), g.n)
	bg := blockGeom(g, nb)
	var ppn int
	if !bg.shiftIm2col() && bg.tab != nil && bg.tab.padded {
		ppn = nb * g.c * bg.tab.hp * bg.tab.wp
	}
	nblk := (g.n + nb - 1) / nb
	rows := g.c * g.kh * g.kw
	var kept []T
	if cc != nil {
		kept = cc.cols(rows*g.n*P, sc)
	}
	// allocate the workers' buffers before the goroutines start
	for wi := 0; wi < workers(nblk*g.m*K*nb*P); wi++ {
		sc.worker(wi, 0, g.c*g.kh*g.kw*nb*P)
		sc.worker(wi, 1, g.m*nb*P)
		sc.worker(wi, 2, ppn)
	}
	parallelS(nblk, g.m*K*nb*P, 1, func(wi, b0, b1 int) {
		cols := sc.wb[wi][0]
		tmp := sc.wb[wi][1]
		pp := sc.wb[wi][2]
		for blk := b0; blk < b1; blk++ {
			n0 := blk * nb
			bgi := bg
			if n := min(nb, g.n-n0); n != nb {
				c := *bg
				c.n = n
				bgi = &c
			}
			n := bgi.n
			NP := n * P
			xs := x[n0*g.c*g.h*g.w:][:n*g.c*g.h*g.w]
			// the block's column matrix: rows ld apart, in the kept
			// matrix (at n0·P of each row) when there is one
			cl, ld := cols[:g.c*g.kh*g.kw*NP], NP
			switch {
			case n == 1 && g.pointwise():
				cl = xs // one sample's planes are its column matrix
				if kept != nil {
					for r := 0; r < rows; r++ {
						copy(kept[r*g.n*P+n0*P:][:NP], cl[r*NP:][:NP])
					}
				}
			case kept != nil:
				cl, ld = kept[n0*P:], g.n*P
				im2colSerialLd(cl, xs, bgi, pp, ld)
			default:
				im2colSerial(cl, xs, bgi, pp)
			}
			os := out[n0*g.m*P:][:n*g.m*P]
			direct := n == 1 // the product lands in the output planes
			for gi := 0; gi < g.group; gi++ {
				switch {
				case n == 1:
					blasGemm(false, false, mg, P, K, 1, w[gi*mg*K:], K, cl[gi*K*ld:], ld, 0, os[gi*mg*P:], P)
				case segGemm(mg, NP, K, w[gi*mg*K:], cl[gi*K*ld:], ld, os[gi*mg*P:], P, g.m*P):
					direct = true
				default:
					blasGemm(false, false, mg, NP, K, 1, w[gi*mg*K:], K, cl[gi*K*ld:], ld, 0, tmp[gi*mg*NP:], NP)
				}
			}
			for s := 0; s < n; s++ {
				for m := 0; m < g.m; m++ {
					dst := os[(s*g.m+m)*P:][:P]
					if !direct {
						copy(dst, tmp[m*NP+s*P:][:P])
					}
					if b != nil {
						bv := b[m]
						for p := range dst {
							dst[p] += bv
						}
					}
				}
			}
		}
	})
	if cc != nil {
		cc.valid = true
	}
}

// convGradWBlocked is convGradW without a kept column matrix, block by
// block of samples as convFwdBlocked: each worker accumulates the products
// of its blocks, and the workers' sums are added in worker order.
func convGradWBlocked[T float](dw, x, gy []T, g *geom, sc *scratch[T]) {
	P := g.oh * g.ow
	cg := g.c / g.group
	mg := g.m / g.group
	K := cg * g.kh * g.kw
	nb := min(convBlock(g), g.n)
	bg := blockGeom(g, nb)
	var ppn int
	if !bg.shiftIm2col() && bg.tab != nil && bg.tab.padded {
		ppn = nb * g.c * bg.tab.hp * bg.tab.wp
	}
	nblk := (g.n + nb - 1) / nb
	for wi := 0; wi < workers(nblk*g.m*K*nb*P); wi++ {
		sc.worker(wi, 0, g.c*g.kh*g.kw*nb*P)
		sc.worker(wi, 1, g.m*nb*P)
		sc.worker(wi, 2, ppn)
		sc.worker(wi, 3, g.m*K)
	}
	nw := parallelW(nblk, g.m*K*nb*P, 1, func(wi, b0, b1 int) {
		cols, tmp, pp, acc := sc.wb[wi][0], sc.wb[wi][1], sc.wb[wi][2], sc.wb[wi][3]
		for blk := b0; blk < b1; blk++ {
			n0 := blk * nb
			bgi := bg
			if n := min(nb, g.n-n0); n != nb {
				c := *bg
				c.n = n
				bgi = &c
			}
			n := bgi.n
			NP := n * P
			cl := cols[:g.c*g.kh*g.kw*NP]
			if xs := x[n0*g.c*g.h*g.w:][:n*g.c*g.h*g.w]; n == 1 && g.pointwise() {
				cl = xs
			} else {
				im2colSerial(cl, xs, bgi, pp)
			}
			gs := gy[n0*g.m*P:][:n*g.m*P]
			if n > 1 {
				for s := 0; s < n; s++ {
					for m := 0; m < g.m; m++ {
						copy(tmp[m*NP+s*P:][:P], gs[(s*g.m+m)*P:][:P])
					}
				}
				gs = tmp[:g.m*NP]
			}
			beta := T(1)
			if blk == b0 {
				beta = 0
			}
			for gi := 0; gi < g.group; gi++ {
				blasGemm(false, true, mg, K, NP, 1, gs[gi*mg*NP:], NP, cl[gi*K*NP:], NP, beta, acc[gi*mg*K:], K)
			}
		}
	})
	// the workers' sums added in worker order, element by element
	parallel(g.m*K, nw, 64, func(lo, hi int) {
		copy(dw[lo:hi], sc.wb[0][3][lo:hi])
		for wi := 1; wi < nw; wi++ {
			for k, v := range sc.wb[wi][3][lo:hi] {
				dw[lo+k] += v
			}
		}
	})
}

// nmpToMnp permutes gy [N, M, P] into dst [M, N·P].
func nmpToMnp[T float](dst, gy []T, n, m, p int) {
	parallel(m, n*p, 1, func(j0, j1 int) {
		for i := 0; i < n; i++ {
			for j := j0; j < j1; j++ {
				copy(dst[j*n*p+i*p:][:p], gy[(i*m+j)*p:][:p])
			}
		}
	})
}

// transposedMaxM and transposedMinHW bound where convGradX takes the
// transposed convolution: few output channels (the inner dimension of
// Wᵀ·gy, which makes that product slow) and maps of at least 8×8 (on
// smaller maps the padding of the full correlation costs more than the
// scatter-add). Measured: faster on resnet20's 16–64-channel 32×32–8×8
// layers, slower on alexnet-cifar's 192–384 channels on 4×4 and 2×2 maps.
// Variables for tests.
var transposedMaxM, transposedMinHW = 64, 64

// convGradXRef forces convGradX onto the product-and-col2im path (tests).
var convGradXRef = false

// convGradW computes dW = Σ_n,p gy[n, m, p] · U(x)[:, (n, p)] per group,
// with the column matrix U(x) of the forward pass when cc holds it.
func convGradW[T float](dw, x, gy []T, g *geom, sc *scratch[T], cc *colCache[T]) {
	P := g.oh * g.ow
	NP := g.n * P
	cg := g.c / g.group
	mg := g.m / g.group
	K := cg * g.kh * g.kw
	var cols []T
	if cc != nil && cc.valid {
		cols = cc.buf
	} else if convBlocked(g) {
		convGradWBlocked(dw, x, gy, g, sc)
		return
	} else {
		cols = sc.get(0, g.c*g.kh*g.kw*NP)
		im2col(cols, x, g, sc)
	}
	dtmp := sc.get(1, g.m*NP)
	nmpToMnp(dtmp, gy, g.n, g.m, P)
	for gi := 0; gi < g.group; gi++ {
		gemm(false, true, mg, K, NP, 1, dtmp[gi*mg*NP:], NP, cols[gi*K*NP:], NP, 0, dw[gi*mg*K:], K)
	}
}

// convGradX computes dx = col2im(Wᵀ · gy) per group, or, where g has a
// transposed geometry, as the convolution of gy with the flipped, transposed
// weights (same sums, in another order).
func convGradX[T float](dx, w, gy []T, g *geom, sc *scratch[T]) {
	if t := g.transposed(); t != nil && !convGradXRef {
		KK := g.kh * g.kw
		wt := sc.get(3, g.c*g.m*KK)
		// wt[c, m, i, j] = w[m, c, kh−1−i, kw−1−j]
		for m := 0; m < g.m; m++ {
			for c := 0; c < g.c; c++ {
				src := w[(m*g.c+c)*KK:][:KK]
				dst := wt[(c*g.m+m)*KK:][:KK]
				for ij := range dst {
					dst[ij] = src[KK-1-ij]
				}
			}
		}
		convFwd(dx, gy, wt, nil, t, sc, nil)
		return
	}
	P := g.oh * g.ow
	NP := g.n * P
	cg := g.c / g.group
	mg := g.m / g.group
	K := cg * g.kh * g.kw
	dtmp := sc.get(1, g.m*NP)
	nmpToMnp(dtmp, gy, g.n, g.m, P)
	dcols := sc.get(0, g.c*g.kh*g.kw*NP)
	for gi := 0; gi < g.group; gi++ {
		gemm(true, false, K, NP, mg, 1, w[gi*mg*K:], K, dtmp[gi*mg*NP:], NP, 0, dcols[gi*K*NP:], NP)
	}
	parallel(len(dx), 1, 64, func(lo, hi int) { clear(dx[lo:hi]) })
	col2im(dx, dcols, g, sc)
}

// channelSum computes db[c] = Σ_n,p gy[n, c, p] (gy is [N, C, P]).
// Channels are split over goroutines; each channel's sum runs over the
// samples in order.
func channelSum[T float](db, gy []T, n, c, p int, sc *scratch[T]) {
	acc := sc.acc64(c)
	parallel(c, n*p, 1, func(j0, j1 int) {
		for i := 0; i < n; i++ {
			j := j0
			// four channels at a time: four independent sums, each in
			// the order of its elements
			for ; j+4 <= j1; j += 4 {
				r := gy[(i*c+j)*p:][:4*p]
				r0, r1, r2, r3 := r[:p], r[p:2*p], r[2*p:3*p], r[3*p:4*p]
				var s0, s1, s2, s3 float64
				for k := range r0 {
					s0 += float64(r0[k])
					s1 += float64(r1[k])
					s2 += float64(r2[k])
					s3 += float64(r3[k])
				}
				acc[j] += s0
				acc[j+1] += s1
				acc[j+2] += s2
				acc[j+3] += s3
			}
			for ; j < j1; j++ {
				s := 0.0
				for _, v := range gy[(i*c+j)*p:][:p] {
					s += float64(v)
				}
				acc[j] += s
			}
		}
		for j := j0; j < j1; j++ {
			db[j] = T(acc[j])
		}
	})
}

// maxPoolFwd takes the maximum over each window's in-bounds elements.
func maxPoolFwd[T float](out, x []T, g *geom) {
	parallel(g.n*g.c, g.oh*g.ow*g.kh*g.kw, 1, func(p0, p1 int) { maxPoolFwdPlanes(out, x, g, p0, p1) })
}

func maxPoolFwdPlanes[T float](out, x []T, g *geom, p0, p1 int) {
	if x32, ok := any(x).([]float32); ok && pool2x2(g) {
		out32 := any(out).([]float32)
		hw, ohw := g.h*g.w, g.oh*g.ow
		for pl := p0; pl < p1; pl++ {
			src := x32[pl*hw:][:hw]
			dst := out32[pl*ohw:][:ohw]
			for oh := 0; oh < g.oh; oh++ {
				for ow := 0; ow < g.ow; ow++ {
					dst[oh*g.ow+ow] = src[maxArg2x2(src, 2*oh*g.w+2*ow, g.w)]
				}
			}
		}
		return
	}
	for pl := p0; pl < p1; pl++ {
		src := x[pl*g.h*g.w:][:g.h*g.w]
		dst := out[pl*g.oh*g.ow:][:g.oh*g.ow]
		for oh := 0; oh < g.oh; oh++ {
			for ow := 0; ow < g.ow; ow++ {
				if a := maxPoolArg(src, g, oh, ow); a >= 0 {
					dst[oh*g.ow+ow] = src[a]
				} else {
					dst[oh*g.ow+ow] = T(math.Inf(-1))
				}
			}
		}
	}
}

// pool2x2 reports whether g is a 2×2, stride-2 pooling without padding or
// dilation, whose windows all lie inside the input (maxArg2x2 applies).
func pool2x2(g *geom) bool {
	return g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.dh == 1 && g.dw == 1 &&
		g.pt == 0 && g.pl == 0 && 2*g.oh <= g.h && 2*g.ow <= g.w
}

// maxKey maps a float32 to an integer whose order is maxPoolArg's: the
// float order, with −0 = +0 and every NaN above +Inf and equal to the
// others (so that, with ties going to the first element, the first NaN of
// a window wins, as in maxPoolArg).
func maxKey(v float32) int32 {
	b := int32(math.Float32bits(v))
	m := b & 0x7fffffff
	s := b >> 31
	k := (m ^ s) - s // ±magnitude; −0 → 0
	if m > 0x7f800000 {
		k = math.MaxInt32
	}
	return k
}

// maxArg2x2 returns the index of the first maximum (maxPoolArg's rule) of
// the 2×2 window at src[base], src[base+1], src[base+w], src[base+w+1],
// without branches on the data: integer keys compare by conditional moves
// (random data would mispredict the float comparisons).
func maxArg2x2(src []float32, base, w int) int {
	k0, k1, k2, k3 := maxKey(src[base]), maxKey(src[base+1]), maxKey(src[base+w]), maxKey(src[base+w+1])
	a, best := base, k0
	if k1 > best {
		a, best = base+1, k1
	}
	if k2 > best {
		a, best = base+w, k2
	}
	if k3 > best {
		a = base + w + 1
	}
	return a
}

// maxPoolArg returns the index of the first maximum of window (oh, ow) of a
// plane, or -1 if the window holds no input element (its output is then
// −Inf, as in ONNX's reference that pads with −Inf).
func maxPoolArg[T float](src []T, g *geom, oh, ow int) int {
	best, arg := T(math.Inf(-1)), -1
	hs, ws := oh*g.sh-g.pt, ow*g.sw-g.pl
	for i := 0; i < g.kh; i++ {
		ih := hs + i*g.dh
		if ih < 0 || ih >= g.h {
			continue
		}
		for j := 0; j < g.kw; j++ {
			iw := ws + j*g.dw
			if iw < 0 || iw >= g.w {
				continue
			}
			v := src[ih*g.w+iw]
			if arg < 0 || v > best || (v != v && best == best) {
				best, arg = v, ih*g.w+iw
			}
		}
	}
	return arg
}

// maxPoolGrad routes each output gradient to its window's first maximum.
func maxPoolGrad[T float](dx, x, gy []T, g *geom) {
	parallel(g.n*g.c, g.oh*g.ow*g.kh*g.kw, 1, func(p0, p1 int) { maxPoolGradPlanes(dx, x, gy, g, p0, p1) })
}

func maxPoolGradPlanes[T float](dx, x, gy []T, g *geom, p0, p1 int) {
	clear(dx[p0*g.h*g.w : p1*g.h*g.w])
	if x32, ok := any(x).([]float32); ok && pool2x2(g) {
		hw, ohw := g.h*g.w, g.oh*g.ow
		for pl := p0; pl < p1; pl++ {
			src := x32[pl*hw:][:hw]
			d := dx[pl*hw:][:hw]
			gp := gy[pl*ohw:][:ohw]
			for oh := 0; oh < g.oh; oh++ {
				for ow := 0; ow < g.ow; ow++ {
					d[maxArg2x2(src, 2*oh*g.w+2*ow, g.w)] += gp[oh*g.ow+ow]
				}
			}
		}
		return
	}
	for pl := p0; pl < p1; pl++ {
		src := x[pl*g.h*g.w:][:g.h*g.w]
		d := dx[pl*g.h*g.w:][:g.h*g.w]
		gp := gy[pl*g.oh*g.ow:][:g.oh*g.ow]
		for oh := 0; oh < g.oh; oh++ {
			for ow := 0; ow < g.ow; ow++ {
				if a := maxPoolArg(src, g, oh, ow); a >= 0 {
					d[a] += gp[oh*g.ow+ow]
				}
			}
		}
	}
}

// avgWindow returns the clipped window of output (oh, ow) and its divisor
// (PyTorch's rule: the window is cut at the end of the padded input; with
// count_include_pad the divisor counts the padding inside it, otherwise only
// input elements).
func avgWindow(g *geom, oh, ow int) (h0, h1, w0, w1 int, div float64) {
	hs, ws := oh*g.sh-g.pt, ow*g.sw-g.pl
	he, we := min(hs+g.kh, g.h+g.pb), min(ws+g.kw, g.w+g.pr)
	size := (he - hs) * (we - ws)
	h0, h1, w0, w1 = max(hs, 0), min(he, g.h), max(ws, 0), min(we, g.w)
	if g.includePad {
		div = float64(size)
	} else {
		div = float64((h1 - h0) * (w1 - w0))
	}
	return
}

func avgPoolFwd[T float](out, x []T, g *geom) {
	for pl := 0; pl < g.n*g.c; pl++ {
		src := x[pl*g.h*g.w:][:g.h*g.w]
		dst := out[pl*g.oh*g.ow:][:g.oh*g.ow]
		for oh := 0; oh < g.oh; oh++ {
			for ow := 0; ow < g.ow; ow++ {
				h0, h1, w0, w1, div := avgWindow(g, oh, ow)
				s := 0.0
				for ih := h0; ih < h1; ih++ {
					for _, v := range src[ih*g.w+w0 : ih*g.w+w1] {
						s += float64(v)
					}
				}
				if div > 0 {
					s /= div
				}
				dst[oh*g.ow+ow] = T(s)
			}
		}
	}
}

func avgPoolGrad[T float](dx, gy []T, g *geom) {
	clear(dx)
	for pl := 0; pl < g.n*g.c; pl++ {
		d := dx[pl*g.h*g.w:][:g.h*g.w]
		gp := gy[pl*g.oh*g.ow:][:g.oh*g.ow]
		for oh := 0; oh < g.oh; oh++ {
			for ow := 0; ow < g.ow; ow++ {
				h0, h1, w0, w1, div := avgWindow(g, oh, ow)
				if div <= 0 {
					continue
				}
				v := gp[oh*g.ow+ow] / T(div)
				for ih := h0; ih < h1; ih++ {
					row := d[ih*g.w+w0 : ih*g.w+w1]
					for k := range row {
						row[k] += v
					}
				}
			}
		}
	}
}
