package sgemm

// kernelFunc computes one mr×nr tile from A's packed strip a (kc steps of
// mr values) and B's strip b (kc rows of nr values, ldb apart; ldb = nr
// when packed): C = alpha·a·b (modeZero, C not read), C += alpha·a·b
// (modeOne) or C = alpha·a·b + beta·C (modeBeta), for the tile at c with
// leading dimension ldc.
type kernelFunc func(kc int, a, b []float32, ldb int, c []float32, ldc int, alpha, beta float32, mode int)

// variant is one microkernel with its register tile (mr×nr, at most
// maxMR×maxNR), the copies of whole nr-column strips of B into its packed
// form (not transposed: kb > 0 rows lds apart; transposed: nr rows of kb
// > 0 values, lds apart) and the dot-product kernel of small-m A·Bᵀ, used
// for m ≤ dotMaxM (see the package's dotMaxM).
type variant struct {
	name       string
	mr, nr     int
	dotMaxM    int
	kern       kernelFunc
	packStrip  func(kb int, src []float32, lds int, dst []float32)
	packStripT func(kb int, src []float32, lds int, dst []float32)
	dot        dotFunc
	// taps, when set, is Taps's tile kernel: the tile of Σ_t A_t·B_t in
	// registers across the taps (else Taps calls kern per tap)
	taps func(kc int, a []float32, astride int, b []float32, offs []int, ldb int, c []float32, ldc int)
}

// Largest register tile of all variants (the edge-tile buffer).
const (
	maxMR = 8
	maxNR = 32
)

// generic is the portable variant.
var generic = &variant{name: "generic", mr: mr, nr: nr, dotMaxM: 64, kern: kernelGeneric,
	packStrip: packStripGeneric, packStripT: packStripTGeneric, dot: dotGeneric}

// forced, when not nil, is the variant kernel returns instead of the best
// one for this CPU (tests and benchmarks of every variant; with it set,
// Sgemm never hands over to gonum's).
var forced *variant

// kernel returns the variant for this CPU: the fastest in variants (the
// list of those this CPU runs, best first), or forced.
func kernel() *variant {
	if forced != nil {
		return forced
	}
	return variants[0]
}

// kernelGeneric is the portable microkernel (mr×nr = 4×24): the tile in
// 4×4 blocks of scalar accumulators (16 registers).
func kernelGeneric(kc int, a, b []float32, ldb int, c []float32, ldc int, alpha, beta float32, mode int) {
	a = a[:kc*mr]
	_ = b[(kc-1)*ldb+nr-1]
	for j := 0; j < nr; j += 4 {
		var c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33 float32
		bo := j
		for p := 0; p < kc; p++ {
			ap := (*[mr]float32)(a[p*mr : p*mr+mr])
			bp := (*[4]float32)(b[bo : bo+4])
			bo += ldb
			a0, a1, a2, a3 := ap[0], ap[1], ap[2], ap[3]
			b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
			c00 += a0 * b0
			c01 += a0 * b1
			c02 += a0 * b2
			c03 += a0 * b3
			c10 += a1 * b0
			c11 += a1 * b1
			c12 += a1 * b2
			c13 += a1 * b3
			c20 += a2 * b0
			c21 += a2 * b1
			c22 += a2 * b2
			c23 += a2 * b3
			c30 += a3 * b0
			c31 += a3 * b1
			c32 += a3 * b2
			c33 += a3 * b3
		}
		acc := [mr][4]float32{{c00, c01, c02, c03}, {c10, c11, c12, c13}, {c20, c21, c22, c23}, {c30, c31, c32, c33}}
		for r := range acc {
			row := (*[4]float32)(c[r*ldc+j : r*ldc+j+4])
			switch mode {
			case modeZero:
				for q, v := range acc[r] {
					row[q] = alpha * v
				}
			case modeOne:
				for q, v := range acc[r] {
					row[q] += alpha * v
				}
			default:
				for q, v := range acc[r] {
					row[q] = alpha*v + beta*row[q]
				}
			}
		}
	}
}

// dotFunc computes out[3r+j] = Σ_{p<8·k8} a[r·lda+p]·b[j·ldb+p] for r < 4,
// j < 3: the dot-product kernel of products with B transposed (rows of A
// and rows of B both contiguous).
type dotFunc func(k8 int, a []float32, lda int, b []float32, ldb int, out *[12]float32)

// dotGeneric is the portable dot-product kernel.
func dotGeneric(k8 int, a []float32, lda int, b []float32, ldb int, out *[12]float32) {
	n := 8 * k8
	for r := 0; r < 4; r++ {
		ar := a[r*lda : r*lda+n]
		b0, b1, b2 := b[:n], b[ldb:ldb+n], b[2*ldb:2*ldb+n]
		var s0, s1, s2 float32
		for p, v := range ar {
			s0 += v * b0[p]
			s1 += v * b1[p]
			s2 += v * b2[p]
		}
		out[3*r], out[3*r+1], out[3*r+2] = s0, s1, s2
	}
}

// packStripGeneric copies one whole 24-column strip of B (not transposed).
func packStripGeneric(kb int, src []float32, lds int, dst []float32) {
	for p := 0; p < kb; p++ {
		copy(dst[p*nr:p*nr+nr], src[p*lds:p*lds+nr])
	}
}

// packStripTGeneric copies one whole 24-column strip of B transposed.
func packStripTGeneric(kb int, src []float32, lds int, dst []float32) {
	for j := 0; j < nr; j++ {
		for p, v := range src[j*lds : j*lds+kb] {
			dst[p*nr+j] = v
		}
	}
}
