package graph

import (
	"fmt"
	"math"
	"math/rand"
	"runtime"
	"slices"
	"testing"

	"github.com/gnaudit/gnaudit/internal/approx"
)

// TestIm2colTable checks im2col and col2im through the gather table against
// the row sweep (the reference path kept for wide stride-1 outputs), exactly,
// on geometries with strides, dilations and asymmetric padding.
func TestIm2colTable(t *testing.T) {
	cases := []geom{
		{n: 3, c: 2, h: 32, w: 32, kh: 11, kw: 11, sh: 4, sw: 4, dh: 1, dw: 1, pt: 5, pl: 5, pb: 5, pr: 5},
		{n: 2, c: 3, h: 4, w: 4, kh: 5, kw: 5, sh: 1, sw: 1, dh: 1, dw: 1, pt: 2, pl: 2, pb: 2, pr: 2},
		{n: 2, c: 2, h: 2, w: 2, kh: 3, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1, pt: 1, pl: 1, pb: 1, pr: 1},
		{n: 2, c: 2, h: 7, w: 6, kh: 3, kw: 2, sh: 2, sw: 3, dh: 2, dw: 1, pt: 0, pl: 1, pb: 2, pr: 0},
		{n: 1, c: 3, h: 5, w: 5, kh: 3, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1},
		{n: 2, c: 2, h: 1, w: 9, kh: 1, kw: 3, sh: 1, sw: 2, dh: 1, dw: 2, pl: 1, pr: 3},
	}
	rng := rand.New(rand.NewSource(5))
	for k, g0 := range cases {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			g := g0
			g.oh = (g.h+g.pt+g.pb-(g.kh-1)*g.dh-1)/g.sh + 1
			g.ow = (g.w+g.pl+g.pr-(g.kw-1)*g.dw-1)/g.sw + 1
			x := make([]float64, g.n*g.c*g.h*g.w)
			for i := range x {
				x[i] = rng.NormFloat64()
			}
			size := g.c * g.kh * g.kw * g.n * g.oh * g.ow
			want, got := make([]float64, size), make([]float64, size)
			for i := range got {
				got[i] = 7 // every element must be written
			}
			im2colRows(want, x, &g)
			im2colTable(got, x, &g, &scratch[float64]{})
			if !slices.Equal(got, want) {
				t.Fatalf("im2col: table and row sweep differ")
			}
			cols := make([]float64, size)
			for i := range cols {
				cols[i] = rng.NormFloat64()
			}
			dw, dg := make([]float64, len(x)), make([]float64, len(x))
			col2imRows(dw, cols, &g)
			col2imTable(dg, cols, &g, &scratch[float64]{})
			if !slices.Equal(dg, dw) {
				t.Fatalf("col2im: table and row sweep differ")
			}
		})
	}
}

