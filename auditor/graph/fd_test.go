package graph

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/internal/approx"
)

// Finite-difference checks of every operator's backward pass, in float64,
// on small random shapes with attribute variants. Each case builds
// x → (operators) → logits [batch, classes] and fdCheck compares the
// gradients of every trainable parameter and of the input with central
// differences of the summed cross-entropy.

type fdCase struct {
	name  string
	batch int
	build func() *ir.Model
}

// convNet: x [B,C,H,W] → Conv(attrs) → Flatten.
func convNet(opset int64, xs []int64, ws []int64, bias bool, attrs map[string]ir.Attr) func() *ir.Model {
	return func() *ir.Model {
		b := newModel(opset, append([]int64{-1}, xs...)...)
		ins := []string{"x", b.param("w", 0.4, true, ws...)}
		if bias {
			ins = append(ins, b.param("b", 0.2, true, ws[0]))
		}
		c := b.op("Conv", attrs, ins...)
		return b.output(b.op("Flatten", nil, c))
	}
}

// poolNet: x → Conv 1×1 (so the pool's input depends on a parameter) →
// pool(attrs) → Flatten.
func poolNet(op string, xs []int64, attrs map[string]ir.Attr) func() *ir.Model {
	return func() *ir.Model {
		b := newModel(13, append([]int64{-1}, xs...)...)
		ks := []int64{xs[0], xs[0], 1}
		if len(xs) == 3 {
			ks = append(ks, 1)
		}
		c := b.op("Conv", nil, "x", b.param("w", 0.6, true, ks...))
		p := b.op(op, attrs, c)
		return b.output(b.op("Flatten", nil, p))
	}
}

// binNet: x [B,2,3,4] op param (or param op x) → Flatten.
func binNet(op string, pshape []int64, xLeft bool, positive bool) func() *ir.Model {
	return func() *ir.Model {
		b := newModel(13, -1, 2, 3, 4)
		var p string
		if positive {
			p = b.positive("p", 0.5, 2, pshape...)
			b.m.Trainable = append(b.m.Trainable, p)
		} else {
			p = b.param("p", 1, true, pshape...)
		}
		var y string
		if xLeft {
			y = b.op(op, nil, "x", p)
		} else {
			y = b.op(op, nil, p, "x")
		}
		return b.output(b.op("Flatten", nil, y))
	}
}

// unaryNet: x [B,6] → Gemm → unary(attrs, extra inputs) → logits.
func unaryNet(opset int64, op string, attrs map[string]ir.Attr, extra func(b *mb) []string) func() *ir.Model {
	return func() *ir.Model {
		b := newModel(opset, -1, 6)
		h := b.op("Gemm", at("transB", ai(1)), "x", b.param("w", 0.8, true, 5, 6), b.param("c", 0.3, true, 5))
		ins := []string{h}
		if extra != nil {
			ins = append(ins, extra(b)...)
		}
		return b.output(b.op(op, attrs, ins...))
	}
}

