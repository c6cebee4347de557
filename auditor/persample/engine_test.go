package persample

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/internal/approx"
)

// cnnModel: strided/padded conv + BN, grouped dilated conv, SAME_UPPER conv
// without bias, a CNTK-style bias (param → Reshape → Add), a scale (Mul with
// the parameter first), Gemm with transB/alpha/beta, Gemm with a [1, N] C.
func cnnModel() *ir.Model {
	b := newModel(13, -1, 4, 9, 9)
	h := b.op("Conv", at("strides", ais(2, 2), "pads", ais(1, 1, 1, 1)), "x", b.param("conv1.W", 0.3, true, 6, 4, 3, 3), b.param("conv1.b", 0.1, true, 6))
	h = b.bn(h, "bn1", 6)
	h = b.op("Relu", nil, h)
	h = b.op("Conv", at("group", ai(3), "dilations", ais(2, 2), "pads", ais(2, 2, 2, 2)), h, b.param("conv2.W", 0.3, true, 6, 2, 3, 3), b.param("conv2.b", 0.1, true, 6))
	h = b.op("Relu", nil, h)
	h = b.op("Conv", at("strides", ais(2, 2), "auto_pad", astr("SAME_UPPER")), h, b.param("conv3.W", 0.3, true, 4, 6, 2, 2))
	h = b.op("Add", nil, h, b.op("Reshape", nil, b.param("bias3", 0.1, true, 4), b.ints("shape3", 4, 1, 1)))
	h = b.op("Mul", nil, b.param("scale3", 0.5, true, 4, 1, 1), h)
	h = b.op("Flatten", at("axis", ai(1)), h)
	h = b.op("Gemm", at("transB", ai(1), "alpha", af(0.7), "beta", af(1.3)), h, b.param("fc1.W", 0.3, true, 10, 36), b.param("fc1.b", 0.1, true, 10))
	h = b.op("Tanh", nil, h)
	h = b.op("Gemm", nil, h, b.param("fc2.W", 0.5, true, 10, 5), b.param("fc2.b", 0.1, true, 1, 5))
	return b.output(h)
}

// matmulModel: MatMul with 3-D data, a weight reached through Transpose
// (PyTorch's 3-D Linear), Sub and Div with the parameter second, a 1-D
// MatMul weight, and a rank-2 MatMul. (MatMul with the weight first and
// batched data second is refused by the executor; its expansion is checked
// in TestMatMulWeightFirst.)
func matmulModel() *ir.Model {
	b := newModel(13, -1, 3, 4)
	h := b.op("MatMul", nil, "x", b.param("mm1.W", 0.5, true, 4, 6))
	h = b.op("Add", nil, h, b.param("mm1.b", 0.1, true, 6))
	h = b.op("Sigmoid", nil, h)
	h = b.op("MatMul", nil, h, b.op("Transpose", at("perm", ais(1, 0)), b.param("lin.W", 0.5, true, 5, 6))) // [B, 3, 5]
	h = b.op("Sub", nil, h, b.param("sub.p", 0.3, true, 5))
	d := b.positive("div.p", 0.8, 1.5, 5)
	b.m.Trainable = append(b.m.Trainable, d)
	h = b.op("Div", nil, h, d)
	h = b.op("Tanh", nil, h)
	v := b.op("MatMul", nil, h, b.param("vec.w", 0.5, true, 5)) // [B, 3]
	f := b.op("Flatten", at("axis", ai(1)), h)                  // [B, 15]
	z := b.op("MatMul", nil, f, b.param("out.W", 0.5, true, 15, 3))
	return b.output(b.op("Add", nil, z, v))
}

// tiedModel: a weight used twice (the general path), a weight computed
// from two parameters by Gemm with transA (the fallback), an unused
// parameter and one on a branch that does not reach the logits (zero).
func tiedModel() *ir.Model {
	b := newModel(13, -1, 6)
	w := b.param("tied.W", 0.5, true, 6, 6)
	h := b.op("Gemm", nil, "x", w)
	h = b.op("Relu", nil, h)
	h = b.op("Gemm", nil, h, w)
	h = b.op("Tanh", nil, h)
	fw := b.op("Gemm", at("transA", ai(1), "alpha", af(0.9)), b.param("fact.P", 0.5, true, 3, 6), b.param("fact.Q", 0.5, true, 3, 4))
	z := b.op("MatMul", nil, h, fw)
	b.param("unused", 1, true, 3)
	b.op("Add", nil, h, b.param("deadend", 1, true, 6)) // output not used
	return b.output(z)
}

