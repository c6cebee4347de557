package onnx

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/auditor/onnxpb"
)

// flattenChain appends PyTorch's view(x.size(0), -1) on value x with the
// attribute-style Unsqueeze of opsets < 13, reading the batch from src.
func flattenChain(b *gb, src, x, out string, tail ...int64) *gb {
	b.initI("idx0", 0)
	b.g.Initializer[len(b.g.Initializer)-1].Dims = nil // scalar index
	b.initI("tail", tail...)
	return b.node("Shape", []string{src}, []string{"s"}).
		node("Gather", []string{"s", "idx0"}, []string{"g"}, onnxpb.IntAttr("axis", 0)).
		node("Unsqueeze", []string{"g"}, []string{"u"}, onnxpb.IntsAttr("axes", 0)).
		node("Concat", []string{"u", "tail"}, []string{"target"}, onnxpb.IntAttr("axis", 0)).
		node("Reshape", []string{x, "target"}, []string{out}).named("flat")
}

func folded(t *testing.T, b *gb) *ir.Model {
	t.Helper()
	m, _ := b.decode(t)
	if err := FoldConstants(m); err != nil {
		t.Fatal(err)
	}
	return m
}

func opTypes(m *ir.Model) []string {
	var ops []string
	for _, n := range m.Nodes {
		ops = append(ops, n.OpType)
	}
	return ops
}

func reshapeTarget(t *testing.T, m *ir.Model, node string) []int64 {
	t.Helper()
	for _, n := range m.Nodes {
		if n.Name == node {
			tt := m.Initializers[n.Inputs[1]]
			if tt == nil {
				t.Fatalf("Reshape %q target %q is not an initializer", node, n.Inputs[1])
			}
			return tt.I64
		}
	}
	t.Fatalf("no node %q", node)
	return nil
}

// TestFoldReshapeTargets: the folded Reshape target must describe the same
// reshape as the symbolic one, for every batch size.
func TestFoldReshapeTargets(t *testing.T) {
	cases := []struct {
		name  string
		build func() *gb
		want  []int64
		ops   []string
	}{{
		name: "view(x.size(0), -1)",
		build: func() *gb {
			b := newGraph(11).input("x", "batch", 4, 2, 2).output("y").
				node("Relu", []string{"x"}, []string{"r"})
			return flattenChain(b, "r", "r", "y", -1)
		},
		want: []int64{0, -1}, // copy the batch, infer 16
		ops:  []string{"Relu", "Reshape"},
	}, {
		name: "batch read from the graph input, reshaping an intermediate",
		build: func() *gb {
			b := newGraph(11).input("x", "batch", 4, 2, 2).output("y").
				node("Relu", []string{"x"}, []string{"r"})
			return flattenChain(b, "x", "r", "y", 16)
		},
		want: []int64{0, 16}, // r's dim 0 is x's batch too
		ops:  []string{"Relu", "Reshape"},
	}, {
		name: "batch moved to another position",
		build: func() *gb {
			b := newGraph(11).input("x", "N", 4, 2, 2).output("y").initI("head", 16).
				initI("idx0", 0).
				node("Shape", []string{"x"}, []string{"s"}).
				node("Gather", []string{"s", "idx0"}, []string{"g"}, onnxpb.IntAttr("axis", 0)).
				node("Concat", []string{"head", "g"}, []string{"target"}, onnxpb.IntAttr("axis", 0)).
				node("Reshape", []string{"x", "target"}, []string{"y"}).named("flat")
			return b
		},
		want: []int64{16, -1}, // [16, N]: N is not x's dim 1, so it is inferred
		ops:  []string{"Reshape"},
	}, {
		name: "allowzero=1 cannot copy dimensions",
		build: func() *gb {
			b := newGraph(14).input("x", "batch", 4, 2, 2).output("y")
			flattenChain(b, "x", "x", "y", 16)
			b.g.Node[len(b.g.Node)-1].Attribute = append(b.g.Node[len(b.g.Node)-1].Attribute, onnxpb.IntAttr("allowzero", 1))
			b.initI("axes0", 0)
			b.g.Node[2].Attribute = nil
			b.g.Node[2].Input = append(b.g.Node[2].Input, "axes0")
			return b
		},
		want: []int64{-1, 16},
		ops:  []string{"Reshape"},
	}, {
		name: "x.view(b, c*h*w) with the product computed",
		build: func() *gb {
			b := newGraph(9).input("x", "B", 4, 2, 3).output("y").
				initI("i0", 0).initI("i1", 1).initI("i2", 2).initI("i3", 3).
				node("Shape", []string{"x"}, []string{"s"}).
				node("Gather", []string{"s", "i0"}, []string{"b"}, onnxpb.IntAttr("axis", 0)).
				node("Gather", []string{"s", "i1"}, []string{"c"}, onnxpb.IntAttr("axis", 0)).
				node("Gather", []string{"s", "i2"}, []string{"h"}, onnxpb.IntAttr("axis", 0)).
				node("Gather", []string{"s", "i3"}, []string{"w"}, onnxpb.IntAttr("axis", 0)).
				node("Mul", []string{"c", "h"}, []string{"ch"}).
				node("Mul", []string{"ch", "w"}, []string{"chw"}).
				node("Concat", []string{"b", "chw"}, []string{"target"}, onnxpb.IntAttr("axis", 0)).
				node("Reshape", []string{"x", "target"}, []string{"y"}).named("flat")
			return b
		},
		want: []int64{0, 24},
		ops:  []string{"Reshape"},
	}, {
		name: "two symbolic dims kept by a Slice of the shape",
		build: func() *gb {
			b := newGraph(11).input("x", "N", "L", 2, 4).output("y").
				initI("st", 0).initI("en", 2).initI("minus1", -1).
				node("Shape", []string{"x"}, []string{"s"}).
				node("Slice", []string{"s", "st", "en"}, []string{"nl"}).
				node("Concat", []string{"nl", "minus1"}, []string{"target"}, onnxpb.IntAttr("axis", 0)).
				node("Reshape", []string{"x", "target"}, []string{"y"}).named("flat")
			return b
		},
		want: []int64{0, 0, -1},
		ops:  []string{"Reshape"},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := folded(t, c.build())
			if got := reshapeTarget(t, m, "flat"); !reflect.DeepEqual(got, c.want) {
				t.Errorf("target %v, want %v", got, c.want)
			}
			if got := opTypes(m); !reflect.DeepEqual(got, c.ops) {
				t.Errorf("ops %v, want %v", got, c.ops)
			}
			if errs := Check(m); len(errs) != 0 {
				t.Errorf("Check: %v", errs)
			}
			// Only the new target is left among the initializers.
			if len(m.InitOrder) != 1 {
				t.Errorf("initializers %q, want only the target", m.InitOrder)
			}
		})
	}
}

