package persample

import (
	"math/rand"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/ir"
)

// TestDotShift checks shiftConv.dotShift (fullIm's products by
// sgemm.DotShift3, no column matrix, with the border-only padding of
// shiftConv.pad) in float32 against the float64 engine on the executor's
// column matrix (no shiftConv): materialised
// gradients, squared norms, sums and coordinates of every parameter, to
// 1e-5 of each tensor's scale, on stride-1 convolutions with 3×3 and 2×6
// kernels, symmetric, one-sided and no pads, two groups and a row
// dilation, with and without BatchNormalization, each computed twice on
// the same engine (stale scratch), and on two convolutions of different
// padded sizes in one model (sharing the workers' padded buffers).
func TestDotShift(t *testing.T) {
	cases := []convCase{
		{name: "3x3 pad 1 BN", c: 8, h: 9, w: 9, m: 16, kh: 3, kw: 3, attrs: at("pads", ais(1, 1, 1, 1)), bn: true},
		{name: "3x3 pad 1 bias 5 channels", c: 5, h: 8, w: 8, m: 7, kh: 3, kw: 3, attrs: at("pads", ais(1, 1, 1, 1)), bias: true},
		{name: "3x3 no pad", c: 4, h: 10, w: 7, m: 6, kh: 3, kw: 3, bias: true},
		{name: "2x6 one-sided pads", c: 3, h: 7, w: 9, m: 5, kh: 2, kw: 6, attrs: at("pads", ais(1, 3, 0, 2)), bias: true},
		{name: "3x3 pads 0 2 2 0", c: 4, h: 6, w: 6, m: 4, kh: 3, kw: 3, attrs: at("pads", ais(0, 2, 2, 0)), bn: true},
		{name: "groups 2 pad 1", c: 4, h: 9, w: 9, m: 6, kh: 3, kw: 3, attrs: at("group", ai(2), "pads", ais(1, 1, 1, 1)), bn: true},
		{name: "row dilation 2", c: 3, h: 9, w: 9, m: 5, kh: 3, kw: 3, attrs: at("dilations", ais(2, 1), "pads", ais(2, 1, 2, 1)), bias: true},
		{name: "1x3 rows", c: 2, h: 1, w: 12, m: 4, kh: 1, kw: 3, attrs: at("pads", ais(0, 1, 0, 1)), bias: true},
	}
	models := []struct {
		name  string
		model *ir.Model
	}{{"two convolutions sharing scratch", twoConvModel()}}
	for _, c := range cases {
		models = append(models, struct {
			name  string
			model *ir.Model
		}{c.name, convCaseModel(c)})
	}
	defer func(a, b, c bool) { shiftColumns, dotShift, convNoColumns = a, b, c }(shiftColumns, dotShift, convNoColumns)
	shiftColumns, dotShift = true, true
	const n, tol = 7, 1e-5
	for _, c := range models {
		t.Run(c.name, func(t *testing.T) {
			var res [2][2]*Result
			var params []ParamInfo
			for k, f64 := range []bool{true, false} {
				// the reference with the executor's column matrix (no
				// shiftConv at all)
				convNoColumns = !f64
				e, err := New(c.model, Options{Batch: 5, Float64: f64})
				if err != nil {
					t.Fatal(err)
				}
				params = e.Params()
				per := prod(e.InputShape())
				x, y := randInput(5, n*per), randLabels(6, n, e.Classes())
				r := rand.New(rand.NewSource(9))
				var coords [][]int
				for _, p := range params {
					coords = append(coords, randomCoords(r, p.Size, p.Size/3+2))
				}
				for rep := 0; rep < 2; rep++ {
					if r := fullAndNorms(t, e, x, y, coords); rep == 1 || k == 0 {
						res[k] = r
					}
				}
			}
			sameOutputs(t, params, n, res[1], res[0], tol)
		})
	}
}

// twoConvModel builds x [3, 9, 9] → Conv 3×3 pads 2 (4 channels, 11×11)
// → Relu → Conv 3×3 no pads (5 channels, 9×9) → Relu → Flatten → Gemm (5
// classes): two stride-1 convolutions whose padded planes differ (13 and
// 11 columns), so that each finds the other's values in the workers'
// padded buffers.
func twoConvModel() *ir.Model {
	b := newModel(17, -1, 3, 9, 9)
	h := b.op("Conv", at("pads", ais(2, 2, 2, 2)), "x", b.param("a.W", 0.3, true, 4, 3, 3, 3), b.param("a.b", 0.1, true, 4))
	h = b.op("Relu", nil, h)
	h = b.op("Conv", nil, h, b.param("b.W", 0.3, true, 5, 4, 3, 3))
	h = b.op("Relu", nil, h)
	h = b.op("Flatten", at("axis", ai(1)), h)
	return b.output(b.op("Gemm", at("transB", ai(1)), h, b.param("fc.W", 0.3, true, 5, 5*9*9)))
}