// TestColCacheFollowsInput checks that the column matrices kept from the
// forward pass for the weight gradients follow new inputs: after passes on
// other inputs (LossGrad and Forward), LossGrad(x) gives exactly the
// gradients of a fresh net.
func TestColCacheFollowsInput(t *testing.T) {
	m := alexnetCIFAR()
	rng := rand.New(rand.NewSource(9))
	x1, x2, x3 := randVec(rng, 2*3*32*32), randVec(rng, 2*3*32*32), randVec(rng, 2*3*32*32)
	labels := []int{3, 8}
	used, err := Build(m, Options{Batch: 2, Float64: true})
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := Build(m, Options{Batch: 2, Float64: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := used.LossGrad(x1, labels); err != nil {
		t.Fatal(err)
	}
	if _, err := used.Forward(x3); err != nil {
		t.Fatal(err)
	}
	if _, err := used.LossGrad(x2, labels); err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.LossGrad(x2, labels); err != nil {
		t.Fatal(err)
	}
	for _, p := range fresh.Params() {
		if !slices.Equal(used.Grad(p.Name), fresh.Grad(p.Name)) {
			t.Errorf("%s: gradient after other passes differs from a fresh net's", p.Name)
		}
	}
}

// TestViews checks ValueView, DerivView and GradView against the copying
// Value, Deriv and Grad, and ConvColumns against the column matrix built
// element by element from Value of the convolution's input (float32 and
// float64).
func TestViews(t *testing.T) {
	m := alexnetCIFAR()
	rng := rand.New(rand.NewSource(4))
	const B = 2
	x := randVec(rng, B*3*32*32)
	for _, f64 := range []bool{false, true} {
		net, err := Build(m, Options{Batch: B, Float64: f64})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := net.LossGrad(x, []int{1, 2}); err != nil {
			t.Fatal(err)
		}
		asF64 := func(d any) []float64 {
			switch d := d.(type) {
			case []float32:
				r := make([]float64, len(d))
				for k, v := range d {
					r[k] = float64(v)
				}
				return r
			case []float64:
				return d
			}
			t.Fatalf("view of type %T", d)
			return nil
		}
		convs := 0
		for _, n := range m.Nodes {
			if len(n.Outputs) == 0 {
				continue
			}
			name := n.Outputs[0]
			s1, v1, ok1 := net.Value(name)
			s2, v2, ok2 := net.ValueView(name)
			if ok1 != ok2 || !slices.Equal(s1, s2) || (ok1 && !slices.Equal(v1, asF64(v2))) {
				t.Errorf("Float64 %v: ValueView(%q) differs from Value", f64, name)
			}
			s1, v1, ok1 = net.Deriv(name)
			s2, v2, ok2 = net.DerivView(name)
			if ok1 != ok2 || !slices.Equal(s1, s2) || (ok1 && !slices.Equal(v1, asF64(v2))) {
				t.Errorf("Float64 %v: DerivView(%q) differs from Deriv", f64, name)
			}
			if n.OpType != "Conv" {
				continue
			}
			data, rows, cols, ok := net.ConvColumns(n.Name)
			if !ok {
				t.Errorf("Float64 %v: no ConvColumns(%q)", f64, n.Name)
				continue
			}
			convs++
			xs, xv, _ := net.Value(n.Inputs[0])
			ws, _, _ := net.Value(n.Inputs[1])
			ys, _, _ := net.Value(name)
			C, H, W, kh, kw, oh, ow := xs[1], xs[2], xs[3], ws[2], ws[3], ys[2], ys[3]
			st, pad := int(n.Attrs["strides"].Ints[0]), int(n.Attrs["pads"].Ints[0])
			if rows != C*kh*kw || cols != B*oh*ow {
				t.Fatalf("ConvColumns(%q): %d×%d", n.Name, rows, cols)
			}
			got := asF64(data)
			for c := 0; c < C; c++ {
				for i := 0; i < kh; i++ {
					for j := 0; j < kw; j++ {
						for b := 0; b < B; b++ {
							for y := 0; y < oh; y++ {
								for z := 0; z < ow; z++ {
									iy, iz := y*st-pad+i, z*st-pad+j
									want := 0.0
									if iy >= 0 && iy < H && iz >= 0 && iz < W {
										want = xv[((b*C+c)*H+iy)*W+iz]
									}
									if g := got[((c*kh+i)*kw+j)*cols+(b*oh+y)*ow+z]; g != want {
										t.Fatalf("ConvColumns(%q)[%d, %d, %d; %d, %d, %d] = %v, want %v", n.Name, c, i, j, b, y, z, g, want)
									}
								}
							}
						}
					}
				}
			}
		}
		if convs != 5 {
			t.Errorf("Float64 %v: %d convolutions with columns, want 5", f64, convs)
		}
		for _, p := range net.Params() {
			if !slices.Equal(net.Grad(p.Name), asF64(net.GradView(p.Name))) {
				t.Errorf("Float64 %v: GradView(%q) differs from Grad", f64, p.Name)
			}
		}
	}
}

// TestReluFast checks the branch-free ReLU and its gradient against the
// definition (x > 0 passes, else +0) on signed zeros, infinities, NaNs and
// subnormals, in float32 and float64.
func TestReluFast(t *testing.T) {
	vals := []float64{0, math.Copysign(0, -1), 1, -1, 1e-40, -1e-40, 5e-324, -5e-324, math.Inf(1), math.Inf(-1), math.NaN(), -math.NaN(), 3.5, -2.25, math.MaxFloat32, math.MaxFloat64}
	g64 := make([]float64, len(vals))
	for i := range g64 {
		g64[i] = float64(i) + 0.5
	}
	x32, g32 := make([]float32, len(vals)), make([]float32, len(vals))
	for i, v := range vals {
		x32[i], g32[i] = float32(v), float32(g64[i])
	}
	x32[11] = math.Float32frombits(0xffc00000) // a NaN with the sign bit
	o32, d32 := make([]float32, len(vals)), make([]float32, len(vals))
	o64, d64 := make([]float64, len(vals)), make([]float64, len(vals))
	reluFast(o32, x32, x32)
	reluFast(d32, x32, g32)
	reluFast(o64, vals, vals)
	reluFast(d64, vals, g64)
	for i := range vals {
		w32, wd32, w64, wd64 := float32(0), float32(0), 0.0, 0.0
		// ReLU(NaN) = NaN (ONNX max(x, 0), PyTorch), and its gradient
		// passes (PyTorch: x <= 0 ? 0 : g).
		if !(x32[i] <= 0) {
			w32, wd32 = x32[i], g32[i]
		}
		if !(vals[i] <= 0) {
			w64, wd64 = vals[i], g64[i]
		}
		if math.Float32bits(o32[i]) != math.Float32bits(w32) || d32[i] != wd32 {
			t.Errorf("float32 x=%v: relu %v grad %v, want %v %v", x32[i], o32[i], d32[i], w32, wd32)
		}
		if math.Float64bits(o64[i]) != math.Float64bits(w64) || d64[i] != wd64 {
			t.Errorf("float64 x=%v: relu %v grad %v, want %v %v", vals[i], o64[i], d64[i], w64, wd64)
		}
	}
}

// TestMaxArg2x2 checks the branch-free 2×2 window maximum against
// maxPoolArg on windows drawn from values with ties, signed zeros,
// infinities and NaNs of both signs.
func TestMaxArg2x2(t *testing.T) {
	vals := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 2, 1e-40, -1e-40, float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.NaN()), math.Float32frombits(0xffc00001), math.MaxFloat32, -math.MaxFloat32}
	g := &geom{h: 2, w: 2, kh: 2, kw: 2, sh: 2, sw: 2, dh: 1, dw: 1, oh: 1, ow: 1}
	if !pool2x2(g) {
		t.Fatal("pool2x2 refuses a 2×2 stride-2 window")
	}
	src := make([]float32, 4)
	n := len(vals)
	for c := 0; c < n*n*n*n; c++ {
		for k, q := 0, c; k < 4; k, q = k+1, q/n {
			src[k] = vals[q%n]
		}
		if got, want := maxArg2x2(src, 0, 2), maxPoolArg(src, g, 0, 0); got != want {
			t.Fatalf("window %v: argmax %d, want %d", src, got, want)
		}
	}
}

