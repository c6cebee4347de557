package onnx

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestInspectTinyCNN checks the summary against torch's description of the
// network (parameter shapes from named_parameters and buffers).
func TestInspectTinyCNN(t *testing.T) {
	m, err := Load("testdata/tinycnn_opset13.onnx")
	if err != nil {
		t.Fatal(err)
	}
	s := Inspect(m)
	if s.Supported || len(s.Problems) != 0 || s.Verdict != "" {
		t.Errorf("supported %v, problems %q, verdict %q: Inspect judges nothing", s.Supported, s.Problems, s.Verdict)
	}
	if s.Opset != 13 || s.IRVersion != 7 || !strings.HasPrefix(s.Producer, "pytorch 1.13") {
		t.Errorf("metadata %d %d %q", s.Opset, s.IRVersion, s.Producer)
	}
	if !reflect.DeepEqual(s.Inputs, []ValueSummary{{"input", "float", "[batch, 1, 8, 8]"}}) {
		t.Errorf("inputs %+v", s.Inputs)
	}
	// conv 4x1x3x3 + 4, bn 4 + 4 (+ 4 + 4 statistics), fc 3x64 + 3
	if s.TrainableParams != 36+4+4+4+192+3 || s.Params != 36+4+4+4+4+4+192+3 || s.TrainableTensors != 6 {
		t.Errorf("params %d trainable %d (%d tensors)", s.Params, s.TrainableParams, s.TrainableTensors)
	}
	type row struct {
		node, op, out string
		params        []string
	}
	var got []row
	for _, l := range s.Layers {
		r := row{node: l.Name, op: l.OpType, out: l.Output}
		for _, p := range l.Params {
			r.params = append(r.params, p.Name)
		}
		got = append(got, r)
	}
	want := []row{
		{"/conv/Conv", "Conv", "unknown", []string{"conv.weight", "conv.bias"}},
		{"/bn/BatchNormalization", "BatchNormalization", "unknown", []string{"bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"}},
		{"/fc/Gemm", "Gemm", "unknown", []string{"fc.weight", "fc.bias"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("layers\n%+v\nwant\n%+v", got, want)
	}
	if p := s.Layers[1].Params[2]; p.Trainable || p.Count != 4 {
		t.Errorf("running mean %+v", p)
	}
	var b strings.Builder
	if err := s.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	for _, w := range []string{"format      IR version 7, opset 13", "inputs      input: float [batch, 1, 8, 8]",
		"6 trainable tensors, 243 trainable values (251 values in all layer parameters)",
		"/fc/Gemm", "fc.weight", "[3 64]", "192", "supported: not judged"} {
		if !strings.Contains(text, w) {
			t.Errorf("text lacks %q:\n%s", w, text)
		}
	}
	if _, err := json.Marshal(s); err != nil {
		t.Error(err)
	}
}

// TestInspectWith: the judge's problems, notes, operator flags and shapes
// replace the undecided ones; a declared output shape is kept.
func TestInspectWith(t *testing.T) {
	m, _ := newGraph(13).input("x", 3).output("y").node("Erf", []string{"x"}, []string{"h"}).named("e").
		node("LRN", []string{"h"}, []string{"y"}).named("l").decode(t)
	v := Verdict{By: "test judge", Problems: []string{"LRN: operator not supported (node \"l\")"},
		Supports: func(op string) bool { return op == "Erf" }, Shapes: map[string]string{"y": "[3]", "h": "[3]"}}
	s := InspectWith(m, v)
	if s.Supported || s.Verdict != "test judge" || !reflect.DeepEqual(s.Problems, v.Problems) {
		t.Errorf("summary %+v", s)
	}
	if !reflect.DeepEqual(s.Ops, []OpCount{{"Erf", 1, true}, {"LRN", 1, false}}) {
		t.Errorf("ops %+v", s.Ops)
	}
	if s.Outputs[0].Shape != "[3]" {
		t.Errorf("output shape %q, want the judge's [3] (the file declares none)", s.Outputs[0].Shape)
	}
	var b strings.Builder
	_ = s.WriteText(&b)
	for _, w := range []string{"LRN x1 (unsupported)", "supported: no, 1 problem(s):", `- LRN: operator not supported (node "l")`, "(verdict of the test judge;"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("text lacks %q:\n%s", w, b.String())
		}
	}
}
