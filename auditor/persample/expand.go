package persample

import (
	"fmt"
	"math"

	"github.com/gnaudit/gnaudit/auditor/graph"
	"github.com/gnaudit/gnaudit/auditor/internal/sgemm"
	"github.com/gnaudit/gnaudit/auditor/internal/simd"
	"github.com/gnaudit/gnaudit/auditor/ir"
)

// arr is a value of the last pass: its shape and (float64) data.
type arr struct {
	shape []int
	v     []float64
}

// pass gives the expansions the values and derivatives of one batched
// LossGrad, each fetched once.
type pass struct {
	net    *graph.Net
	batch  int
	shapes map[string][]int // parameter shapes
	vals   map[string]arr
	ders   map[string]arr
	bn     map[string]*bnPair // per BatchNormalization node (newBatchNormView)
}

func newPass(net *graph.Net, shapes map[string][]int) *pass {
	return &pass{net: net, batch: net.Batch(), shapes: shapes, vals: map[string]arr{}, ders: map[string]arr{}, bn: map[string]*bnPair{}}
}

// value returns a computed value, a constant or a parameter.
func (p *pass) value(name string) (arr, error) {
	if a, ok := p.vals[name]; ok {
		return a, nil
	}
	var a arr
	if s, ok := p.shapes[name]; ok {
		a = arr{shape: s, v: p.net.Param(name)}
	} else {
		s, v, ok := p.net.Value(name)
		if !ok {
			return arr{}, fmt.Errorf("the executor has no value %q", name)
		}
		a = arr{shape: s, v: v}
	}
	if len(a.v) != prod(a.shape) {
		return arr{}, fmt.Errorf("value %q: %d elements for shape %v", name, len(a.v), a.shape)
	}
	p.vals[name] = a
	return a, nil
}

// shape returns the shape of a parameter, constant or computed value
// without copying a parameter's data.
func (p *pass) shape(name string) ([]int, error) {
	if s, ok := p.shapes[name]; ok {
		return s, nil
	}
	a, err := p.value(name)
	return a.shape, err
}

// deriv returns dL/d(value) of the summed loss.
func (p *pass) deriv(name string) (arr, error) {
	if a, ok := p.ders[name]; ok {
		return a, nil
	}
	s, v, ok := p.net.Deriv(name)
	if !ok {
		return arr{}, fmt.Errorf("the executor has no derivative for %q", name)
	}
	if len(v) != prod(s) {
		return arr{}, fmt.Errorf("derivative of %q: %d elements for shape %v", name, len(v), s)
	}
	a := arr{shape: s, v: v}
	p.ders[name] = a
	return a, nil
}

// batched checks that a value of the pass is [batch, ...] and returns the
// size of one sample.
func (p *pass) batched(name string, a arr) (int, error) {
	if len(a.shape) == 0 || a.shape[0] != p.batch {
		return 0, fmt.Errorf("value %q of shape %v does not have the batch %d as leading dimension", name, a.shape, p.batch)
	}
	return prod(a.shape[1:]), nil
}

// ---------------------------------------------------------------------------
// Matrix-product expansions (Conv, Gemm, MatMul).

// mmExp is the per-sample gradient of a weight that enters its layer as a
// matrix product: for sample i and each of groups row blocks,
//
//	g_i[block, r, c] = alpha · Σ_p L_i[block, r, p] · R_i[block, p, c],
//
// with the gradient laid out [groups·rows, cols] row-major. fill writes the
// matrices L_i (groups×rows×p) and R_i (groups×p×cols) of one sample.
//
// With view set, L_i and R_i are not copied: view returns L_i (as above)
// and Rᵀ_i, the transposed right factors of all blocks stacked
// (groups·cols rows of p elements, row stride ld), in the executor's own
// buffers, which must not be modified (a convolution's δ and the column
// matrix of its input, graph.Net.ConvColumns), or, for a convolution whose
// column matrix the executor does not keep, Rᵀ_i built in the worker's
// buffer (w.rtb) by a row-copying im2col of the sample.
type mmExp[T float] struct {
	groups, rows, cols, p int
	alpha                 float64
	fill                  func(i int, L, R []T)
	view                  func(w *worker[T], i int) (L, Rt []T)
	ld                    int
	// a convolution's view: δ [batch, groups·rows, p] and the column
	// matrix [groups·cols, ld] of the whole batch (for dotsAll)
	dy, colm []T
	// dyT, when set, is dy transposed to [groups·rows, batch, p]
	// (transposeDy) for dotsAll
	dyT []T
	// g2, when set, holds the Gram matrices R_i R_iᵀ (upper triangles,
	// [batch, groups, p, p]) computed by gramsAll for gramNorm
	g2 []float64
	// shift, when set (a stride-1 convolution without the executor's
	// column matrix), computes fullT's output without U(x_i)
	shift *shiftConv[T]
	// serial: full runs the view's product on sgemm.Serial (setSerial)
	serial bool
	// tap, when set, computes norms and coordinates without U(x_i)
	// (tap.go); the expansion then has neither view nor fill
	tap *tapConv[T]
}

// setSerial decides whether the direct product of a float32 view runs on
// auditor/internal/sgemm's Serial in full's layout: in the pure-Go build
// wherever full would call the BLAS GEMM (the same kernels, without the
// parallel split inside a worker), and in the OpenBLAS build on CPUs with
// AVX2 and no AVX-512 (graph.PerSampleSgemm). Not in the OpenBLAS build
// with AVX-512: sgemm's AVX-512 kernel is faster there on resnet20's 64×576×64 and
// alexnet-cifar's 64×363×64 products in isolation (175 against 81, 120
// against 43 GFLOP/s on hot data), but not on the cold column matrix
// inside the collect benchmark (collect's CPU time 0.5–4 % higher; AMD
// EPYC family 26 model 2, Zen 5, OpenBLAS Cooperlake).
func (e *mmExp[T]) setSerial() {
	var z T
	_, f32 := any(z).(float32)
	e.serial = f32 && serialProducts && oursPerSample && e.view != nil && e.p > rowKernelMaxP
}

// shiftConv computes a stride-1 convolution's per-sample weight gradient,
// in mmExp.fullT's layout, without the im2col matrix of the sample:
// with the input zero-padded to xp [C, Hp, Wp] (Hp = oh + (kh−1)·dh,
// Wp = ow + (kw−1)·dw) and δ widened to dp [M, oh, Wp] (zero in the
// columns ow … Wp−1), kernel offset (ky, kx) reads, for the output
// position of flat index q = oy·Wp + ox, the padded input at
// q + ky·dh·Wp + kx·dw, so that
//
//	g_i[o, c, ky, kx] = Σ_q dp[o, q] · xp[c, q + ky·dh·Wp + kx·dw],
//
// one matrix product [C/group × oh·Wp]·[oh·Wp × M/group] per offset and
// group on contiguous rows (the columns ≥ ow of dp are zero, so the reads
// past a row's end add nothing). The products have (Wp/ow) times the
// operations of U(x_i)'s but skip writing U(x_i) (kh·kw times the input).
type shiftConv[T float] struct {
	g       *geom
	xv, dv  []T // the executor's input and δ of the whole batch
	hp, wp  int
	ldx, nq int // padded channel stride (Hp·Wp plus the last reads' overrun), oh·Wp
}

func newShiftConv[T float](g *geom, xv, dv []T) *shiftConv[T] {
	s := &shiftConv[T]{g: g, xv: xv, dv: dv, hp: g.oh + (g.kh-1)*g.dh, wp: g.ow + (g.kw-1)*g.dw}
	s.ldx = s.hp*s.wp + (g.kw-1)*g.dw
	s.nq = g.oh * s.wp
	return s
}

// shiftColumns makes a stride-1 convolution without the executor's column
// matrix compute its per-sample gradient by shiftConv.fullIm: in the
// pure-Go build and where graph.PerSampleSgemm says so (OpenBLAS on AVX2
// without AVX-512: OpenBLAS core Zen runs fullT's per-tap products at half
// the speed of our kernel on fullIm's), instead of im2colSample and the
// product on U(x_i) (in the OpenBLAS build with AVX-512 (Cooperlake)
// shiftConv.fullT's kh·kw OpenBLAS products were 5–10 %
// faster in the collect benchmark than fullIm's on sgemm.Serial, and
// fullIm's column matrix with one OpenBLAS product per group no faster,
// nor fullIm's sgemm.DotShift3 products: resnet20 collect 0.56–0.58 s
// either way at one thread on Intel family 6 model 167, docs/performance.md
// "taps512").
// A variable so that tests run every path in both builds.
var shiftColumns = oursPerSample

// fullIm writes sample i's gradient times alpha into dst in the
// parameter's own layout (mmExp.full's): it copies the shifted rows of the
// padded input into the worker's column matrix U′_i (row (c, ky, kx) of
// nq = oh·Wp elements is xp from c·ldx + ky·dh·Wp + kx·dw, the rows of
// shiftConv's products; one copy of a contiguous run per row) and
// multiplies dp (M × nq) by it, one product [M/group × nq]·[nq × C/group·kh·kw]
// per group (sgemm.Serial in float32): a few large products instead of
// kh·kw small ones, and cheaper copies than im2colSample's.
func (s *shiftConv[T]) fullIm(w *worker[T], i int, alpha float64, dst []T) {
	xp, dp := s.pad(w, i)
	if s.dotShift(xp, dp, alpha, dst) {
		return
	}
	g := s.g
	G, K := g.group, g.kh*g.kw
	Og, CK := g.m/G, g.c/G*K
	u := s.columns(w, xp)
	for b := 0; b < G; b++ {
		productNT(Og, CK, s.nq, alpha, dp[b*Og*s.nq:], s.nq, u[b*CK*s.nq:], s.nq, dst[b*Og*CK:], CK)
	}
}