// TestColCacheBudget checks the path without kept column matrices (beyond
// the budget): gradients equal those computed with the matrices kept, and
// ConvColumns reports none.
func TestColCacheBudget(t *testing.T) {
	m := alexnetCIFAR()
	rng := rand.New(rand.NewSource(10))
	x := randVec(rng, 2*3*32*32)
	labels := []int{4, 6}
	kept, err := Build(m, Options{Batch: 2, Float64: true})
	if err != nil {
		t.Fatal(err)
	}
	old := colCacheBudget
	colCacheBudget = 0
	none, err := Build(m, Options{Batch: 2, Float64: true})
	colCacheBudget = old
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*Net{kept, none} {
		if _, err := n.LossGrad(x, labels); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range kept.Params() {
		if !slices.Equal(kept.Grad(p.Name), none.Grad(p.Name)) {
			t.Errorf("%s: gradient without kept column matrices differs", p.Name)
		}
	}
	for _, nd := range m.Nodes {
		if nd.OpType != "Conv" {
			continue
		}
		if _, _, _, ok := none.ConvColumns(nd.Name); ok {
			t.Errorf("%s: ConvColumns with a zero budget", nd.Name)
		}
		if _, _, _, ok := kept.ConvColumns(nd.Name); !ok {
			t.Errorf("%s: no ConvColumns within the budget", nd.Name)
		}
	}
}

// TestIm2colRowsParallel checks the row sweeps split over goroutines (a
// ResNet stage-1 geometry: 32×32, 3×3, stride 1, wide enough to split)
// against one sweep over all channels, exactly.
func TestIm2colRowsParallel(t *testing.T) {
	g := geom{n: 4, c: 8, h: 32, w: 32, kh: 3, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1, pt: 1, pl: 1, pb: 1, pr: 1, oh: 32, ow: 32}
	if g.useTable() || runtime.GOMAXPROCS(0) > 1 && workers(g.c*g.kh*g.kw*g.n*g.oh*g.ow) < 2 {
		t.Fatalf("geometry does not exercise the split row sweep")
	}
	rng := rand.New(rand.NewSource(11))
	x := make([]float32, g.n*g.c*g.h*g.w)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	size := g.c * g.kh * g.kw * g.n * g.oh * g.ow
	want, got := make([]float32, size), make([]float32, size)
	for i := range got {
		got[i] = 7
	}
	im2colRowsCh(want, x, &g, 0, g.c)
	im2colRows(got, x, &g)
	if !slices.Equal(got, want) {
		t.Fatal("im2col: split and single row sweeps differ")
	}
	cols := make([]float32, size)
	for i := range cols {
		cols[i] = float32(rng.NormFloat64())
	}
	dw, dg := make([]float32, len(x)), make([]float32, len(x))
	col2imRowsCh(dw, cols, &g, 0, g.c)
	col2imRows(dg, cols, &g)
	if !slices.Equal(dg, dw) {
		t.Fatal("col2im: split and single row sweeps differ")
	}
}

// TestConvGradXTransposed checks the input gradient computed as the
// transposed convolution against the product-and-col2im path, on stride-1
// geometries with symmetric, asymmetric and no padding (table and row-sweep
// im2col both), and that geometries without a transposed form keep the
// reference path.
func TestConvGradXTransposed(t *testing.T) {
	cases := []struct {
		g    geom
		want bool // has a transposed form
	}{
		{geom{n: 3, c: 4, m: 5, h: 32, w: 32, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1}, true},
		{geom{n: 2, c: 3, m: 2, h: 8, w: 8, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1}, true},
		{geom{n: 2, c: 3, m: 4, h: 7, w: 6, kh: 3, kw: 2, pt: 0, pl: 1, pb: 2, pr: 0}, true},
		{geom{n: 2, c: 2, m: 3, h: 5, w: 20, kh: 5, kw: 5}, true},
		{geom{n: 2, c: 6, m: 3, h: 4, w: 4, kh: 1, kw: 1}, true},
		{geom{n: 1, c: 2, m: 2, h: 1, w: 9, kh: 1, kw: 3, pl: 2, pr: 2}, true},
		{geom{n: 2, c: 2, m: 2, h: 6, w: 6, kh: 3, kw: 3, sh: 2, sw: 2, pt: 1, pl: 1, pb: 1, pr: 1}, false},
		{geom{n: 2, c: 2, m: 2, h: 6, w: 6, kh: 3, kw: 3, dh: 2, dw: 2}, false},
		{geom{n: 2, c: 2, m: 2, h: 4, w: 4, kh: 3, kw: 3, pt: 3, pl: 1, pb: 0, pr: 1}, false},
	}
	// the geometric conditions alone; the speed thresholds are checked below
	defer func(m, hw int) { transposedMaxM, transposedMinHW = m, hw }(transposedMaxM, transposedMinHW)
	transposedMaxM, transposedMinHW = 1<<30, 0
	rng := rand.New(rand.NewSource(11))
	for k, tc := range cases {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			g := tc.g
			g.group = 1
			g.sh, g.sw = max(g.sh, 1), max(g.sw, 1)
			g.dh, g.dw = max(g.dh, 1), max(g.dw, 1)
			g.oh = (g.h+g.pt+g.pb-(g.kh-1)*g.dh-1)/g.sh + 1
			g.ow = (g.w+g.pl+g.pr-(g.kw-1)*g.dw-1)/g.sw + 1
			if got := g.transposed() != nil; got != tc.want {
				t.Fatalf("transposed() != nil is %v, want %v", got, tc.want)
			}
			w := make([]float64, g.m*g.c*g.kh*g.kw)
			gy := make([]float64, g.n*g.m*g.oh*g.ow)
			for _, s := range [][]float64{w, gy} {
				for i := range s {
					s[i] = rng.NormFloat64()
				}
			}
			want, got := make([]float64, g.n*g.c*g.h*g.w), make([]float64, g.n*g.c*g.h*g.w)
			convGradXRef = true
			convGradX(want, w, gy, &g, &scratch[float64]{})
			convGradXRef = false
			for i := range got {
				got[i] = 7 // every element must be written
			}
			convGradX(got, w, gy, &g, &scratch[float64]{})
			for i := range got {
				if !approx.Within(t, fmt.Sprintf("dx[%d]", i), got[i], want[i], approx.Float64, approx.Float64) {
					t.FailNow()
				}
			}
		})
	}
	transposedMaxM, transposedMinHW = 64, 64
	for _, tc := range []struct {
		g    geom
		want bool
	}{
		{geom{m: 64, h: 8, w: 8, oh: 8, ow: 8}, true},
		{geom{m: 65, h: 8, w: 8, oh: 8, ow: 8}, false},
		{geom{m: 16, h: 7, w: 8, oh: 7, ow: 8}, false},
	} {
		g := tc.g
		g.n, g.c, g.group, g.kh, g.kw, g.sh, g.sw, g.dh, g.dw = 1, 1, 1, 3, 3, 1, 1, 1, 1
		g.pt, g.pl, g.pb, g.pr = 1, 1, 1, 1
		if got := g.transposed() != nil; got != tc.want {
			t.Errorf("m %d, %d×%d: transposed() != nil is %v, want %v", g.m, g.h, g.w, got, tc.want)
		}
	}
}

