package models_test

import (
	"encoding/binary"
	"math"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/graph"
	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/auditor/onnx"
	"github.com/gnaudit/gnaudit/models"
)

// The importer reads every zoo model back (interface, opset, nodes,
// initializer values, trainable set), supports all its operators and
// infers the logits shape [batch, classes].
func TestImporterReadsZoo(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		opt  models.Options
	}{
		{"alexnet-cifar", models.Options{}},
		{"alexnet-cifar-bn", models.Options{Input: [3]int{1, 28, 28}, Seed: 2}},
		{"resnet20", models.Options{Classes: 7}},
		{"resnet56", models.Options{}},
	} {
		pb, err := models.Build(c.name, c.opt)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, c.name+".onnx")
		if err := models.Write(path, pb); err != nil {
			t.Fatal(err)
		}
		m, err := onnx.Load(path)
		if err != nil {
			t.Fatalf("%s: onnx.Load: %v", c.name, err)
		}
		in := c.opt.Input
		if in == [3]int{} {
			in = models.DefaultInput
		}
		classes := c.opt.Classes
		if classes == 0 {
			classes = models.DefaultClasses
		}
		if m.Opset != models.Opset {
			t.Errorf("%s: opset %d", c.name, m.Opset)
		}
		wantIn := []ir.Dim{{Param: models.BatchParam}, {Value: int64(in[0])}, {Value: int64(in[1])}, {Value: int64(in[2])}}
		if len(m.Inputs) != 1 || m.Inputs[0].Name != models.InputName || !sameDims(m.Inputs[0].Shape, wantIn) {
			t.Errorf("%s: inputs %+v, want %s %v", c.name, m.Inputs, models.InputName, wantIn)
		}
		wantOut := []ir.Dim{{Param: models.BatchParam}, {Value: int64(classes)}}
		if len(m.Outputs) != 1 || m.Outputs[0].Name != models.OutputName || !sameDims(m.Outputs[0].Shape, wantOut) {
			t.Errorf("%s: outputs %+v, want %s %v", c.name, m.Outputs, models.OutputName, wantOut)
		}
		a := graph.Analyze(m, 4)
		if len(a.Problems) != 0 {
			t.Errorf("%s: graph.Analyze: %v", c.name, a.Problems)
		}
		if got := a.Shapes[models.OutputName]; !reflect.DeepEqual(got, graph.ValueShape{Dims: []int{4, classes}, BatchAxis: 0, BatchInner: 1}) {
			t.Errorf("%s: logits shape at batch 4 %+v, want [4 %d] with the batch on axis 0", c.name, got, classes)
		}
		if len(m.Nodes) != len(pb.GetGraph().GetNode()) {
			t.Errorf("%s: %d nodes, file has %d", c.name, len(m.Nodes), len(pb.GetGraph().GetNode()))
		}
		var trainable int64
		for _, name := range m.Trainable {
			trainable += int64(m.Initializers[name].Len())
		}
		if want := models.ParamCount(pb); trainable != want {
			t.Errorf("%s: importer finds %d trainable parameters, zoo %d", c.name, trainable, want)
		}
		for _, init := range pb.GetGraph().GetInitializer() {
			got := m.Initializers[init.GetName()]
			if got == nil {
				t.Errorf("%s: initializer %s missing", c.name, init.GetName())
				continue
			}
			raw := init.GetRawData()
			if got.Type != ir.Float || len(got.F32) != len(raw)/4 {
				t.Errorf("%s: %s: type %v, %d values, want float %d", c.name, init.GetName(), got.Type, len(got.F32), len(raw)/4)
				continue
			}
			for i := range got.F32 {
				if want := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])); got.F32[i] != want {
					t.Errorf("%s: %s[%d] = %g, want %g", c.name, init.GetName(), i, got.F32[i], want)
					break
				}
			}
		}
	}
}

func sameDims(a, b []ir.Dim) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		switch {
		case b[i].Param != "": // symbolic: compare the name only
			if a[i].Param != b[i].Param || a[i].Known() {
				return false
			}
		case a[i].Param != "" || a[i].Value != b[i].Value:
			return false
		}
	}
	return true
}
