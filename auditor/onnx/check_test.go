package onnx

import (
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/onnxpb"
)

// TestCheck: each unsupported construct gives one error that names the
// node, its operator and the opset.
func TestCheck(t *testing.T) {
	cases := []struct {
		name  string
		build func() *gb
		want  []string // substrings, one error each, in order
	}{{
		name: "supported",
		build: func() *gb {
			return newGraph(13).input("x", "N", 3).output("y").initF("W", 2, 3).initF("b", 2).
				node("Gemm", []string{"x", "W", "b"}, []string{"h"}, onnxpb.IntAttr("transB", 1)).
				node("Relu", []string{"h"}, []string{"y"})
		},
	}, {
		name: "unsupported operator lists the supported ones",
		build: func() *gb {
			return newGraph(13).input("x", 3).output("y").node("Erf", []string{"x"}, []string{"y"}).named("e1")
		},
		want: []string{`node "e1" (Erf, opset 13): operator not supported; supported operators: Add, AveragePool, BatchNormalization,`},
	}, {
		name: "unnamed node gets OpType_index",
		build: func() *gb {
			return newGraph(13).input("x", 3).output("y").
				node("Relu", []string{"x"}, []string{"r"}).
				node("HardSwish", []string{"r"}, []string{"y"})
		},
		want: []string{`node "HardSwish_1" (HardSwish, opset 13): operator not supported`},
	}, {
		name: "opset out of range",
		build: func() *gb {
			return newGraph(18).input("x", 3).output("y").node("Relu", []string{"x"}, []string{"y"})
		},
		want: []string{"model opset 18 (default domain) is outside the supported range 7-17"},
	}, {
		name: "other domain",
		build: func() *gb {
			b := newGraph(13).input("x", 3).output("y").node("Relu", []string{"x"}, []string{"y"})
			b.g.Node[0].Domain = strPtr("com.microsoft")
			return b
		},
		want: []string{`(Relu, opset 13): operator domain "com.microsoft" is not supported`},
	}, {
		name: "unknown attribute and bad values",
		build: func() *gb {
			return newGraph(11).input("x", 1, 1, 4, 4).output("y").initI("pads", 0, 0, 1, 1, 0, 0, 1, 1).
				node("Pad", []string{"x", "pads"}, []string{"p"}, onnxpb.StringAttr("mode", "reflect")).named("pad").
				node("MaxPool", []string{"p"}, []string{"y"}, onnxpb.IntsAttr("kernel_shape", 2, 2), onnxpb.IntAttr("storage_order", 1), onnxpb.IntAttr("bogus", 3)).named("pool")
		},
		want: []string{
			`node "pad" (Pad, opset 11): mode "reflect" is not supported (only constant)`,
			`node "pool" (MaxPool, opset 11): attribute "bogus" is not supported (supported: auto_pad, ceil_mode,`,
			`node "pool" (MaxPool, opset 11): storage_order=1 is not supported`,
		},
	}, {
		name: "training-mode batch norm",
		build: func() *gb {
			return newGraph(15).input("x", 2, 3).output("y").initF("s", 3).initF("b", 3).initF("m", 3).initF("v", 3).
				node("BatchNormalization", []string{"x", "s", "b", "m", "v"}, []string{"y", "rm", "rv"}, onnxpb.IntAttr("training_mode", 1)).named("bn")
		},
		want: []string{
			`node "bn" (BatchNormalization, opset 15): training_mode=1 is not supported`,
			`node "bn" (BatchNormalization, opset 15): output 1 ("rm") is not supported`,
			`node "bn" (BatchNormalization, opset 15): output 2 ("rv") is not supported`,
		},
	}, {
		name: "unsqueeze axes by opset",
		build: func() *gb {
			return newGraph(13).input("x", 3).output("y").
				node("Unsqueeze", []string{"x"}, []string{"y"}, onnxpb.IntsAttr("axes", 0)).named("u")
		},
		want: []string{
			`node "u" (Unsqueeze, opset 13): attribute axes is not allowed from opset 13`,
		},
	}, {
		name: "dropout mask used and runtime operands",
		build: func() *gb {
			b := newGraph(13).input("x", 3).input("lo").input("train").input("pads", 2).output("y").output("mask").
				node("Dropout", []string{"x", "", "train"}, []string{"d", "mask"}).named("drop").
				node("Clip", []string{"d", "lo"}, []string{"c"}).named("clip"). // runtime bounds are fine
				node("Pad", []string{"c", "pads"}, []string{"y"}).named("pad")
			return b
		},
		want: []string{
			`node "drop" (Dropout, opset 13): input 2 ("train") must be a constant after constant folding`,
			`node "drop" (Dropout, opset 13): the mask output "mask" is used`,
			`node "pad" (Pad, opset 13): input 1 ("pads") must be a constant after constant folding`,
		},
	}, {
		name: "undefined input, shape op on data",
		build: func() *gb {
			b := newGraph(13).input("x", 3).output("y").initI("i", 0).
				node("Gather", []string{"x", "i"}, []string{"g"}).named("emb").
				node("Add", []string{"g", "ghost"}, []string{"y"}).named("add")
			return b
		},
		want: []string{
			`node "add" (Add, opset 13): input "ghost" is not defined`,
			`node "emb" (Gather, opset 13): supported only in shape computations that fold to constants`,
		},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, _ := c.build().decode(t)
			errs := Check(m)
			if len(errs) != len(c.want) {
				t.Fatalf("Check gave %d errors, want %d:\n%v", len(errs), len(c.want), errs)
			}
			for k, e := range errs {
				if !strings.Contains(e.Error(), c.want[k]) {
					t.Errorf("error %d:\n  %v\nwant it to contain\n  %s", k, e, c.want[k])
				}
			}
		})
	}
}

// TestSupportedOps: the list is sorted, unique, and names the operators the
// zoo models and the PyTorch fixtures need.
func TestSupportedOps(t *testing.T) {
	names := SupportedOpTypes()
	for k := 1; k < len(names); k++ {
		if names[k-1] >= names[k] {
			t.Errorf("SupportedOps not sorted/unique at %q, %q", names[k-1], names[k])
		}
	}
	for k, o := range SupportedOps {
		if o.OpType != names[k] {
			t.Errorf("SupportedOps[%d] = %q, want sorted order %q", k, o.OpType, names[k])
		}
	}
	for _, op := range []string{"Conv", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "LeakyRelu", "Sigmoid",
		"Tanh", "MaxPool", "AveragePool", "GlobalAveragePool", "BatchNormalization", "Flatten", "Reshape", "Squeeze",
		"Unsqueeze", "Transpose", "Concat", "Dropout", "Identity", "Constant", "Softmax", "LogSoftmax", "Pad", "Clip",
		"Shape", "Gather", "Cast", "ConstantOfShape", "Slice"} {
		if !IsSupported(op) {
			t.Errorf("%s missing from SupportedOps", op)
		}
	}
}
