package persample

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/internal/approx"
)

// convCase is one convolution configuration of TestCollectMatchesFull.
type convCase struct {
	name          string
	c, h, w       int64 // input channels and size
	m, kh, kw     int64 // output channels and kernel
	attrs         map[string]ir.Attr
	bias, bn      bool
	wantTransposd bool // with many coordinates, the direct product runs in fullT's layout (when enabled)
	gram          bool // with 3 coordinates, |g_i|² comes from Gram matrices
}

// convCaseModel builds x → Conv (→ BN) → Relu → Flatten → Gemm (5
// classes) for c.
func convCaseModel(c convCase) *ir.Model {
	b := newModel(13, -1, c.c, c.h, c.w)
	attr := func(name string, k int, def int64) int64 {
		if a, ok := c.attrs[name]; ok {
			return a.Ints[k]
		}
		return def
	}
	groups := int64(1)
	if g, ok := c.attrs["group"]; ok {
		groups = g.Int
	}
	out := func(in, k int64, axis int) int64 {
		pad := attr("pads", axis, 0) + attr("pads", axis+2, 0)
		return (in+pad-attr("dilations", axis, 1)*(k-1)-1)/attr("strides", axis, 1) + 1
	}
	oh, ow := out(c.h, c.kh, 0), out(c.w, c.kw, 1)
	ins := []string{"x", b.param("conv.W", 0.3, true, c.m, c.c/groups, c.kh, c.kw)}
	if c.bias {
		ins = append(ins, b.param("conv.b", 0.1, true, c.m))
	}
	h := b.op("Conv", c.attrs, ins...)
	if c.bn {
		h = b.bn(h, "bn", c.m)
	}
	h = b.op("Relu", nil, h)
	h = b.op("Flatten", at("axis", ai(1)), h)
	return b.output(b.op("Gemm", at("transB", ai(1)), h, b.param("fc.W", 0.3, true, 5, c.m*oh*ow)))
}