// conv1dModel: a 1-D convolution with stride, dilation and asymmetric pads.
func conv1dModel() *ir.Model {
	b := newModel(11, -1, 2, 11)
	h := b.op("Conv", at("strides", ais(2), "dilations", ais(2), "pads", ais(2, 1)), "x", b.param("c.W", 0.5, true, 3, 2, 3), b.param("c.b", 0.1, true, 3))
	h = b.op("Relu", nil, h)
	h = b.op("Flatten", at("axis", ai(1)), h)
	return b.output(b.op("Gemm", at("transB", ai(1)), h, b.param("fc.W", 0.5, true, 4, 15), b.param("fc.b", 0.1, true, 4)))
}

// wideModel: convolutions with many channels on few positions, where
// squared norms come from Gram matrices (one grouped).
func wideModel() *ir.Model {
	b := newModel(13, -1, 8, 4, 4)
	h := b.op("Conv", at("strides", ais(2, 2), "pads", ais(1, 1, 1, 1)), "x", b.param("w1", 0.2, true, 16, 8, 3, 3))
	h = b.op("Relu", nil, h)
	h = b.op("Conv", at("group", ai(2), "pads", ais(1, 1, 1, 1)), h, b.param("w2", 0.2, true, 16, 8, 3, 3), b.param("b2", 0.1, true, 16))
	h = b.op("Relu", nil, h)
	h = b.op("Flatten", nil, h)
	return b.output(b.op("Gemm", at("transB", ai(1)), h, b.param("fc", 0.2, true, 10, 64)))
}

var handModels = []struct {
	name    string
	m       func() *ir.Model
	in      []int
	classes int
	methods map[string]string
}{
	{"cnn", cnnModel, []int{4, 9, 9}, 5, map[string]string{
		"conv1.W": MethodConv, "conv1.b": MethodBias, "bn1.scale": MethodBatchNorm, "bn1.shift": MethodBatchNorm,
		"conv2.W": MethodConv, "conv2.b": MethodBias, "conv3.W": MethodConv, "bias3": MethodBinary, "scale3": MethodBinary,
		"fc1.W": MethodGemm, "fc1.b": MethodBias, "fc2.W": MethodGemm, "fc2.b": MethodBias}},
	{"matmul", matmulModel, []int{3, 4}, 3, map[string]string{
		"mm1.W": MethodMatMul, "mm1.b": MethodBinary, "lin.W": MethodMatMul,
		"sub.p": MethodBinary, "div.p": MethodBinary, "vec.w": MethodMatMul, "out.W": MethodMatMul}},
	{"tied", tiedModel, []int{6}, 4, map[string]string{
		"tied.W": MethodGemm, "fact.P": MethodFallback, "fact.Q": MethodFallback, "unused": MethodZero, "deadend": MethodZero}},
	{"wide", wideModel, []int{8, 4, 4}, 10, map[string]string{
		"w1": MethodConv, "w2": MethodConv, "b2": MethodBias, "fc": MethodGemm}},
	{"conv1d", conv1dModel, []int{2, 11}, 4, map[string]string{
		"c.W": MethodConv, "c.b": MethodBias, "fc.W": MethodGemm, "fc.b": MethodBias}},
}

// randomCoords draws up to n coordinates of a parameter of size size.
func randomCoords(r *rand.Rand, size, n int) []int {
	c := make([]int, min(n, size))
	for k := range c {
		c[k] = r.Intn(size)
	}
	return c
}

// TestMatchesBatch1Passes checks every parameter's per-sample gradients
// (full tensors, coordinates, squared norms, sums) against separate batch-1
// backward passes, in float64, with chunks of 5 for 7 samples (a full chunk
// and a remainder), and with every output path (Full; norms and
// coordinates without Full, where Gram norms, dot products and row
// products are chosen).
func TestMatchesBatch1Passes(t *testing.T) {
	const n = 7
	for _, hm := range handModels {
		t.Run(hm.name, func(t *testing.T) {
			m := hm.m()
			per := prod(hm.in)
			x := randInput(1, n*per)
			y := randLabels(2, n, hm.classes)
			ref := reference(t, m, x, y)
			e, err := New(m, Options{Float64: true, Batch: 5})
			if err != nil {
				t.Fatal(err)
			}
			params := e.Params()
			if len(params) != len(hm.methods) {
				t.Fatalf("%d parameters, want %d: %+v", len(params), len(hm.methods), params)
			}
			r := rand.New(rand.NewSource(3))
			var few, many [][]int
			for _, p := range params {
				if want := hm.methods[p.Name]; p.Method != want {
					t.Errorf("%s: method %q (%s), want %q", p.Name, p.Method, p.Reason, want)
				}
				few = append(few, randomCoords(r, p.Size, 3))
				many = append(many, randomCoords(r, p.Size, p.Size/2+1))
			}
			for _, req := range []Request{
				{Full: true, Norms: true, Coords: many},
				{Norms: true, Coords: few},
				{Norms: true, Coords: many},
				{Coords: few},
				{Coords: many},
			} {
				res, err := e.Compute(x, y, req)
				if err != nil {
					t.Fatal(err)
				}
				checkAgainst(t, params, ref, res, req, 1e-9)
			}
		})
	}
}

