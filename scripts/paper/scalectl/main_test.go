package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gnaudit/gnaudit/scripts/paper"
)

// TestKeepModel: keep commits the model of a run's last finished epoch
// only (not an unfinished epoch's, not an earlier one's), replaces the
// committed model when the run goes on, and leaves a model over the limit
// in the work directory.
func TestKeepModel(t *testing.T) {
	work, out := t.TempDir(), t.TempDir()
	run := filepath.Join(work, "train-x", "seed-1")
	epoch := func(e int, status string, model []byte) {
		t.Helper()
		dir := filepath.Join(run, filepathEpoch(e))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "audit.json"), []byte(`{"status": "`+status+`"}`), 0o644); err != nil {
			t.Fatal(err)
		}
		if model != nil {
			if err := os.WriteFile(dir+".onnx", model, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	kept := func() []string {
		t.Helper()
		m, err := filepath.Glob(filepath.Join(out, "train-x", "seed-1", "epoch-*.onnx"))
		if err != nil {
			t.Fatal(err)
		}
		for i := range m {
			m[i] = filepath.Base(m[i])
		}
		return m
	}
	keep := func() {
		t.Helper()
		if err := cmdKeep([]string{"-work", work, "-out", out}); err != nil {
			t.Fatal(err)
		}
	}
	epoch(1, "complete", []byte("m1"))
	epoch(2, "complete", []byte("m2"))
	epoch(3, "running", []byte("m3")) // saved, but its audit did not finish
	keep()
	if k := kept(); len(k) != 1 || k[0] != "epoch-002.onnx" {
		t.Fatalf("kept models %v, want [epoch-002.onnx]", k)
	}
	if _, err := os.Stat(filepath.Join(out, "train-x", "seed-1", "epoch-002", "audit.json")); err != nil {
		t.Errorf("epoch 2's audit.json was not kept: %v", err)
	}
	epoch(3, "complete", []byte("m3"))
	keep()
	if k := kept(); len(k) != 1 || k[0] != "epoch-003.onnx" {
		t.Fatalf("after epoch 3: kept models %v, want [epoch-003.onnx]", k)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "train-x", "seed-1", "epoch-003.onnx")); string(b) != "m3" {
		t.Errorf("kept model holds %q, want m3", b)
	}
	// A model over the limit is not committed; the older committed one
	// stays (the run resumes from the work directory).
	epoch(4, "complete", make([]byte, keepLimit+1))
	keep()
	if k := kept(); len(k) != 1 || k[0] != "epoch-003.onnx" {
		t.Fatalf("after an oversized epoch 4: kept models %v, want [epoch-003.onnx]", k)
	}
}

func filepathEpoch(e int) string { return filepath.Base(paper.EpochDir("", e)) }

func TestEpochModelName(t *testing.T) {
	for _, c := range []struct {
		name string
		e    int
		ok   bool
	}{{"epoch-001.onnx", 1, true}, {"epoch-012.onnx", 12, true}, {"epoch-1.onnx", 0, false}, {"epoch-001.onnx.tmp", 0, false}, {"model.onnx", 0, false}, {"epoch-001", 0, false}} {
		e, ok := epochModel(c.name)
		if e != c.e || ok != c.ok {
			t.Errorf("epochModel(%q) = %d, %t; want %d, %t", c.name, e, ok, c.e, c.ok)
		}
	}
}
