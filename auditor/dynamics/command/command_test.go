package command

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/dynamics"
	"github.com/gnaudit/gnaudit/auditor/npy"
)

// tinyData writes n seeded 1×8×8 images of 3 classes (a class-dependent
// bright square plus noise) as images.npy and labels.npy.
func tinyData(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(1, 2))
	pix := make([]float32, n*64)
	lab := make([]int64, n)
	for i := 0; i < n; i++ {
		c := r.IntN(3)
		lab[i] = int64(c)
		for p := 0; p < 64; p++ {
			v := r.NormFloat64()
			if (p/8)/3 == c && (p%8) < 4 {
				v += 0.4
			}
			pix[i*64+p] = float32(v)
		}
	}
	if err := npy.WriteFileFloat32(filepath.Join(dir, "images.npy"), []int{n, 1, 8, 8}, pix); err != nil {
		t.Fatal(err)
	}
	if err := npy.WriteFileInt64(filepath.Join(dir, "labels.npy"), []int{n}, lab); err != nil {
		t.Fatal(err)
	}
	return dir
}

const tinyModel = "../../onnx/testdata/tinycnn_opset13.onnx"

func tinyOptions(t *testing.T, dataDir string) Options {
	cfg := dynamics.Defaults()
	cfg.LR, cfg.Batch, cfg.Steps, cfg.Burn, cfg.Blocks = 0.02, 16, 400, 100, 10
	cfg.K, cfg.Probes, cfg.HessianSamples, cfg.NoiseSamples = 2, 4, 64, 64
	return Options{Model: tinyModel, Data: dataDir, Format: "npy", FineTuneSteps: 100, FineTuneLR: 0.05,
		Out: filepath.Join(t.TempDir(), "out"), Run: cfg}
}

// The command end to end on a small CNN: plan, fine-tuning, chains, files.
func TestRunWritesReport(t *testing.T) {
	o := tinyOptions(t, tinyData(t, 300))
	var stdout, stderr bytes.Buffer
	o.Stdout, o.Stderr = &stdout, &stderr
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"plan:", "estimated time", "fine-tuning:", "FDR ratio"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if !res.Complete || len(res.Chains) != 3 {
		t.Fatalf("complete %v, %d chains", res.Complete, len(res.Chains))
	}
	b, err := os.ReadFile(filepath.Join(o.Out, dynamics.JSONName))
	if err != nil {
		t.Fatal(err)
	}
	var back dynamics.Result
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("dynamics.json: %v", err)
	}
	if back.Schema != dynamics.Schema || len(back.Static.Eigen) != 2 || math.IsNaN(back.Gates.FDRRatio.Est) {
		t.Errorf("dynamics.json: schema %q, %d eigenpairs, FDR %v", back.Schema, len(back.Static.Eigen), back.Gates.FDRRatio)
	}
	// ReLU and max-pool kinks crossed by the finite differences leave a
	// small asymmetry (docs/dynamics.md)
	if back.Static.Symmetry > 1e-2 {
		t.Errorf("HVP symmetry %.3g", back.Static.Symmetry)
	}
	md, err := os.ReadFile(filepath.Join(o.Out, dynamics.MDName))
	if err != nil || !strings.Contains(string(md), "FDR ratio") || !strings.Contains(string(md), "±") {
		t.Errorf("dynamics.md: %v\n%s", err, md)
	}
	if _, err := os.Stat(filepath.Join(o.Out, "finetuned.onnx")); err != nil {
		t.Errorf("fine-tuned weights: %v", err)
	}
}

func TestPlanOnlyAndBadInput(t *testing.T) {
	dir := tinyData(t, 100)
	o := tinyOptions(t, dir)
	o.PlanOnly, o.FineTuneSteps = true, 0
	var stdout bytes.Buffer
	o.Stdout = &stdout
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "plan:") {
		t.Errorf("no plan:\n%s", stdout.String())
	}
	if _, err := os.Stat(o.Out); !os.IsNotExist(err) {
		t.Errorf("--plan created %s (%v)", o.Out, err)
	}
	o = tinyOptions(t, dir)
	o.Model = filepath.Join(dir, "missing.onnx")
	if _, err := Run(context.Background(), o); !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "missing.onnx") {
		t.Errorf("missing model: %v", err)
	}
	o = tinyOptions(t, dir)
	o.MaxTime, o.FineTuneSteps = 1e-9, 0
	if _, err := Run(context.Background(), o); !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "max-time") {
		t.Errorf("over --max-time: %v", err)
	}
}