func fdCases() []fdCase {
	k33 := []int64{3, 2, 3, 3}
	x266 := []int64{2, 6, 6}
	cs := []fdCase{
		{"Conv/pad1", 3, convNet(13, x266, k33, true, at("pads", ais(1, 1, 1, 1)))},
		{"Conv/stride2_pad1", 3, convNet(13, []int64{2, 7, 7}, k33, true, at("strides", ais(2, 2), "pads", ais(1, 1, 1, 1)))},
		{"Conv/dilation2", 2, convNet(13, []int64{2, 7, 7}, k33, true, at("dilations", ais(2, 2), "pads", ais(1, 2, 1, 0)))},
		{"Conv/asym_pads_stride", 2, convNet(13, x266, []int64{3, 2, 2, 3}, true, at("strides", ais(2, 1), "pads", ais(0, 1, 1, 2)))},
		{"Conv/group2", 2, convNet(13, []int64{4, 5, 5}, []int64{6, 2, 3, 3}, true, at("group", ai(2), "pads", ais(1, 1, 1, 1)))},
		{"Conv/depthwise", 2, convNet(13, []int64{3, 5, 5}, []int64{6, 1, 3, 3}, true, at("group", ai(3), "strides", ais(2, 2)))},
		{"Conv/same_upper_stride2", 2, convNet(13, x266, k33, false, at("auto_pad", astr("SAME_UPPER"), "strides", ais(2, 2)))},
		{"Conv/same_lower", 2, convNet(11, []int64{2, 5, 5}, []int64{3, 2, 2, 2}, true, at("auto_pad", astr("SAME_LOWER")))},
		{"Conv/valid", 2, convNet(9, x266, k33, true, at("auto_pad", astr("VALID"), "kernel_shape", ais(3, 3)))},
		{"Conv/1d", 3, convNet(13, []int64{2, 9}, []int64{4, 2, 3}, true, at("strides", ais(2), "pads", ais(1, 0), "dilations", ais(2)))},
		{"Conv/1x1_no_bias", 3, convNet(13, x266, []int64{4, 2, 1, 1}, false, nil)},

		{"MaxPool/k3s2p1", 2, poolNet("MaxPool", []int64{2, 6, 6}, at("kernel_shape", ais(3, 3), "strides", ais(2, 2), "pads", ais(1, 1, 1, 1)))},
		{"MaxPool/ceil", 2, poolNet("MaxPool", []int64{2, 7, 7}, at("kernel_shape", ais(2, 2), "strides", ais(2, 2), "ceil_mode", ai(1)))},
		{"MaxPool/dilation_asym", 2, poolNet("MaxPool", []int64{2, 7, 6}, at("kernel_shape", ais(2, 3), "dilations", ais(2, 1), "pads", ais(0, 1, 1, 0)))},
		{"MaxPool/same_upper", 2, poolNet("MaxPool", []int64{2, 5, 5}, at("kernel_shape", ais(2, 2), "strides", ais(2, 2), "auto_pad", astr("SAME_UPPER")))},
		{"MaxPool/1d", 2, poolNet("MaxPool", []int64{2, 9}, at("kernel_shape", ais(3), "strides", ais(2), "pads", ais(1, 1)))},
		{"AveragePool/pads_exclude", 2, poolNet("AveragePool", []int64{2, 6, 6}, at("kernel_shape", ais(3, 3), "strides", ais(2, 2), "pads", ais(1, 1, 1, 1)))},
		{"AveragePool/pads_include", 2, poolNet("AveragePool", []int64{2, 6, 6}, at("kernel_shape", ais(3, 3), "strides", ais(2, 2), "pads", ais(1, 0, 1, 2), "count_include_pad", ai(1)))},
		{"AveragePool/ceil_include", 2, poolNet("AveragePool", []int64{2, 7, 7}, at("kernel_shape", ais(3, 3), "strides", ais(2, 2), "pads", ais(1, 1, 1, 1), "ceil_mode", ai(1), "count_include_pad", ai(1)))},
		{"AveragePool/same_lower", 2, poolNet("AveragePool", []int64{2, 5, 5}, at("kernel_shape", ais(2, 2), "auto_pad", astr("SAME_LOWER")))},
		{"AveragePool/1d", 2, poolNet("AveragePool", []int64{2, 8}, at("kernel_shape", ais(3), "strides", ais(2), "ceil_mode", ai(1)))},
		{"GlobalAveragePool", 3, poolNet("GlobalAveragePool", []int64{3, 4, 5}, nil)},

		{"Add/channel_bcast", 3, binNet("Add", []int64{2, 1, 1}, true, false)},
		{"Add/param_left_lastdim", 2, binNet("Add", []int64{4}, false, false)},
		{"Sub/scalar", 2, binNet("Sub", []int64{}, true, false)},
		{"Sub/param_left", 2, binNet("Sub", []int64{3, 1}, false, false)},
		{"Mul/bcast", 3, binNet("Mul", []int64{2, 3, 1}, true, false)},
		{"Mul/full", 2, binNet("Mul", []int64{1, 2, 3, 4}, false, false)},
		{"Div/by_param", 2, binNet("Div", []int64{3, 4}, true, true)},
		{"Div/param_by_x", 2, func() *ir.Model {
			// p / (x² + 1): x never near 0 in the denominator.
			b := newModel(13, -1, 2, 3)
			sq := b.op("Mul", nil, "x", "x")
			one := b.paramVals("one", []float32{1}, false)
			den := b.op("Add", nil, sq, one)
			return b.output(b.op("Flatten", nil, b.op("Div", nil, b.param("p", 1, true, 3), den)))
		}},

		{"Relu", 3, unaryNet(13, "Relu", nil, nil)},
		{"LeakyRelu", 3, unaryNet(13, "LeakyRelu", at("alpha", af(0.2)), nil)},
		{"Sigmoid", 3, unaryNet(13, "Sigmoid", nil, nil)},
		{"Tanh", 3, unaryNet(13, "Tanh", nil, nil)},
		{"Clip/relu6_opset11", 3, unaryNet(11, "Clip", nil, func(b *mb) []string {
			return []string{b.paramVals("lo", []float32{-0.3}, false), b.paramVals("hi", []float32{0.4}, false)}
		})},
		{"Clip/attrs_opset9", 3, unaryNet(9, "Clip", at("min", af(-0.2), "max", af(0.3)), nil)},
		{"Clip/trainable_bounds", 3, unaryNet(13, "Clip", nil, func(b *mb) []string {
			return []string{b.paramVals("lo", []float32{-0.3}, true), b.paramVals("hi", []float32{0.35}, true)}
		})},
		{"Clip/runtime_max_only", 3, unaryNet(13, "Clip", nil, func(b *mb) []string {
			return []string{"", b.op("Identity", nil, b.paramVals("hi", []float32{0.35}, true))}
		})},

		{"BatchNormalization/4d", 3, func() *ir.Model {
			b := newModel(13, -1, 3, 4, 4)
			c := b.op("Conv", at("pads", ais(1, 1, 1, 1)), "x", b.param("w", 0.4, true, 3, 3, 3, 3))
			bn := b.op("BatchNormalization", at("epsilon", af(1e-3)), c, b.param("s", 0.5, true, 3), b.param("bb", 0.3, true, 3),
				b.param("mean", 0.3, false, 3), b.positive("var", 0.5, 2, 3))
			return b.output(b.op("Flatten", nil, b.op("Relu", nil, bn)))
		}},
		{"BatchNormalization/2d_opset9", 4, func() *ir.Model {
			b := newModel(9, -1, 6)
			h := b.op("Gemm", at("transB", ai(1)), "x", b.param("w", 0.8, true, 5, 6), b.param("c", 0.3, true, 5))
			return b.output(b.op("BatchNormalization", nil, h, b.param("s", 0.5, true, 5), b.param("bb", 0.3, true, 5),
				b.param("mean", 0.3, false, 5), b.positive("var", 0.5, 2, 5)))
		}},

		{"Gemm/alpha_beta_bias_row", 3, func() *ir.Model {
			b := newModel(13, -1, 6)
			return b.output(b.op("Gemm", at("alpha", af(0.7), "beta", af(1.3)), "x", b.param("w", 0.8, true, 6, 4), b.param("c", 0.3, true, 1, 4)))
		}},
		{"Gemm/transA_batch1", 1, func() *ir.Model {
			// batch 1: A = x reshaped [6, 1] with transA.
			b := newModel(13, 1, 6)
			a := b.op("Reshape", nil, "x", b.ints("shp", 6, 1))
			return b.output(b.op("Gemm", at("transA", ai(1), "transB", ai(1)), a, b.param("w", 0.8, true, 4, 6), b.param("c", 0.3, true, 4)))
		}},
		{"Gemm/scalar_bias_no_bias", 2, func() *ir.Model {
			b := newModel(11, -1, 6)
			h := b.op("Gemm", nil, "x", b.param("w", 0.8, true, 6, 5), b.param("c", 0.3, true))
			return b.output(b.op("Gemm", at("transB", ai(1)), h, b.param("w2", 0.8, true, 4, 5)))
		}},
		{"MatMul/2d", 3, func() *ir.Model {
			b := newModel(13, -1, 6)
			return b.output(b.op("MatMul", nil, "x", b.param("w", 0.8, true, 6, 4)))
		}},
		{"MatMul/3d_x_2d", 2, func() *ir.Model {
			b := newModel(13, -1, 3, 5)
			return b.output(b.op("Flatten", nil, b.op("MatMul", nil, "x", b.param("w", 0.8, true, 5, 2))))
		}},
		{"MatMul/broadcast_batch1", 1, func() *ir.Model {
			b := newModel(13, 1, 1, 3, 4)
			m := b.op("MatMul", nil, "x", b.param("w", 0.8, true, 2, 1, 4, 2))
			m2 := b.op("MatMul", nil, b.param("v", 0.8, true, 2), b.op("Transpose", at("perm", ais(0, 1, 3, 2)), m))
			return b.output(b.op("Flatten", at("axis", ai(0)), m2))
		}},
		{"MatMul/vector_rhs", 2, func() *ir.Model {
			b := newModel(13, -1, 3, 4)
			return b.output(b.op("MatMul", nil, "x", b.param("v", 0.8, true, 4)))
		}},

		{"Reshape_Flatten_Squeeze", 2, func() *ir.Model {
			b := newModel(11, -1, 2, 3, 2)
			r := b.op("Reshape", nil, "x", b.ints("shp", 0, -1, 1))
			h := b.op("Mul", nil, r, b.param("p", 1, true, 12, 1))
			s := b.op("Squeeze", at("axes", ais(2)), h)
			u := b.op("Unsqueeze", at("axes", ais(1)), s)
			return b.output(b.op("Flatten", at("axis", ai(1)), u))
		}},
		{"Squeeze_Unsqueeze_opset13", 2, func() *ir.Model {
			b := newModel(13, -1, 4)
			u := b.op("Unsqueeze", nil, "x", b.ints("ax", 2, -1))
			h := b.op("Add", nil, u, b.param("p", 1, true, 4, 1, 1))
			return b.output(b.op("Squeeze", nil, h, b.ints("ax2", -1, 2)))
		}},
		{"Transpose", 2, func() *ir.Model {
			b := newModel(13, -1, 2, 3, 4)
			t := b.op("Transpose", at("perm", ais(0, 3, 1, 2)), "x")
			return b.output(b.op("Flatten", nil, b.op("Mul", nil, t, b.param("p", 1, true, 4, 2, 3))))
		}},
		{"Concat", 2, func() *ir.Model {
			b := newModel(13, -1, 2, 4, 4)
			c := b.op("Conv", at("pads", ais(1, 1, 1, 1)), "x", b.param("w", 0.4, true, 3, 2, 3, 3))
			cc := b.op("Concat", at("axis", ai(1)), "x", c, c)
			return b.output(b.op("Flatten", nil, cc))
		}},
		{"Pad/constant_crop", 2, func() *ir.Model {
			b := newModel(13, -1, 2, 4, 4)
			c := b.op("Conv", nil, "x", b.param("w", 0.4, true, 2, 2, 1, 1))
			p := b.op("Pad", nil, c, b.ints("pads", 0, 0, 1, -1, 0, 0, -1, 2), b.paramVals("v", []float32{0.5}, false))
			return b.output(b.op("Flatten", nil, p))
		}},
		{"Pad/opset9_attrs", 2, func() *ir.Model {
			b := newModel(9, -1, 2, 3)
			h := b.op("Mul", nil, "x", b.param("p", 1, true, 3))
			return b.output(b.op("Flatten", nil, b.op("Pad", at("pads", ais(0, 1, 1, 0, 0, 2), "value", af(-0.5)), h)))
		}},
		{"Softmax/axis1_4d", 2, func() *ir.Model {
			b := newModel(13, -1, 3, 2, 2)
			h := b.op("Mul", nil, "x", b.param("p", 1, true, 3, 1, 1))
			s := b.op("Softmax", at("axis", ai(1)), h)
			return b.output(b.op("Flatten", nil, b.op("Mul", nil, s, b.param("q", 2, true, 3, 2, 2))))
		}},
		{"LogSoftmax/opset11_coerced", 2, func() *ir.Model {
			b := newModel(11, -1, 3, 4)
			h := b.op("Add", nil, "x", b.param("p", 1, true, 3, 4))
			s := b.op("LogSoftmax", at("axis", ai(1)), h)
			return b.output(b.op("Flatten", nil, b.op("Mul", nil, s, b.param("q", 1, true, 3, 4))))
		}},
		{"Dropout_Identity", 2, func() *ir.Model {
			b := newModel(13, -1, 5)
			d := b.op("Dropout", nil, b.op("Mul", nil, "x", b.param("p", 1, true, 5)))
			return b.output(b.op("Identity", nil, d))
		}},
		{"Slice/steps", 2, func() *ir.Model {
			b := newModel(13, -1, 3, 8)
			h := b.op("Mul", nil, "x", b.param("p", 1, true, 3, 8))
			s := b.op("Slice", nil, h, b.ints("st", 1, -1), b.ints("en", 3, 0), b.ints("ax", 1, 2), b.ints("sp", 1, -3))
			return b.output(b.op("Flatten", nil, s))
		}},
		{"Residual_shared_use", 2, func() *ir.Model {
			// y = relu(conv2(relu(conv1(x))) + x) · x: the same values used
			// several times (gradient accumulation in gorgonia).
			b := newModel(13, -1, 2, 4, 4)
			c1 := b.op("Relu", nil, b.op("Conv", at("pads", ais(1, 1, 1, 1)), "x", b.param("w1", 0.4, true, 2, 2, 3, 3)))
			c2 := b.op("Conv", at("pads", ais(1, 1, 1, 1)), c1, b.param("w2", 0.4, true, 2, 2, 3, 3), b.param("b2", 0.1, true, 2))
			r := b.op("Relu", nil, b.op("Add", nil, c2, "x"))
			m := b.op("Mul", nil, r, c1)
			return b.output(b.op("Flatten", nil, b.op("Add", nil, m, c1)))
		}},
	}
	return cs
}