// dotShift enables shiftConv.dotShift (a variable so that tests run both
// ways).
var dotShift = true

// dotShift computes fullIm's output without the column matrix, for float32
// convolutions with kernel columns in threes and no column dilation: per
// group, kernel row ky and three neighbouring columns kx … kx+2, one
// sgemm.DotShift3 of the rows of dp (output channels) against the padded
// input's channel rows from ky·dh·Wp + kx, whose three shifts are the
// three columns. It reports false (and does nothing) otherwise.
func (s *shiftConv[T]) dotShift(xp, dp []T, alpha float64, dst []T) bool {
	g := s.g
	if !dotShift || g.kw%3 != 0 || g.dw != 1 {
		return false
	}
	x32, ok := any(xp).([]float32)
	if !ok {
		return false
	}
	d32, o32 := any(dp).([]float32), any(dst).([]float32)
	G, K := g.group, g.kh*g.kw
	Og, Cg := g.m/G, g.c/G
	CK := Cg * K
	for b := 0; b < G; b++ {
		for ky := 0; ky < g.kh; ky++ {
			for kx := 0; kx < g.kw; kx += 3 {
				sgemm.DotShift3(Og, Cg, s.nq, float32(alpha), d32[b*Og*s.nq:], s.nq,
					x32[b*Cg*s.ldx+ky*g.dh*s.wp+kx:], s.ldx, o32[b*Og*CK+ky*g.kw+kx:], CK, K)
			}
		}
	}
	return true
}

// columns copies the shifted rows of the padded input xp into the
// worker's column matrix U′_i (w.rtb): row (c, ky, kx) of nq elements is
// xp from c·ldx + ky·dh·Wp + kx·dw.
func (s *shiftConv[T]) columns(w *worker[T], xp []T) []T {
	g := s.g
	K := g.kh * g.kw
	w.rtb = grow(w.rtb, g.c*K*s.nq)
	u := w.rtb
	for c := 0; c < g.c; c++ {
		for ky := 0; ky < g.kh; ky++ {
			for kx := 0; kx < g.kw; kx++ {
				copy(u[(c*K+ky*g.kw+kx)*s.nq:][:s.nq], xp[c*s.ldx+ky*g.dh*s.wp+kx*g.dw:])
			}
		}
	}
	return u
}

// productNT is mulNT with sgemm.Serial for float32.
func productNT[T float](m, n, k int, alpha float64, a []T, lda int, b []T, ldb int, c []T, ldc int) {
	if a32, ok := any(a).([]float32); ok {
		serialNT(m, n, k, alpha, a32, lda, any(b).([]float32), ldb, any(c).([]float32), ldc)
		return
	}
	mulNT(m, n, k, alpha, a, lda, b, ldb, c, ldc)
}

// fullT writes sample i's gradient times alpha into dst in mmExp.fullT's
// layout (blocks of cols × rows per group).
func (s *shiftConv[T]) fullT(w *worker[T], i int, alpha float64, dst []T) {
	xp, dp := s.pad(w, i)
	g := s.g
	G := g.group
	Cg, Og, K := g.c/G, g.m/G, g.kh*g.kw
	rc := Og * Cg * K
	for b := 0; b < G; b++ {
		for ky := 0; ky < g.kh; ky++ {
			for kx := 0; kx < g.kw; kx++ {
				off := ky*g.dh*s.wp + kx*g.dw
				k := ky*g.kw + kx
				mulNT(Cg, Og, s.nq, alpha, xp[b*Cg*s.ldx+off:], s.ldx, dp[b*Og*s.nq:], s.nq, dst[b*rc+k*Og:], K*Og)
			}
		}
	}
}

// pad writes sample i's zero-padded input and widened δ into the worker's
// xp and dp.
func (s *shiftConv[T]) pad(w *worker[T], i int) (xp, dp []T) {
	g := s.g
	hw, P := g.h*g.w, g.oh*g.ow
	w.xp = grow(w.xp, g.c*s.ldx)
	w.dp = grow(w.dp, g.m*s.nq)
	xp, dp = w.xp, w.dp
	x := s.xv[i*g.c*hw : (i+1)*g.c*hw]
	if g.pt >= 0 && g.pl >= 0 && g.pt+g.h <= s.hp && g.pl+g.w <= s.wp {
		// the input lies inside the padded plane: clear only the border
		for c := 0; c < g.c; c++ {
			padPlane(xp[c*s.ldx:][:s.ldx], x[c*hw:][:hw], g.h, g.w, g.pt, g.pl, s.wp)
		}
	} else {
		s.padClipped(xp, x)
	}
	// δ's rows, each followed by Wp − OW zeros
	d := s.dv[i*g.m*P : (i+1)*g.m*P]
	for o := 0; o < g.m; o++ {
		for oy := 0; oy < g.oh; oy++ {
			row := dp[o*s.nq+oy*s.wp:][:s.wp]
			copy(row[:g.ow], d[(o*g.oh+oy)*g.ow:][:g.ow])
			clear(row[g.ow:])
		}
	}
	return xp, dp
}

// padClipped writes the input x into xp where the padded plane clips it
// (a negative pad, or more input than the plane holds): xp cleared, then
// the input's rows and columns inside the plane copied.
func (s *shiftConv[T]) padClipped(xp, x []T) {
	g := s.g
	hw := g.h * g.w
	clear(xp)
	// input column ix lands at padded column ix + pl; rows likewise
	for c := 0; c < g.c; c++ {
		for y := 0; y < g.h; y++ {
			py := y + g.pt
			if py >= s.hp {
				break
			}
			lo, hi := 0, g.w // input columns inside the padded width
			if g.pl < 0 {
				lo = -g.pl
			}
			hi = min(hi, s.wp-g.pl)
			if py < 0 || lo >= hi {
				continue
			}
			copy(xp[c*s.ldx+py*s.wp+lo+g.pl:][:hi-lo], x[c*hw+y*g.w+lo:][:hi-lo])
		}
	}
}

// padPlane writes the h×w plane src into dst (rows wp apart) at row pt and
// column pl and zeroes the rest of dst: the border around it and the tail
// past its last row (pt, pl ≥ 0, the plane inside dst).
func padPlane[T float](dst, src []T, h, w, pt, pl, wp int) {
	if h == 0 || w == 0 {
		clear(dst)
		return
	}
	clear(dst[:pt*wp+pl])
	for y := 0; y < h; y++ {
		at := (pt+y)*wp + pl
		copy(dst[at:][:w], src[y*w:][:w])
		end := len(dst)
		if y+1 < h {
			end = at + wp
		}
		clear(dst[at+w : end])
	}
}

// smallGramP is the largest p for which Gram matrices are accumulated by
// plain loops (per sample, or batch-wide by gramsAll) instead of BLAS
// calls, whose overhead dominates for such small matrices.
const smallGramP = 8

// gramsAll computes the Gram matrices R_i R_iᵀ of the samples i0 … i1−1 of
// a convolution's view into g2, sweeping the column matrix row by row.
func (e *mmExp[T]) gramsAll(i0, i1 int) {
	P, G := e.p, e.groups
	PP := P * P
	clear(e.g2[i0*G*PP : i1*G*PP])
	for g := 0; g < G; g++ {
		c := 0
		if P == 4 {
			// two rows per sweep: each accumulator is loaded and stored
			// once per two products (added in row order, as below)
			for ; c+1 < e.cols; c += 2 {
				row := e.colm[(g*e.cols+c)*e.ld:][:i1*4]
				row2 := e.colm[(g*e.cols+c+1)*e.ld:][:i1*4]
				gram4Rows2(row[i0*4:], row2[i0*4:], e.g2[(i0*G+g)*PP:], i1-i0, G*PP)
			}
		}
		for ; c < e.cols; c++ {
			row := e.colm[(g*e.cols+c)*e.ld:][:i1*P]
			for i := i0; i < i1; i++ {
				u := row[i*P:][:P]
				acc := e.g2[(i*G+g)*PP:][:PP]
				if P == 4 {
					u0, u1, u2, u3 := float64(u[0]), float64(u[1]), float64(u[2]), float64(u[3])
					acc[0] += u0 * u0
					acc[1] += u0 * u1
					acc[2] += u0 * u2
					acc[3] += u0 * u3
					acc[5] += u1 * u1
					acc[6] += u1 * u2
					acc[7] += u1 * u3
					acc[10] += u2 * u2
					acc[11] += u2 * u3
					acc[15] += u3 * u3
					continue
				}
				for a := 0; a < P; a++ {
					ua := float64(u[a])
					for b := a; b < P; b++ {
						acc[a*P+b] += ua * float64(u[b])
					}
				}
			}
		}
	}
}

