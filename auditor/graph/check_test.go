package graph

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/onnx"
)

// TestCheckGroupsCauses: repeated problems become one Problem per operator
// and cause with every affected node; nodes downstream of a failed node are
// not reported again.
func TestCheckGroupsCauses(t *testing.T) {
	b := newModel(13, -1, 4)
	a := b.op("LRN", nil, "x")
	c := b.op("Relu", nil, a) // downstream of a failure: not reported
	d := b.op("LRN", nil, b.op("Relu", nil, "x"))
	e := b.op("Add", nil, c, d)
	m := b.output(b.op("Gemm", at("transB", ai(1)), e, b.param("w", 1, true, 3, 4)))
	ps := Check(m, 1)
	if len(ps) != 1 {
		t.Fatalf("problems %v, want one", ps)
	}
	p := ps[0]
	if p.OpType != "LRN" || len(p.Nodes) != 2 || p.Cause != "operator not supported" || p.Hint == "" {
		t.Errorf("problem %+v", p)
	}
	if s := p.String(); !strings.Contains(s, `2 nodes, first "LRN_1"`) {
		t.Errorf("String %q", s)
	}
	b2 := newModel(13, -1, 2, 3)
	if ps := Check(b2.output(b2.op("Relu", nil, "x")), 2); len(ps) != 1 || !strings.Contains(ps[0].Cause, "logits") {
		t.Errorf("bad output: %v", ps)
	}
}

// TestCheckAgreesWithBuild: on every conformance model and on the modern
// fixtures, Check reports no problem exactly when Build succeeds, at batch
// 1 and 2.
func TestCheckAgreesWithBuild(t *testing.T) {
	var files []string
	for _, suite := range conformanceSuites {
		fs, _ := filepath.Glob(filepath.Join(conformanceRoot, suite, "test_*", "model.onnx"))
		files = append(files, fs...)
	}
	mods, _ := filepath.Glob("../../testdata/modern/*/opset*.onnx")
	files = append(files, mods...)
	if len(files) == 0 {
		t.Skip("no models")
	}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			continue
		}
		batches := []int{1}
		if strings.Contains(f, "testdata/modern") {
			batches = []int{1, 2}
		}
		for _, batch := range batches {
			m, err := onnx.Load(f)
			if err != nil {
				continue
			}
			_, berr := Build(m, Options{Batch: batch})
			ps := Check(m, batch)
			if (berr == nil) != (len(ps) == 0) {
				t.Errorf("%s batch %d: Build error %v, Check %v", f, batch, berr, ps)
			}
		}
	}
}
