package onnx

import (
	"reflect"
	"testing"

	// The trainable rule lives in the operator registry, which registers
	// it with auditor/ir.
	_ "github.com/gnaudit/gnaudit/auditor/graph"
	"github.com/gnaudit/gnaudit/internal/onnxpb"
)

// TestTrainableRule checks the trainable rule of the package doc on small
// graphs modelled on real exports.
func TestTrainableRule(t *testing.T) {
	cases := []struct {
		name  string
		build func() *gb
		want  []string
	}{{
		// The ONNX zoo's CNTK MNIST: parameters reach Add and MatMul through
		// Reshape; shape tensors are int64 initializers.
		name: "cntk mnist",
		build: func() *gb {
			return newGraph(8).input("Input3", 1, 1, 28, 28).output("Plus214_Output_0").
				initF("Parameter5", 8, 1, 5, 5).initF("Parameter6", 8, 1, 1).
				initF("Parameter193", 16, 4, 4, 10).initI("Parameter193_reshape1_shape", 256, 10).
				initF("Parameter194", 1, 10).initI("Pooling_reshape0_shape", 1, 256).
				node("Conv", []string{"Input3", "Parameter5"}, []string{"c"}, onnxpb.IntsAttr("kernel_shape", 5, 5), onnxpb.StringAttr("auto_pad", "SAME_UPPER")).
				node("Add", []string{"c", "Parameter6"}, []string{"p"}).
				node("MaxPool", []string{"p"}, []string{"q"}, onnxpb.IntsAttr("kernel_shape", 7, 7), onnxpb.IntsAttr("strides", 7, 7)).
				node("Reshape", []string{"q", "Pooling_reshape0_shape"}, []string{"r"}).
				node("Reshape", []string{"Parameter193", "Parameter193_reshape1_shape"}, []string{"w"}).
				node("MatMul", []string{"r", "w"}, []string{"mm"}).
				node("Add", []string{"mm", "Parameter194"}, []string{"Plus214_Output_0"})
		},
		want: []string{"Parameter5", "Parameter6", "Parameter193", "Parameter194"},
	}, {
		name: "batchnorm statistics",
		build: func() *gb {
			return newGraph(9).input("x", "N", 3, 4, 4).output("y").
				initF("scale", 3).initF("shift", 3).initF("mean", 3).initF("var", 3).
				node("BatchNormalization", []string{"x", "scale", "shift", "mean", "var"}, []string{"y"})
		},
		want: []string{"scale", "shift"},
	}, {
		name: "normalisation constants and scalars",
		build: func() *gb {
			return newGraph(13).input("x", "N", 3, 2, 2).output("y").
				initF("mean", 3, 1, 1).initF("std", 3, 1, 1).initF("half", 1).initF("gamma", 3, 1, 1).initF("eps").
				node("Sub", []string{"x", "mean"}, []string{"a"}).
				node("Div", []string{"a", "std"}, []string{"b"}).
				node("Mul", []string{"b", "half"}, []string{"c"}).
				node("Add", []string{"c", "eps"}, []string{"d"}).
				node("Mul", []string{"gamma", "d"}, []string{"y"})
		},
		want: []string{"gamma"},
	}, {
		name: "clip bounds, pad operands, unused and integer tensors",
		build: func() *gb {
			return newGraph(11).input("x", "N", 1, 4, 4).output("y").
				initF("lo").initF("hi").initI("pads", 0, 0, 1, 1, 0, 0, 1, 1).initF("padval").initF("unused", 4).
				initF("w", 2, 1, 3, 3).initF("b", 2).
				node("Pad", []string{"x", "pads", "padval"}, []string{"p"}).
				node("Conv", []string{"p", "w", "b"}, []string{"c"}).
				node("Clip", []string{"c", "lo", "hi"}, []string{"y"})
		},
		want: []string{"w", "b"},
	}, {
		name: "transpose and unsqueeze chains",
		build: func() *gb {
			return newGraph(13).input("x", "N", 4).output("y").
				initF("W", 3, 4).initF("bias", 3).initI("axes", 0).
				node("Transpose", []string{"W"}, []string{"Wt"}, onnxpb.IntsAttr("perm", 1, 0)).
				node("MatMul", []string{"x", "Wt"}, []string{"h"}).
				node("Unsqueeze", []string{"bias", "axes"}, []string{"b2"}).
				node("Add", []string{"h", "b2"}, []string{"y"})
		},
		want: []string{"W", "bias"},
	}, {
		// Before IR version 4, initializers are also listed as graph inputs.
		name: "initializers listed as inputs",
		build: func() *gb {
			b := newGraph(7).input("x", 2, 4).input("W", 4, 3).input("C", 3).output("y").
				initF("W", 4, 3).initF("C", 3).
				node("Gemm", []string{"x", "W", "C"}, []string{"y"})
			b.m.IrVersion = nil
			return b
		},
		want: []string{"W", "C"},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, _ := c.build().decode(t)
			if !reflect.DeepEqual(m.Trainable, c.want) {
				t.Errorf("Trainable = %q, want %q", m.Trainable, c.want)
			}
			for _, v := range m.Inputs {
				if _, isInit := m.Initializers[v.Name]; isInit {
					t.Errorf("initializer %q listed among the data inputs", v.Name)
				}
			}
		})
	}
}

// TestTrainablePyTorchConverted checks the rule on the PyTorch models of
// libonnx-testdata (IR version 3: parameters are numbered initializers that
// are also graph inputs).
func TestTrainablePyTorchConverted(t *testing.T) {
	libonnxModels(t)
	cases := map[string][]string{
		"pytorch-converted/test_BatchNorm2d_eval": {"1", "2"}, // weight, bias; not 3, 4 (running stats)
		"pytorch-converted/test_Linear":           {"1", "2"},
		"pytorch-converted/test_Linear_no_bias":   {"1"},
		"pytorch-converted/test_Conv2d":           {"1", "2"},
		"pytorch-converted/test_Conv2d_no_bias":   {"1"},
		"pytorch-converted/test_PReLU_2d":         {"1"},
		"pytorch-converted/test_ConvTranspose2d":  {"1", "2"},
		"pytorch-converted/test_ReLU":             nil,
	}
	for key, want := range cases {
		m, err := Load(libonnxData + "/" + key + "/model.onnx")
		if err != nil {
			t.Errorf("%s: %v", key, err)
			continue
		}
		if !reflect.DeepEqual(m.Trainable, want) {
			t.Errorf("%s: Trainable = %q, want %q (initializers %q)", key, m.Trainable, want, m.InitOrder)
		}
	}
}
