package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestModelsInspect(t *testing.T) {
	var out, errb bytes.Buffer
	err := runModelsInspect([]string{"../../auditor/onnx/testdata/padclip_opset11.onnx", "-report"}, &out, &errb)
	if err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	for _, w := range []string{"opset 11", "input: float [batch, 1, 4, 4]", "/fc/MatMul", "fc.weight",
		"supported: yes", "onnx-go decoded 42 of 42 nodes and 3 of 3 initializers"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}

	out.Reset()
	if err := runModelsInspect([]string{"-json", "../../auditor/onnx/testdata/tinycnn_opset9.onnx"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	var s struct {
		Opset           int64 `json:"opset"`
		TrainableParams int64 `json:"trainable_params"`
		Supported       bool  `json:"supported"`
		Layers          []struct {
			Name string `json:"name"`
		} `json:"layers"`
	}
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if s.Opset != 9 || s.TrainableParams != 243 || !s.Supported || len(s.Layers) != 3 {
		t.Errorf("summary %+v", s)
	}
}

func TestModelsInspectErrors(t *testing.T) {
	var out, errb bytes.Buffer
	var ue usageError
	if err := runModelsInspect(nil, &out, &errb); !errors.As(err, &ue) {
		t.Errorf("no file: %v, want a usage error", err)
	}
	if err := runModelsInspect([]string{"a.onnx", "b.onnx"}, &out, &errb); !errors.As(err, &ue) {
		t.Errorf("two files: %v, want a usage error", err)
	}
	err := runModelsInspect([]string{"does-not-exist.onnx"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "does-not-exist.onnx") {
		t.Errorf("missing file: %v", err)
	}
	// A model with an unsupported operator: summary printed, exit status 2
	// (bad input), as gnaudit audit and gnaudit grads exit on it.
	const erf = "/usr/share/libonnx-testdata/data/node/test_lrn/model.onnx"
	if _, err := os.Stat(erf); err != nil {
		t.Skip("libonnx-testdata not installed")
	}
	out.Reset()
	err = runModelsInspect([]string{erf}, &out, &errb)
	var ee exitError
	if !errors.As(err, &ee) || ee.code != exitUsage || !strings.Contains(out.String(), `LRN: operator not supported`) {
		t.Errorf("unsupported model: err %v, output:\n%s", err, out.String())
	}
}