// checkAgainst compares a result with reference per-sample gradients.
func checkAgainst(t *testing.T, params []ParamInfo, ref map[string][][]float64, res *Result, req Request, tol float64) {
	t.Helper()
	for k, p := range params {
		want := ref[p.Name]
		if len(want) != res.Rows {
			t.Fatalf("%s: %d reference rows, %d result rows", p.Name, len(want), res.Rows)
		}
		pg := res.Params[k]
		scale := 0.0
		for _, w := range want {
			for _, v := range w {
				scale = max(scale, v*v)
			}
		}
		for i, w := range want {
			if req.Full {
				approx.Slice(t, fmt.Sprintf("%s (%s) sample %d: full gradient", p.Name, p.Method, i), rowOf(pg, i, p.Size), w, scaled(w, tol), 0)
			}
			if k < len(req.Coords) {
				cs := req.Coords[k]
				got := pg.Coords[i*len(cs) : (i+1)*len(cs)]
				wc := make([]float64, len(cs))
				for q, j := range cs {
					wc[q] = w[j]
				}
				if maxAbs(wc) > 0 {
					approx.Slice(t, fmt.Sprintf("%s (%s) sample %d: coordinates", p.Name, p.Method, i), got, wc, scaled(wc, tol), 0)
				}
			}
			if req.Norms {
				s := 0.0
				for _, v := range w {
					s += v * v
				}
				approx.RelFloor(t, fmt.Sprintf("%s (%s) sample %d: |g|²", p.Name, p.Method, i), pg.SqNorm[i], s, tol, 1e-15)
			}
		}
		if req.Norms {
			sum := make([]float64, p.Size)
			for _, w := range want {
				for j, v := range w {
					sum[j] += v
				}
			}
			if maxAbs(sum) > 0 {
				approx.Slice(t, fmt.Sprintf("%s (%s): sum", p.Name, p.Method), pg.Sum, sum, scaled(sum, tol), 0)
			}
		}
		_ = scale
	}
}

func maxAbs(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, x, -x)
	}
	return m
}

