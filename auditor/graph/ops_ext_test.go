package graph

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/internal/approx"
)

// posNet returns a model x [B, 3, 4] → h = x·p (p trainable) → op(h² + 1
// when positive) → Flatten → Gemm, so that op's derivative reaches both the
// input and a parameter.
func posNet(opset int64, op string, attrs map[string]ir.Attr, positive bool) func() *ir.Model {
	return func() *ir.Model {
		b := newModel(opset, -1, 3, 4)
		h := b.op("Mul", nil, "x", b.param("p", 1, true, 3, 4))
		if positive {
			h = b.op("Add", nil, b.op("Mul", nil, h, h), b.paramVals("one", []float32{0.5}, false))
		}
		y := b.op(op, attrs, h)
		f := b.op("Flatten", nil, y)
		return b.output(b.op("Gemm", at("transB", ai(1)), f, b.param("w", 0.5, true, 3, 12)))
	}
}

// lnDecomposed is PyTorch's opset-13 LayerNorm over the last axis:
// (x − mean)/sqrt(mean((x − mean)²) + eps)·w + b.
func lnDecomposed(b *mb, x, name string, d int64) string {
	mu := b.op("ReduceMean", at("axes", ais(-1)), x)
	c := b.op("Sub", nil, x, mu)
	v := b.op("ReduceMean", at("axes", ais(-1)), b.op("Pow", nil, c, b.paramVals(name+".two", []float32{2}, false)))
	s := b.op("Sqrt", nil, b.op("Add", nil, v, b.paramVals(name+".eps", []float32{1e-5}, false)))
	return b.op("Add", nil, b.op("Mul", nil, b.op("Div", nil, c, s), b.param(name+".w", 1, true, d)), b.param(name+".b", 0.3, true, d))
}