// gram4Rows2 adds, for the n samples i, u_i u_iᵀ and then v_i v_iᵀ (4×4,
// upper triangle) to acc[i·stride:], u_i = u[4i:4i+4], v_i = v[4i:4i+4].
func gram4Rows2[T float](u, v []T, acc []float64, n, stride int) {
	for i := 0; i < n; i++ {
		x, y, a := u[4*i:][:4:4], v[4*i:][:4:4], acc[i*stride:][:16:16]
		u0, u1, u2, u3 := float64(x[0]), float64(x[1]), float64(x[2]), float64(x[3])
		v0, v1, v2, v3 := float64(y[0]), float64(y[1]), float64(y[2]), float64(y[3])
		a[0] = a[0] + u0*u0 + v0*v0
		a[1] = a[1] + u0*u1 + v0*v1
		a[2] = a[2] + u0*u2 + v0*v2
		a[3] = a[3] + u0*u3 + v0*v3
		a[5] = a[5] + u1*u1 + v1*v1
		a[6] = a[6] + u1*u2 + v1*v2
		a[7] = a[7] + u1*u3 + v1*v3
		a[10] = a[10] + u2*u2 + v2*v2
		a[11] = a[11] + u2*u3 + v2*v3
		a[15] = a[15] + u3*u3 + v3*v3
	}
}

// gram4 is smallGram for p = 4, with the upper triangle in ten local
// accumulators (the same sums in the same order).
func gram4[T float](r int, l []T, c []float64) {
	var a00, a01, a02, a03, a11, a12, a13, a22, a23, a33 float64
	l = l[:4*r]
	for k := 0; k < r; k++ {
		u := l[4*k:][:4:4]
		u0, u1, u2, u3 := float64(u[0]), float64(u[1]), float64(u[2]), float64(u[3])
		a00 += u0 * u0
		a01 += u0 * u1
		a02 += u0 * u2
		a03 += u0 * u3
		a11 += u1 * u1
		a12 += u1 * u2
		a13 += u1 * u3
		a22 += u2 * u2
		a23 += u2 * u3
		a33 += u3 * u3
	}
	c = c[:16]
	clear(c)
	c[0], c[1], c[2], c[3] = a00, a01, a02, a03
	c[5], c[6], c[7] = a11, a12, a13
	c[10], c[11] = a22, a23
	c[15] = a33
}

// smallGramRows computes the upper triangle of r·rᵀ for row-major r (p×n).
func smallGramRows[T float](p, n int, r []T, c []float64) {
	for a := 0; a < p; a++ {
		ra := r[a*n : (a+1)*n]
		for b := a; b < p; b++ {
			rb := r[b*n : (b+1)*n]
			var s0, s1 float64
			k := 0
			for ; k+1 < n; k += 2 {
				s0 += float64(ra[k]) * float64(rb[k])
				s1 += float64(ra[k+1]) * float64(rb[k+1])
			}
			if k < n {
				s0 += float64(ra[k]) * float64(rb[k])
			}
			c[a*p+b] = s0 + s1
		}
	}
}

// smallGram computes the upper triangle of lᵀl for row-major l (r×p).
func smallGram[T float](p, r int, l []T, c []float64) {
	if p == 4 {
		gram4(r, l, c)
		return
	}
	clear(c[:p*p])
	for k := 0; k < r; k++ {
		row := l[k*p : (k+1)*p]
		for a, x := range row {
			xa := float64(x)
			for b := a; b < p; b++ {
				c[a*p+b] += xa * float64(row[b])
			}
		}
	}
}

func (e *mmExp[T]) size() int { return e.groups * e.rows * e.cols }

// load fills the worker's L and R (or, with a view, lv and rt) for sample i.
func (e *mmExp[T]) load(w *worker[T], i int) {
	w.i = i
	if e.view != nil {
		w.lv, w.rt = e.view(w, i)
		return
	}
	w.L = grow(w.L, e.groups*e.rows*e.p)
	w.R = grow(w.R, e.groups*e.cols*e.p)
	e.fill(i, w.L, w.R)
}

// left returns the loaded L_i.
func (e *mmExp[T]) left(w *worker[T]) []T {
	if e.view != nil {
		return w.lv
	}
	return w.L
}

// full writes the whole gradient of the loaded sample into dst.
func (e *mmExp[T]) full(w *worker[T], dst []T) {
	rp, cp, rc := e.rows*e.p, e.cols*e.p, e.rows*e.cols
	for g := 0; g < e.groups; g++ {
		if e.serial {
			lv, rt := any(w.lv).([]float32), any(w.rt).([]float32)
			serialNT(e.rows, e.cols, e.p, e.alpha, lv[g*rp:(g+1)*rp], e.p, rt[g*e.cols*e.ld:], e.ld, any(dst).([]float32)[g*rc:(g+1)*rc], e.cols)
			continue
		}
		if e.view != nil && (graph.BLASName != "gonum" || e.p > rowKernelMaxP) {
			mulNT(e.rows, e.cols, e.p, e.alpha, w.lv[g*rp:(g+1)*rp], e.p, w.rt[g*e.cols*e.ld:], e.ld, dst[g*rc:(g+1)*rc], e.cols)
			continue
		}
		if e.view != nil {
			// gonum's GEMM is slow for the small inner dimension of
			// per-sample products: transpose Rᵀ_i's block into R (p×cols)
			// for mulNN's row kernel.
			w.R = grow(w.R, cp)
			for c := 0; c < e.cols; c++ {
				for k, v := range w.rt[(g*e.cols+c)*e.ld:][:e.p] {
					w.R[k*e.cols+c] = v
				}
			}
			mulNN(e.rows, e.cols, e.p, e.alpha, w.lv[g*rp:(g+1)*rp], w.R, dst[g*rc:(g+1)*rc], e.cols)
			continue
		}
		mulNN(e.rows, e.cols, e.p, e.alpha, w.L[g*rp:(g+1)*rp], w.R[g*cp:(g+1)*cp], dst[g*rc:(g+1)*rc], e.cols)
	}
}

// transposedFull reports whether fullT is the faster way to the loaded
// sample's whole gradient when its layout does not matter (norms and
// coordinates): OpenBLAS's GEMM runs the per-sample product
// [rows × p]·[p × cols] with few rows (a convolution's output channels) at
// a fraction of its speed on the transposed product, whose many rows are
// the patch size; gonum's (auditor/internal/sgemm) is the other way round.
func (e *mmExp[T]) transposedFull() bool {
	return e.view != nil && transposeDirect && e.rows < e.cols && !e.serial && !e.shiftIm()
}

// shiftIm reports whether the direct product runs by shiftConv.fullIm.
func (e *mmExp[T]) shiftIm() bool { return e.shift != nil && shiftColumns }

// transposeDirect enables fullT (a variable so that tests run both layouts
// with either BLAS).
var transposeDirect = graph.BLASName != "gonum"

// fullT writes the transposed blocks of the loaded sample's gradient into
// dst: block g is the cols × rows matrix g_i[g]ᵀ at dst[g·rows·cols:], so
// coordinate (g, r, c) lies at g·rows·cols + c·rows + r (see tIndex). Only
// for views.
func (e *mmExp[T]) fullT(w *worker[T], dst []T) {
	rp, rc := e.rows*e.p, e.rows*e.cols
	for g := 0; g < e.groups; g++ {
		mulNT(e.cols, e.rows, e.p, e.alpha, w.rt[g*e.cols*e.ld:], e.ld, w.lv[g*rp:(g+1)*rp], e.p, dst[g*rc:(g+1)*rc], e.rows)
	}
}

// tIndex maps a flat gradient coordinate to its place in fullT's layout.
func (e *mmExp[T]) tIndex(j int) int {
	rc := e.rows * e.cols
	g, rem := j/rc, j%rc
	return g*rc + (rem%e.cols)*e.rows + rem/e.cols
}

// gramNorm returns |g_i|² of the loaded sample from the two Gram matrices:
// |L R|²_F = Σ_pq (LᵀL)_pq (R Rᵀ)_pq.
func (e *mmExp[T]) gramNorm(w *worker[T]) float64 {
	P := e.p
	w.g1 = grow(w.g1, P*P)
	w.g2 = grow(w.g2, P*P)
	rp := e.rows * e.p
	L := e.left(w)
	s := 0.0
	for g := 0; g < e.groups; g++ {
		if P <= smallGramP {
			smallGram(P, e.rows, L[g*rp:(g+1)*rp], w.g1)
		} else {
			// in float32 mode accumulated in float32, as Rᵀ_i's below
			gramT(P, e.rows, L[g*rp:(g+1)*rp], P, &w.gt, w.g1)
		}
		if e.g2 != nil {
			copy(w.g2, e.g2[(w.i*e.groups+g)*P*P:][:P*P])
		} else if e.view != nil {
			// Rᵀ_i in place (strided); in float32 mode its Gram matrix
			// is accumulated in float32.
			gramT(P, e.cols, w.rt[g*e.cols*e.ld:], e.ld, &w.gt, w.g2)
		} else if cp := e.cols * e.p; P <= smallGramP {
			smallGramRows(P, e.cols, w.R[g*cp:(g+1)*cp], w.g2)
		} else {
			gram(false, P, e.cols, toF64(&w.r64, w.R[g*cp:(g+1)*cp]), w.g2)
		}
		for a := 0; a < P; a++ {
			s += w.g1[a*P+a] * w.g2[a*P+a]
			for b := a + 1; b < P; b++ {
				s += 2 * w.g1[a*P+b] * w.g2[a*P+b]
			}
		}
	}
	return max(s, 0) * e.alpha * e.alpha
}