// TestFoldUnresolvable: a target with two unknown dimensions that are not
// the data's own at the same position stays symbolic, and Check says so.
func TestFoldUnresolvable(t *testing.T) {
	b := newGraph(11).input("x", "N", "L", 8).output("y").
		initI("i0", 0).initI("i1", 1).initI("minus1", -1).
		node("Shape", []string{"x"}, []string{"s"}).
		node("Gather", []string{"s", "i1"}, []string{"l"}, onnxpb.IntAttr("axis", 0)).
		node("Gather", []string{"s", "i0"}, []string{"n"}, onnxpb.IntAttr("axis", 0)).
		node("Concat", []string{"l", "n", "minus1"}, []string{"target"}, onnxpb.IntAttr("axis", 0)).
		node("Reshape", []string{"x", "target"}, []string{"y"}).named("swap")
	m := folded(t, b)
	if got := opTypes(m); !reflect.DeepEqual(got, []string{"Shape", "Gather", "Gather", "Concat", "Reshape"}) {
		t.Errorf("ops %v: the chain should stay", got)
	}
	errs := Check(m)
	var msgs []string
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{`node "swap" (Reshape, opset 11): input 1 ("target") must be a constant`,
		`(Shape, opset 11): supported only in shape computations`} {
		if !strings.Contains(all, want) {
			t.Errorf("Check errors lack %q:\n%s", want, all)
		}
	}
	// The shape is still inferred: [L, N, 8].
	sh := InferShapes(m)["y"]
	if FormatShape(sh) != "[L, N, 8]" {
		t.Errorf("inferred %s, want [L, N, 8]", FormatShape(sh))
	}
}

