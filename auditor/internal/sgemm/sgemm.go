// Package sgemm is a single-precision matrix product (SGEMM) in pure Go with
// a SIMD microkernel: gonum's blas.Float32 Sgemm semantics, several times
// faster than gonum's own Sgemm on the shapes of the executor's
// convolutions.
//
// The product is cache-blocked in the manner of BLIS and GotoBLAS: C is
// computed in nc-column blocks; within one, the k dimension goes in
// kc-deep slices, B's slice is packed into nr-column strips and A's into
// mr-row strips, mc rows at a time, and a microkernel accumulates one
// mr×nr tile of C in registers from one A strip and one B strip. On amd64
// the microkernel is Go assembly chosen at run time with
// golang.org/x/sys/cpu: 8×32 in ZMM registers where the CPU has AVX-512F
// (kernel512_amd64.s), else 4×24 in YMM registers with AVX2 and FMA
// (kernel_amd64.s); each variant packs B in strips of its nr columns and
// has its own dot-product kernel for A·Bᵀ with few rows. On other
// architectures (and with the purego build tag) it is the portable Go
// kernel of kernel_generic.go; on amd64 CPUs without AVX2 or FMA, Sgemm is
// gonum's (whose SSE assembly beats the portable kernel there). Transposes
// only change the packing. Large products are split over up to GOMAXPROCS
// goroutines (Serial: none).
//
// No cgo. The result differs from gonum's in rounding only: each element
// is a float32 sum of k products in a different order (and fused
// multiply-adds on the assembly path), so the two agree to a few units of
// k·eps·Σ|a||b| (see the tests).
package sgemm