// dot returns coordinate j of the loaded sample's gradient.
func (e *mmExp[T]) dot(w *worker[T], j int) float64 {
	g := j / (e.rows * e.cols)
	r := (j / e.cols) % e.rows
	c := j % e.cols
	s := 0.0
	if e.view != nil {
		l := w.lv[(g*e.rows+r)*e.p:][:e.p]
		rt := w.rt[(g*e.cols+c)*e.ld:][:e.p]
		for k, x := range l {
			s += float64(x) * float64(rt[k])
		}
		return s * e.alpha
	}
	l := w.L[(g*e.rows+r)*e.p:][:e.p]
	rr := w.R[g*e.cols*e.p+c:]
	for k, x := range l {
		s += float64(x) * float64(rr[k*e.cols])
	}
	return s * e.alpha
}

// dotOffsets returns, per coordinate j of coords, the offsets dotAt reads:
// of its row of L_i, and of its row of Rᵀ_i (a view) or column of R_i
// (computed once per chunk: the divisions of dot are most of its cost
// where p is small, as for a Gemm's p = 1).
func (e *mmExp[T]) dotOffsets(coords []int) []int {
	offs := make([]int, 2*len(coords))
	for q, j := range coords {
		g := j / (e.rows * e.cols)
		r := (j / e.cols) % e.rows
		c := j % e.cols
		offs[2*q] = (g*e.rows + r) * e.p
		if e.view != nil {
			offs[2*q+1] = (g*e.cols + c) * e.ld
		} else {
			offs[2*q+1] = g*e.cols*e.p + c
		}
	}
	return offs
}

// dotsAt writes the coordinates of the loaded sample whose offsets
// dotOffsets returned into dst (the values of dot).
func (e *mmExp[T]) dotsAt(w *worker[T], offs []int, dst []float64) {
	P := e.p
	if e.view != nil {
		for q := range dst {
			l := w.lv[offs[2*q]:][:P]
			rt := w.rt[offs[2*q+1]:][:P]
			s := 0.0
			for k, x := range l {
				s += float64(x) * float64(rt[k])
			}
			dst[q] = s * e.alpha
		}
		return
	}
	if P == 1 {
		L, R := w.L, w.R
		for q := range dst {
			dst[q] = float64(L[offs[2*q]]) * float64(R[offs[2*q+1]]) * e.alpha
		}
		return
	}
	for q := range dst {
		l := w.L[offs[2*q]:][:P]
		rr := w.R[offs[2*q+1]:]
		s := 0.0
		for k, x := range l {
			s += float64(x) * float64(rr[k*e.cols])
		}
		dst[q] = s * e.alpha
	}
}

// dotsAll writes gradient coordinates coordsIn[q0:q1] of the samples
// 0 … batch−1 of a convolution's view into dst[(off+i)·nc + q]: for each
// coordinate, one sweep along its column-matrix row and its δ row, which
// is gathered (δ is sample-major) into *buf once for consecutive
// coordinates of the same row. The values are collected sample-major in
// *tmp and written as one run per sample (writing them coordinate by
// coordinate would touch a cache line, and often a page, per value).
func (e *mmExp[T]) dotsAll(coordsIn []int, q0, q1, batch int, dst []float64, off, nc int, buf *[]T, tmp *[]float64) {
	P, MP := e.p, e.groups*e.rows*e.p
	nq := q1 - q0
	*buf = grow(*buf, batch*P)
	*tmp = grow(*tmp, batch*nq)
	drow, out := *buf, *tmp
	last := -1
	for q := q0; q < q1; q++ {
		j := coordsIn[q]
		g := j / (e.rows * e.cols)
		r := (j / e.cols) % e.rows
		c := j % e.cols
		if o := g*e.rows + r; e.dyT != nil {
			drow = e.dyT[o*batch*P:][:batch*P]
		} else if o != last {
			last = o
			if P == 4 {
				for i := 0; i < batch; i++ {
					d, s := drow[i*4:][:4:4], e.dy[i*MP+o*4:][:4:4]
					d[0], d[1], d[2], d[3] = s[0], s[1], s[2], s[3]
				}
			} else {
				for i := 0; i < batch; i++ {
					copy(drow[i*P:(i+1)*P], e.dy[i*MP+o*P:][:P])
				}
			}
		}
		col := e.colm[(g*e.cols+c)*e.ld:][:batch*P]
		dotSegs(P, batch, drow, col, e.alpha, out[q-q0:], nq)
	}
	for i := 0; i < batch; i++ {
		copy(dst[(off+i)*nc+q0:(off+i)*nc+q1], out[i*nq:(i+1)*nq])
	}
}

// transposeDy writes the samples i0 … i1−1 of dy into dyT, so that
// dotsAll reads each output row of the whole batch contiguously (gathered
// from dy, it takes one cache line and often one page per sample).
func (e *mmExp[T]) transposeDy(i0, i1, batch int) {
	P, M := e.p, e.groups*e.rows
	MP, BP := M*P, batch*P
	for i := i0; i < i1; i++ {
		src := e.dy[i*MP:][:MP]
		if P == 4 {
			for o := 0; o < M; o++ {
				d, s := e.dyT[o*BP+i*4:][:4:4], src[o*4:][:4:4]
				d[0], d[1], d[2], d[3] = s[0], s[1], s[2], s[3]
			}
			continue
		}
		for o := 0; o < M; o++ {
			copy(e.dyT[o*BP+i*P:][:P], src[o*P:][:P])
		}
	}
}

// dotSegs writes alpha·Σ_k l[i·p + k]·u[i·p + k] (float64) to
// out[i·stride] for the n segments i of p values: with four partial sums
// where p is a multiple of 4 (p = 4: one expression), by simd.SegDots32
// kernel for float32 values where the CPU has it (the same sums).
func dotSegs[T float](p, n int, l, u []T, alpha float64, out []float64, stride int) {
	i0 := 0
	if l32, ok := any(l).([]float32); ok && simdSums && p > 0 && p%4 == 0 && n >= 4 {
		u32 := any(u).([]float32)
		l32, u32 = l32[:n*p], u32[:n*p]
		var buf [64]float64
		for i0+4 <= n {
			k := min((n-i0)/4, len(buf)/4)
			simd.SegDots32(k, p/4, &l32[i0*p], &u32[i0*p], &buf[0])
			for s, v := range buf[:4*k] {
				out[(i0+s)*stride] = v * alpha
			}
			i0 += 4 * k
		}
	}
	switch {
	case p == 4:
		for i := i0; i < n; i++ {
			a, b := l[i*4:][:4:4], u[i*4:][:4:4]
			s := (float64(a[0])*float64(b[0]) + float64(a[1])*float64(b[1])) + (float64(a[2])*float64(b[2]) + float64(a[3])*float64(b[3]))
			out[i*stride] = s * alpha
		}
	case p%4 == 0:
		for i := i0; i < n; i++ {
			a, b := l[i*p:][:p], u[i*p:][:p]
			var s0, s1, s2, s3 float64
			for k := 0; k < p; k += 4 {
				x, y := a[k:k+4:k+4], b[k:k+4:k+4]
				s0 += float64(x[0]) * float64(y[0])
				s1 += float64(x[1]) * float64(y[1])
				s2 += float64(x[2]) * float64(y[2])
				s3 += float64(x[3]) * float64(y[3])
			}
			out[i*stride] = ((s0 + s1) + (s2 + s3)) * alpha
		}
	default:
		for i := i0; i < n; i++ {
			a, b := l[i*p:][:p], u[i*p:][:p]
			s := 0.0
			for k, x := range a {
				s += float64(x) * float64(b[k])
			}
			out[i*stride] = s * alpha
		}
	}
}

// rowSel is a precomputed selection of gradient rows: the coordinates'
// rows per block, and where each coordinate lies in the block's product.
type rowSel struct {
	rows [][]int // per block: the distinct rows needed
	pos  []int   // per coordinate: offset into the products of all blocks
	offs []int   // per block: offset of its product
	n    int     // total size of the products
}

func (e *mmExp[T]) newRowSel(coords []int) *rowSel {
	s := &rowSel{rows: make([][]int, e.groups), pos: make([]int, len(coords)), offs: make([]int, e.groups)}
	seen := make([]map[int]int, e.groups)
	blk := make([]int, len(coords))
	for k, j := range coords {
		g := j / (e.rows * e.cols)
		r := (j / e.cols) % e.rows
		c := j % e.cols
		if seen[g] == nil {
			seen[g] = map[int]int{}
		}
		q, ok := seen[g][r]
		if !ok {
			q = len(s.rows[g])
			seen[g][r] = q
			s.rows[g] = append(s.rows[g], r)
		}
		blk[k] = g
		s.pos[k] = q*e.cols + c
	}
	for g, rows := range s.rows {
		s.offs[g] = s.n
		s.n += len(rows) * e.cols
	}
	for k := range s.pos {
		s.pos[k] += s.offs[blk[k]]
	}
	return s
}

func (s *rowSel) cost(cols, p int) float64 {
	n := 0
	for _, r := range s.rows {
		n += len(r)
	}
	return float64(n) * float64(cols) * float64(p)
}

// selRows writes the selected coordinates of the loaded sample into dst by
// multiplying only the needed rows.
func (e *mmExp[T]) selRows(w *worker[T], s *rowSel, dst []float64) {
	cp := e.cols * e.p
	L := e.left(w)
	w.out = grow(w.out, s.n)
	for g, rows := range s.rows {
		if len(rows) == 0 {
			continue
		}
		w.sel = grow(w.sel, len(rows)*e.p)
		for q, r := range rows {
			copy(w.sel[q*e.p:(q+1)*e.p], L[(g*e.rows+r)*e.p:])
		}
		if e.view != nil {
			mulNT(len(rows), e.cols, e.p, e.alpha, w.sel, e.p, w.rt[g*e.cols*e.ld:], e.ld, w.out[s.offs[g]:], e.cols)
			continue
		}
		mulNN(len(rows), e.cols, e.p, e.alpha, w.sel, w.R[g*cp:(g+1)*cp], w.out[s.offs[g]:], e.cols)
	}
	for k := range dst {
		dst[k] = float64(w.out[s.pos[k]])
	}
}