func extFDCases() []fdCase {
	return []fdCase{
		{"Sqrt", 3, posNet(13, "Sqrt", nil, true)},
		{"Reciprocal", 3, posNet(13, "Reciprocal", nil, true)},
		{"Log", 3, posNet(13, "Log", nil, true)},
		{"Exp", 3, posNet(13, "Exp", nil, false)},
		{"Erf", 3, posNet(13, "Erf", nil, false)},
		{"Neg", 2, posNet(13, "Neg", nil, false)},
		{"Abs", 2, posNet(13, "Abs", nil, false)},
		{"Softplus", 2, posNet(13, "Softplus", nil, false)},
		{"Elu", 2, posNet(13, "Elu", at("alpha", af(0.7)), false)},
		{"HardSigmoid", 3, posNet(13, "HardSigmoid", at("alpha", af(0.3), "beta", af(0.4)), false)},
		{"HardSwish", 3, func() *ir.Model {
			// scaled so that many values fall inside (−3, 3)
			b := newModel(14, -1, 3, 4)
			h := b.op("Mul", nil, "x", b.param("p", 3, true, 3, 4))
			f := b.op("Flatten", nil, b.op("HardSwish", nil, h))
			return b.output(b.op("Gemm", at("transB", ai(1)), f, b.param("w", 0.5, true, 3, 12)))
		}},
		{"Pow/const2", 2, func() *ir.Model {
			b := newModel(13, -1, 3, 4)
			h := b.op("Mul", nil, "x", b.param("p", 1, true, 3, 4))
			f := b.op("Flatten", nil, b.op("Pow", nil, h, b.paramVals("e", []float32{2}, false)))
			return b.output(b.op("Gemm", at("transB", ai(1)), f, b.param("w", 0.5, true, 3, 12)))
		}},
		{"Pow/const_cube_bcast", 2, func() *ir.Model {
			b := newModel(13, -1, 3, 4)
			h := b.op("Mul", nil, "x", b.param("p", 1, true, 3, 4))
			f := b.op("Flatten", nil, b.op("Pow", nil, h, b.paramVals("e", []float32{3, 1, 2, 3}, false, 4)))
			return b.output(b.op("Gemm", at("transB", ai(1)), f, b.param("w", 0.5, true, 3, 12)))
		}},
		{"Pow/data_exponent", 2, func() *ir.Model {
			b := newModel(15, -1, 3, 4)
			base := b.op("Add", nil, b.op("Mul", nil, "x", "x"), b.paramVals("one", []float32{0.5}, false))
			y := b.op("Pow", nil, base, b.param("e", 0.5, true, 4))
			f := b.op("Flatten", nil, y)
			return b.output(b.op("Gemm", at("transB", ai(1)), f, b.param("w", 0.5, true, 3, 12)))
		}},
		{"ReduceMean/axes12_keep", 3, func() *ir.Model {
			b := newModel(13, -1, 2, 3, 4)
			h := b.op("Mul", nil, "x", b.param("p", 1, true, 2, 3, 4))
			r := b.op("ReduceMean", at("axes", ais(2, 3)), h)
			return b.output(b.op("Flatten", nil, b.op("Mul", nil, r, b.param("q", 1, true, 2, 1, 1))))
		}},
		{"ReduceSum/input_axes_nokeep", 3, func() *ir.Model {
			b := newModel(13, -1, 2, 3, 4)
			h := b.op("Mul", nil, "x", b.param("p", 1, true, 2, 3, 4))
			return b.output(b.op("ReduceSum", at("keepdims", ai(0)), h, b.ints("ax", -1, 1)))
		}},
		{"ReduceSumSquare", 2, func() *ir.Model {
			b := newModel(13, -1, 3, 4)
			h := b.op("Mul", nil, "x", b.param("p", 1, true, 3, 4))
			return b.output(b.op("ReduceSumSquare", at("axes", ais(2), "keepdims", ai(0)), h))
		}},
		{"ReduceL2", 2, func() *ir.Model {
			b := newModel(13, -1, 3, 4)
			h := b.op("Mul", nil, "x", b.param("p", 1, true, 3, 4))
			return b.output(b.op("ReduceL2", at("axes", ais(1), "keepdims", ai(0)), h))
		}},
		{"ReduceMax/axis1", 2, func() *ir.Model {
			b := newModel(13, -1, 3, 4)
			h := b.op("Mul", nil, "x", b.param("p", 1, true, 3, 4))
			return b.output(b.op("ReduceMax", at("axes", ais(1), "keepdims", ai(0)), h))
		}},
		{"ReduceMin/axis2", 2, func() *ir.Model {
			b := newModel(13, -1, 3, 4)
			h := b.op("Mul", nil, "x", b.param("p", 1, true, 3, 4))
			return b.output(b.op("ReduceMin", at("axes", ais(2), "keepdims", ai(0)), h))
		}},
		{"ReduceL1", 2, func() *ir.Model {
			b := newModel(13, -1, 3, 4)
			h := b.op("Mul", nil, "x", b.param("p", 1, true, 3, 4))
			return b.output(b.op("ReduceL1", at("axes", ais(2), "keepdims", ai(0)), h))
		}},
		{"ReduceLogSumExp", 2, func() *ir.Model {
			b := newModel(13, -1, 3, 4)
			h := b.op("Mul", nil, "x", b.param("p", 1, true, 3, 4))
			return b.output(b.op("ReduceLogSumExp", at("axes", ais(2), "keepdims", ai(0)), h))
		}},
		{"ReduceLogSum", 2, func() *ir.Model {
			b := newModel(13, -1, 3, 4)
			h := b.op("Exp", nil, b.op("Mul", nil, "x", b.param("p", 1, true, 3, 4)))
			return b.output(b.op("ReduceLogSum", at("axes", ais(2), "keepdims", ai(0)), h))
		}},
		{"LayerNormalization/mean_invstd_outputs", 2, func() *ir.Model {
			b := newModel(17, -1, 3, 4)
			h := b.op("Mul", nil, "x", b.param("p", 1, true, 3, 4))
			n := &ir.Node{Name: "ln", OpType: "LayerNormalization", Inputs: []string{h, b.param("s", 1, true, 4)}, Outputs: []string{"y", "mu", "inv"}}
			b.m.Nodes = append(b.m.Nodes, n)
			f := b.op("Flatten", nil, "y")
			return b.output(b.op("Gemm", at("transB", ai(1)), f, b.param("w", 0.5, true, 3, 12)))
		}},
		{"Where/const_mask", 2, func() *ir.Model {
			// masked attention scores: Where(mask, s, −1e4) before Softmax
			b := newModel(13, -1, 3, 4)
			s := b.op("Mul", nil, "x", b.param("p", 1, true, 3, 4))
			m := b.op("Greater", nil, b.ints("a", 0, 1, 1, 0), b.ints("z", 0))
			w := b.op("Where", nil, m, s, b.paramVals("neg", []float32{-1e4}, false))
			y := b.op("Softmax", at("axis", ai(-1)), w)
			f := b.op("Flatten", nil, b.op("Mul", nil, y, b.param("q", 1, true, 3, 4)))
			return b.output(b.op("Gemm", at("transB", ai(1)), f, b.param("w", 0.5, true, 3, 12)))
		}},
		{"Where/two_data_branches", 2, func() *ir.Model {
			b := newModel(13, -1, 3, 4)
			s := b.op("Mul", nil, "x", b.param("p", 1, true, 3, 4))
			t := b.op("Tanh", nil, b.op("Add", nil, "x", b.param("q", 1, true, 4)))
			m := b.op("Less", nil, b.ints("a", 0, 1, 2), b.ints("one", 1))
			u := b.op("Unsqueeze", nil, m, b.ints("ax", 1))
			return b.output(b.op("Flatten", nil, b.op("Where", nil, u, s, t)))
		}},
		{"InstanceNormalization", 3, func() *ir.Model {
			b := newModel(13, -1, 2, 3, 3)
			h := b.op("Mul", nil, "x", b.param("p", 1, true, 2, 3, 3))
			y := b.op("InstanceNormalization", at("epsilon", af(1e-3)), h, b.param("s", 1, true, 2), b.param("bb", 0.3, true, 2))
			f := b.op("Flatten", nil, y)
			return b.output(b.op("Gemm", at("transB", ai(1)), f, b.param("w", 0.5, true, 3, 18)))
		}},
		{"GroupNorm/decomposed", 3, func() *ir.Model {
			// torch's GroupNorm(2, 4) export: Reshape to [N, 2, -1],
			// InstanceNormalization with unit scale, Reshape back, Mul, Add.
			b := newModel(13, -1, 4, 2, 2)
			h := b.op("Mul", nil, "x", b.param("p", 1, true, 4, 2, 2))
			r := b.op("Reshape", nil, h, b.ints("g", 0, 2, -1))
			in := b.op("InstanceNormalization", at("epsilon", af(1e-5)), r, b.paramVals("ones", []float32{1, 1}, false, 2), b.paramVals("zeros", []float32{0, 0}, false, 2))
			back := b.op("Reshape", nil, in, b.op("Shape", nil, h))
			y := b.op("Add", nil, b.op("Mul", nil, back, b.param("gw", 1, true, 4, 1, 1)), b.param("gb", 0.3, true, 4, 1, 1))
			f := b.op("Flatten", nil, y)
			return b.output(b.op("Gemm", at("transB", ai(1)), f, b.param("w", 0.5, true, 3, 16)))
		}},
		{"LayerNorm/decomposed_opset13", 3, func() *ir.Model {
			b := newModel(13, -1, 3, 4)
			h := b.op("Mul", nil, "x", b.param("p", 1, true, 3, 4))
			y := lnDecomposed(b, h, "ln", 4)
			return b.output(b.op("Flatten", nil, y))
		}},
		{"LayerNormalization/last_axis", 3, func() *ir.Model {
			b := newModel(17, -1, 3, 4)
			h := b.op("Mul", nil, "x", b.param("p", 1, true, 3, 4))
			y := b.op("LayerNormalization", at("epsilon", af(1e-3)), h, b.param("s", 1, true, 4), b.param("bb", 0.3, true, 4))
			return b.output(b.op("Flatten", nil, y))
		}},
		{"LayerNormalization/axis1_no_bias", 3, func() *ir.Model {
			b := newModel(17, -1, 3, 4)
			y := b.op("LayerNormalization", at("axis", ai(1)), "x", b.param("s", 1, true, 3, 4))
			f := b.op("Flatten", nil, y)
			return b.output(b.op("Gemm", at("transB", ai(1)), f, b.param("w", 0.5, true, 3, 12)))
		}},
		{"Expand_Concat/class_token", 3, func() *ir.Model {
			// cls [1, 1, 4] expanded to [B, 1, 4] from Shape(x), concatenated
			// before x [B, 3, 4] (ViT's class token).
			b := newModel(13, -1, 3, 4)
			bdim := b.op("Gather", nil, b.op("Shape", nil, "x"), b.ints("zero", 0))
			shp := b.op("Concat", at("axis", ai(0)), bdim, b.ints("rest", 1, 4))
			cls := b.op("Expand", nil, b.param("cls", 1, true, 1, 1, 4), shp)
			c := b.op("Concat", at("axis", ai(1)), cls, b.op("Mul", nil, "x", b.param("p", 1, true, 3, 4)))
			pos := b.op("Add", nil, c, b.param("pos", 1, true, 1, 4, 4))
			f := b.op("Flatten", nil, b.op("Mul", nil, pos, pos))
			return b.output(b.op("Gemm", at("transB", ai(1)), f, b.param("w", 0.5, true, 3, 16)))
		}},
		{"Split/input_sizes", 2, func() *ir.Model {
			b := newModel(13, -1, 3, 6)
			h := b.op("Mul", nil, "x", b.param("p", 1, true, 3, 6))
			n := &ir.Node{Name: "split", OpType: "Split", Inputs: []string{h, b.ints("sz", 2, 4)}, Outputs: []string{"s0", "s1"}, Attrs: at("axis", ai(-1))}
			b.m.Nodes = append(b.m.Nodes, n)
			m := b.op("MatMul", nil, "s0", b.param("w0", 1, true, 2, 4))
			return b.output(b.op("Flatten", nil, b.op("Mul", nil, m, "s1")))
		}},
		{"Gather/const_index_axis1", 2, func() *ir.Model {
			b := newModel(13, -1, 3, 4)
			h := b.op("Mul", nil, "x", b.param("p", 1, true, 3, 4))
			g := b.op("Gather", at("axis", ai(1)), h, b.ints("i", 0, 2))
			return b.output(b.op("Flatten", nil, g))
		}},
		{"Attention/sequence_first_mha", 4, seqFirstMHA},
		{"Gather/moved_batch", 3, func() *ir.Model {
			b := newModel(13, -1, 3, 4)
			h := b.op("Mul", nil, "x", b.param("p", 1, true, 3, 4))
			tr := b.op("Transpose", at("perm", ais(1, 0, 2)), h)          // [3, B, 4]
			g := b.op("Gather", at("axis", ai(0)), tr, b.ints("i", 2, 0)) // [2, B, 4]
			s := b.op("Gather", at("axis", ai(2)), g, b.ints("j", 1, 3))  // [2, B, 2]
			return b.output(b.op("Flatten", nil, b.op("Transpose", at("perm", ais(1, 0, 2)), s)))
		}},
		{"Attention/MatMul_on_data", 2, func() *ir.Model {
			b := newModel(13, -1, 3, 4)
			q := b.op("MatMul", nil, "x", b.param("wq", 0.7, true, 4, 4))
			k := b.op("MatMul", nil, "x", b.param("wk", 0.7, true, 4, 4))
			v := b.op("MatMul", nil, "x", b.param("wv", 0.7, true, 4, 4))
			s := b.op("MatMul", nil, q, b.op("Transpose", at("perm", ais(0, 2, 1)), k))
			a := b.op("Softmax", at("axis", ai(-1)), s)
			o := b.op("MatMul", nil, a, v)
			return b.output(b.op("Flatten", nil, o))
		}},
	}
}

