package graph

import (
	"math"
	"sync/atomic"

	"github.com/gnaudit/gnaudit/auditor/internal/sgemm"
	"gonum.org/v1/gonum/blas"
)

// The unrolled ("dense") convolution for maps smaller than the kernel.
//
// On a map of HW = h·w input and P = oh·ow output positions, one sample's
// convolution is a linear map from its C·HW inputs to its M·P outputs:
//
//	y[m, o] = Σ_c,i W[m, c, tap(o, i)] · x[c, i]
//
// where tap(o, i) is the kernel tap that carries input position i to output
// position o (none: the pair does not meet). Unrolled into the matrix
// Wd [M·P, C·HW] (zero where no tap meets), the batch's forward pass is one
// product over the samples' planes as they lie in memory, x [N, C·HW] ·
// Wdᵀ = y [N, M·P], and so are both gradients: dx = gy · Wd and
// dWd = gyᵀ · x, whose entries summed per tap are dW. im2col's column
// matrix has C·kh·kw rows; Wd has C·HW columns: fewer multiply-adds when HW <
// kh·kw (alexnet-cifar's conv2, 5×5 on 4×4 maps: 0.64 of im2col's; conv3–5,
// 3×3 on 2×2 maps: 0.44), and no im2col, col2im or [N, M, P] ↔ [M, N·P]
// permutation at all.

// convDense enables the dense path for the convolutions denseOK accepts (a
// variable for tests and benchmarks; read when a graph is built).
var convDense = true

// denseMaxElems bounds the unrolled weight matrix (elements).
const denseMaxElems = 1 << 23

// denseOK reports whether the dense path computes convolution g: one group,
// input maps of at most 3/4 of the kernel's taps, and an unrolled weight
// matrix of at most denseMaxElems elements.
func (g *geom) denseOK() bool {
	HW, P, KK := g.h*g.w, g.oh*g.ow, g.kh*g.kw
	return g.group == 1 && 4*HW <= 3*KK && P > 0 && g.m*P*g.c*HW <= denseMaxElems
}

// denseTap is one input position i of an output position's row of Wd and
// the kernel tap t that meets it.
type denseTap struct{ i, t int32 }

// denseConv is the state of one dense convolution: its geometry, the taps
// that meet per output position, and Wd with the weights it was built from.
type denseConv[T float] struct {
	g      *geom
	taps   [][]denseTap  // per output position o, ascending i
	wd     []T           // Wd [M·P, C·HW]
	wsrc   []T           // the weights wd holds
	pairs  [][]densePair // per kernel tap (gradW), built on first use
	npairs int           // pairs (o, i) that meet
}

// newDenseConv returns the dense form of g (denseOK(g) must hold).
func newDenseConv[T float](g *geom) *denseConv[T] {
	d := &denseConv[T]{g: g, taps: make([][]denseTap, g.oh*g.ow)}
	for oy := 0; oy < g.oh; oy++ {
		for ox := 0; ox < g.ow; ox++ {
			o := oy*g.ow + ox
			for iy := 0; iy < g.h; iy++ {
				ky, ok := denseKernelIndex(iy, oy, g.sh, g.pt, g.dh, g.kh)
				if !ok {
					continue
				}
				for ix := 0; ix < g.w; ix++ {
					kx, ok := denseKernelIndex(ix, ox, g.sw, g.pl, g.dw, g.kw)
					if !ok {
						continue
					}
					d.taps[o] = append(d.taps[o], denseTap{int32(iy*g.w + ix), int32(ky*g.kw + kx)})
					d.npairs++
				}
			}
		}
	}
	return d
}

// denseKernelIndex returns the kernel index k with in = out·stride − pad +
// k·dil, 0 ≤ k < size, if there is one.
func denseKernelIndex(in, out, stride, pad, dil, size int) (int, bool) {
	r := in - out*stride + pad
	if r < 0 || r%dil != 0 || r/dil >= size {
		return 0, false
	}
	return r / dil, true
}

// weightsSame reports whether a and b hold the same bit patterns (compared in
// parallel ranges).
func weightsSame[T float](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	var differ atomic.Bool
	parallel(len(a), 1, 4096, func(lo, hi int) {
		if !differ.Load() && !weightsSameSerial(a[lo:hi], b[lo:hi]) {
			differ.Store(true)
		}
	})
	return !differ.Load()
}