// newConv builds the expansion of a Conv weight (METHOD.md §2):
// g_i[o, :] = Σ_p δ_i[o, p] U(x_i)[:, p] per group, U the im2col matrix
// (stored transposed, one row of C·kh·kw per output position).
func newConv[T float](ps *pass, u *use) (*mmExp[T], error) {
	if !convNoColumns {
		if e, ok, err := newConvView[T](ps, u); ok || err != nil {
			return e, err
		}
	}
	return newConvIm2row[T](ps, u)
}

// convNoColumns makes newConv ignore the executor's column matrices (tests
// run the per-sample paths of convolutions without them).
var convNoColumns = false

// newConvIm2row builds a Conv weight's expansion on float64 copies of x
// and δ, building U(x_i) per sample (im2row): for convolutions whose column
// matrix the executor does not keep.
func newConvIm2row[T float](ps *pass, u *use) (*mmExp[T], error) {
	n := u.node
	ws, err := ps.shape(u.input)
	if err != nil {
		return nil, err
	}
	xv, dv, x, dy, ok := convViews[T](ps, n)
	if !ok {
		if x, err = ps.value(n.Inputs[0]); err != nil {
			return nil, err
		}
		if dy, err = ps.deriv(n.Outputs[0]); err != nil {
			return nil, err
		}
	}
	if _, err := ps.batched(n.Inputs[0], x); err != nil {
		return nil, err
	}
	if _, err := ps.batched(n.Outputs[0], dy); err != nil {
		return nil, err
	}
	cg, err := convGeom(n, x.shape, ws, dy.shape)
	if err != nil {
		return nil, err
	}
	G := cg.group
	Og, Cg := cg.m/G, cg.c/G
	P := cg.oh * cg.ow
	CK := Cg * cg.kh * cg.kw
	xs := cg.c * cg.h * cg.w
	e := &mmExp[T]{groups: G, rows: Og, cols: CK, p: P, alpha: 1}
	if ok && !convIm2rowRef {
		// δ_i in the executor's own buffer, Rᵀ_i = U(x_i) (the im2col
		// matrix, G·CK rows of P) built by copying input rows: the same
		// values as im2row's, without a transposed gather.
		MP := cg.m * P
		e.ld = P
		e.view = func(w *worker[T], i int) (L, Rt []T) {
			w.rtb = grow(w.rtb, G*CK*P)
			im2colSample(w.rtb, xv[i*xs:(i+1)*xs], cg)
			return dv[i*MP : (i+1)*MP], w.rtb
		}
		if cg.sh == 1 && cg.sw == 1 {
			e.shift = newShiftConv(cg, xv, dv)
		}
		e.setSerial()
		return e, nil
	}
	if ok {
		// the executor's own buffers: the same values, no float64 copies
		e.fill = func(i int, L, R []T) {
			copy(L, dv[i*cg.m*P:(i+1)*cg.m*P])
			xi := xv[i*xs : (i+1)*xs]
			for g := 0; g < G; g++ {
				im2row(R[g*CK*P:(g+1)*CK*P], xi[g*Cg*cg.h*cg.w:(g+1)*Cg*cg.h*cg.w], Cg, cg)
			}
		}
		return e, nil
	}
	e.fill = func(i int, L, R []T) {
		d := dy.v[i*cg.m*P : (i+1)*cg.m*P]
		for k, v := range d {
			L[k] = T(v)
		}
		xi := x.v[i*xs : (i+1)*xs]
		for g := 0; g < G; g++ {
			im2row(R[g*CK*P:(g+1)*CK*P], xi[g*Cg*cg.h*cg.w:(g+1)*Cg*cg.h*cg.w], Cg, cg)
		}
	}
	return e, nil
}

// convViews returns the executor's own buffers of a Conv node's input and
// output derivative when their element type is T, with their shapes in x
// and dy (x.v, dy.v nil).
func convViews[T float](ps *pass, n *ir.Node) (xv, dv []T, x, dy arr, ok bool) {
	if ps.net == nil {
		return nil, nil, arr{}, arr{}, false
	}
	xs, xd, ok := ps.net.ValueView(n.Inputs[0])
	if !ok {
		return nil, nil, arr{}, arr{}, false
	}
	ds, dd, ok := ps.net.DerivView(n.Outputs[0])
	if !ok {
		return nil, nil, arr{}, arr{}, false
	}
	xv, ok1 := xd.([]T)
	dv, ok2 := dd.([]T)
	if !ok1 || !ok2 || len(xv) < prod(xs) || len(dv) < prod(ds) {
		return nil, nil, arr{}, arr{}, false
	}
	return xv[:prod(xs)], dv[:prod(ds)], arr{shape: xs}, arr{shape: ds}, true
}

// newConvView builds a Conv weight's expansion on the executor's own
// buffers: δ (graph.Net.DerivView) and the column matrix of the input that
// the executor keeps (graph.Net.ConvColumns), whose columns i·P … i·P+P−1
// are U(x_i). ok is false when the executor does not keep the matrix or its
// element type is not T.
func newConvView[T float](ps *pass, u *use) (e *mmExp[T], ok bool, err error) {
	n := u.node
	if ps.net == nil {
		return nil, false, nil
	}
	data, rows, ncols, ok := ps.net.ConvColumns(n.Name)
	if !ok {
		return nil, false, nil
	}
	cols, ok := data.([]T)
	if !ok {
		return nil, false, nil
	}
	xs, _, ok := ps.net.ValueView(n.Inputs[0])
	if !ok {
		return nil, false, nil
	}
	dys, dyd, ok := ps.net.DerivView(n.Outputs[0])
	if !ok {
		return nil, false, nil
	}
	dy, ok := dyd.([]T)
	if !ok {
		return nil, false, nil
	}
	ws, err := ps.shape(u.input)
	if err != nil {
		return nil, false, err
	}
	B := ps.batch
	if len(xs) == 0 || xs[0] != B || len(dys) == 0 || dys[0] != B {
		return nil, false, fmt.Errorf("Conv %q: input %v or output %v does not have the batch %d as leading dimension", n.Name, xs, dys, B)
	}
	cg, err := convGeom(n, xs, ws, dys)
	if err != nil {
		return nil, false, err
	}
	G := cg.group
	P := cg.oh * cg.ow
	CK := cg.c / G * cg.kh * cg.kw
	MP := cg.m * P
	if rows != G*CK || ncols != B*P || len(cols) < rows*ncols || len(dy) < B*MP {
		return nil, false, fmt.Errorf("Conv %q: the executor's column matrix (%d×%d) or δ (%d values) does not fit input %v, weight %v, output %v", n.Name, rows, ncols, len(dy), xs, ws, dys)
	}
	e = &mmExp[T]{groups: G, rows: cg.m / G, cols: CK, p: P, alpha: 1, ld: ncols, dy: dy[:B*MP], colm: cols[:rows*ncols]}
	e.view = func(_ *worker[T], i int) (L, Rt []T) {
		return dy[i*MP : (i+1)*MP], cols[i*P : rows*ncols]
	}
	e.setSerial()
	return e, true, nil
}

// geom is a 2-D convolution's geometry (1-D convolutions have h = kh = oh = 1).
type geom struct {
	c, h, w  int
	m, group int
	kh, kw   int
	sh, sw   int
	dh, dw   int
	pt, pl   int
	oh, ow   int
}