// TestFDExtOperators checks the new operators' derivatives (input and
// parameters) against central finite differences in float64.
func TestFDExtOperators(t *testing.T) {
	for _, c := range extFDCases() {
		t.Run(c.name, func(t *testing.T) {
			fdCheck(t, c.build(), c.batch, 12)
		})
	}
}

// TestEmbeddingIDs: an int64 token-id input read by Gather from a trainable
// table; gradients against finite differences, out-of-range ids an error,
// and the ids refused by any other operator.
func TestEmbeddingIDs(t *testing.T) {
	mk := func(bad bool) *ir.Model {
		b := newModel(13, -1, 4)
		b.m.Inputs[0].Type = ir.Int64
		e := b.op("Gather", nil, b.param("emb", 1, true, 5, 3), "x")
		if bad {
			e = b.op("Relu", nil, "x")
		}
		r := b.op("ReduceMean", at("axes", ais(1), "keepdims", ai(0)), b.op("Mul", nil, e, e))
		return b.output(b.op("Gemm", at("transB", ai(1)), r, b.param("w", 0.5, true, 3, 3)))
	}
	if _, err := Build(mk(true), Options{Batch: 2}); err == nil || !strings.Contains(err.Error(), "integer ids") {
		t.Errorf("ids read by Relu: error %v", err)
	}
	net, err := Build(mk(false), Options{Batch: 3, Float64: true})
	if err != nil {
		t.Fatal(err)
	}
	ids := []float64{0, 4, 4, 1, 2, 2, 3, 0, -1, 1, 1, 1}
	labels := []int{0, 2, 1}
	if _, err := net.LossGrad(ids, labels); err != nil {
		t.Fatal(err)
	}
	g := net.Grad("emb")
	tab := net.Param("emb")
	const h = 1e-6
	for c := range tab {
		v := append([]float64(nil), tab...)
		v[c] += h
		_ = net.SetParam("emb", v)
		zp, _ := net.Forward(ids)
		v[c] -= 2 * h
		_ = net.SetParam("emb", v)
		zm, _ := net.Forward(ids)
		fd := (refLoss(zp, labels, 3) - refLoss(zm, labels, 3)) / (2 * h)
		approx.RelFloor(t, fmt.Sprintf("emb[%d] against its finite difference", c), g[c], fd, 1e-6, 1)
	}
	_ = net.SetParam("emb", tab)
	if _, err := net.Forward([]float64{0, 1, 2, 5, 0, 0, 0, 0, 0, 0, 0, 0}); err == nil || !strings.Contains(err.Error(), "not an integer id in [0, 5)") {
		t.Errorf("id 5 of a 5-row table: error %v", err)
	}
}