// weightsSameSerial is weightsSame on the calling goroutine.
func weightsSameSerial[T float](a, b []T) bool {
	switch a := any(a).(type) {
	case []float32:
		b := any(b).([]float32)
		for i, v := range a {
			if math.Float32bits(v) != math.Float32bits(b[i]) {
				return false
			}
		}
	case []float64:
		b := any(b).([]float64)
		for i, v := range a {
			if math.Float64bits(v) != math.Float64bits(b[i]) {
				return false
			}
		}
	}
	return true
}

// weights returns Wd for the weights w [M, C, kh, kw], rebuilt only when w
// differs (bit for bit) from the weights of the last build.
func (d *denseConv[T]) weights(w []T) []T {
	g := d.g
	if d.wd != nil && weightsSame(w, d.wsrc) {
		return d.wd
	}
	P, CHW, KK := g.oh*g.ow, g.c*g.h*g.w, g.kh*g.kw
	HW := g.h * g.w
	if d.wd == nil {
		d.wd = make([]T, g.m*P*CHW) // zero where no tap meets: stays so
		d.wsrc = make([]T, len(w))
	}
	copy(d.wsrc, w)
	parallel(g.m, P*CHW, 1, func(m0, m1 int) {
		for m := m0; m < m1; m++ {
			for o, taps := range d.taps {
				row := d.wd[(m*P+o)*CHW:][:CHW]
				for c := 0; c < g.c; c++ {
					wc := w[(m*g.c+c)*KK:][:KK]
					rc := row[c*HW:][:HW]
					for _, tp := range taps {
						rc[tp.i] = wc[tp.t]
					}
				}
			}
		}
	})
	return d.wd
}

// fwd computes out [N, M, oh, ow] = conv(x, w) + b (b may be nil); cc, when
// not nil, is the convolution's column cache, filled on demand
// (colCache.ready) for graph.Net.ConvColumns.
func (d *denseConv[T]) fwd(out, x, w, b []T, cc *colCache[T]) {
	g := d.g
	MP, CHW := g.m*g.oh*g.ow, g.c*g.h*g.w
	wd := d.weights(w)
	gemm(false, true, g.n, MP, CHW, 1, x, CHW, wd, CHW, 0, out, MP)
	if b != nil {
		P := g.oh * g.ow
		parallel(g.n, MP, 1, func(n0, n1 int) {
			for n := n0; n < n1; n++ {
				for m, bv := range b {
					dst := out[n*MP+m*P:][:P]
					for p := range dst {
						dst[p] += bv
					}
				}
			}
		})
	}
	if cc != nil {
		cc.later(x, d)
	}
}

// gradX computes dx = gy · Wd for the weights w. In every run of a tape
// machine the forward pass precedes the backward pass and no kernel
// overwrites its inputs, so Wd is the forward pass's (built here only when
// no forward pass ran).
func (d *denseConv[T]) gradX(dx, w, gy []T) {
	g := d.g
	MP, CHW := g.m*g.oh*g.ow, g.c*g.h*g.w
	wd := d.wd
	if wd == nil {
		wd = d.weights(w)
	}
	gemm(false, false, g.n, CHW, MP, 1, gy, MP, wd, CHW, 0, dx, CHW)
}

// gradW computes dw [M, C, kh, kw]: for each tap t, dW[:, :, t] =
// Σ over the pairs (o, i) that t meets (ascending o, then i) of
// gy[:, :, o]ᵀ · x[:, :, i], one product of M×C over the batch per pair
// (the entries of dWd = gyᵀ·x that are zero in Wd are not computed), on
// copies of x and gy with the positions outermost, [N, HW, C] and
// [N, P, M]. The workers split the rows m (fixed ranges).
func (d *denseConv[T]) gradW(dw, x, gy []T, sc *scratch[T]) {
	g := d.g
	P, HW, KK := g.oh*g.ow, g.h*g.w, g.kh*g.kw
	CHW, MP := g.c*HW, g.m*P
	xt := sc.get(0, g.n*CHW)
	gt := sc.get(1, g.n*MP)
	dwt := sc.get(2, KK*g.m*g.c)
	parallel(g.n, CHW+MP, 1, func(n0, n1 int) {
		for n := n0; n < n1; n++ {
			transposeTo(xt[n*CHW:][:CHW], x[n*CHW:][:CHW], g.c, HW)
			transposeTo(gt[n*MP:][:MP], gy[n*MP:][:MP], g.m, P)
		}
	})
	pairs := d.pairsByTap()
	parallelW(g.m, g.c*g.n*d.npairs, 16, func(_, m0, m1 int) {
		for t, pt := range pairs {
			c := dwt[t*g.m*g.c+m0*g.c:]
			if len(pt) == 0 {
				clear(c[:(m1-m0)*g.c])
				continue
			}
			for k, pr := range pt {
				beta := T(1)
				if k == 0 {
					beta = 0
				}
				serialGemm(true, false, m1-m0, g.c, g.n, 1, gt[int(pr.o)*g.m+m0:], MP, xt[int(pr.i)*g.c:], CHW, beta, c, g.c)
			}
		}
	})
	// dw[m, c, t] = dwt[t, m, c]: row m of dw (C·KK elements) stays in
	// the core's cache while the taps' rows are read in sequence
	parallel(g.m, g.c*KK, 1, func(m0, m1 int) {
		for m := m0; m < m1; m++ {
			dm := dw[m*g.c*KK:][:g.c*KK]
			for t := 0; t < KK; t++ {
				src := dwt[(t*g.m+m)*g.c:][:g.c]
				for c, v := range src {
					dm[c*KK+t] = v
				}
			}
		}
	})
}