// convGeom reads a Conv node's attributes for input x [B, C, (H,) W],
// weight w [M, C/group, (kh,) kw] and output y [B, M, (oh,) ow].
func convGeom(n *ir.Node, x, w, y []int) (*geom, error) {
	r := len(x) - 2
	if (r != 1 && r != 2) || len(w) != r+2 || len(y) != r+2 {
		return nil, fmt.Errorf("Conv %q: input %v, weight %v, output %v: only 1-D and 2-D convolutions are expanded", n.Name, x, w, y)
	}
	ints := func(name string, def int) ([]int, error) {
		v := attrInts(n, name)
		out := make([]int, r)
		for k := range out {
			out[k] = def
		}
		if v == nil {
			return out, nil
		}
		if len(v) != r {
			return nil, fmt.Errorf("Conv %q: %s %v does not match %d spatial dims", n.Name, name, v, r)
		}
		for k := range out {
			out[k] = int(v[k])
		}
		return out, nil
	}
	strides, err := ints("strides", 1)
	if err != nil {
		return nil, err
	}
	dil, err := ints("dilations", 1)
	if err != nil {
		return nil, err
	}
	pads := make([]int, 2*r)
	if v := attrInts(n, "pads"); v != nil {
		if len(v) != 2*r {
			return nil, fmt.Errorf("Conv %q: pads %v do not match %d spatial dims", n.Name, v, r)
		}
		for k := range pads {
			pads[k] = int(v[k])
		}
	}
	g := &geom{c: x[1], m: w[0], group: int(attrInt(n, "group", 1)), h: 1, kh: 1, sh: 1, dh: 1, oh: 1}
	if g.group <= 0 || g.c%g.group != 0 || g.m%g.group != 0 || w[1]*g.group != g.c || y[1] != g.m {
		return nil, fmt.Errorf("Conv %q: group %d does not fit input %v, weight %v, output %v", n.Name, g.group, x, w, y)
	}
	autoPad := attrString(n, "auto_pad", "NOTSET")
	type dim struct{ in, k, s, d, p, out *int }
	var pe int
	dims := []dim{{&g.w, &g.kw, &g.sw, &g.dw, &g.pl, &g.ow}}
	if r == 2 {
		dims = []dim{{&g.h, &g.kh, &g.sh, &g.dh, &g.pt, &g.oh}, dims[0]}
	}
	for k, d := range dims {
		*d.in, *d.k, *d.s, *d.d, *d.out = x[2+k], w[2+k], strides[k], dil[k], y[2+k]
		ext := (*d.k-1)**d.d + 1
		switch autoPad {
		case "SAME_UPPER", "SAME_LOWER":
			want := (*d.in + *d.s - 1) / *d.s
			total := max(0, (want-1)**d.s+ext-*d.in)
			if autoPad == "SAME_UPPER" {
				*d.p = total / 2
			} else {
				*d.p = total - total/2
			}
			pe = total - *d.p
		case "VALID":
			*d.p, pe = 0, 0
		case "", "NOTSET":
			*d.p, pe = pads[k], pads[k+r]
		default:
			return nil, fmt.Errorf("Conv %q: auto_pad %q", n.Name, autoPad)
		}
		if *d.s <= 0 || *d.d <= 0 || *d.p < 0 || pe < 0 {
			return nil, fmt.Errorf("Conv %q: invalid strides %v, dilations %v or pads", n.Name, strides, dil)
		}
		// The executor's output size (floor mode) must follow from the
		// attributes as read here.
		if num := *d.in + *d.p + pe - ext; num < 0 || *d.out != num/(*d.s)+1 {
			return nil, fmt.Errorf("Conv %q: output %v does not follow from input %v, kernel %v and the attributes", n.Name, y, x, w)
		}
	}
	return g, nil
}

// convIm2rowRef makes newConvIm2row build R_i by im2row also where it
// would build Rᵀ_i by im2colSample (tests compare the two).
var convIm2rowRef = false

// im2colSample writes the (C·kh·kw) × (oh·ow) column matrix of one
// sample's input x [C, h, w] into cols: row (c, ky, kx) holds, for every
// output position, the input element its window reads there (0 in the
// padding). Stride-1 rows are copied as runs.
func im2colSample[T float](cols, x []T, g *geom) {
	P := g.oh * g.ow
	hw := g.h * g.w
	for c := 0; c < g.c; c++ {
		xc := x[c*hw : (c+1)*hw]
		for ky := 0; ky < g.kh; ky++ {
			for kx := 0; kx < g.kw; kx++ {
				row := cols[((c*g.kh+ky)*g.kw+kx)*P:][:P]
				off := kx*g.dw - g.pl
				// output columns ox whose input column ox·sw + off is inside
				lo, hi := 0, g.ow
				if off < 0 {
					lo = (-off + g.sw - 1) / g.sw
				}
				if last := g.w - 1 - off; last < 0 {
					hi = 0
				} else {
					hi = min(hi, last/g.sw+1)
				}
				lo = min(lo, hi)
				for oy := 0; oy < g.oh; oy++ {
					d := row[oy*g.ow:][:g.ow]
					iy := oy*g.sh - g.pt + ky*g.dh
					if iy < 0 || iy >= g.h {
						clear(d)
						continue
					}
					clear(d[:lo])
					clear(d[hi:])
					if lo == hi {
						continue
					}
					xr := xc[iy*g.w:][:g.w]
					ix := lo*g.sw + off
					if g.sw == 1 {
						copy(d[lo:hi], xr[ix:])
						continue
					}
					for ox := lo; ox < hi; ox++ {
						d[ox] = xr[ix]
						ix += g.sw
					}
				}
			}
		}
	}
}

// im2row writes the (oh·ow) × (C·kh·kw) patch matrix of one sample's
// channels x [C, h, w] into rows: row p holds the input window of output
// position p (zero where it reaches into the padding).
func im2row[T, S float](rows []T, x []S, C int, g *geom) {
	CK := C * g.kh * g.kw
	for oy := 0; oy < g.oh; oy++ {
		for ox := 0; ox < g.ow; ox++ {
			dst := rows[(oy*g.ow+ox)*CK : (oy*g.ow+ox+1)*CK]
			q := 0
			for c := 0; c < C; c++ {
				xc := x[c*g.h*g.w : (c+1)*g.h*g.w]
				for ky := 0; ky < g.kh; ky++ {
					iy := oy*g.sh - g.pt + ky*g.dh
					if iy < 0 || iy >= g.h {
						clear(dst[q : q+g.kw])
						q += g.kw
						continue
					}
					xr := xc[iy*g.w : (iy+1)*g.w]
					ix := ox*g.sw - g.pl
					for kx := 0; kx < g.kw; kx++ {
						if ix >= 0 && ix < g.w {
							dst[q] = T(xr[ix])
						} else {
							dst[q] = 0
						}
						q++
						ix += g.dw
					}
				}
			}
		}
	}
}

// newGemm builds the expansion of Gemm's B (the weight) for
// Y = alpha·A·op(B) + beta·C with A the sample data [batch, K]:
// g_i = alpha·a_i δ_iᵀ (K×N), or its transpose when transB.
func newGemm[T float](ps *pass, u *use) (*mmExp[T], error) {
	n := u.node
	a, err := ps.value(n.Inputs[0])
	if err != nil {
		return nil, err
	}
	dy, err := ps.deriv(n.Outputs[0])
	if err != nil {
		return nil, err
	}
	K, err := ps.batched(n.Inputs[0], a)
	if err != nil {
		return nil, err
	}
	N, err := ps.batched(n.Outputs[0], dy)
	if err != nil {
		return nil, err
	}
	ws, err := ps.shape(u.input)
	if err != nil {
		return nil, err
	}
	if len(a.shape) != 2 || len(ws) != 2 || prod(ws) != K*N {
		return nil, fmt.Errorf("Gemm %q: A %v, B %v, Y %v do not fit", n.Name, a.shape, ws, dy.shape)
	}
	e := &mmExp[T]{groups: 1, rows: K, cols: N, p: 1, alpha: attrFloat(n, "alpha", 1)}
	left, right, ln, rn := a.v, dy.v, K, N
	if attrInt(n, "transB", 0) != 0 {
		e.rows, e.cols = N, K
		left, right, ln, rn = dy.v, a.v, N, K
	}
	e.fill = func(i int, L, R []T) {
		for k, v := range left[i*ln : (i+1)*ln] {
			L[k] = T(v)
		}
		for k, v := range right[i*rn : (i+1)*rn] {
			R[k] = T(v)
		}
	}
	return e, nil
}

// newMatMul builds the expansion of a MatMul weight: Y = A·W with A the
// sample data [batch, …, M, K] (g_i = A_iᵀ δ_i, summed over the rows of all
// inner matrices), or Y = W·X with X [batch, …, K, N] (g_i = Σ δ_i X_iᵀ).
// A 1-D weight is a [K, 1] (second operand) or [1, K] (first operand) matrix.
func newMatMul[T float](ps *pass, u *use) (*mmExp[T], error) {
	n := u.node
	other := n.Inputs[1-u.slot]
	d, err := ps.value(other)
	if err != nil {
		return nil, err
	}
	dy, err := ps.deriv(n.Outputs[0])
	if err != nil {
		return nil, err
	}
	ds, err := ps.batched(other, d)
	if err != nil {
		return nil, err
	}
	ys, err := ps.batched(n.Outputs[0], dy)
	if err != nil {
		return nil, err
	}
	ws, err := ps.shape(u.input)
	if err != nil {
		return nil, err
	}
	bad := func() error {
		return fmt.Errorf("MatMul %q: data %v, weight %v, output %v: not a per-sample product", n.Name, d.shape, ws, dy.shape)
	}
	if len(ws) == 0 {
		return nil, bad()
	}
	if u.slot == 1 {
		// Y = A·W: A_i is [P, K] (P = all inner rows), δ_i is [P, N].
		K := d.shape[len(d.shape)-1]
		N := 1
		if len(ws) >= 2 {
			N = ws[len(ws)-1]
			if ws[len(ws)-2] != K {
				return nil, bad()
			}
		} else if ws[0] != K {
			return nil, bad()
		}
		P := ds / K
		if len(d.shape) < 2 || P*N != ys || prod(ws) != K*N {
			return nil, bad()
		}
		e := &mmExp[T]{groups: 1, rows: K, cols: N, p: P, alpha: 1}
		e.fill = func(i int, L, R []T) {
			transposeInto(L, d.v[i*ds:(i+1)*ds], P, K)
			for k, v := range dy.v[i*ys : (i+1)*ys] {
				R[k] = T(v)
			}
		}
		return e, nil
	}
	// Y = W·X: X_i is [nb, K, N], δ_i is [nb, M, N].
	if len(d.shape) < 3 {
		return nil, bad()
	}
	K, N := d.shape[len(d.shape)-2], d.shape[len(d.shape)-1]
	M := 1
	if len(ws) >= 2 {
		M = ws[len(ws)-2]
		if ws[len(ws)-1] != K {
			return nil, bad()
		}
	} else if ws[0] != K {
		return nil, bad()
	}
	nb := ds / (K * N)
	if nb*M*N != ys || prod(ws) != M*K {
		return nil, bad()
	}
	P := nb * N
	e := &mmExp[T]{groups: 1, rows: M, cols: K, p: P, alpha: 1}
	e.fill = func(i int, L, R []T) {
		xi := d.v[i*ds : (i+1)*ds]
		di := dy.v[i*ys : (i+1)*ys]
		for b := 0; b < nb; b++ {
			for m := 0; m < M; m++ {
				src := di[(b*M+m)*N : (b*M+m+1)*N]
				dst := L[m*P+b*N : m*P+(b+1)*N]
				for k, v := range src {
					dst[k] = T(v)
				}
			}
			transposeInto(R[b*N*K:(b+1)*N*K], xi[b*K*N:(b+1)*K*N], K, N)
		}
	}
	return e, nil
}