func TestFDOperators(t *testing.T) {
	for _, c := range fdCases() {
		t.Run(c.name, func(t *testing.T) {
			fdCheck(t, c.build(), c.batch, 25)
		})
	}
}

// TestDerivPlumbing checks that Deriv returns dL/d(value) for intermediate
// values: with z = c + p (p a zero parameter of c's shape, batch 1),
// dL/dp = dL/dz = dL/dc, and dL/dp is checked by finite differences. z is
// used three times (Relu, and both operands of a Mul), so dL/dz is summed
// by gorgonia's gradient accumulation.
func TestDerivPlumbing(t *testing.T) {
	b := newModel(13, 1, 2, 5, 5)
	c := b.op("Conv", at("pads", ais(1, 1, 1, 1)), "x", b.param("w", 0.4, true, 3, 2, 3, 3), b.param("b", 0.1, true, 3))
	z := b.op("Add", nil, c, b.paramVals("p", make([]float32, 75), true, 1, 3, 5, 5))
	r := b.op("Relu", nil, z)
	s := b.op("Add", nil, r, b.op("Mul", nil, z, z))
	f := b.op("Flatten", nil, s)
	out := b.op("Gemm", at("transB", ai(1)), f, b.param("fw", 0.3, true, 4, 75))
	m := b.output(out)
	fdCheck(t, m, 1, 20)
	net, err := Build(m, Options{Batch: 1, Float64: true})
	if err != nil {
		t.Fatal(err)
	}
	x := randVec(newModel(13).rng, 50)
	if _, err := net.LossGrad(x, []int{2}); err != nil {
		t.Fatal(err)
	}
	gp := net.Grad("p")
	for _, name := range []string{c, z} {
		shape, d, ok := net.Deriv(name)
		if !ok || len(d) != len(gp) || !slices.Equal(shape, []int{1, 3, 5, 5}) {
			t.Fatalf("Deriv(%s): ok=%v shape %v len %d", name, ok, shape, len(d))
		}
		for i := range d {
			if !approx.Abs(t, fmt.Sprintf("Deriv(%s)[%d] against dL/dp", name, i), d[i], gp[i], approx.Float64) {
				t.FailNow()
			}
		}
	}
	// dL/dz = dL/ds·([z > 0] + 2z), and dL/dr = dL/ds.
	_, ds, _ := net.Deriv(s)
	_, dr, _ := net.Deriv(r)
	_, zv, _ := net.Value(z)
	_, dz, _ := net.Deriv(z)
	for i := range dz {
		want := 2 * zv[i] * ds[i]
		if zv[i] > 0 {
			want += ds[i]
		}
		if !approx.Abs(t, fmt.Sprintf("dL/dz[%d]", i), dz[i], want, approx.Float64) || dr[i] != ds[i] {
			t.Fatalf("dL/dz[%d] = %g, want %g (dL/dr %g, dL/ds %g)", i, dz[i], want, dr[i], ds[i])
		}
	}
	// Value of the Relu output is max(0, z).
	_, rv, _ := net.Value(r)
	for i := range rv {
		if rv[i] != math.Max(0, zv[i]) {
			t.Fatalf("relu value[%d] = %g, z = %g", i, rv[i], zv[i])
		}
	}
	// Deriv of the data input only with InputGrad.
	if _, _, ok := net.Deriv(net.InputName()); ok {
		t.Errorf("input derivative available without InputGrad")
	}
}
