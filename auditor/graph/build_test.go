package graph

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/internal/approx"
)

// fixed1 is x [1, 2, 3] (batch fixed to 1) → Mul by a parameter → tail.
func fixed1(tail func(b *mb, h string) string) *ir.Model {
	b := newModel(13, 1, 2, 3)
	h := b.op("Mul", nil, "x", b.param("p", 1, true, 2, 3))
	return b.output(tail(b, h))
}

func TestRebatch(t *testing.T) {
	cases := []struct {
		name   string
		m      *ir.Model
		batch  int
		errSub string // "" = must build
		note   string // substring of a note that must be present
	}{
		{"reshape_1_minus1", fixed1(func(b *mb, h string) string {
			return b.op("Reshape", nil, h, b.ints("s", 1, -1))
		}), 4, "", "rebatched to [4 -1]"},
		{"reshape_1_6", fixed1(func(b *mb, h string) string {
			return b.op("Reshape", nil, h, b.ints("s", 1, 6))
		}), 3, "", "rebatched to [3 6]"},
		{"reshape_0_minus1", fixed1(func(b *mb, h string) string {
			return b.op("Reshape", nil, h, b.ints("s", 0, -1))
		}), 3, "", "fixed batch of 1"},
		{"reshape_flat_all", fixed1(func(b *mb, h string) string {
			r := b.op("Reshape", nil, h, b.ints("s", -1))
			return b.op("Reshape", nil, r, b.ints("s2", 1, -1))
		}), 4, "does not keep the batch", ""},
		{"reshape_2_minus1", fixed1(func(b *mb, h string) string {
			return b.op("Reshape", nil, h, b.ints("s", 2, -1))
		}), 4, "mixes the batch", ""},
		{"transpose_batch", fixed1(func(b *mb, h string) string {
			f := b.op("Flatten", nil, h)
			tr := b.op("Transpose", at("perm", ais(1, 0)), f)
			return b.op("Transpose", at("perm", ais(1, 0)), tr)
		}), 2, "", "fixed batch of 1"}, // the batch moves and comes back: per-sample
		{"transpose_batch_mixed", fixed1(func(b *mb, h string) string {
			tr := b.op("Transpose", at("perm", ais(1, 0)), b.op("Flatten", nil, h))
			return b.op("Flatten", nil, tr)
		}), 2, "not as leading axis", ""},
		{"concat_axis0", fixed1(func(b *mb, h string) string {
			return b.op("Flatten", nil, b.op("Concat", at("axis", ai(0)), h, h))
		}), 2, "Concat along the batch axis", ""},
		{"flatten_axis0", fixed1(func(b *mb, h string) string {
			return b.op("Flatten", at("axis", ai(0)), h)
		}), 2, "merges the batch", ""},
		{"softmax_axis0", fixed1(func(b *mb, h string) string {
			return b.op("Flatten", nil, b.op("Softmax", at("axis", ai(0)), h))
		}), 2, "along the batch axis", ""},
		{"fixed_operand_on_batch", fixed1(func(b *mb, h string) string {
			return b.op("Flatten", nil, b.op("Add", nil, h, b.param("q", 1, false, 2, 2, 3)))
		}), 2, "lines up with the batch dimension", ""},
		{"same_batch_no_note", fixed1(func(b *mb, h string) string {
			return b.op("Reshape", nil, h, b.ints("s", 1, -1))
		}), 1, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			net, err := Build(c.m, Options{Batch: c.batch})
			if c.errSub != "" {
				if err == nil || !strings.Contains(err.Error(), c.errSub) {
					t.Fatalf("error %v, want one containing %q", err, c.errSub)
				}
				if !strings.Contains(err.Error(), "cannot run with batch") && !strings.Contains(err.Error(), "does not keep") {
					t.Errorf("error does not explain the batch problem: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.note == "" && len(net.Notes()) != 0 {
				t.Errorf("unexpected notes %q", net.Notes())
			}
			if c.note != "" && !strings.Contains(strings.Join(net.Notes(), "\n"), c.note) {
				t.Errorf("notes %q lack %q", net.Notes(), c.note)
			}
			// The rebatched net computes each sample as the batch-1 net.
			one, err := Build(c.m, Options{Batch: 1})
			if err != nil {
				t.Fatal(err)
			}
			x := randVec(newModel(13).rng, c.batch*6)
			z, err := net.Forward(x)
			if err != nil {
				t.Fatal(err)
			}
			k := net.Classes()
			for i := 0; i < c.batch; i++ {
				zi, err := one.Forward(x[i*6 : (i+1)*6])
				if err != nil {
					t.Fatal(err)
				}
				for j := range zi {
					if zi[j] != z[i*k+j] {
						t.Fatalf("sample %d logit %d: batched %g, alone %g", i, j, z[i*k+j], zi[j])
					}
				}
			}
		})
	}
}

func TestSymbolicBatchNeedsBatch(t *testing.T) {
	b := newModel(13, -1, 4)
	m := b.output(b.op("MatMul", nil, "x", b.param("w", 1, true, 4, 3)))
	if _, err := Build(m, Options{}); err == nil || !strings.Contains(err.Error(), "Options.Batch is required") {
		t.Fatalf("error %v", err)
	}
}

func TestBuildErrors(t *testing.T) {
	cases := []struct {
		name   string
		m      func() *ir.Model
		errSub []string
	}{
		{"unsupported_op", func() *ir.Model {
			b := newModel(13, -1, 4)
			return b.output(b.op("NonMaxSuppression", nil, "x"))
		}, []string{`"NonMaxSuppression_1"`, "NonMaxSuppression", "opset 13", "not supported"}},
		{"unsupported_attr", func() *ir.Model {
			b := newModel(12, -1, 4)
			return b.output(b.op("Relu", at("foo", ai(1)), "x"))
		}, []string{`"Relu_1"`, "opset 12", `attribute "foo"`}},
		{"pad_reflect", func() *ir.Model {
			b := newModel(13, -1, 4)
			return b.output(b.op("Pad", at("mode", astr("reflect")), "x", b.ints("p", 0, 1, 0, 1)))
		}, []string{"Pad", `mode "reflect"`}},
		{"bn_training", func() *ir.Model {
			b := newModel(15, -1, 2)
			m := b.param("m", 1, false, 2)
			return b.output(b.op("BatchNormalization", at("training_mode", ai(1)), "x", b.param("s", 1, true, 2), b.param("b", 1, true, 2), m, b.positive("v", 1, 2, 2)))
		}, []string{"BatchNormalization", "training_mode"}},
		{"conv_3d", func() *ir.Model {
			b := newModel(13, -1, 1, 3, 3, 3)
			return b.output(b.op("Conv", nil, "x", b.param("w", 1, true, 1, 1, 2, 2, 2)))
		}, []string{"Conv", "only 1-D and 2-D"}},
		{"conv_bad_weight", func() *ir.Model {
			b := newModel(13, -1, 2, 4, 4)
			return b.output(b.op("Conv", nil, "x", b.param("w", 1, true, 3, 3, 2, 2)))
		}, []string{"Conv", "group 1 does not fit"}},
		{"gemm_mismatch", func() *ir.Model {
			b := newModel(13, -1, 4)
			return b.output(b.op("Gemm", nil, "x", b.param("w", 1, true, 5, 3)))
		}, []string{"Gemm", "inner dimensions differ"}},
		{"reshape_bad", func() *ir.Model {
			b := newModel(13, -1, 4)
			return b.output(b.op("Reshape", nil, "x", b.ints("s", 0, 3, -1)))
		}, []string{"Reshape", "cannot infer"}},
		{"reshape_runtime_shape", func() *ir.Model {
			b := newModel(13, -1, 4)
			s := b.op("Relu", nil, "x")
			return b.output(b.op("Reshape", nil, "x", s))
		}, []string{"Reshape", "must be a build-time constant"}},
		{"missing_input", func() *ir.Model {
			b := newModel(13, -1, 4)
			return b.output(b.op("Relu", nil, "nope"))
		}, []string{"Relu", `"nope"`}},
		{"output_not_2d", func() *ir.Model {
			b := newModel(13, -1, 2, 3)
			return b.output(b.op("Relu", nil, "x"))
		}, []string{"want logits [batch=2, classes]"}},
		{"opset_too_new", func() *ir.Model {
			b := newModel(19, -1, 4)
			return b.output(b.op("Relu", nil, "x"))
		}, []string{"opset 19"}},
		{"two_inputs", func() *ir.Model {
			b := newModel(13, -1, 4)
			b.m.Inputs = append(b.m.Inputs, ir.Value{Name: "y", Type: ir.Float, Shape: []ir.Dim{{Value: 4}}})
			return b.output(b.op("Add", nil, "x", "y"))
		}, []string{"2 data inputs"}},
		{"int_input", func() *ir.Model {
			b := newModel(13, -1, 4)
			b.m.Inputs[0].Type = ir.Int64
			return b.output(b.op("Relu", nil, "x"))
		}, []string{`input "x" holds integer ids`, "Gather"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Build(c.m(), Options{Batch: 2})
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range c.errSub {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
		})
	}
	if _, err := Build(nil, Options{}); err == nil {
		t.Error("nil model: no error")
	}
}

func TestTrailingSoftmaxRemoved(t *testing.T) {
	for _, op := range []string{"Softmax", "LogSoftmax"} {
		for _, opset := range []int64{11, 13} {
			b := newModel(opset, -1, 4)
			z := b.op("Gemm", nil, "x", b.param("w", 1, true, 4, 3), b.param("c", 1, true, 3))
			m := b.output(b.op(op, nil, z))
			net, err := Build(m, Options{Batch: 2, Float64: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(net.Notes()) != 1 || !strings.Contains(net.Notes()[0], "trailing "+op) || net.LogitsName() != z {
				t.Fatalf("%s opset %d: notes %q logits %q", op, opset, net.Notes(), net.LogitsName())
			}
			x := []float64{1, 2, 3, 4, -1, 0.5, 0, 2}
			got, err := net.Forward(x)
			if err != nil {
				t.Fatal(err)
			}
			// Logits = x·W + c, independently.
			w, c := net.Param("w"), net.Param("c")
			for i := 0; i < 2; i++ {
				for j := 0; j < 3; j++ {
					want := c[j]
					for k := 0; k < 4; k++ {
						want += x[i*4+k] * w[k*3+j]
					}
					if !approx.Abs(t, fmt.Sprintf("logit [%d,%d]", i, j), got[i*3+j], want, approx.Float64) {
						t.FailNow()
					}
				}
			}
		}
	}
}

func TestNetAPI(t *testing.T) {
	b := newModel(13, -1, 4)
	m := b.output(b.op("Gemm", nil, "x", b.param("w", 1, true, 4, 3), b.param("c", 1, true, 3)))
	b.param("unused", 1, true, 2)
	net, err := Build(m, Options{Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	ps := net.Params()
	if len(ps) != 3 || ps[0].Name != "w" || !slices.Equal(ps[0].Shape, []int{4, 3}) || !ps[0].Trainable {
		t.Fatalf("Params %+v", ps)
	}
	if !strings.Contains(strings.Join(net.Notes(), "\n"), `"unused" does not influence the loss`) {
		t.Errorf("notes %q", net.Notes())
	}
	if net.Grad("w") != nil {
		t.Errorf("Grad before LossGrad")
	}
	if _, err := net.Forward(make([]float64, 7)); err == nil {
		t.Errorf("Forward with 7 values: no error")
	}
	if _, err := net.LossGrad(make([]float64, 8), []int{0, 3}); err == nil {
		t.Errorf("label 3 of 3 classes: no error")
	}
	if _, err := net.LossGrad(make([]float64, 8), []int{0}); err == nil {
		t.Errorf("1 label for batch 2: no error")
	}
	if err := net.SetParam("w", make([]float64, 5)); err == nil {
		t.Errorf("SetParam with 5 values: no error")
	}
	if err := net.SetParam("nope", nil); err == nil {
		t.Errorf("SetParam unknown: no error")
	}
	// SetParam takes effect: zero weights and bias give zero logits and
	// loss 2·log 3.
	if err := net.SetParam("w", make([]float64, 12)); err != nil {
		t.Fatal(err)
	}
	if err := net.SetParam("c", make([]float64, 3)); err != nil {
		t.Fatal(err)
	}
	loss, err := net.LossGrad([]float64{1, 2, 3, 4, 5, 6, 7, 8}, []int{0, 2})
	if err != nil {
		t.Fatal(err)
	}
	approx.Abs(t, "loss", loss, 2*math.Log(3), 1e-6)
	if g := net.Grad("unused"); len(g) != 2 || g[0] != 0 {
		t.Errorf("Grad(unused) = %v", g)
	}
	// dL/dc = Σ_i (1/3 − onehot) = [2/3−1, 2/3, 2/3−1].
	g := net.Grad("c")
	want := []float64{-1.0 / 3, 2.0 / 3, -1.0 / 3}
	approx.Slice(t, "dL/dc", g, want, 1e-6, 0)
	// Reuse across calls: the same input gives the same loss.
	for i := 0; i < 3; i++ {
		l2, err := net.LossGrad([]float64{1, 2, 3, 4, 5, 6, 7, 8}, []int{0, 2})
		if err != nil || l2 != loss {
			t.Fatalf("repeat %d: loss %g err %v", i, l2, err)
		}
	}
	if s, d, ok := net.Deriv("c"); !ok || !slices.Equal(s, []int{3}) || d[1] != g[1] {
		t.Errorf("Deriv(c) = %v %v %v, Grad(c) = %v", s, d, ok, g)
	}
	if s, v, ok := net.Value("w"); !ok || !slices.Equal(s, []int{4, 3}) || v[0] != 0 {
		t.Errorf("Value(w) = %v %v %v", s, v, ok)
	}
	if s, v, ok := net.Value(net.InputName()); !ok || !slices.Equal(s, []int{2, 4}) || v[7] != 8 {
		t.Errorf("Value(input) = %v %v %v", s, v, ok)
	}
}

// TestGradInto checks GradInto against Grad: the same values, written into
// the given slice when it is large enough (no new allocation), a new slice
// otherwise, zeros for a parameter without influence, nil for an unknown
// name.
func TestGradInto(t *testing.T) {
	b := newModel(13, -1, 4)
	m := b.output(b.op("Gemm", nil, "x", b.param("w", 1, true, 4, 3), b.param("c", 1, true, 3)))
	b.param("unused", 1, true, 2)
	net, err := Build(m, Options{Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	if net.GradInto("w", nil) != nil {
		t.Errorf("GradInto before LossGrad")
	}
	if _, err := net.LossGrad([]float64{1, -2, 3, 4, 5, 6, -7, 8}, []int{0, 2}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"w", "c", "unused"} {
		want := net.Grad(name)
		buf := make([]float64, len(want)+3)
		for i := range buf {
			buf[i] = 9
		}
		got := net.GradInto(name, buf)
		if !slices.Equal(got, want) || &got[0] != &buf[0] {
			t.Errorf("GradInto(%q, buf) = %v (same array %v), want %v", name, got, &got[0] == &buf[0], want)
		}
		if got := net.GradInto(name, nil); !slices.Equal(got, want) {
			t.Errorf("GradInto(%q, nil) = %v, want %v", name, got, want)
		}
	}
	if net.GradInto("nope", nil) != nil {
		t.Errorf("GradInto(unknown) is not nil")
	}
}