// transposeInto writes the transpose (c×r) of the row-major r×c matrix src.
func transposeInto[T float](dst []T, src []float64, r, c int) {
	for i := 0; i < r; i++ {
		row := src[i*c : (i+1)*c]
		for j, v := range row {
			dst[j*r+i] = T(v)
		}
	}
}

// ---------------------------------------------------------------------------
// Elementwise expansions (biases, BatchNormalization, binary operators).

// elemExp adds one sample's gradient of a parameter that enters its layer
// elementwise, in the layout of the use's input, to a float64 vector.
type elemExp interface {
	add(i int, dst []float64)
}

// chanExp: out [batch, C, P…], g[c] += scale · Σ_p δ[c, p] · coef[c, p];
// coef is x̂ for a BatchNormalization scale, 1 otherwise.
type chanExp struct {
	c, p  int
	delta []float64
	// BatchNormalization scale: x̂ = (x − mean)·inv
	x, mean, inv []float64
}

func (e *chanExp) add(i int, dst []float64) {
	S := e.c * e.p
	d := e.delta[i*S : (i+1)*S]
	for c := 0; c < e.c; c++ {
		dc := d[c*e.p : (c+1)*e.p]
		if e.x == nil {
			dst[c] += sum4(dc)
		} else {
			dst[c] += dotShift4(dc, e.x[i*S+c*e.p:i*S+(c+1)*e.p], e.mean[c]) * e.inv[c]
		}
	}
}

// chanView is chanExp without a BatchNormalization coefficient on the
// executor's own δ buffer (no float64 copy).
type chanView[T float] struct {
	c, p  int
	delta []T
}

func (e *chanView[T]) add(i int, dst []float64) {
	S := e.c * e.p
	d := e.delta[i*S : (i+1)*S]
	if e.p == 4 {
		// sum4's sum, without a call per channel
		dst = dst[:e.c]
		for c := range dst {
			x := d[4*c:][:4:4]
			dst[c] += (float64(x[0]) + float64(x[1])) + (float64(x[2]) + float64(x[3]))
		}
		return
	}
	for c := 0; c < e.c; c++ {
		dst[c] += sum4(d[c*e.p : (c+1)*e.p])
	}
}

// sum4 returns Σ v in float64, with four partial sums (as sqNorm).
func sum4[T float](v []T) float64 {
	var s0, s1, s2, s3 float64
	n := len(v) &^ 3
	for k := 0; k < n; k += 4 {
		x := v[k : k+4 : k+4]
		s0 += float64(x[0])
		s1 += float64(x[1])
		s2 += float64(x[2])
		s3 += float64(x[3])
	}
	for _, x := range v[n:] {
		s0 += float64(x)
	}
	return (s0 + s1) + (s2 + s3)
}

// dotShift4 returns Σ_k d[k]·(x[k] − m) in float64, with four partial sums.
func dotShift4[T float](d, x []T, m float64) float64 {
	var s0, s1, s2, s3 float64
	x = x[:len(d)]
	n := len(d) &^ 3
	for k := 0; k < n; k += 4 {
		a := d[k : k+4 : k+4]
		b := x[k : k+4 : k+4]
		s0 += float64(a[0]) * (float64(b[0]) - m)
		s1 += float64(a[1]) * (float64(b[1]) - m)
		s2 += float64(a[2]) * (float64(b[2]) - m)
		s3 += float64(a[3]) * (float64(b[3]) - m)
	}
	for k := n; k < len(d); k++ {
		s0 += float64(d[k]) * (float64(x[k]) - m)
	}
	return (s0 + s1) + (s2 + s3)
}

// newConvBias: ∂ℓ_i/∂b[o] = Σ_p δ_i[o, p].
func newConvBias[T float](ps *pass, u *use) (elemExp, error) {
	if ps.net != nil {
		if ds, d, ok := ps.net.DerivView(u.node.Outputs[0]); ok {
			bs, err := ps.shape(u.input)
			if err != nil {
				return nil, err
			}
			dy, isT := d.([]T)
			if isT && len(ds) >= 2 && ds[0] == ps.batch && prod(bs) == ds[1] && len(dy) >= prod(ds) {
				return &chanView[T]{c: ds[1], p: prod(ds[2:]), delta: dy[:prod(ds)]}, nil
			}
		}
	}
	dy, err := ps.deriv(u.node.Outputs[0])
	if err != nil {
		return nil, err
	}
	S, err := ps.batched(u.node.Outputs[0], dy)
	if err != nil {
		return nil, err
	}
	bs, err := ps.shape(u.input)
	if err != nil {
		return nil, err
	}
	if len(dy.shape) < 2 || prod(bs) != dy.shape[1] {
		return nil, fmt.Errorf("Conv %q: bias %v does not match output %v", u.node.Name, bs, dy.shape)
	}
	return &chanExp{c: dy.shape[1], p: S / dy.shape[1], delta: dy.v}, nil
}

// newBatchNorm: ∂ℓ_i/∂γ[c] = Σ_p δ_i[c,p] x̂_i[c,p], ∂ℓ_i/∂β[c] = Σ_p δ_i[c,p],
// x̂ normalised with the running statistics (inference mode).
func newBatchNorm(ps *pass, u *use) (elemExp, error) {
	n := u.node
	if e, ok, err := newBatchNormView(ps, u); ok || err != nil {
		return e, err
	}
	dy, err := ps.deriv(n.Outputs[0])
	if err != nil {
		return nil, err
	}
	S, err := ps.batched(n.Outputs[0], dy)
	if err != nil {
		return nil, err
	}
	if len(dy.shape) < 2 {
		return nil, fmt.Errorf("BatchNormalization %q: output %v has no channels", n.Name, dy.shape)
	}
	C := dy.shape[1]
	e := &chanExp{c: C, p: S / C, delta: dy.v}
	if u.slot == 2 {
		return e, nil
	}
	x, err := ps.value(n.Inputs[0])
	if err != nil {
		return nil, err
	}
	mean, err := ps.value(n.Inputs[3])
	if err != nil {
		return nil, err
	}
	vr, err := ps.value(n.Inputs[4])
	if err != nil {
		return nil, err
	}
	if len(x.v) != len(dy.v) || len(mean.v) != C || len(vr.v) != C {
		return nil, fmt.Errorf("BatchNormalization %q: input %v, mean %v, var %v do not match output %v", n.Name, x.shape, mean.shape, vr.shape, dy.shape)
	}
	eps := attrFloat(n, "epsilon", 1e-5)
	e.x, e.mean, e.inv = x.v, mean.v, make([]float64, C)
	for c := range e.inv {
		e.inv[c] = 1 / math.Sqrt(vr.v[c]+eps)
	}
	return e, nil
}

// newBatchNormView is newBatchNorm on the executor's own buffers of x and
// δ (graph.Net.ValueView, DerivView) instead of float64 copies: the same
// float64 sums of the same values. ok is false when the executor does not
// expose them.
func newBatchNormView(ps *pass, u *use) (elemExp, bool, error) {
	n := u.node
	if ps.net == nil {
		return nil, false, nil
	}
	ds, d, ok := ps.net.DerivView(n.Outputs[0])
	if !ok || len(ds) < 2 || ds[0] != ps.batch {
		return nil, false, nil
	}
	C, S := ds[1], prod(ds) // S: the whole batch's elements
	if C <= 0 || prod(ds[2:])*C*ps.batch != S {
		return nil, false, nil
	}
	if p, ok := ps.bn[n.Name]; ok {
		return &bnUse{pair: p, scale: u.slot != 2}, true, nil
	}
	if d32, ok := d.([]float32); ok && len(d32) >= S && pairedBatchNorm {
		if xs, x, ok := ps.net.ValueView(n.Inputs[0]); ok && prod(xs) == S {
			if x32, ok := x.([]float32); ok && len(x32) >= S {
				mean, inv, err := bnStats(ps, n, C, ds)
				if err != nil {
					return nil, false, err
				}
				p := &bnPair{c: C, p: S / (ps.batch * C), delta: d32[:S], x: x32[:S], mean: mean, inv: inv,
					dots: make([]float64, ps.batch*C), sums: make([]float64, ps.batch*C), done: make([]bool, ps.batch)}
				ps.bn[n.Name] = p
				return &bnUse{pair: p, scale: u.slot != 2}, true, nil
			}
		}
	}
	var xd any
	if u.slot != 2 {
		xs, x, ok := ps.net.ValueView(n.Inputs[0])
		if !ok || prod(xs) != S {
			return nil, false, nil
		}
		xd = x
	}
	var mean, inv []float64
	if u.slot != 2 {
		var err error
		if mean, inv, err = bnStats(ps, n, C, ds); err != nil {
			return nil, false, err
		}
	}
	switch d := d.(type) {
	case []float32:
		return newChanX(C, S, ps.batch, d, xd, mean, inv)
	case []float64:
		return newChanX(C, S, ps.batch, d, xd, mean, inv)
	}
	return nil, false, nil
}