// TestCollectMatchesFull checks the outputs the noise collector asks for
// (|g_i|², Σ_i g_i and coordinates, without Full) against the materialised
// per-sample gradients (Request.Full) of the same engine, in float64 to
// 1e-12 of each tensor's scale: for convolutions with odd sizes, strides,
// padding, dilation, groups, 1×1 kernels, biases and BatchNormalization,
// with the direct product in both layouts (mmExp.full and mmExp.fullT) and
// the Gram norms where they are cheaper.
func TestCollectMatchesFull(t *testing.T) {
	cases := []convCase{
		{name: "3x3 pad 1 odd size", c: 3, h: 7, w: 5, m: 4, kh: 3, kw: 3, attrs: at("pads", ais(1, 1, 1, 1)), bias: true, wantTransposd: true},
		{name: "5x3 stride 2", c: 2, h: 9, w: 8, m: 3, kh: 5, kw: 3, attrs: at("strides", ais(2, 2), "pads", ais(2, 1, 1, 0)), bias: true, wantTransposd: true},
		{name: "groups 2 dilation 2", c: 4, h: 9, w: 9, m: 6, kh: 3, kw: 3, attrs: at("group", ai(2), "dilations", ais(2, 2), "pads", ais(2, 2, 2, 2)), bn: true, wantTransposd: true},
		{name: "2x4 asymmetric pads", c: 3, h: 6, w: 7, m: 4, kh: 2, kw: 4, attrs: at("pads", ais(0, 2, 1, 1)), bias: true, wantTransposd: true},
		{name: "depthwise", c: 5, h: 6, w: 7, m: 5, kh: 3, kw: 3, attrs: at("group", ai(5), "pads", ais(1, 1, 1, 1)), wantTransposd: true},
		{name: "1x1", c: 6, h: 5, w: 5, m: 3, kh: 1, kw: 1, attrs: nil, bn: true, wantTransposd: true},
		{name: "1x1 stride 2 more outputs", c: 3, h: 7, w: 7, m: 8, kh: 1, kw: 1, attrs: at("strides", ais(2, 2)), bias: true},
		{name: "few positions (Gram)", c: 8, h: 3, w: 3, m: 16, kh: 3, kw: 3, attrs: at("strides", ais(2, 2), "pads", ais(1, 1, 1, 1)), bias: true, gram: true, wantTransposd: true},
	}
	cases = append(cases, gramCases...)
	const n = 7
	for _, c := range cases {
		for _, mode := range []struct{ trans, noCols, shiftCols, tap bool }{{false, false, false, false}, {true, false, false, false}, {false, true, false, false}, {true, true, false, false}, {false, true, true, false}, {true, true, true, false}, {false, false, false, true}, {true, true, true, true}} {
			trans := mode.trans
			t.Run(fmt.Sprintf("%s/transposed=%v/columns=%v/shiftColumns=%v/tap=%v", c.name, trans, !mode.noCols, mode.shiftCols, mode.tap), func(t *testing.T) {
				defer func(v, w, x, y bool) { transposeDirect, convNoColumns, shiftColumns, tapConvs = v, w, x, y }(transposeDirect, convNoColumns, shiftColumns, tapConvs)
				transposeDirect, convNoColumns, shiftColumns, tapConvs = trans, mode.noCols, mode.shiftCols, mode.tap
				m := convCaseModel(c)
				e, err := New(m, Options{Float64: true, Batch: 5})
				if err != nil {
					t.Fatal(err)
				}
				per := prod(e.InputShape())
				x, y := randInput(5, n*per), randLabels(6, n, e.Classes())
				params := e.Params()
				full, err := e.Compute(x, y, Request{Full: true})
				if err != nil {
					t.Fatal(err)
				}
				for _, many := range []bool{false, true} {
					r := rand.New(rand.NewSource(9))
					var coords [][]int
					for _, p := range params {
						nc := 3
						if many {
							nc = p.Size/3 + 2
						}
						coords = append(coords, randomCoords(r, p.Size, nc))
					}
					req := Request{Norms: true, Coords: coords}
					got, err := e.Compute(x, y, req)
					if err != nil {
						t.Fatal(err)
					}
					run := convRun(t, e, req)
					// small maps: tapConv, no column matrix (tap.go)
					wantTap := mode.tap && int(c.h*c.w) <= tapMaxHW && run.mm.p <= tapMaxHW
					if (run.mm.tap != nil) != wantTap {
						t.Fatalf("tapConv %v, want %v", run.mm.tap != nil, wantTap)
					}
					if wantTap {
						if !run.gram || run.direct || run.dotsAll || (len(coords) > 0 && run.tapOffs == nil) {
							t.Errorf("tapConv: gram %v direct %v dotsAll %v, want Gram norms and tap coordinates", run.gram, run.direct, run.dotsAll)
						}
					}
					stride1 := c.attrs["strides"].Ints == nil
					// shiftConv.fullIm (stride 1, no column matrix) computes
					// in the parameter's layout
					byFullIm := mode.shiftCols && mode.noCols && stride1
					if wantTap {
						// the path checks below are of the column-matrix paths
					} else if many && run.trans != (c.wantTransposd && trans && !byFullIm) {
						t.Errorf("many coordinates: transposed %v, want %v", run.trans, c.wantTransposd && trans && !byFullIm)
					}
					if many && run.direct && run.mm.shiftIm() != byFullIm {
						t.Errorf("many coordinates: fullIm %v, want %v", run.mm.shiftIm(), byFullIm)
					}
					if shifted := run.trans && run.mm.shift != nil; many && shifted != (run.trans && mode.noCols && stride1) {
						t.Errorf("many coordinates: shifted products %v, want %v", shifted, run.trans && mode.noCols && stride1)
					}
					if !many && run.gram != c.gram {
						t.Errorf("3 coordinates: Gram norms %v, want %v", run.gram, c.gram)
					}
					if want := c.gram && !mode.noCols; !wantTap && !many && run.dotsAll != want {
						t.Errorf("3 coordinates: batch-wide coordinates %v, want %v", run.dotsAll, want)
					}
					for k, p := range params {
						pg := got.Params[k]
						sum := make([]float64, p.Size)
						norms := make([]float64, n)
						nc := len(coords[k])
						for i := 0; i < n; i++ {
							g := rowOf(full.Params[k], i, p.Size)
							for j, v := range g {
								sum[j] += v
								norms[i] += v * v
							}
							want := make([]float64, nc)
							for q, j := range coords[k] {
								want[q] = g[j]
							}
							approx.Slice(t, fmt.Sprintf("%s sample %d coordinates", p.Name, i), pg.Coords[i*nc:(i+1)*nc], want, scaled(g, approx.Float64), 0)
						}
						approx.Slice(t, p.Name+" squared norms", pg.SqNorm, norms, scaled(norms, approx.Float64), 0)
						approx.Slice(t, p.Name+" sums", pg.Sum, sum, scaled(sum, approx.Float64), 0)
					}
				}
			})
		}
	}
}

