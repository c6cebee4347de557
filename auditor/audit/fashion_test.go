package audit

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/data"
	"github.com/gnaudit/gnaudit/plugins/host"
	"github.com/gnaudit/gnaudit/reports"
)

// TestDefaultAuditOnFashionMNIST runs the default audit (no model, no data:
// the zoo's alexnet-cifar on Debian's Fashion-MNIST) at a tiny scale. It
// needs the dataset-fashion-mnist package and is skipped without it.
func TestDefaultAuditOnFashionMNIST(t *testing.T) {
	if _, err := os.Stat(filepath.Join(data.DefaultFashionMNISTDir, "train-images-idx3-ubyte.gz")); err != nil {
		t.Skip("Debian's dataset-fashion-mnist is not installed")
	}
	if testing.Short() {
		t.Skip("-short")
	}
	t.Setenv(host.EnvPluginDir, "")
	out := t.TempDir()
	cfg := Defaults()
	cfg.Out = out
	cfg.Data.Limit = 1000
	cfg.Data.EvalSamples = 100
	cfg.FineTune.Steps = 2
	cfg.FineTune.BatchSize = 16
	cfg.Collect.Pool = 64
	cfg.Collect.BatchSizes = []int{4, 8}
	cfg.Collect.Batches = 8
	cfg.Collect.CoordsPerLayer = 8
	cfg.Collect.EngineBatch = 16
	res, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := reports.ReadFile(filepath.Join(out, ReportJSON))
	if err != nil {
		t.Fatal(err)
	}
	meta, err := ReadMeta(out)
	if err != nil {
		t.Fatal(err)
	}
	// The zoo model was built for the padded data: 1×32×32, 10 classes.
	if meta.Config.Model != DefaultModel || rep.Model.File != ModelName || meta.DataInfo.Adaptation.To != (data.Shape{C: 1, H: 32, W: 32}) {
		t.Errorf("model %q file %q adaptation %+v", meta.Config.Model, rep.Model.File, meta.DataInfo.Adaptation)
	}
	if rep.Data.Name != "fashion-mnist train" || rep.Data.Samples != 1000 || len(rep.Data.Preprocessing) != 3 {
		t.Errorf("data section %+v", rep.Data)
	}
	want := []string{"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "conv3.weight", "conv3.bias",
		"conv4.weight", "conv4.bias", "conv5.weight", "conv5.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias",
		"fc3.weight", "fc3.bias"}
	if len(rep.Checkpoints) != 2 || res.Status != StatusComplete {
		t.Fatalf("status %s, %d checkpoints", res.Status, len(rep.Checkpoints))
	}
	for _, cp := range rep.Checkpoints {
		var names []string
		for _, l := range cp.Layers {
			names = append(names, l.Parameter)
			if len(l.Gaussianity) != 2 {
				t.Errorf("step %d %s: gaussianity %+v", cp.Step, l.Parameter, l.Gaussianity)
			}
		}
		if !reflect.DeepEqual(names, want) {
			t.Errorf("step %d layers %v", cp.Step, names)
		}
	}
}