// pairedBatchNorm enables bnPair for float32 BatchNormalization nodes (a
// variable so that tests compare it with the separate chanX sums).
var pairedBatchNorm = true

// bnStats returns a BatchNormalization node's running mean and
// 1/√(var + ε) for C channels (ds: the output's shape, for the error).
func bnStats(ps *pass, n *ir.Node, C int, ds []int) (mean, inv []float64, err error) {
	m, err := ps.value(n.Inputs[3])
	if err != nil {
		return nil, nil, err
	}
	vr, err := ps.value(n.Inputs[4])
	if err != nil {
		return nil, nil, err
	}
	if len(m.v) != C || len(vr.v) != C {
		return nil, nil, fmt.Errorf("BatchNormalization %q: mean %v, var %v do not match output %v", n.Name, m.shape, vr.shape, ds)
	}
	eps := attrFloat(n, "epsilon", 1e-5)
	inv = make([]float64, C)
	for c := range inv {
		inv[c] = 1 / math.Sqrt(vr.v[c]+eps)
	}
	return m.v, inv, nil
}

// bnPair computes both per-sample sums of a float32 BatchNormalization
// node, Σ_p δ_i[c,p] x̂_i[c,p] (scale) and Σ_p δ_i[c,p] (shift), in one
// sweep of δ and x per sample (bnSums), for the uses of both parameters:
// the first use that asks for sample i computes them, the other reads
// them. Sample i is only ever asked for by the worker that computes it,
// so the flags need no lock.
type bnPair struct {
	c, p       int
	delta, x   []float32 // the executor's δ and input of the whole batch
	mean, inv  []float64
	dots, sums []float64 // [batch × C]: scale and shift gradients
	done       []bool    // per sample
}

func (b *bnPair) load(i int) {
	if b.done[i] {
		return
	}
	S := b.c * b.p
	d, x := b.delta[i*S:(i+1)*S], b.x[i*S:(i+1)*S]
	for c := 0; c < b.c; c++ {
		dot, sum := bnSums(d[c*b.p:(c+1)*b.p], x[c*b.p:(c+1)*b.p], b.mean[c])
		b.dots[i*b.c+c] = dot * b.inv[c]
		b.sums[i*b.c+c] = sum
	}
	b.done[i] = true
}

// bnUse is the scale's or the shift's expansion on a bnPair.
type bnUse struct {
	pair  *bnPair
	scale bool
}

func (u *bnUse) add(i int, dst []float64) {
	b := u.pair
	b.load(i)
	src := b.sums[i*b.c : (i+1)*b.c]
	if u.scale {
		src = b.dots[i*b.c : (i+1)*b.c]
	}
	for c, v := range src {
		dst[c] += v
	}
}

// newChanX builds a chanX over C channels and S elements of the whole batch.
func newChanX[T float](C, S, batch int, d []T, xd any, mean, inv []float64) (elemExp, bool, error) {
	if len(d) < S {
		return nil, false, nil
	}
	e := &chanX[T]{c: C, p: S / (batch * C), delta: d[:S], mean: mean, inv: inv}
	if xd != nil {
		x, ok := xd.([]T)
		if !ok || len(x) < S {
			return nil, false, nil
		}
		e.x = x[:S]
	}
	return e, true, nil
}

// chanX is chanExp on the executor's own buffers (element type T): the
// same float64 sums.
type chanX[T float] struct {
	c, p      int
	delta, x  []T
	mean, inv []float64
}

func (e *chanX[T]) add(i int, dst []float64) {
	S := e.c * e.p
	d := e.delta[i*S : (i+1)*S]
	for c := 0; c < e.c; c++ {
		dc := d[c*e.p : (c+1)*e.p]
		if e.x == nil {
			dst[c] += sum4(dc)
		} else {
			dst[c] += dotShift4(dc, e.x[i*S+c*e.p:i*S+(c+1)*e.p], e.mean[c]) * e.inv[c]
		}
	}
}

// bcastExp: out [batch, S…] computed elementwise from the parameter p
// (broadcast) and another operand o (broadcast):
// g[pidx[k] + i·pstep] += scale · δ_i[k] · coef(o, p).
type bcastExp struct {
	S            int
	pidx         []int32 // per output element of one sample: parameter index
	pstep        int
	omap         []int32 // per output element: index in o's sample (nil: identity)
	ostep        int
	op           string // "Add", "Sub", "Mul", "Div"
	slot         int    // which operand is the parameter
	scale        float64
	delta, o, pv []float64
}

func (e *bcastExp) add(i int, dst []float64) {
	d := e.delta[i*e.S : (i+1)*e.S]
	pb, ob := i*e.pstep, i*e.ostep
	for k, v := range d {
		j := pb + int(e.pidx[k])
		c := e.scale
		if e.op != "Add" && e.op != "Sub" {
			oi := ob + k
			if e.omap != nil {
				oi = ob + int(e.omap[k])
			}
			o := e.o[oi]
			switch {
			case e.op == "Mul":
				c *= o
			case e.slot == 0: // p / o
				c /= o
			default: // o / p
				c *= -o / (e.pv[j] * e.pv[j])
			}
		}
		dst[j] += v * c
	}
}

// bcastMap returns, for each element of one sample of an output of shape
// out ([batch, …]), the index of the element of an operand of shape s
// (broadcast to out, numpy rules) it reads, and the operand's step per
// sample (0 when the operand does not have the batch dimension).
func bcastMap(s, out []int) ([]int32, int, error) {
	R := len(out)
	if len(s) > R {
		return nil, 0, fmt.Errorf("operand %v has more dimensions than the output %v", s, out)
	}
	st := make([]int, R)
	acc := 1
	for k := len(s) - 1; k >= 0; k-- {
		o := R - len(s) + k
		switch {
		case s[k] == out[o]:
			st[o] = acc
		case s[k] == 1:
			st[o] = 0
		default:
			return nil, 0, fmt.Errorf("operand %v does not broadcast to %v", s, out)
		}
		acc *= s[k]
	}
	S := prod(out[1:])
	m := make([]int32, S)
	idx := make([]int, R)
	off := 0
	for k := 0; k < S; k++ {
		m[k] = int32(off)
		for d := R - 1; d >= 1; d-- {
			idx[d]++
			off += st[d]
			if idx[d] < out[d] {
				break
			}
			off -= idx[d] * st[d]
			idx[d] = 0
		}
	}
	return m, st[0], nil
}

// newBinary: Add/Sub/Mul/Div with a parameter operand.
func newBinary(ps *pass, u *use) (elemExp, error) {
	n := u.node
	dy, err := ps.deriv(n.Outputs[0])
	if err != nil {
		return nil, err
	}
	S, err := ps.batched(n.Outputs[0], dy)
	if err != nil {
		return nil, err
	}
	ps0, err := ps.shape(u.input)
	if err != nil {
		return nil, err
	}
	e := &bcastExp{S: S, op: n.OpType, slot: u.slot, scale: 1, delta: dy.v}
	if n.OpType == "Div" && u.slot == 1 {
		p, err := ps.value(u.input)
		if err != nil {
			return nil, err
		}
		e.pv = p.v
	}
	if e.pidx, e.pstep, err = bcastMap(ps0, dy.shape); err != nil {
		return nil, fmt.Errorf("%s %q: parameter %w", n.OpType, n.Name, err)
	}
	if n.OpType == "Sub" && u.slot == 1 {
		e.scale = -1
	}
	if n.OpType == "Mul" || n.OpType == "Div" {
		o, err := ps.value(n.Inputs[1-u.slot])
		if err != nil {
			return nil, err
		}
		e.o = o.v
		if equalInts(o.shape, dy.shape) {
			e.ostep = S
		} else if e.omap, e.ostep, err = bcastMap(o.shape, dy.shape); err != nil {
			return nil, fmt.Errorf("%s %q: data operand %w", n.OpType, n.Name, err)
		}
	}
	return e, nil
}

// newGemmBias: Gemm's C, g_i = beta · δ_i reduced over C's broadcast dims.
func newGemmBias(ps *pass, u *use) (elemExp, error) {
	n := u.node
	dy, err := ps.deriv(n.Outputs[0])
	if err != nil {
		return nil, err
	}
	S, err := ps.batched(n.Outputs[0], dy)
	if err != nil {
		return nil, err
	}
	cs, err := ps.shape(u.input)
	if err != nil {
		return nil, err
	}
	e := &bcastExp{S: S, op: "Add", scale: attrFloat(n, "beta", 1), delta: dy.v}
	if e.pidx, e.pstep, err = bcastMap(cs, dy.shape); err != nil {
		return nil, fmt.Errorf("Gemm %q: C %w", n.Name, err)
	}
	return e, nil
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if a[k] != b[k] {
			return false
		}
	}
	return true
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// toF64 returns v as float64, converting into *buf when T is float32.
func toF64[T float](buf *[]float64, v []T) []float64 {
	if f, ok := any(v).([]float64); ok {
		return f
	}
	*buf = grow(*buf, len(v))
	b := *buf
	for k, x := range v {
		b[k] = float64(x)
	}
	return b
}
