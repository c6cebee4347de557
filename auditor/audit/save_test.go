package audit

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/onnx"
)

// TestRunSavesFineTunedModel: --save writes the fine-tuned weights into the
// model's graph: the file loads, its trainable initializers equal those of the
// last checkpoint (step 4) and differ from the initial model's.
func TestRunSavesFineTunedModel(t *testing.T) {
	f := newTiny(t)
	out := filepath.Join(f.dir, "out")
	cfg := f.config(out)
	cfg.FineTune.Save = filepath.Join(f.dir, "tuned.onnx")
	var stdout, stderr bytes.Buffer
	if _, err := Run(context.Background(), cfg, &Env{Stdout: &stdout, Stderr: &stderr}); err != nil {
		t.Fatalf("Run: %v\n%s", err, stderr.String())
	}
	tuned, err := onnx.Load(cfg.FineTune.Save)
	if err != nil {
		t.Fatal(err)
	}
	last, err := onnx.Load(filepath.Join(out, CheckpointDir, stepDir(4), ModelName))
	if err != nil {
		t.Fatal(err)
	}
	orig, err := onnx.Load(f.model)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tuned.Trainable, orig.Trainable) || len(tuned.Nodes) != len(orig.Nodes) {
		t.Fatalf("graph changed: trainable %v vs %v, %d vs %d nodes", tuned.Trainable, orig.Trainable, len(tuned.Nodes), len(orig.Nodes))
	}
	changed := false
	for _, name := range tuned.Trainable {
		a, b, o := tuned.Initializers[name].F32, last.Initializers[name].F32, orig.Initializers[name].F32
		if !slices.Equal(a, b) {
			t.Fatalf("%s: saved weights differ from the step-4 checkpoint's", name)
		}
		changed = changed || !slices.Equal(a, o)
	}
	if !changed {
		t.Fatal("the saved weights equal the initial ones")
	}
}