// seqFirstMHA is nn.MultiheadAttention as torch 1.13 exports it for
// batch_first input x [B, T=3, D=4], 2 heads: the batch moves to axis 1
// ([T, B, D]), merges with the heads ([T, B·H, d] → [B·H, T, d]), into the
// rows of the output projection ([T·B, D]) and back to [B, T, D].
func seqFirstMHA() *ir.Model {
	b := newModel(13, -1, 3, 4)
	bdim := b.op("Gather", nil, b.op("Shape", nil, "x"), b.ints("zero", 0)) // [B]
	t := b.op("Transpose", at("perm", ais(1, 0, 2)), "x")                   // [T, B, D]
	qkv := b.op("Add", nil, b.op("MatMul", nil, t, b.op("Transpose", at("perm", ais(1, 0)), b.param("in.W", 0.7, true, 12, 4))), b.param("in.b", 0.2, true, 12))
	bh := b.op("Mul", nil, bdim, b.ints("heads", 2))
	shp := b.op("Concat", at("axis", ai(0)), b.ints("T", 3), bh, b.ints("hd", 2)) // [T, B·H, d]
	var qs [3]string
	for k := range qs {
		sl := b.op("Slice", nil, qkv, b.ints("st"+itoa(k), int64(4*k)), b.ints("en"+itoa(k), int64(4*k+4)), b.ints("ax"+itoa(k), 2))
		qs[k] = b.op("Transpose", at("perm", ais(1, 0, 2)), b.op("Reshape", nil, sl, shp)) // [B·H, T, d]
	}
	sc := b.op("MatMul", nil, b.op("Div", nil, qs[0], b.paramVals("sq", []float32{1.4142135}, false)), b.op("Transpose", at("perm", ais(0, 2, 1)), qs[1]))
	att := b.op("Identity", nil, b.op("Dropout", nil, b.op("Softmax", at("axis", ai(-1)), sc)))
	o := b.op("MatMul", nil, att, qs[2]) // [B·H, T, d]
	rows := b.op("Reshape", nil, b.op("Transpose", at("perm", ais(1, 0, 2)), o), b.op("Concat", at("axis", ai(0)), b.op("Mul", nil, bdim, b.ints("T2", 3)), b.ints("D", 4)))
	proj := b.op("Gemm", at("transB", ai(1)), rows, b.param("out.W", 0.7, true, 4, 4), b.param("out.b", 0.2, true, 4)) // [T·B, D]
	back := b.op("Transpose", at("perm", ais(1, 0, 2)), b.op("Reshape", nil, proj, b.op("Concat", at("axis", ai(0)), b.ints("T3", 3), bdim, b.ints("D2", 4))))
	y := b.op("Tanh", nil, b.op("Add", nil, back, "x"))
	f := b.op("Flatten", nil, y)
	return b.output(b.op("Gemm", at("transB", ai(1)), f, b.param("fc.W", 0.5, true, 3, 12)))
}

