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

// seqFirstMHA: nn.MultiheadAttention as torch 1.13 exports it (see the
// graph package's test of the same name): x [B, 3, 4] → [T, B, D] →
// in-projection MatMul + bias → heads [B·H, T, d] → attention → [T·B, D]
// rows → Gemm out-projection → back to [B, T, D].
func seqFirstMHA() *ir.Model {
	b := newModel(13, -1, 3, 4)
	bdim := b.op("Gather", nil, b.op("Shape", nil, "x"), b.ints("zero", 0))
	t := b.op("Transpose", at("perm", ais(1, 0, 2)), "x")
	qkv := b.op("Add", nil, b.op("MatMul", nil, t, b.op("Transpose", at("perm", ais(1, 0)), b.param("in.W", 0.7, true, 12, 4))), b.param("in.b", 0.2, true, 12))
	shp := b.op("Concat", at("axis", ai(0)), b.ints("T", 3), b.op("Mul", nil, bdim, b.ints("heads", 2)), b.ints("hd", 2))
	var qs [3]string
	for k, nm := range []string{"q", "k", "v"} {
		sl := b.op("Slice", nil, qkv, b.ints("st"+nm, int64(4*k)), b.ints("en"+nm, int64(4*k+4)), b.ints("ax"+nm, 2))
		qs[k] = b.op("Transpose", at("perm", ais(1, 0, 2)), b.op("Reshape", nil, sl, shp))
	}
	sc := b.op("MatMul", nil, qs[0], b.op("Transpose", at("perm", ais(0, 2, 1)), qs[1]))
	o := b.op("MatMul", nil, b.op("Softmax", at("axis", ai(-1)), sc), qs[2])
	rows := b.op("Reshape", nil, b.op("Transpose", at("perm", ais(1, 0, 2)), o), b.op("Concat", at("axis", ai(0)), b.op("Mul", nil, bdim, b.ints("T2", 3)), b.ints("D", 4)))
	proj := b.op("Gemm", at("transB", ai(1)), rows, b.param("out.W", 0.7, true, 4, 4), b.param("out.b", 0.2, true, 4))
	back := b.op("Transpose", at("perm", ais(1, 0, 2)), b.op("Reshape", nil, proj, b.op("Concat", at("axis", ai(0)), b.ints("T3", 3), bdim, b.ints("D2", 4))))
	y := b.op("Mul", nil, b.op("Tanh", nil, b.op("Add", nil, back, "x")), b.param("ls", 1, true, 4))
	f := b.op("Flatten", nil, y)
	return b.output(b.op("Gemm", at("transB", ai(1)), f, b.param("fc.W", 0.5, true, 3, 12)))
}

// TestSeqFirstAttentionChunks: the sequence-first attention against
// batch-1 passes with chunks leaving a remainder of 1 (a batch-1 net,
// where nothing is moved) and of 2.
func TestSeqFirstAttentionChunks(t *testing.T) {
	m := seqFirstMHA()
	for _, n := range []int{6, 7} {
		x := randInput(4, n*12)
		y := randLabels(5, n, 3)
		ref := reference(t, m, x, y)
		e, err := New(m, Options{Float64: true, Batch: 5})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range e.Params() {
			if p.Method == MethodFallback {
				t.Errorf("%s: fallback (%s)", p.Name, p.Reason)
			}
		}
		req := Request{Full: true, Norms: true, Coords: [][]int{{0, 7}, {3}, {1, 15}, {2}, {0}, {5, 35}}}
		res, err := e.Compute(x, y, req)
		if err != nil {
			t.Fatal(err)
		}
		checkAgainst(t, e.Params(), ref, res, req, 1e-9)
	}
}

// gatheredModel: a bias table read by Gather with constant indices (with
// repeats, through an Identity, as torch shares equal buffers), transposed
// and added to the data (Swin's relative-position bias; position
// embeddings indexed by a fixed buffer), and a second table gathered along
// axis 1 and multiplied.
func gatheredModel() *ir.Model {
	b := newModel(13, -1, 2, 4)
	idx := b.op("Identity", nil, b.ints("idx", 0, 2, 2, -1))
	g := b.op("Transpose", at("perm", ais(1, 0)), b.op("Gather", nil, b.param("table", 1, true, 5, 2), idx)) // [2, 4]
	h := b.op("Add", nil, "x", g)
	g2 := b.op("Gather", at("axis", ai(1)), b.param("scale", 1, true, 2, 3), b.ints("j", 1, 1, 0, 2)) // [2, 4]
	y := b.op("Tanh", nil, b.op("Mul", nil, h, g2))
	return b.output(b.op("Gemm", at("transB", ai(1)), b.op("Flatten", nil, y), b.param("fc.W", 0.5, true, 3, 8)))
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
	}{"sequence_first_attention", seqFirstMHA, []int{3, 4}, 3, map[string]string{
		"in.W": MethodMatMul, "in.b": MethodBinary, "out.W": MethodGemmRows, "out.b": MethodBias,
		"ls": MethodBinary, "fc.W": MethodGemm}})
	handModels = append(handModels, struct {
		name    string
		m       func() *ir.Model
		in      []int
		classes int
		methods map[string]string
	}{"gathered_tables", gatheredModel, []int{2, 4}, 3, map[string]string{
		"table": MethodBinary, "scale": MethodBinary, "fc.W": MethodGemm}})
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