// TestConvFwdBlocked checks the blocked convolution (blocks of one sample
// and of several, with a short last block; table and row-sweep im2col;
// groups and bias) against the whole-batch product.
func TestConvFwdBlocked(t *testing.T) {
	cases := []geom{
		{n: 5, c: 4, m: 6, h: 32, w: 32, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1, group: 2},
		{n: 7, c: 3, m: 4, h: 8, w: 8, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1, group: 1},
		{n: 3, c: 2, m: 3, h: 7, w: 6, kh: 3, kw: 2, sh: 2, sw: 3, dh: 2, dw: 1, pl: 1, pb: 2, group: 1},
		{n: 4, c: 6, m: 3, h: 4, w: 4, kh: 1, kw: 1, group: 3},
	}
	defer func(v int) { convBlockCols = v }(convBlockCols)
	rng := rand.New(rand.NewSource(12))
	for k, g0 := range cases {
		g := g0
		g.sh, g.sw = max(g.sh, 1), max(g.sw, 1)
		g.dh, g.dw = max(g.dh, 1), max(g.dw, 1)
		g.oh = (g.h+g.pt+g.pb-(g.kh-1)*g.dh-1)/g.sh + 1
		g.ow = (g.w+g.pl+g.pr-(g.kw-1)*g.dw-1)/g.sw + 1
		x := make([]float64, g.n*g.c*g.h*g.w)
		w := make([]float64, g.m*g.c/g.group*g.kh*g.kw)
		b := make([]float64, g.m)
		for _, s := range [][]float64{x, w, b} {
			for i := range s {
				s[i] = rng.NormFloat64()
			}
		}
		want := make([]float64, g.n*g.m*g.oh*g.ow)
		convBlockCols = 0
		convFwd(want, x, w, b, &g, &scratch[float64]{}, nil)
		for _, bc := range []int{1, 2 * g.oh * g.ow, 3 * g.oh * g.ow, 1024} {
			t.Run(fmt.Sprint(k, "/", bc), func(t *testing.T) {
				convBlockCols = bc
				got := make([]float64, len(want))
				for i := range got {
					got[i] = 7
				}
				convFwd(got, x, w, b, &g, &scratch[float64]{}, nil)
				for i := range got {
					if !approx.Within(t, fmt.Sprintf("out[%d]", i), got[i], want[i], approx.Float64, approx.Float64) {
						t.FailNow()
					}
				}
			})
		}
	}
}

