package persample

import (
	"testing"

	"github.com/gnaudit/gnaudit/auditor/ir"
)

// lnModel: x [B, 3, 4] → MatMul (3-D sequence input) → LayerNormalization
// (opset 17) → a class token expanded to the batch and concatenated, a
// positional embedding and a layer scale → Flatten → Gemm.
func lnModel() *ir.Model {
	b := newModel(17, -1, 3, 4)
	h := b.op("MatMul", nil, "x", b.param("mm.W", 0.7, true, 4, 4))
	ln := b.op("LayerNormalization", at("epsilon", af(1e-5)), h, b.param("ln.scale", 1, true, 4), b.param("ln.bias", 0.3, true, 4))
	bdim := b.op("Gather", nil, b.op("Shape", nil, "x"), b.ints("zero", 0))
	shp := b.op("Concat", at("axis", ai(0)), bdim, b.ints("rest", 1, 4))
	cls := b.op("Expand", nil, b.param("cls", 1, true, 1, 1, 4), shp)
	c := b.op("Concat", at("axis", ai(1)), cls, ln)
	pos := b.op("Add", nil, c, b.param("pos", 1, true, 1, 4, 4))
	ls := b.op("Mul", nil, b.op("Tanh", nil, pos), b.param("gamma", 1, true, 4))
	f := b.op("Flatten", nil, ls)
	return b.output(b.op("Gemm", at("transB", ai(1)), f, b.param("fc.W", 0.5, true, 3, 16), b.param("fc.b", 0.1, true, 3)))
}

// inModel: Conv → InstanceNormalization (learned scale and bias) → GroupNorm
// as torch exports it (Reshape, InstanceNormalization with unit scale,
// Reshape back, Mul, Add) → Flatten → Gemm.
func inModel() *ir.Model {
	b := newModel(13, -1, 2, 4, 4)
	c := b.op("Conv", at("pads", ais(1, 1, 1, 1)), "x", b.param("conv.W", 0.5, true, 4, 2, 3, 3))
	in := b.op("InstanceNormalization", nil, c, b.param("in.scale", 1, true, 4), b.param("in.bias", 0.3, true, 4))
	r := b.op("Reshape", nil, in, b.ints("g", 0, 2, -1))
	gn := b.op("InstanceNormalization", nil, r, b.ParamVals("ones", []float32{1, 1}, false, 2), b.ParamVals("zeros", []float32{0, 0}, false, 2))
	back := b.op("Reshape", nil, gn, b.op("Shape", nil, in))
	y := b.op("Add", nil, b.op("Mul", nil, back, b.param("gn.w", 1, true, 4, 1, 1)), b.param("gn.b", 0.3, true, 4, 1, 1))
	f := b.op("Flatten", nil, b.op("Tanh", nil, y))
	return b.output(b.op("Gemm", at("transB", ai(1)), f, b.param("fc.W", 0.3, true, 3, 64)))
}

func init() {
	handModels = append(handModels, struct {
		name    string
		m       func() *ir.Model
		in      []int
		classes int
		methods map[string]string
	}{"instancenorm_groupnorm", inModel, []int{2, 4, 4}, 3, map[string]string{
		"conv.W": MethodConv, "in.scale": MethodLayerNorm, "in.bias": MethodLayerNorm,
		"gn.w": MethodBinary, "gn.b": MethodBinary, "fc.W": MethodGemm}})
	handModels = append(handModels, struct {
		name    string
		m       func() *ir.Model
		in      []int
		classes int
		methods map[string]string
	}{"layernorm_classtoken", lnModel, []int{3, 4}, 3, map[string]string{
		"mm.W": MethodMatMul, "ln.scale": MethodLayerNorm, "ln.bias": MethodLayerNorm, "cls": MethodExpand,
		"pos": MethodBinary, "gamma": MethodBinary, "fc.W": MethodGemm, "fc.b": MethodBias}})
}

// TestEmbeddingRule: an int64 token-id input through an embedding table
// (Gather) and a 3-D MatMul; the per-sample gradients (method "embedding",
// with repeated and negative ids) against batch-1 passes.
func TestEmbeddingRule(t *testing.T) {
	b := newModel(13, -1, 5)
	b.m.Inputs[0].Type = ir.Int64
	e := b.op("Gather", nil, b.param("emb", 1, true, 6, 4), "x")
	h := b.op("MatMul", nil, e, b.param("mm.W", 0.7, true, 4, 4))
	r := b.op("ReduceMean", at("axes", ais(1), "keepdims", ai(0)), b.op("Tanh", nil, h))
	m := b.output(b.op("Gemm", at("transB", ai(1)), r, b.param("fc.W", 0.5, true, 3, 4)))
	x := []float64{0, 1, 1, 5, 2, 3, 3, 3, 0, -1, 4, 2, 1, 0, 5, 5, 5, 5, 5, 5, 2, 0, 1, 4, 3}
	y := []int{0, 2, 1, 1, 0}
	ref := reference(t, m, x, y)
	en, err := New(m, Options{Float64: true, Batch: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range en.Params() {
		if p.Method == MethodFallback {
			t.Errorf("%s: fallback (%s)", p.Name, p.Reason)
		}
	}
	if p := en.Params()[0]; p.Method != MethodEmbedding {
		t.Errorf("emb: method %q, want %q", p.Method, MethodEmbedding)
	}
	req := Request{Full: true, Norms: true, Coords: [][]int{{0, 5, 23}, {1, 15}, {0, 11}}}
	res, err := en.Compute(x, y, req)
	if err != nil {
		t.Fatal(err)
	}
	checkAgainst(t, en.Params(), ref, res, req, 1e-9)
}