import (
	"runtime"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// Blocking: the portable and AVX2 microkernels' tile is mr×nr (the
// AVX-512 one's mr512×nr512); packed B strips are kc×nr (24 KiB; 32 KiB
// for AVX-512, in L1), packed A blocks mc×kc (128 KiB, in L2), B blocks
// kc×nc (3 MiB, in L3).
const (
	mr = 4
	nr = 24
	kc = 256
	mc = 128
	nc = 3072
)

// minParWork is the number of multiply-adds of one goroutine's share below
// which a product is not split further.
const minParWork = 1 << 18

// Implementation is gonum's pure-Go BLAS with this package's Sgemm: install
// it with gorgonia.Use(sgemm.Implementation{}) to speed up gorgonia's (and
// the executor's) float32 products.
type Implementation struct {
	gonum.Implementation
}

// Sgemm computes C = alpha·op(A)·op(B) + beta·C as Sgemm does.
func (Implementation) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Sgemm performs one of the matrix-matrix operations
//
//	C = alpha * A * B + beta * C
//	C = alpha * Aᵀ * B + beta * C
//	C = alpha * A * Bᵀ + beta * C
//	C = alpha * Aᵀ * Bᵀ + beta * C
//
// for row-major A (m×k, or k×m when transposed), B (k×n, or n×k) and C
// (m×n), with leading dimensions lda, ldb and ldc, exactly as gonum's
// blas.Float32 Sgemm: the same argument checks and panics, C not read when
// beta is 0, C only scaled when alpha or k is 0.
func Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemm(true, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Serial is Sgemm on the calling goroutine only, for callers that split
// products over goroutines themselves (the executor's OpenBLAS build).
func Serial(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemm(false, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SerialSeg is Serial (A and B not transposed) for a C whose columns come
// in segments of seg: element (i, j) of C is c[i·ldc + (j/seg)·segStride +
// j%seg]. The executor's blocked convolution writes a block of samples'
// product so straight into their [sample, channel, position] planes (seg
// the positions per sample, segStride the elements per sample, ldc the
// positions), where Serial needs a buffer permuted afterwards. The sums
// are Serial's, element for element. seg must satisfy SegOK, and the
// elements of C must be distinct.
func SerialSeg(m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc, seg, segStride int) {
	checkArgsC(blas.NoTrans, blas.NoTrans, m, n, k, a, lda, b, ldb, nil, 0, false)
	switch {
	case !SegOK(seg):
		panic("sgemm: segment length not a multiple of the microkernel's width")
	case ldc < seg, segStride < seg:
		panic("sgemm: segments overlap")
	}
	if m == 0 || n == 0 {
		return
	}
	if last := (m-1)*ldc + (n-1)/seg*segStride + (n-1)%seg; len(c) <= last {
		panic("blas: insufficient length of c")
	}
	if alpha == 0 || k == 0 {
		for t := 0; t*seg < n; t++ {
			w := min(seg, n-t*seg)
			if beta != 1 {
				scale(m, w, beta, c[t*segStride:], ldc)
			}
		}
		return
	}
	serialGemmMap(false, false, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, colMap{seg: seg, stride: segStride})
}

// SegOK reports whether SerialSeg takes segments of seg columns: a
// positive multiple of the microkernel's tile width (so that every tile of
// C lies in one segment), with this package's kernels in use.
func SegOK(seg int) bool {
	if useGonum && forced == nil {
		return false
	}
	return seg > 0 && seg%kernel().nr == 0
}

// colMap maps a column j of C to its offset in a row: j (seg 0), or
// (j/seg)·stride + j%seg (SerialSeg).
type colMap struct{ seg, stride int }

func (cm colMap) off(j int) int {
	if cm.seg == 0 {
		return j
	}
	return j/cm.seg*cm.stride + j%cm.seg
}

func sgemm(split bool, tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	aT, bT := checkArgs(tA, tB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if (alpha == 0 || k == 0) && beta == 1 {
		return
	}
	if alpha == 0 || k == 0 {
		scale(m, n, beta, c, ldc)
		return
	}
	if useGonum && forced == nil {
		gonum.Implementation{}.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	if !split {
		serialGemm(aT, bT, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	parGemm(aT, bT, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func checkArgs(tA, tB blas.Transpose, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) (aT, bT bool) {
	return checkArgsC(tA, tB, m, n, k, a, lda, b, ldb, c, ldc, true)
}

// checkArgsC is checkArgs, C's leading dimension and length checked only
// with checkC (SerialSeg checks its own).
func checkArgsC(tA, tB blas.Transpose, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, checkC bool) (aT, bT bool) {
	switch tA {
	case blas.NoTrans:
	case blas.Trans, blas.ConjTrans:
		aT = true
	default:
		panic("blas: illegal transpose")
	}
	switch tB {
	case blas.NoTrans:
	case blas.Trans, blas.ConjTrans:
		bT = true
	default:
		panic("blas: illegal transpose")
	}
	switch {
	case m < 0:
		panic("blas: m < 0")
	case n < 0:
		panic("blas: n < 0")
	case k < 0:
		panic("blas: k < 0")
	case aT && lda < max(1, m), !aT && lda < max(1, k):
		panic("blas: bad leading dimension of A")
	case bT && ldb < max(1, k), !bT && ldb < max(1, n):
		panic("blas: bad leading dimension of B")
	case checkC && ldc < max(1, n):
		panic("blas: bad leading dimension of C")
	}
	if m == 0 || n == 0 {
		return aT, bT
	}
	switch {
	case aT && len(a) < (k-1)*lda+m, !aT && len(a) < (m-1)*lda+k:
		panic("blas: insufficient length of a")
	case bT && len(b) < (n-1)*ldb+k, !bT && len(b) < (k-1)*ldb+n:
		panic("blas: insufficient length of b")
	case checkC && len(c) < (m-1)*ldc+n:
		panic("blas: insufficient length of c")
	}
	return aT, bT
}

// scale sets C = beta·C, writing zeros without reading C when beta is 0.
func scale(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// parGemm splits C into row or column blocks (whole tiles), one goroutine
// each, when the product is large enough.
func parGemm(aT, bT bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	nw := runtime.GOMAXPROCS(0)
	if work := m * n * k; work/minParWork < nw {
		nw = max(1, work/minParWork)
	}
	// Split the dimension with more tiles.
	v := kernel()
	mr, nr := v.mr, v.nr
	mt, nt := (m+mr-1)/mr, (n+nr-1)/nr
	byCols := nt >= mt
	tiles := mt
	if byCols {
		tiles = nt
	}
	nw = min(nw, tiles)
	if nw <= 1 {
		serialGemm(aT, bT, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	step := (tiles + nw - 1) / nw
	var wg sync.WaitGroup
	for t0 := 0; t0 < tiles; t0 += step {
		t1 := min(t0+step, tiles)
		wg.Add(1)
		go func(t0, t1 int) {
			defer wg.Done()
			if byCols {
				j0, j1 := t0*nr, min(t1*nr, n)
				bo := j0
				if bT {
					bo = j0 * ldb
				}
				serialGemm(aT, bT, m, j1-j0, k, alpha, a, lda, b[bo:], ldb, beta, c[j0:], ldc)
				return
			}
			i0, i1 := t0*mr, min(t1*mr, m)
			ao := i0 * lda
			if aT {
				ao = i0
			}
			serialGemm(aT, bT, i1-i0, n, k, alpha, a[ao:], lda, b, ldb, beta, c[i0*ldc:], ldc)
		}(t0, t1)
	}
	wg.Wait()
}

// buffers are one goroutine's packing buffers.
type buffers struct {
	a, b []float32
}

var pool = sync.Pool{New: func() any { return new(buffers) }}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// directMaxM is the largest m for which B (not transposed) is read in
// place by the microkernel instead of packed: with few rows of A, each
// element of B serves too few multiply-adds to pay for its copy.
var directMaxM = 16

// dotMaxM and dotMinK: C = A·Bᵀ (A not transposed) with m ≤ dotMaxM (and
// the variant's dotMaxM) and k ≥ dotMinK is computed as dot products of
// rows of A and rows of B, without packing: the weight gradients of
// convolutions with few output channels, whose k (the positions) is long.
// (Measured on the executor's shapes, AVX2: 16×144×1024 and 64×576×8192
// about 2× faster than packed, 64×576×64 2× slower; AVX-512, Zen 5:
// 16×144×1024 2.4× faster, 64×288×8192 1.25× slower, 64×144×8192 1.2×
// faster, hence its dotMaxM 32.)
var dotMaxM = 64

const dotMinK = 256

// kdc is the depth of one pass of the dot-product path: three rows of B
// stay in L1, m ≤ dotMaxM rows of A in L2.
const kdc = 1024

// serialGemm is the blocked product on the calling goroutine; m, n, k > 0
// and alpha ≠ 0.
func serialGemm(aT, bT bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	serialGemmMap(aT, bT, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, colMap{})
}

// serialGemmMap is serialGemm with C's columns placed by cm (the dot
// product path only for the identity map).
func serialGemmMap(aT, bT bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, cm colMap) {
	v := kernel()
	if cm.seg == 0 && !aT && bT && m <= min(dotMaxM, v.dotMaxM) && k >= dotMinK {
		dotGemm(v, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	mr, nr := v.mr, v.nr
	buf := pool.Get().(*buffers)
	defer pool.Put(buf)
	kmax := min(k, kc)
	direct := !bT && m <= directMaxM
	buf.a = grow(buf.a, roundUp(min(m, mc), mr)*kmax)
	if direct {
		buf.b = grow(buf.b, nr*kmax)
	} else {
		buf.b = grow(buf.b, roundUp(min(n, nc), nr)*kmax)
	}
	for jc := 0; jc < n; jc += nc {
		nb := min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			kb := min(kc, k-pc)
			var bs strips
			if direct {
				// Whole strips read from B; the last partial one packed.
				bs = strips{b: b[pc*ldb+jc:], ld: ldb, step: 1, nr: nr}
				if full := nb / nr * nr; full < nb {
					packB(v, false, b, ldb, pc, jc+full, kb, nb-full, buf.b)
					bs.edge, bs.edgeAt = buf.b, full
				} else {
					bs.edgeAt = nb
				}
			} else {
				packB(v, bT, b, ldb, pc, jc, kb, nb, buf.b)
				bs = strips{b: buf.b, ld: nr, step: kb, edgeAt: nb, nr: nr}
			}
			be := beta
			if pc > 0 {
				be = 1
			}
			for ic := 0; ic < m; ic += mc {
				mb := min(mc, m-ic)
				packA(mr, aT, a, lda, ic, pc, mb, kb, buf.a)
				macro(v, mb, nb, kb, alpha, buf.a, &bs, be, c[ic*ldc:], ldc, cm, jc)
			}
		}
	}
}

// dotGemm computes C = alpha·A·Bᵀ + beta·C from 4×3 blocks of dot
// products (dotBlocks, on three rows of B at a time) over kdc-deep passes,
// the last n mod 3 columns with scalar dot products.
func dotGemm(v *variant, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	nf := n / 3 * 3
	dotBlocks(v, m, nf/3, k, alpha, a, lda, b, 3*ldb, ldb, beta, c, ldc, 3)
	if nf == n {
		return
	}
	for pc := 0; pc < k; pc += kdc {
		kb := min(kdc, k-pc)
		be := beta
		if pc > 0 {
			be = 1
		}
		mode := modeOf(be)
		for i := 0; i < m; i++ {
			ai := a[i*lda+pc : i*lda+pc+kb]
			for j := nf; j < n; j++ {
				bj := b[j*ldb+pc : j*ldb+pc+kb]
				var s float32
				for p, v := range ai {
					s += v * bj[p]
				}
				c[i*ldc+j] = update(c[i*ldc+j], alpha*s, be, mode)
			}
		}
	}
}

// dotBlocks is the dot-product path of dotGemm and DotShift3: for blocks
// jb < nb of three outputs each,
//
//	c[i·ldc + jb·cBlk + t] = alpha·Σ_p a[i·lda + p]·b[jb·bBlk + t·bIn + p] + beta·c[…],
//
// t < 3 (the block's three rows of B, bIn apart: three rows of a
// transposed B, ldb apart, or one row read at three shifts, bIn = 1). The
// sums run over kdc-deep passes, four rows of A at a time on the variant's
// dot kernel (the last k mod 8 terms in scalar code), the last m mod 4
// rows with scalar dot products.
func dotBlocks(v *variant, m, nb, k int, alpha float32, a []float32, lda int, b []float32, bBlk, bIn int, beta float32, c []float32, ldc, cBlk int) {
	dot := v.dot
	var out [12]float32
	mf := m / 4 * 4
	for pc := 0; pc < k; pc += kdc {
		kb := min(kdc, k-pc)
		k8 := kb / 8
		be := beta
		if pc > 0 {
			be = 1
		}
		mode := modeOf(be)
		for jb := 0; jb < nb; jb++ {
			bj := b[jb*bBlk+pc:]
			for i0 := 0; i0 < mf; i0 += 4 {
				ai := a[i0*lda+pc:]
				dot(k8, ai, lda, bj, bIn, &out)
				for p := 8 * k8; p < kb; p++ {
					b0, b1, b2 := bj[p], bj[bIn+p], bj[2*bIn+p]
					for r := 0; r < 4; r++ {
						v := ai[r*lda+p]
						out[3*r] += v * b0
						out[3*r+1] += v * b1
						out[3*r+2] += v * b2
					}
				}
				for r := 0; r < 4; r++ {
					row := c[(i0+r)*ldc+jb*cBlk:][:3]
					for t, s := range out[3*r : 3*r+3] {
						row[t] = update(row[t], alpha*s, be, mode)
					}
				}
			}
			for i := mf; i < m; i++ {
				ai := a[i*lda+pc : i*lda+pc+kb]
				row := c[i*ldc+jb*cBlk:][:3]
				for t := range row {
					bt := bj[t*bIn:][:kb]
					var s float32
					for p, v := range ai {
						s += v * bt[p]
					}
					row[t] = update(row[t], alpha*s, be, mode)
				}
			}
		}
	}
}

// update is one element's store in a mode: v, c + v, or v + beta·c.
func update(c, v, beta float32, mode int) float32 {
	switch mode {
	case modeZero:
		return v
	case modeOne:
		return c + v
	}
	return v + beta*c
}

func roundUp(x, r int) int { return (x + r - 1) / r * r }

// strips locates B's nr-column strips for the microkernel: the strip at
// column jr < edgeAt starts at b[jr·step] with rows ld apart (packed: step
// kb, ld nr; in place: step 1, ld ldb); the one at edgeAt (if any) is the
// packed edge.
type strips struct {
	b, edge              []float32
	ld, step, edgeAt, nr int
}

func (s *strips) at(jr int) ([]float32, int) {
	if jr >= s.edgeAt {
		return s.edge, s.nr
	}
	return s.b[jr*s.step:], s.ld
}

// macro multiplies a packed mb×kb block of A by a kb×nb block of B into C
// (mb×nb, leading dimension ldc, its column jr at c[cm.off(j0+jr)]):
// C = alpha·A·B + beta·C. Whole tiles go straight to C; edge tiles through
// a tile buffer.
func macro(v *variant, mb, nb, kb int, alpha float32, ap []float32, bs *strips, beta float32, c []float32, ldc int, cm colMap, j0 int) {
	mode := modeOf(beta)
	kern, mr, nr := v.kern, v.mr, v.nr
	var tile [maxMR * maxNR]float32
	for jr := 0; jr < nb; jr += nr {
		nrr := min(nr, nb-jr)
		bstrip, ldb := bs.at(jr)
		for ir := 0; ir < mb; ir += mr {
			mrr := min(mr, mb-ir)
			as := ap[ir*kb : (ir+mr)*kb]
			cc := c[ir*ldc+cm.off(j0+jr):]
			if mrr == mr && nrr == nr {
				kern(kb, as, bstrip, ldb, cc, ldc, alpha, beta, mode)
				continue
			}
			kern(kb, as, bstrip, ldb, tile[:], nr, 1, 0, modeZero)
			for r := 0; r < mrr; r++ {
				row := cc[r*ldc : r*ldc+nrr]
				t := tile[r*nr : r*nr+nrr]
				switch mode {
				case modeZero:
					for j, v := range t {
						row[j] = alpha * v
					}
				case modeOne:
					for j, v := range t {
						row[j] += alpha * v
					}
				default:
					for j, v := range t {
						row[j] = alpha*v + beta*row[j]
					}
				}
			}
		}
	}
}

// Modes of the microkernel's store: C = alpha·AB (beta = 0, C not read),
// C += alpha·AB (beta = 1), C = alpha·AB + beta·C.
const (
	modeZero = iota
	modeOne
	modeBeta
)

func modeOf(beta float32) int {
	switch beta {
	case 0:
		return modeZero
	case 1:
		return modeOne
	}
	return modeBeta
}

// packA packs rows [ic, ic+mb) and columns [pc, pc+kb) of op(A) into mr-row
// strips: strip t holds op(A)[ic+t·mr+r][pc+p] at dst[t·mr·kb + p·mr + r],
// rows past mb zero.
func packA(mr int, aT bool, a []float32, lda, ic, pc, mb, kb int, dst []float32) {
	for t := 0; t*mr < mb; t++ {
		d := dst[t*mr*kb : (t+1)*mr*kb]
		rows := min(mr, mb-t*mr)
		i0 := ic + t*mr
		if aT {
			// op(A)[i][p] = a[p·lda + i]: mr contiguous values per p.
			for p := 0; p < kb; p++ {
				src := a[(pc+p)*lda+i0:]
				dp := d[p*mr : p*mr+mr]
				copy(dp, src[:rows])
				if rows < mr {
					clear(dp[rows:])
				}
			}
			continue
		}
		// op(A)[i][p] = a[i·lda + p]: one row of A per lane.
		for r := 0; r < mr; r++ {
			if r >= rows {
				for p := 0; p < kb; p++ {
					d[p*mr+r] = 0
				}
				continue
			}
			src := a[(i0+r)*lda+pc : (i0+r)*lda+pc+kb]
			for p, v := range src {
				d[p*mr+r] = v
			}
		}
	}
}

// packB packs rows [pc, pc+kb) and columns [jc, jc+nb) of op(B) into
// the variant's nr-column strips: strip s holds op(B)[pc+p][jc+s·nr+j] at
// dst[s·nr·kb + p·nr + j], columns past nb zero.
func packB(v *variant, bT bool, b []float32, ldb, pc, jc, kb, nb int, dst []float32) {
	nr := v.nr
	for s := 0; s*nr < nb; s++ {
		d := dst[s*nr*kb : (s+1)*nr*kb]
		cols := min(nr, nb-s*nr)
		j0 := jc + s*nr
		if !bT {
			// op(B)[p][j] = b[p·ldb + j]: nr contiguous values per p.
			if cols == nr {
				v.packStrip(kb, b[pc*ldb+j0:], ldb, d)
				continue
			}
			for p := 0; p < kb; p++ {
				dp := d[p*nr : p*nr+nr]
				copy(dp, b[(pc+p)*ldb+j0:(pc+p)*ldb+j0+cols])
				if cols < nr {
					clear(dp[cols:])
				}
			}
			continue
		}
		// op(B)[p][j] = b[j·ldb + p]: one row of B per lane.
		if cols == nr {
			v.packStripT(kb, b[j0*ldb+pc:], ldb, d)
			continue
		}
		for j := 0; j < nr; j++ {
			if j >= cols {
				for p := 0; p < kb; p++ {
					d[p*nr+j] = 0
				}
				continue
			}
			src := b[(j0+j)*ldb+pc : (j0+j)*ldb+pc+kb]
			for p, v := range src {
				d[p*nr+j] = v
			}
		}
	}
}

// Kernel names the microkernel Sgemm uses on this CPU: "avx512" (the 8×32
// AVX-512 kernel), "avx2" (4×24, AVX2+FMA), "generic" (portable Go) or
// "gonum" (amd64 without AVX2 or FMA, where Sgemm is gonum's).
func Kernel() string {
	if useGonum {
		return "gonum"
	}
	return variants[0].name
}
