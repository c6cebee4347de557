//go:build gnaudit_cuda

package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/stats"
	"github.com/gnaudit/gnaudit/internal/approx"
)

var dev *Device

func TestMain(m *testing.M) {
	var err error
	dev, err = Open(0)
	if err != nil {
		println("cuda tests: cannot open device 0:", err.Error())
		os.Exit(1)
	}
	info := dev.Info()
	println("cuda tests on", info.Name, "cc", info.ComputeCapability, "driver", info.DriverVersion)
	code := m.Run()
	dev.Close()
	os.Exit(code)
}

func randF32(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

func up(t testing.TB, x []float32) *Buffer {
	t.Helper()
	b, err := dev.UploadF32(x)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func down(t testing.TB, b *Buffer) []float32 {
	t.Helper()
	x, err := dev.DownloadF32(b)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// closeTo checks |got-want| ≤ tol·(1+|want|) elementwise (approx.Slice
// with absolute and relative tol) on the first len(want) values of got (a
// device buffer may be longer).
func closeTo(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) < len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	g, w := make([]float64, len(want)), make([]float64, len(want))
	for i := range want {
		g[i], w[i] = float64(got[i]), float64(want[i])
	}
	if !approx.Slice(t, what, g, w, tol, tol) {
		t.FailNow()
	}
}

func gemmRef(g Gemm, a, b, c []float32) []float32 {
	out := slices.Clone(c)
	for z := 0; z < max(g.Batch, 1); z++ {
		for i := 0; i < g.M; i++ {
			for j := 0; j < g.N; j++ {
				var s float64
				for k := 0; k < g.K; k++ {
					var av, bv float32
					if g.TransA {
						av = a[int64(z)*g.StrideA+int64(k*g.Lda+i)]
					} else {
						av = a[int64(z)*g.StrideA+int64(i*g.Lda+k)]
					}
					if g.TransB {
						bv = b[int64(z)*g.StrideB+int64(j*g.Ldb+k)]
					} else {
						bv = b[int64(z)*g.StrideB+int64(k*g.Ldb+j)]
					}
					s += float64(av) * float64(bv)
				}
				p := int64(z)*g.StrideC + int64(i*g.Ldc+j)
				out[p] = g.Alpha*float32(s) + g.Beta*c[p]
			}
		}
	}
	return out
}

func TestGemm(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		m, n, k, batch int
		ta, tb         bool
		alpha, beta    float32
	}{
		{1, 1, 1, 1, false, false, 1, 0},
		{64, 64, 16, 1, false, false, 1, 0},
		{70, 33, 129, 1, false, false, 1, 0},
		{70, 33, 129, 1, true, false, 0.5, 1},
		{70, 33, 129, 1, false, true, 1, 0.25},
		{17, 100, 9, 3, true, true, 2, 1},
		{256, 10, 256, 4, false, true, 1, 0},
	} {
		g := Gemm{TransA: tc.ta, TransB: tc.tb, M: tc.m, N: tc.n, K: tc.k, Alpha: tc.alpha, Beta: tc.beta, Batch: tc.batch}
		if tc.ta {
			g.Lda = tc.m
		} else {
			g.Lda = tc.k
		}
		if tc.tb {
			g.Ldb = tc.k
		} else {
			g.Ldb = tc.n
		}
		g.Ldc = tc.n
		g.StrideA, g.StrideB, g.StrideC = int64(tc.m*tc.k), int64(tc.k*tc.n), int64(tc.m*tc.n)
		a, b, c := randF32(r, tc.m*tc.k*tc.batch), randF32(r, tc.k*tc.n*tc.batch), randF32(r, tc.m*tc.n*tc.batch)
		da, db, dc := up(t, a), up(t, b), up(t, c)
		if err := dev.Gemm(g, da, db, dc); err != nil {
			t.Fatal(err)
		}
		closeTo(t, "gemm", down(t, dc), gemmRef(g, a, b, c), 1e-4)
		dev.Free(da, db, dc)
	}
}

// convRef is a direct convolution (no groups) y[n,o,oh,ow].
func convRef(g ConvGeom, o int, x, w []float32) []float32 {
	y := make([]float32, g.N*o*g.OH*g.OW)
	for n := 0; n < g.N; n++ {
		for oc := 0; oc < o; oc++ {
			for oh := 0; oh < g.OH; oh++ {
				for ow := 0; ow < g.OW; ow++ {
					var s float64
					for c := 0; c < g.C; c++ {
						for kh := 0; kh < g.KH; kh++ {
							for kw := 0; kw < g.KW; kw++ {
								ih, iw := oh*g.SH-g.PH+kh*g.DH, ow*g.SW-g.PW+kw*g.DW
								if ih < 0 || ih >= g.H || iw < 0 || iw >= g.W {
									continue
								}
								s += float64(x[((n*g.C+c)*g.H+ih)*g.W+iw]) * float64(w[((oc*g.C+c)*g.KH+kh)*g.KW+kw])
							}
						}
					}
					y[((n*o+oc)*g.OH+oh)*g.OW+ow] = float32(s)
				}
			}
		}
	}
	return y
}

func outSize(in, k, s, p, d int) int { return (in+2*p-d*(k-1)-1)/s + 1 }

// TestConvIm2colGemm checks conv forward as im2col + batched GEMM against a
// direct convolution, and col2im as the adjoint of im2col (<im2col(x), c> = <x, col2im(c)>).
func TestConvIm2colGemm(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, g := range []ConvGeom{
		{N: 2, C: 3, H: 8, W: 8, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1, DH: 1, DW: 1},
		{N: 3, C: 3, H: 32, W: 32, KH: 11, KW: 11, SH: 4, SW: 4, PH: 5, PW: 5, DH: 1, DW: 1},
		{N: 2, C: 4, H: 9, W: 7, KH: 3, KW: 2, SH: 2, SW: 1, PH: 0, PW: 1, DH: 2, DW: 1},
	} {
		g.OH, g.OW = outSize(g.H, g.KH, g.SH, g.PH, g.DH), outSize(g.W, g.KW, g.SW, g.PW, g.DW)
		o := 5
		x, w := randF32(r, g.N*g.C*g.H*g.W), randF32(r, o*g.C*g.KH*g.KW)
		kk, p := g.C*g.KH*g.KW, g.OH*g.OW
		dx, dw := up(t, x), up(t, w)
		col, _ := dev.Alloc(g.N*kk*p, 4)
		y, _ := dev.Alloc(g.N*o*p, 4)
		if err := dev.Im2col(g, dx, col, SampleMajor); err != nil {
			t.Fatal(err)
		}
		// y_n = W [o×kk] · col_n [kk×p]
		gm := Gemm{M: o, N: p, K: kk, Alpha: 1, Lda: kk, Ldb: p, Ldc: p, StrideB: int64(kk * p), StrideC: int64(o * p), Batch: g.N}
		if err := dev.Gemm(gm, dw, col, y); err != nil {
			t.Fatal(err)
		}
		want := convRef(g, o, x, w)
		closeTo(t, "conv", down(t, y), want, 1e-4)
		// The batch layout: one GEMM, then [o][n][p] → [n][o][p].
		colB, _ := dev.Alloc(g.N*kk*p, 4)
		yT, _ := dev.Alloc(g.N*o*p, 4)
		if err := dev.Im2col(g, dx, colB, RowMajorBatch); err != nil {
			t.Fatal(err)
		}
		gm = Gemm{M: o, N: g.N * p, K: kk, Alpha: 1, Lda: kk, Ldb: g.N * p, Ldc: g.N * p}
		if err := dev.Gemm(gm, dw, colB, yT); err != nil {
			t.Fatal(err)
		}
		if err := dev.Swap01(yT, y, o, g.N, p); err != nil {
			t.Fatal(err)
		}
		closeTo(t, "conv (batch layout)", down(t, y), want, 1e-4)
		// adjoint check, both layouts
		cv := randF32(r, g.N*kk*p)
		dcv := up(t, cv)
		back, _ := dev.Alloc(len(x), 4)
		for _, c := range []struct {
			col    *Buffer
			layout ColLayout
		}{{col, SampleMajor}, {colB, RowMajorBatch}} {
			if err := dev.Col2im(g, dcv, back, c.layout); err != nil {
				t.Fatal(err)
			}
			colx, bx := down(t, c.col), down(t, back)
			var lhs, rhs float64
			for i := range cv {
				lhs += float64(colx[i]) * float64(cv[i])
			}
			for i := range x {
				rhs += float64(x[i]) * float64(bx[i])
			}
			if !approx.Within(t, fmt.Sprintf("col2im (layout %d) as the adjoint of im2col: ⟨x, col2im(v)⟩ against ⟨im2col(x), v⟩", c.layout), rhs, lhs, 1e-3, 1e-3) {
				t.FailNow()
			}
		}
		dev.Free(colB, yT)
		dev.Free(dx, dw, col, y, dcv, back)
	}
}

func TestPoolingReluBNXent(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	g := ConvGeom{N: 2, C: 3, H: 6, W: 5, KH: 2, KW: 2, SH: 2, SW: 2, PH: 0, PW: 0}
	g.OH, g.OW = 3, 2
	x := randF32(r, g.N*g.C*g.H*g.W)
	dx := up(t, x)
	y, _ := dev.Alloc(g.N*g.C*g.OH*g.OW, 4)
	arg, _ := dev.Alloc(g.N*g.C*g.OH*g.OW, 4)
	if err := dev.MaxPool(g, dx, y, arg); err != nil {
		t.Fatal(err)
	}
	want := make([]float32, g.N*g.C*g.OH*g.OW)
	avg := make([]float32, len(want))
	for nc := 0; nc < g.N*g.C; nc++ {
		for oh := 0; oh < g.OH; oh++ {
			for ow := 0; ow < g.OW; ow++ {
				m := float32(math.Inf(-1))
				var s float32
				for a := 0; a < 2; a++ {
					for b := 0; b < 2; b++ {
						v := x[(nc*g.H+oh*2+a)*g.W+ow*2+b]
						m = max(m, v)
						s += v
					}
				}
				want[(nc*g.OH+oh)*g.OW+ow] = m
				avg[(nc*g.OH+oh)*g.OW+ow] = s / 4
			}
		}
	}
	closeTo(t, "maxpool", down(t, y), want, 1e-6)
	// Backward: the gradient of Σ y·u w.r.t. x puts u at each argmax.
	u := randF32(r, len(want))
	du := up(t, u)
	gx, _ := dev.Alloc(len(x), 4)
	if err := dev.MaxPoolBackward(g, du, arg, gx); err != nil {
		t.Fatal(err)
	}
	gxs := down(t, gx)
	var sum1, sum2 float64
	for i := range u {
		sum1 += float64(u[i])
	}
	for i := range gxs {
		sum2 += float64(gxs[i])
	}
	if !approx.Abs(t, "maxpool backward mass", sum2, sum1, 1e-4) {
		t.FailNow()
	}
	if err := dev.AvgPool(g, dx, y, false); err != nil {
		t.Fatal(err)
	}
	closeTo(t, "avgpool", down(t, y), avg, 1e-6)

	// ReLU forward/backward.
	ry, _ := dev.Alloc(len(x), 4)
	if err := dev.Relu(dx, ry, len(x)); err != nil {
		t.Fatal(err)
	}
	rw := make([]float32, len(x))
	for i, v := range x {
		rw[i] = max(v, 0)
	}
	closeTo(t, "relu", down(t, ry), rw, 0)

	// Softmax cross-entropy against a float64 reference.
	n, k := 7, 10
	logits := randF32(r, n*k)
	labels := make([]int32, n)
	for i := range labels {
		labels[i] = int32(r.IntN(k))
	}
	dl, _ := dev.UploadF32(logits)
	dlab, _ := dev.UploadI32(labels)
	loss, _ := dev.Alloc(n, 4)
	grad, _ := dev.Alloc(n*k, 4)
	if err := dev.SoftmaxCrossEntropy(dl, dlab, loss, grad, n, k); err != nil {
		t.Fatal(err)
	}
	wl, wg := make([]float32, n), make([]float32, n*k)
	for i := 0; i < n; i++ {
		m := math.Inf(-1)
		for j := 0; j < k; j++ {
			m = math.Max(m, float64(logits[i*k+j]))
		}
		var s float64
		for j := 0; j < k; j++ {
			s += math.Exp(float64(logits[i*k+j]) - m)
		}
		lse := math.Log(s) + m
		wl[i] = float32(lse - float64(logits[i*k+int(labels[i])]))
		for j := 0; j < k; j++ {
			v := math.Exp(float64(logits[i*k+j]) - lse)
			if j == int(labels[i]) {
				v--
			}
			wg[i*k+j] = float32(v)
		}
	}
	closeTo(t, "xent loss", down(t, loss), wl, 1e-5)
	closeTo(t, "xent grad", down(t, grad), wg, 1e-5)
	dev.Free(dx, y, arg, du, gx, ry, dl, dlab, loss, grad)
}

func TestColumnMoments(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	rows, cols := 600, 1000
	x := make([]float32, rows*cols)
	for i := range x {
		x[i] = float32(1e3 + r.ExpFloat64())
	}
	dx := up(t, x)
	defer dev.Free(dx)
	got, err := dev.ColumnMoments(dx, rows, cols)
	if err != nil {
		t.Fatal(err)
	}
	for j := 0; j < cols; j += 97 {
		var s float64
		for i := 0; i < rows; i++ {
			s += float64(x[i*cols+j])
		}
		mean := s / float64(rows)
		var w [5]float64
		w[0] = mean
		for i := 0; i < rows; i++ {
			d := float64(x[i*cols+j]) - mean
			w[1] += d * d
			w[2] += d * d * d
			w[3] += d * d * d * d
			w[4] += math.Abs(d * d * d)
		}
		for q := 0; q < 5; q++ {
			if !approx.Within(t, fmt.Sprintf("column %d moment %d", j, q), got[5*j+q], w[q], 1e-9, 1e-9) {
				t.FailNow()
			}
		}
	}
}

// swRef computes W = (Σ a_i (x_(n-1-i) − x_(i)))² / Σ (x − mean)² on the host.
func swRef(col []float64, a []float64) float64 {
	s := slices.Clone(col)
	slices.Sort(s)
	var mean float64
	for _, v := range s {
		mean += v
	}
	mean /= float64(len(s))
	var ss, sa float64
	for _, v := range s {
		ss += (v - mean) * (v - mean)
	}
	for i := range a {
		sa += a[i] * (s[len(s)-1-i] - s[i])
	}
	return math.Min(sa*sa/ss, 1)
}

// blomHalf returns normalised Blom-score coefficients (a stand-in for AS R94's:
// the kernel's arithmetic does not depend on which coefficients it is given).
func blomHalf(n int) []float64 {
	a := make([]float64, n/2)
	var ss float64
	for i := range a {
		p := (float64(n-i) - 0.375) / (float64(n) + 0.25)
		a[i] = math.Sqrt2 * math.Erfinv(2*p-1)
		ss += 2 * a[i] * a[i]
	}
	for i := range a {
		a[i] /= math.Sqrt(ss)
	}
	return a
}

func TestShapiroWilkW(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, n := range []int{3, 4, 11, 12, 200, 600, 1000, 2048, 4096} {
		cols := 257
		x := make([]float32, n*cols)
		for i := range x {
			switch (i % cols) % 3 {
			case 0:
				x[i] = float32(r.NormFloat64())
			case 1:
				x[i] = float32(r.ExpFloat64())
			default:
				x[i] = float32(math.Round(r.NormFloat64() * 2))
			}
		}
		// one degenerate column
		for i := 0; i < n; i++ {
			x[i*cols+5] = 3
		}
		dx := up(t, x)
		a := blomHalf(n)
		w, rng, err := dev.ShapiroWilkW(dx, n, cols, a)
		if err != nil {
			t.Fatal(err)
		}
		col := make([]float64, n)
		for j := 0; j < cols; j++ {
			for i := 0; i < n; i++ {
				col[i] = float64(x[i*cols+j])
			}
			if j == 5 {
				if rng[j] != 0 {
					t.Fatalf("n=%d: degenerate column has range %g", n, rng[j])
				}
				continue
			}
			if !approx.Abs(t, fmt.Sprintf("n=%d column %d: W", n, j), w[j], swRef(col, a), approx.Float64) {
				t.FailNow()
			}
		}
		dev.Free(dx)
	}
}

// TestShapiroWilkAgainstCPU compares the GPU test (W and p) with the CPU
// implementation of auditor/stats (itself checked against R).
func TestShapiroWilkAgainstCPU(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{3, 5, 11, 12, 50, 200, 600, 2000, 4096} {
		cols := 300
		x := make([]float32, n*cols)
		for i := range x {
			j := i % cols
			switch j % 4 {
			case 0:
				x[i] = float32(r.NormFloat64())
			case 1:
				x[i] = float32(1 / (r.Float64() + 1e-3)) // heavy right tail
			case 2:
				x[i] = float32(math.Round(r.NormFloat64()))
			default:
				x[i] = float32(1e-6 * r.NormFloat64())
			}
		}
		for i := 0; i < n; i++ {
			x[i*cols+7] = -2 // degenerate column
		}
		sw, err := stats.NewShapiroWilk(n)
		if err != nil {
			t.Fatal(err)
		}
		dx := up(t, x)
		got, err := dev.ShapiroWilk(dx, cols, sw)
		dev.Free(dx)
		if err != nil {
			t.Fatal(err)
		}
		col := make([]float64, n)
		for j := 0; j < cols; j++ {
			for i := 0; i < n; i++ {
				col[i] = float64(x[i*cols+j])
			}
			want, err := sw.Test(col)
			if err != nil {
				t.Fatal(err)
			}
			g := got[j]
			if g.Degenerate != want.Degenerate {
				t.Fatalf("n=%d column %d: GPU %+v, CPU %+v", n, j, g, want)
			}
			// the p-value is ≥ 0: |want.P| = want.P
			okW := approx.Abs(t, fmt.Sprintf("n=%d column %d: GPU W against the CPU's", n, j), g.W, want.W, 1e-10)
			if okP := approx.Within(t, fmt.Sprintf("n=%d column %d: GPU p against the CPU's", n, j), g.P, want.P, 1e-8, 1e-6); !okW || !okP {
				t.FailNow()
			}
		}
	}
}