func itoa(k int) string { return string(rune('0' + k)) }

// TestMovedBatchRefusals: with the batch off axis 0, operators that would
// mix samples are refused, and the sequence-first attention builds.
func TestMovedBatchRefusals(t *testing.T) {
	if _, err := Build(seqFirstMHA(), Options{Batch: 4}); err != nil {
		t.Fatalf("sequence-first attention: %v", err)
	}
	cases := []struct {
		name string
		tail func(b *mb, tr string) string
		want string
	}{
		{"softmax_over_batch", func(b *mb, tr string) string { return b.op("Softmax", at("axis", ai(1)), tr) }, "Softmax along the axis that holds the batch"},
		{"reduce_over_batch", func(b *mb, tr string) string { return b.op("ReduceMean", at("axes", ais(1)), tr) }, "not as leading axis"},
		{"reduce_after_identity", func(b *mb, tr string) string {
			d := b.op("Cast", at("to", ai(1)), b.op("Dropout", nil, b.op("Identity", nil, tr)))
			return b.op("ReduceMean", at("axes", ais(1)), d)
		}, "not as leading axis"},
		{"gather_on_batch", func(b *mb, tr string) string { return b.op("Gather", at("axis", ai(1)), tr, b.ints("g", 0)) }, "Gather along the axis that holds the batch"},
		{"reshape_mixing", func(b *mb, tr string) string { return b.op("Reshape", nil, tr, b.ints("s", 2, -1)) }, "mixes the batch"},
		{"fixed_operand_on_batch", func(b *mb, tr string) string {
			return b.op("Add", nil, tr, b.param("c", 1, false, 1, 2, 1))
		}, "lines up with the batch"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newModel(13, -1, 3, 4)
			tr := b.op("Transpose", at("perm", ais(1, 0, 2)), "x") // [3, B, 4]
			y := c.tail(b, tr)
			m := b.output(b.op("Flatten", nil, b.op("Transpose", at("perm", ais(1, 0, 2)), y)))
			_, err := Build(m, Options{Batch: 2})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
}