// TestConvGradWBlocked checks the blocked weight gradient (no kept column
// matrix) against the whole-batch product, on the geometries of
// TestConvFwdBlocked.
func TestConvGradWBlocked(t *testing.T) {
	cases := []geom{
		{n: 9, c: 4, m: 6, h: 32, w: 32, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1, group: 2},
		{n: 7, c: 3, m: 4, h: 8, w: 8, kh: 3, kw: 3, pt: 1, pl: 1, pb: 1, pr: 1, group: 1},
		{n: 3, c: 2, m: 3, h: 7, w: 6, kh: 3, kw: 2, sh: 2, sw: 3, dh: 2, dw: 1, pl: 1, pb: 2, group: 1},
		{n: 4, c: 6, m: 3, h: 4, w: 4, kh: 1, kw: 1, group: 3},
	}
	defer func(v int) { convBlockCols = v }(convBlockCols)
	rng := rand.New(rand.NewSource(13))
	for k, g0 := range cases {
		g := g0
		g.sh, g.sw = max(g.sh, 1), max(g.sw, 1)
		g.dh, g.dw = max(g.dh, 1), max(g.dw, 1)
		g.oh = (g.h+g.pt+g.pb-(g.kh-1)*g.dh-1)/g.sh + 1
		g.ow = (g.w+g.pl+g.pr-(g.kw-1)*g.dw-1)/g.sw + 1
		x := make([]float64, g.n*g.c*g.h*g.w)
		gy := make([]float64, g.n*g.m*g.oh*g.ow)
		for _, s := range [][]float64{x, gy} {
			for i := range s {
				s[i] = rng.NormFloat64()
			}
		}
		want := make([]float64, g.m*g.c/g.group*g.kh*g.kw)
		convBlockCols = 0
		convGradW(want, x, gy, &g, &scratch[float64]{}, nil)
		for _, bc := range []int{1, 2 * g.oh * g.ow, 3 * g.oh * g.ow, 1024} {
			t.Run(fmt.Sprint(k, "/", bc), func(t *testing.T) {
				convBlockCols = bc
				got := make([]float64, len(want))
				for i := range got {
					got[i] = 7
				}
				convGradW(got, x, gy, &g, &scratch[float64]{}, nil)
				for i := range got {
					if !approx.Within(t, fmt.Sprintf("dw[%d]", i), got[i], want[i], 1e-11, 1e-11) {
						t.FailNow()
					}
				}
			})
		}
	}
}