// TestFoldConstants covers the constant evaluator on small graphs whose
// results are worked out by hand from the ONNX operator definitions.
func TestFoldConstants(t *testing.T) {
	b := newGraph(13).input("x", "N", 3).output("y").output("k").
		initI("axes", 0).initI("neg", -1).initI("starts", 3).initI("ends", -100).initI("steps", -2).
		node("Constant", nil, []string{"c1"}, onnxpb.IntsAttr("value_ints", 2, 3)).
		node("Constant", nil, []string{"c2"}, onnxpb.FloatAttr("value_float", 1.5)).
		node("Constant", nil, []string{"vec"}, onnxpb.TensorAttr("value", tensorI("v", []int64{5}, 10, 11, 12, 13, 14))).
		node("Slice", []string{"vec", "starts", "ends", "axes", "steps"}, []string{"sl"}).   // [13, 11]
		node("Gather", []string{"vec", "neg"}, []string{"last"}, onnxpb.IntAttr("axis", 0)). // [14]
		node("Mul", []string{"sl", "c1"}, []string{"prod"}).                                 // [26, 33]
		node("Div", []string{"prod", "c1"}, []string{"back"}).                               // [13, 11]
		node("Sub", []string{"back", "last"}, []string{"diff"}).                             // [-1, -3]
		node("ConstantOfShape", []string{"c1"}, []string{"zeros"}, onnxpb.TensorAttr("value", tensorF("z", []int64{1}, 2.5))).
		node("Transpose", []string{"zeros"}, []string{"zt"}).                               // [3, 2]
		node("Squeeze", []string{"diff"}, []string{"sq"}).                                  // no 1-dims: unchanged
		node("Cast", []string{"sq"}, []string{"k"}, onnxpb.IntAttr("to", int64(ir.Float))). // graph output: kept
		node("Mul", []string{"x", "c2"}, []string{"y"})
	m := folded(t, b)
	if got := opTypes(m); !reflect.DeepEqual(got, []string{"Cast", "Mul"}) {
		t.Fatalf("ops %v, want [Cast Mul] (the Cast produces a graph output)", got)
	}
	want := map[string]*ir.Tensor{
		"c2": {Name: "c2", Type: ir.Float, Dims: nil, F32: []float32{1.5}},
		"sq": {Name: "sq", Type: ir.Int64, Dims: []int64{2}, I64: []int64{-1, -3}},
	}
	for name, w := range want {
		got := m.Initializers[name]
		if got == nil || got.Type != w.Type || len(got.Dims) != len(w.Dims) || !reflect.DeepEqual(got.F32, w.F32) || !reflect.DeepEqual(got.I64, w.I64) {
			t.Errorf("initializer %q = %+v, want %+v", name, got, w)
		}
	}
	if len(m.Initializers) != 2 {
		t.Errorf("initializers %q, want only c2 and sq", m.InitOrder)
	}
	// zt was not needed: check the analysis value directly.
	m2, _ := b.decode(t)
	a := analyze(m2)
	if zt := a.consts["zt"]; zt == nil || !reflect.DeepEqual(zt.dims, []int64{3, 2}) || !reflect.DeepEqual(zt.f, []float64{2.5, 2.5, 2.5, 2.5, 2.5, 2.5}) {
		t.Errorf("zt = %+v", zt)
	}
	if pr := a.consts["prod"]; pr == nil || !reflect.DeepEqual(pr.i, []int64{26, 33}) {
		t.Errorf("prod = %+v", pr)
	}
}

// TestFoldErrors: invalid constant computations are errors naming the
// node; computations too large to fold are left alone.
func TestFoldErrors(t *testing.T) {
	bad := newGraph(13).input("x", 6).output("y").initI("a", 1, 2, 3, 4, 5, 6).initI("shape", 4).
		node("Reshape", []string{"a", "shape"}, []string{"r"}).named("badreshape").
		node("Reshape", []string{"x", "r"}, []string{"y"})
	m, _ := bad.decode(t)
	err := FoldConstants(m)
	if err == nil || !strings.Contains(err.Error(), `node "badreshape" (Reshape)`) || !strings.Contains(err.Error(), "test.onnx") {
		t.Errorf("error %v, want one naming the file and node badreshape", err)
	}
	if errs := Check(m); len(errs) == 0 {
		t.Errorf("Check accepts the invalid reshape")
	}

	huge := newGraph(13).input("x", 2).output("y").initI("big", 1<<20, 1<<20).
		node("ConstantOfShape", []string{"big"}, []string{"z"}).
		node("Add", []string{"x", "z"}, []string{"y"})
	m = folded(t, huge)
	if got := opTypes(m); !reflect.DeepEqual(got, []string{"ConstantOfShape", "Add"}) {
		t.Errorf("ops %v: the huge ConstantOfShape must stay", got)
	}
	errs := Check(m)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "ConstantOfShape") {
		t.Errorf("Check = %v, want one error about ConstantOfShape", errs)
	}
}

// TestFoldEdgeCases: slicing an empty tensor backwards and a node whose
// output is left empty must not crash the folder.
func TestFoldEdgeCases(t *testing.T) {
	b := newGraph(13).input("x", 2).output("y").
		init(tensorI("empty", []int64{0})).initI("st", -1).initI("en", -10).initI("ax", 0).initI("stp", -1).
		node("Slice", []string{"empty", "st", "en", "ax", "stp"}, []string{"s"}).
		node("Shape", []string{"x"}, []string{""}).
		node("Concat", []string{"s", "s"}, []string{"c"}, onnxpb.IntAttr("axis", 0)).
		node("Reshape", []string{"x", "c"}, []string{"y"}).named("r")
	m, _ := b.decode(t)
	a := analyze(m)
	if c := a.consts["c"]; c == nil || len(c.i) != 0 || !reflect.DeepEqual(c.dims, []int64{0}) {
		t.Errorf("c = %+v, want an empty int64 vector", c)
	}
	if _, ok := a.consts[""]; ok {
		t.Error("an empty output name became a constant")
	}
	// Reshape of a 2-element tensor to shape [] (a scalar) is invalid.
	if err := FoldConstants(m); err != nil {
		t.Errorf("FoldConstants: %v (the Reshape's data is not constant)", err)
	}
	if _, ok := m.Initializers[""]; ok {
		t.Error("initializer with an empty name")
	}
}
