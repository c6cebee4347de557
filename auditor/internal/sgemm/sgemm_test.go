package sgemm

import (
	"fmt"
	"math"
	"math/rand"
	"runtime"
	"slices"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

var _ blas.Float32 = Implementation{}

// Tolerances. Each element of C is a float32 sum of k products, formed in
// kc-deep partial sums scaled by alpha and added to beta·C. Whatever the
// order (and with or without fused multiply-adds), the standard bound on
// such a sum (Higham, Accuracy and Stability, §3.1) is
//
//	|ĉ − c| ≤ γ·(|alpha|·Σₚ|a_ip||b_pj| + |beta|·|c_ij|),  γ = (k + 2·⌈k/kc⌉ + 3)·u,
//
// u = 2⁻²⁴. The tests allow 2γ against an exact (float64) reference and 4γ
// against gonum's Sgemm, whose own error has the same bound.
const u = 1.0 / (1 << 24)

func gamma(k int) float64 { return float64(k+2*((k+kc-1)/kc)+3) * u }

// problem is one Sgemm call's arguments.
type problem struct {
	tA, tB        blas.Transpose
	m, n, k       int
	alpha, beta   float32
	lda, ldb, ldc int
	a, b, c       []float32

	want, scale []float64 // reference, computed once
	gonum       []float32 // gonum's result, computed once
}

func newProblem(rng *rand.Rand, tA, tB blas.Transpose, m, n, k int, alpha, beta float32, pad int) *problem {
	p := &problem{tA: tA, tB: tB, m: m, n: n, k: k, alpha: alpha, beta: beta}
	ar, ac := m, k
	if tA != blas.NoTrans {
		ar, ac = k, m
	}
	br, bc := k, n
	if tB != blas.NoTrans {
		br, bc = n, k
	}
	p.lda, p.ldb, p.ldc = max(1, ac)+rng.Intn(pad+1), max(1, bc)+rng.Intn(pad+1), max(1, n)+rng.Intn(pad+1)
	p.a = randSlice(rng, max(0, ar*p.lda))
	p.b = randSlice(rng, max(0, br*p.ldb))
	p.c = randSlice(rng, max(0, m*p.ldc))
	return p
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

func (p *problem) at(i, l int) float64 {
	if p.tA != blas.NoTrans {
		return float64(p.a[l*p.lda+i])
	}
	return float64(p.a[i*p.lda+l])
}

func (p *problem) bt(l, j int) float64 {
	if p.tB != blas.NoTrans {
		return float64(p.b[j*p.ldb+l])
	}
	return float64(p.b[l*p.ldb+j])
}

// reference returns the exact-ish (float64) result and the per-element
// scale |alpha|·Σ|a||b| + |beta|·|c| of the error bound.
func (p *problem) reference() (want, scale []float64) {
	want = make([]float64, len(p.c))
	scale = make([]float64, len(p.c))
	for i := range p.c {
		want[i] = float64(p.c[i])
	}
	for i := 0; i < p.m; i++ {
		for j := 0; j < p.n; j++ {
			var s, sa float64
			for l := 0; l < p.k; l++ {
				x := p.at(i, l) * p.bt(l, j)
				s += x
				sa += math.Abs(x)
			}
			c0 := float64(p.c[i*p.ldc+j])
			v := float64(p.alpha) * s
			if p.beta != 0 {
				v += float64(p.beta) * c0
			}
			want[i*p.ldc+j] = v
			scale[i*p.ldc+j] = math.Abs(float64(p.alpha))*sa + math.Abs(float64(p.beta)*c0)
		}
	}
	return want, scale
}

func (p *problem) run(f func(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)) []float32 {
	c := append([]float32(nil), p.c...)
	f(p.tA, p.tB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, c, p.ldc)
	return c
}

// check compares got with the reference (2γ) and with gonum's Sgemm (4γ);
// elements of C outside the m×n matrix (ldc > n) must be unchanged.
func (p *problem) check(t *testing.T, got []float32) {
	t.Helper()
	if p.want == nil {
		p.want, p.scale = p.reference()
		p.gonum = p.run(gonum.Implementation{}.Sgemm)
	}
	want, scale, gn := p.want, p.scale, p.gonum
	g := gamma(p.k)
	bad := 0
	for i := range got {
		if i%p.ldc >= p.n {
			if math.Float32bits(got[i]) != math.Float32bits(p.c[i]) {
				t.Errorf("%v: c[%d] outside the matrix changed: %v → %v", p, i, p.c[i], got[i])
				return
			}
			continue
		}
		d := math.Abs(float64(got[i]) - want[i])
		dg := math.Abs(float64(got[i]) - float64(gn[i]))
		if d > 2*g*scale[i] || dg > 4*g*scale[i] || math.IsNaN(float64(got[i])) {
			if bad++; bad <= 3 {
				t.Errorf("%v: c[%d,%d] = %v, want %v (gonum %v, tolerance %.3g)", p, i/p.ldc, i%p.ldc, got[i], want[i], gn[i], 2*g*scale[i])
			}
		}
	}
}

func (p *problem) String() string {
	return fmt.Sprintf("%c%c m=%d n=%d k=%d alpha=%v beta=%v lda=%d ldb=%d ldc=%d", p.tA, p.tB, p.m, p.n, p.k, p.alpha, p.beta, p.lda, p.ldb, p.ldc)
}

var transposes = []blas.Transpose{blas.NoTrans, blas.Trans}

var alphaBetas = [][2]float32{{1, 0}, {1, 1}, {-0.5, 2}, {2, 0}, {0.75, -1}, {0, 0.5}, {0, 0}, {0, 1}}

// kernels runs f once per microkernel variant this CPU runs (AVX-512,
// AVX2, portable; each forced in turn, so the AVX2 path stays tested on
// AVX-512 machines) and per path: the default one (B read in place for m ≤
// directMaxM, dot products for A·Bᵀ with m ≤ dotMaxM) and always packed.
func kernels(t *testing.T, f func(t *testing.T)) {
	if len(variants) == 1 {
		t.Logf("no assembly kernel on this CPU/arch; generic only")
	}
	for _, v := range variants {
		for _, packed := range []bool{false, true} {
			name := v.name + map[bool]string{false: "", true: "/packed"}[packed]
			t.Run(name, func(t *testing.T) {
				forced = v
				saved, savedDot := directMaxM, dotMaxM
				if packed {
					directMaxM, dotMaxM = 0, 0
				}
				defer func() { forced, directMaxM, dotMaxM = nil, saved, savedDot }()
				f(t)
			})
		}
	}
}

// TestEdgeSizes runs every size 1…70 around the 4×24 and 8×32 tiles in each of m, n
// and k (the others random), every transpose pair and alpha/beta pair, with
// strided leading dimensions.
func TestEdgeSizes(t *testing.T) {
	kernels(t, func(t *testing.T) {
		rng := rand.New(rand.NewSource(1))
		i := 0
		for s := 1; s <= 70; s++ {
			for dim := 0; dim < 3; dim++ {
				d := [3]int{1 + rng.Intn(70), 1 + rng.Intn(70), 1 + rng.Intn(70)}
				d[dim] = s
				tA, tB := transposes[i%2], transposes[(i/2)%2]
				ab := alphaBetas[i%len(alphaBetas)]
				i++
				p := newProblem(rng, tA, tB, d[0], d[1], d[2], ab[0], ab[1], 3)
				p.check(t, p.run(Sgemm))
			}
		}
	})
}

// TestTable covers every transpose and alpha/beta pair on shapes that
// cross the block sizes (kc = 256, mc = 128, nc = 3072) and the split over
// goroutines, and degenerate ones.
func TestTable(t *testing.T) {
	shapes := [][3]int{
		{1, 1, 1}, {4, 24, 1}, {4, 24, 256}, {5, 25, 257}, {3, 23, 7}, {8, 48, 513},
		{129, 50, 300}, {16, 1024, 144}, {144, 200, 16}, {64, 576, 70}, {27, 100, 64},
		{7, 3100, 9}, {130, 30, 20}, {16, 144, 1031}, {5, 7, 2100}, {64, 576, 64},
		{12, 9, 300}, {33, 50, 1100}, // odd k/8 in the dot kernels
	}
	rng := rand.New(rand.NewSource(2))
	var probs []*problem
	for _, sh := range shapes {
		for _, tA := range transposes {
			for _, tB := range transposes {
				for _, ab := range alphaBetas[:6] {
					probs = append(probs, newProblem(rng, tA, tB, sh[0], sh[1], sh[2], ab[0], ab[1], 2))
				}
			}
		}
	}
	kernels(t, func(t *testing.T) {
		for _, p := range probs {
			p.check(t, p.run(Sgemm))
		}
	})
}

// TestParallel forces more goroutines than cores, so that both the row and
// the column split run (and the race detector can see them).
func TestParallel(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(5))
	rng := rand.New(rand.NewSource(3))
	for _, sh := range [][3]int{{300, 40, 200}, {20, 700, 300}, {130, 3200, 40}} {
		for _, tA := range transposes {
			for _, tB := range transposes {
				p := newProblem(rng, tA, tB, sh[0], sh[1], sh[2], 1.5, 0.5, 1)
				p.check(t, p.run(Sgemm))
			}
		}
	}
}

// TestBetaZeroDoesNotReadC fills C with NaN: beta = 0 must overwrite it.
func TestBetaZeroDoesNotReadC(t *testing.T) {
	kernels(t, func(t *testing.T) {
		rng := rand.New(rand.NewSource(4))
		for _, sh := range [][3]int{{4, 24, 5}, {5, 30, 3}, {9, 50, 300}, {3, 3, 0}} {
			for _, alpha := range []float32{1, 0} {
				p := newProblem(rng, blas.NoTrans, blas.NoTrans, sh[0], sh[1], sh[2], alpha, 0, 2)
				for i := range p.c {
					if i%p.ldc < p.n {
						p.c[i] = float32(math.NaN())
					}
				}
				got := p.run(Sgemm)
				for i, v := range got {
					if i%p.ldc < p.n && math.IsNaN(float64(v)) {
						t.Fatalf("%v: c[%d] is NaN: C was read with beta = 0", p, i)
					}
				}
				p.check(t, got)
			}
		}
	})
}

// TestEmpty: m, n or k zero, and nil slices where gonum accepts them.
func TestEmpty(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	for _, sh := range [][3]int{{0, 5, 3}, {5, 0, 3}, {0, 0, 0}, {4, 6, 0}} {
		for _, ab := range alphaBetas {
			p := newProblem(rng, blas.NoTrans, blas.Trans, sh[0], sh[1], sh[2], ab[0], ab[1], 1)
			p.check(t, p.run(Sgemm))
		}
	}
	Sgemm(blas.NoTrans, blas.NoTrans, 0, 0, 0, 1, nil, 1, nil, 1, 0, nil, 1)
}

// TestPanics: bad arguments panic with gonum's messages.
func TestPanics(t *testing.T) {
	a := make([]float32, 12)
	cases := []struct {
		name          string
		tA, tB        blas.Transpose
		m, n, k       int
		lda, ldb, ldc int
		la, lb, lc    int
	}{
		{"transpose", 'x', blas.NoTrans, 2, 2, 2, 2, 2, 2, 4, 4, 4},
		{"m", blas.NoTrans, blas.NoTrans, -1, 2, 2, 2, 2, 2, 4, 4, 4},
		{"n", blas.NoTrans, blas.NoTrans, 2, -1, 2, 2, 2, 2, 4, 4, 4},
		{"k", blas.NoTrans, blas.NoTrans, 2, 2, -1, 2, 2, 2, 4, 4, 4},
		{"lda", blas.NoTrans, blas.NoTrans, 2, 2, 3, 2, 2, 2, 6, 6, 4},
		{"ldaT", blas.Trans, blas.NoTrans, 3, 2, 2, 2, 2, 2, 6, 4, 6},
		{"ldb", blas.NoTrans, blas.NoTrans, 2, 3, 2, 2, 2, 3, 4, 6, 6},
		{"ldc", blas.NoTrans, blas.NoTrans, 2, 3, 2, 2, 3, 2, 4, 6, 6},
		{"shortA", blas.NoTrans, blas.NoTrans, 2, 2, 2, 2, 2, 2, 3, 4, 4},
		{"shortB", blas.NoTrans, blas.Trans, 2, 2, 2, 2, 2, 2, 4, 3, 4},
		{"shortC", blas.NoTrans, blas.NoTrans, 2, 2, 2, 2, 2, 2, 4, 4, 3},
	}
	for _, c := range cases {
		msg := func(f func(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)) (s any) {
			defer func() { s = recover() }()
			f(c.tA, c.tB, c.m, c.n, c.k, 1, a[:c.la], c.lda, a[:c.lb], c.ldb, 0, make([]float32, c.lc), c.ldc)
			return nil
		}
		got, want := msg(Sgemm), msg(gonum.Implementation{}.Sgemm)
		if got == nil || got != want {
			t.Errorf("%s: panic %v, gonum's %v", c.name, got, want)
		}
	}
}

// TestImplementation: the BLAS for gorgonia computes with this Sgemm and
// keeps gonum's other routines.
func TestImplementation(t *testing.T) {
	var impl Implementation
	a := []float32{1, 2, 3, 4, 5, 6} // 3×2
	b := []float32{1, -1, 2, 0.5}    // 2×2
	c := make([]float32, 6)
	impl.Sgemm(blas.NoTrans, blas.NoTrans, 3, 2, 2, 1, a, 2, b, 2, 0, c, 2)
	want := []float32{5, 0, 11, -1, 17, -2}
	for i := range want {
		if c[i] != want[i] {
			t.Fatalf("Sgemm = %v, want %v", c, want)
		}
	}
	if d := impl.Sdot(2, a, 1, b, 1); d != -1 {
		t.Fatalf("Sdot = %v, want -1", d)
	}
}

// TestSerialSeg checks SerialSeg against Serial into a packed C whose
// columns are then placed by segment, bit for bit (the same tiles, stored
// elsewhere), for every kernel variant and path, on segment lengths of
// one and several tiles, partial last segments, several nc-column blocks,
// kc-deep passes, alpha/beta pairs (beta ≠ 0 reads the segmented C), and
// checks that the gaps between segments and rows are not written.
func TestSerialSeg(t *testing.T) {
	kernels(t, func(t *testing.T) {
		rng := rand.New(rand.NewSource(9))
		nr := kernel().nr
		if SegOK(nr+1) || SegOK(0) || !SegOK(2*nr) {
			t.Fatalf("SegOK wrong for tile width %d", nr)
		}
		for _, tc := range []struct{ m, n, k, segTiles int }{
			{1, 1, 1, 1}, {8, 4 * nr, 17, 1}, {16, 8 * nr, 144, 2}, {33, 5*nr + 7, 300, 2},
			{64, 32 * nr, 576, 8}, {5, nc + 3*nr, 40, 4}, {9, 3 * nr, 0, 1},
		} {
			for _, ab := range [][2]float32{{1, 0}, {1, 1}, {0.5, -2}, {0, 0.5}} {
				m, n, k := tc.m, tc.n, tc.k
				seg := tc.segTiles * nr
				ldc := seg + 1
				segStride := (m-1)*ldc + seg + 3
				a, b := randSlice(rng, m*max(k, 1)+1), randSlice(rng, k*n+1)
				nseg := (n + seg - 1) / seg
				c := randSlice(rng, (m-1)*ldc+(nseg-1)*segStride+seg+5)
				orig := slices.Clone(c)
				// the reference: C gathered into a packed m×n, Serial, placed back
				at := func(i, j int) int { return i*ldc + j/seg*segStride + j%seg }
				packed := make([]float32, m*n)
				for i := 0; i < m; i++ {
					for j := 0; j < n; j++ {
						packed[i*n+j] = c[at(i, j)]
					}
				}
				Serial(blas.NoTrans, blas.NoTrans, m, n, k, ab[0], a, max(k, 1), b, n, ab[1], packed, n)
				want := slices.Clone(orig)
				for i := 0; i < m; i++ {
					for j := 0; j < n; j++ {
						want[at(i, j)] = packed[i*n+j]
					}
				}
				SerialSeg(m, n, k, ab[0], a, max(k, 1), b, n, ab[1], c, ldc, seg, segStride)
				for i := range c {
					if math.Float32bits(c[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%+v alpha, beta %v: c[%d] = %v, want %v (before %v)", tc, ab, i, c[i], want[i], orig[i])
					}
				}
			}
		}
	})
}