// densePair is an output position o and an input position i that one
// kernel tap meets.
type densePair struct{ o, i int32 }

// pairsByTap returns, per kernel tap, the pairs it meets in ascending o,
// then i (built on first use).
func (d *denseConv[T]) pairsByTap() [][]densePair {
	if d.pairs != nil {
		return d.pairs
	}
	g := d.g
	d.pairs = make([][]densePair, g.kh*g.kw)
	for o, taps := range d.taps {
		for _, tp := range taps {
			d.pairs[tp.t] = append(d.pairs[tp.t], densePair{int32(o), tp.i})
		}
	}
	return d.pairs
}

// transposeTo writes src [r, c] transposed into dst [c, r].
func transposeTo[T float](dst, src []T, r, c int) {
	for i := 0; i < r; i++ {
		row := src[i*c:][:c]
		for j, v := range row {
			dst[j*r+i] = v
		}
	}
}

// later records that the column matrix of input x is due: ready computes it
// when graph.Net.ConvColumns asks (the dense path itself never needs it).
func (cc *colCache[T]) later(x []T, d *denseConv[T]) {
	cc.mu.Lock()
	cc.valid = false
	cc.x, cc.dense = x, d
	cc.mu.Unlock()
}

// ready reports whether cc holds the column matrix of the last forward
// pass, computing it first when the pass recorded it as due (later).
func (cc *colCache[T]) ready() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.x != nil {
		g := cc.dense.g
		buf := cc.cols(g.c*g.kh*g.kw*g.n*g.oh*g.ow, nil)
		cc.dense.im2col(buf, cc.x)
		cc.valid = true
		cc.x = nil
	}
	return cc.valid
}

// im2col fills cols [C·kh·kw, N·P] as im2col does, from the pairs each tap
// meets: row (c, t), column (n, o) is x[n, c, i] for the pair (o, i) of tap
// t, zero where t meets no input. Channels are split over goroutines.
func (d *denseConv[T]) im2col(cols, x []T) {
	g := d.g
	P, HW, KK := g.oh*g.ow, g.h*g.w, g.kh*g.kw
	NP, CHW := g.n*P, g.c*HW
	pairs := d.pairsByTap()
	parallel(g.c, KK*NP, 1, func(c0, c1 int) {
		for c := c0; c < c1; c++ {
			for t, pt := range pairs {
				row := cols[(c*KK+t)*NP:][:NP]
				if len(pt) < P {
					clear(row)
				}
				for n := 0; n < g.n; n++ {
					xn := x[n*CHW+c*HW:][:HW]
					rn := row[n*P:][:P]
					for _, pr := range pt {
						rn[pr.o] = xn[pr.i]
					}
				}
			}
		}
	})
}

// serialGemm is blasGemm on the calling goroutine only: in the pure-Go
// build float32 products go to auditor/internal/sgemm's Serial (blasGemm's
// Sgemm there would split them over goroutines again); in the OpenBLAS
// build blasGemm is single-threaded already.
func serialGemm[T float](tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if a32, ok := any(a).([]float32); ok && !blasSplit {
		ta, tb := blas.NoTrans, blas.NoTrans
		if tA {
			ta = blas.Trans
		}
		if tB {
			tb = blas.Trans
		}
		sgemm.Serial(ta, tb, m, n, k, float32(alpha), a32, lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
		return
	}
	blasGemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