// gramCases are convolutions whose norms come from Gram matrices and whose
// coordinates, with the executor's column matrix, from mmExp.dotsAll on
// the transposed δ, for each kind of segment dot (dotSegs: p = 4, p a
// multiple of 4, any other p) and both Gram paths (gramsAll for p ≤
// smallGramP, gramT above); their Gemm takes the Gram norm with p = 1 and
// its coordinates by mmExp.dotsAt.
var gramCases = []convCase{
	{name: "4 positions (Gram, dotSegs p=4)", c: 6, h: 2, w: 2, m: 20, kh: 3, kw: 3, attrs: at("pads", ais(1, 1, 1, 1)), bias: true, gram: true, wantTransposd: true},
	{name: "9 positions (Gram, dotSegs any p)", c: 8, h: 3, w: 3, m: 24, kh: 3, kw: 3, attrs: at("pads", ais(1, 1, 1, 1)), bn: true, gram: true, wantTransposd: true},
	{name: "16 positions (Gram by gramT, dotSegs 4 | p)", c: 8, h: 4, w: 4, m: 40, kh: 3, kw: 3, attrs: at("pads", ais(1, 1, 1, 1)), bias: true, gram: true, wantTransposd: true},
}

// TestCollectMatchesFull32 is TestCollectMatchesFull in float32 mode for
// the Gram paths (gramCases): norms, coordinates and sums against the
// engine's materialised float32 gradients (direct products), to 1e-5 of
// each tensor's scale, as the Gram matrices of float32 samples are
// accumulated in float32 (gramT).
func TestCollectMatchesFull32(t *testing.T) {
	const n, tol = 7, 1e-5
	for _, c := range gramCases {
		for _, mode := range []struct{ noCols, tap bool }{{false, false}, {true, false}, {false, true}} {
			noCols := mode.noCols
			t.Run(fmt.Sprintf("%s/columns=%v/tap=%v", c.name, !noCols, mode.tap), func(t *testing.T) {
				defer func(v, w bool) { convNoColumns, tapConvs = v, w }(convNoColumns, tapConvs)
				convNoColumns, tapConvs = noCols, mode.tap
				e, err := New(convCaseModel(c), Options{Batch: 5})
				if err != nil {
					t.Fatal(err)
				}
				per := prod(e.InputShape())
				x, y := randInput(5, n*per), randLabels(6, n, e.Classes())
				full, err := e.Compute(x, y, Request{Full: true})
				if err != nil {
					t.Fatal(err)
				}
				r := rand.New(rand.NewSource(9))
				var coords [][]int
				for _, p := range e.Params() {
					coords = append(coords, randomCoords(r, p.Size, 3))
				}
				got, err := e.Compute(x, y, Request{Norms: true, Coords: coords})
				if err != nil {
					t.Fatal(err)
				}
				for k, p := range e.Params() {
					pg := got.Params[k]
					sum := make([]float64, p.Size)
					norms := make([]float64, n)
					var want []float64
					for i := 0; i < n; i++ {
						g := rowOf(full.Params[k], i, p.Size)
						for j, v := range g {
							sum[j] += v
							norms[i] += v * v
						}
						for _, j := range coords[k] {
							want = append(want, g[j])
						}
					}
					approx.Slice(t, p.Name+" coordinates", pg.Coords, want, scaled(want, tol), 0)
					approx.Slice(t, p.Name+" squared norms", pg.SqNorm, norms, scaled(norms, tol), 0)
					approx.Slice(t, p.Name+" sums", pg.Sum, sum, scaled(sum, tol), 0)
				}
			})
		}
	}
}

// convRun returns the chunk-level plan that req gives the convolution
// weight conv.W.
func convRun(t *testing.T, e *Engine, req Request) *paramRun[float64] {
	t.Helper()
	if _, err := e.main.LossGrad(randInput(5, e.Batch()*prod(e.InputShape())), randLabels(6, e.Batch(), e.Classes())); err != nil {
		t.Fatal(err)
	}
	ps := newPass(e.main, e.shapes)
	for k, p := range e.plans {
		if p.info.Name != "conv.W" {
			continue
		}
		mm, err := newConv[float64](ps, p.uses[0])
		if !req.Full {
			// as runExpansions for a parameter of one use
			mm, err = newConvTap[float64](ps, p.uses[0])
		}
		if err != nil {
			t.Fatal(err)
		}
		r := &paramRun[float64]{k: k, info: &p.info, mms: []*mmExp[float64]{mm}, mmVidx: [][]int32{nil}}
		r.single(req, len(req.Coords[k]))
		return r
	}
	t.Fatal("no conv.W")
	return nil
}
