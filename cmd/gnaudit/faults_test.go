package main

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/gnaudit/gnaudit/auditor/audit/audittest"
	"github.com/gnaudit/gnaudit/auditor/npy"
	"github.com/gnaudit/gnaudit/internal/onnxpb"
	"github.com/gnaudit/gnaudit/models"
)

// TestFaultsSameVerdictEverywhere is the command line's part of the fault
// battery: the same bad model gets the same verdict from `models inspect`,
// `grads` and `audit --plan` — exit status 2 (bad input) from each, with
// the reason — and inspect no longer calls it supported. The models are
// the audit's tiny classifier broken one way each: an unsupported
// operator, a declared input of 4 TiB per sample, a NaN weight, a
// trainable +Inf weight.
func TestFaultsSameVerdictEverywhere(t *testing.T) {
	dir := t.TempDir()
	tiny := filepath.Join(dir, "tiny.onnx")
	if err := audittest.TinyModel(tiny, 1); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "digits")
	if err := audittest.WriteMNIST(data, 100, 20, 3); err != nil {
		t.Fatal(err)
	}
	x, y := filepath.Join(dir, "x.npy"), filepath.Join(dir, "y.npy")
	if err := npy.WriteFileFloat32(x, []int{4, 1, audittest.Side, audittest.Side}, make([]float32, 4*audittest.Side*audittest.Side)); err != nil {
		t.Fatal(err)
	}
	if err := npy.WriteFileInt64(y, []int{4}, []int64{0, 1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	setWeight := func(v float32) func(*onnxpb.ModelProto) {
		return func(m *onnxpb.ModelProto) {
			for _, in := range m.Graph.Initializer {
				if in.GetName() == "conv.weight" {
					binary.LittleEndian.PutUint32(in.RawData[4*5:], math.Float32bits(v))
				}
			}
		}
	}
	for _, c := range []struct {
		name string
		edit func(*onnxpb.ModelProto)
		why  string // in every command's message
	}{
		{"unsupported operator", func(m *onnxpb.ModelProto) { m.Graph.Node[1].OpType = proto.String("LRN") }, "LRN"},
		{"4 TiB input", func(m *onnxpb.ModelProto) {
			d := m.Graph.Input[0].Type.GetTensorType().Shape.Dim
			d[2].Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: 1000000}
			d[3].Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: 1000000}
		}, "TiB"},
		{"NaN weight", setWeight(float32(math.NaN())), "conv.weight"},
		{"Inf weight", setWeight(float32(math.Inf(1))), "conv.weight"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := os.ReadFile(tiny)
			if err != nil {
				t.Fatal(err)
			}
			var m onnxpb.ModelProto
			if err := proto.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			c.edit(&m)
			bad := filepath.Join(t.TempDir(), "bad.onnx")
			if err := models.Write(bad, &m); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{
				{"models", "inspect", bad},
				{"grads", "--model", bad, "--input", x, "--labels", y, "--out", filepath.Join(t.TempDir(), "g")},
				{"audit", "--model", bad, "--data", data, "--plan"},
			} {
				code, out, errs := runCLI(args...)
				if code != exitUsage {
					t.Errorf("%s: exit %d, want %d\nstdout: %.600s\nstderr: %.600s", args[0], code, exitUsage, out, errs)
				}
				if !strings.Contains(out+errs, c.why) {
					t.Errorf("%s: output does not say %q\nstdout: %.600s\nstderr: %.600s", args[0], c.why, out, errs)
				}
			}
		})
	}
}
