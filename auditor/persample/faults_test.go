package persample_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/audit/audittest"
	"github.com/gnaudit/gnaudit/auditor/data"
	"github.com/gnaudit/gnaudit/auditor/minibatch"
	"github.com/gnaudit/gnaudit/auditor/npy"
	"github.com/gnaudit/gnaudit/auditor/onnx"
	"github.com/gnaudit/gnaudit/auditor/persample"
	"github.com/gnaudit/gnaudit/auditor/train"
)

// TestFaultsGradsOverflow: a model whose weights are all 1e30 (finite, but
// the logits overflow) makes gnaudit grads fail naming the first
// non-finite logit and gradient, not with "json: unsupported value: NaN",
// and write no file.
func TestFaultsGradsOverflow(t *testing.T) {
	dir := t.TempDir()
	tiny := filepath.Join(dir, "tiny.onnx")
	if err := audittest.TinyModel(tiny, 1); err != nil {
		t.Fatal(err)
	}
	m, err := onnx.Load(tiny)
	if err != nil {
		t.Fatal(err)
	}
	var params []train.Param
	for _, name := range m.Trainable {
		init := m.Initializers[name]
		p := train.Param{Name: name, Value: make([]float64, init.Len())}
		for _, d := range init.Dims {
			p.Shape = append(p.Shape, int(d))
		}
		for i := range p.Value {
			p.Value[i] = 1e30
		}
		params = append(params, p)
	}
	huge := filepath.Join(dir, "huge.onnx")
	if err := train.SaveONNX(tiny, huge, params); err != nil {
		t.Fatal(err)
	}
	const n = 4
	x := make([]float32, n*64)
	for i := range x {
		x[i] = float32(i%7) / 7
	}
	xp, yp := filepath.Join(dir, "x.npy"), filepath.Join(dir, "y.npy")
	if err := npy.WriteFileFloat32(xp, []int{n, 1, 8, 8}, x); err != nil {
		t.Fatal(err)
	}
	if err := npy.WriteFileInt64(yp, []int{n}, []int64{0, 1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "grads")
	_, err = persample.WriteGrads(persample.GradsConfig{Model: huge, Input: xp, Labels: yp, Out: out})
	if err == nil {
		t.Fatal("no error")
	}
	if !errors.Is(err, persample.ErrBadInput) || strings.Contains(err.Error(), "json:") {
		t.Errorf("error %v", err)
	}
	for _, want := range []string{"first non-finite logit: sample 0", "first non-finite gradient: parameter", "no file written"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	t.Log(err)
	if es, _ := os.ReadDir(out); len(es) != 0 {
		t.Errorf("files left in the output directory: %v", es)
	}
}

// TestFaultsMaxMemoryReachesGraph: every engine that builds an executor
// passes its MaxMemory on to graph.Options.MaxMemory (gnaudit audit sets
// them all from --max-memory): with a 16 KiB budget the tiny model (five
// ONNX nodes, counted at 4 KiB each before the build) is refused by the
// per-sample engine, the trainer and the mini-batch engine alike, naming
// the budget; without one each opens.
func TestFaultsMaxMemoryReachesGraph(t *testing.T) {
	tiny := filepath.Join(t.TempDir(), "tiny.onnx")
	if err := audittest.TinyModel(tiny, 1); err != nil {
		t.Fatal(err)
	}
	m, err := onnx.Load(tiny)
	if err != nil {
		t.Fatal(err)
	}
	n := 40
	ds, err := data.New("zeros", data.Shape{C: 1, H: audittest.Side, W: audittest.Side}, make([]float32, n*audittest.Side*audittest.Side), make([]int, n), audittest.Classes)
	if err != nil {
		t.Fatal(err)
	}
	open := map[string]func(limit int64) error{
		"persample": func(limit int64) error {
			_, err := persample.New(m, persample.Options{Batch: 8, MaxMemory: limit})
			return err
		},
		"train": func(limit int64) error {
			opt := train.Defaults()
			opt.Steps, opt.BatchSize, opt.MaxMemory = 1, 8, limit
			_, err := train.Train(context.Background(), m, ds, opt)
			return err
		},
		"minibatch": func(limit int64) error {
			_, err := minibatch.New(m, ds, minibatch.Options{MaxMemory: limit})
			return err
		},
	}
	for name, f := range open {
		if err := f(16 << 10); err == nil || !strings.Contains(err.Error(), "memory budget of 16.0 KiB") {
			t.Errorf("%s with a 16 KiB budget: %v", name, err)
		}
		if err := f(0); err != nil {
			t.Errorf("%s without a budget: %v", name, err)
		}
	}
}