// TestForcedFallbackMatches: the fallback alone gives the same result.
func TestForcedFallbackMatches(t *testing.T) {
	m := cnnModel()
	x := randInput(4, 3*4*9*9)
	y := randLabels(5, 3, 5)
	ref := reference(t, m, x, y)
	e, err := New(m, Options{Float64: true, Batch: 3, ForceFallback: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(e.Fallbacks()); got != len(e.Params()) {
		t.Fatalf("%d fallbacks of %d parameters", got, len(e.Params()))
	}
	req := Request{Full: true, Norms: true}
	res, err := e.Compute(x, y, req)
	if err != nil {
		t.Fatal(err)
	}
	checkAgainst(t, e.Params(), ref, res, req, 1e-12)
	r0, err := New(m, Options{Float64: true, Batch: 3})
	if err != nil {
		t.Fatal(err)
	}
	want, err := r0.Compute(x, y, Request{})
	if err != nil {
		t.Fatal(err)
	}
	approx.Abs(t, "loss", res.Loss, want.Loss, 1e-10)
	approx.Slice(t, "logits", res.Logits, want.Logits, scaled(want.Logits, approx.Float64), 0)
}

// TestLossAndLogits: loss and logits equal the executor's batch-1 values.
func TestLossAndLogits(t *testing.T) {
	m := cnnModel()
	x := randInput(6, 4*4*9*9)
	y := randLabels(7, 4, 5)
	e, err := New(m, Options{Float64: true, Batch: 3})
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Compute(x, y, Request{})
	if err != nil {
		t.Fatal(err)
	}
	one, err := New(m, Options{Float64: true, Batch: 1})
	if err != nil {
		t.Fatal(err)
	}
	r1, err := one.Compute(x, y, Request{})
	if err != nil {
		t.Fatal(err)
	}
	approx.Abs(t, "loss against the batch-1 passes", res.Loss, r1.Loss, 1e-10)
	approx.Slice(t, "logits against the batch-1 passes", res.Logits, r1.Logits, scaled(r1.Logits, approx.Float64), 0)
}

func TestFloat32Close(t *testing.T) {
	for _, hm := range handModels {
		m := hm.m()
		per := prod(hm.in)
		x := randInput(8, 6*per)
		y := randLabels(9, 6, hm.classes)
		ref := reference(t, m, x, y)
		e, err := New(m, Options{Batch: 6})
		if err != nil {
			t.Fatal(err)
		}
		req := Request{Full: true, Norms: true}
		res, err := e.Compute(x, y, req)
		if err != nil {
			t.Fatal(err)
		}
		if res.Params[0].Full32 == nil || res.Params[0].Full64 != nil {
			t.Fatalf("%s: float32 mode must fill Full32 only", hm.name)
		}
		checkAgainst(t, e.Params(), ref, res, req, 1e-4)
	}
}

func TestErrors(t *testing.T) {
	e, err := New(conv1dModel(), Options{Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	x := randInput(1, 2*22)
	for _, c := range []struct {
		x    []float64
		y    []int
		req  Request
		want string
	}{
		{x[:40], []int{0, 1}, Request{}, "40 input values for 2 samples"},
		{x, []int{0, 4}, Request{}, "label 4 of sample 1 outside [0, 4)"},
		{x, []int{0, -1}, Request{}, "label -1"},
		{nil, nil, Request{}, "no samples"},
		{x, []int{0, 1}, Request{Coords: [][]int{{0, 18}}}, `parameter "c.W": coordinate 18 outside [0, 18)`},
		{x, []int{0, 1}, Request{Coords: make([][]int, 5)}, "coordinates for 5 parameters"},
	} {
		_, err := e.Compute(c.x, c.y, c.req)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
	if err := e.SetParam("nope", nil); err == nil {
		t.Error("SetParam of an unknown parameter: no error")
	}
	if err := e.SetParam("c.b", []float64{1}); err == nil {
		t.Error("SetParam with a wrong length: no error")
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("New(nil): no error")
	}
}

// TestSetParam: a changed weight reaches every net (main, remainder and
// batch-1) and the result matches a model built with that weight.
func TestSetParam(t *testing.T) {
	m := conv1dModel()
	x := randInput(2, 3*22)
	y := randLabels(3, 3, 4)
	e, err := New(m, Options{Float64: true, Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	w := e.Param("c.W")
	for k := range w {
		w[k] *= -2
	}
	if err := e.SetParam("c.W", w); err != nil {
		t.Fatal(err)
	}
	t2 := m.Initializers["c.W"]
	for k := range t2.F32 {
		t2.F32[k] = float32(w[k])
	}
	ref := reference(t, m, x, y)
	req := Request{Full: true, Norms: true}
	res, err := e.Compute(x, y, req)
	if err != nil {
		t.Fatal(err)
	}
	checkAgainst(t, e.Params(), ref, res, req, 1e-9)
}

// TestUnbatchableModel: a model the executor refuses to batch (MatMul with
// the batched data second) is computed entirely by batch-1 passes.
func TestUnbatchableModel(t *testing.T) {
	b := newModel(13, -1, 3, 4)
	h := b.op("MatMul", nil, b.param("W", 0.5, true, 2, 3), "x") // [B, 2, 4]
	h = b.op("Flatten", nil, h)
	m := b.output(b.op("Gemm", nil, h, b.param("fc", 0.5, true, 8, 3)))
	x := randInput(1, 5*12)
	y := randLabels(2, 5, 3)
	ref := reference(t, m, x, y)
	e, err := New(m, Options{Float64: true, Batch: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Fallbacks()) != 2 || !strings.Contains(strings.Join(e.Notes(), "\n"), "cannot run a batch of 4") {
		t.Errorf("fallbacks %v, notes %q", e.Fallbacks(), e.Notes())
	}
	req := Request{Full: true, Norms: true, Coords: [][]int{{0, 5}, {23}}}
	res, err := e.Compute(x, y, req)
	if err != nil {
		t.Fatal(err)
	}
	checkAgainst(t, e.Params(), ref, res, req, 1e-12)
}
