package audit

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/noise"
	"github.com/gnaudit/gnaudit/internal/approx"
)

// --engine both: each checkpoint has the per-sample set and the mini-batch
// engine's set; on the BatchNorm-free tiny model their mini-batch noise
// agrees to float32 rounding; the report shows both.
func TestRunBothEngines(t *testing.T) {
	f := newTiny(t)
	out := filepath.Join(f.dir, "out")
	cfg := f.config(out)
	cfg.Collect.Engine = EngineBoth
	var stdout, stderr bytes.Buffer
	res, err := Run(context.Background(), cfg, &Env{Stdout: &stdout, Stderr: &stderr, ToolVersion: "test"})
	if err != nil {
		t.Fatalf("Run: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "mini-batch engine plan") || !strings.Contains(stdout.String(), "forward/backward samples") {
		t.Errorf("the plan does not state the mini-batch engine's cost:\n%s", stdout.String())
	}
	meta, err := ReadMeta(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(meta.Checks) != 4 {
		t.Fatalf("%d checkpoint records, want 2 steps × 2 engines", len(meta.Checks))
	}
	for i := 0; i < 4; i += 2 {
		ps, mb := meta.Checks[i], meta.Checks[i+1]
		if ps.Engine != "" || mb.Engine != EngineMiniBatch || ps.Step != mb.Step || ps.Results == mb.Results {
			t.Fatalf("checkpoint records %+v / %+v", ps, mb)
		}
		a, err := noise.Load(filepath.Join(out, ps.Noise))
		if err != nil {
			t.Fatal(err)
		}
		b, err := noise.Load(filepath.Join(out, mb.Noise))
		if err != nil {
			t.Fatal(err)
		}
		for l := range a.Layers {
			scale := 0.0
			for _, v := range a.Layers[l].Mean {
				scale = math.Max(scale, math.Abs(v))
			}
			for k := range a.BatchSizes {
				for j, v := range a.Layers[l].MiniBatch[k] {
					if !approx.Abs(t, fmt.Sprintf("step %d layer %s B=%d [%d]: per-sample against the mini-batch engine", ps.Step, a.Layers[l].Parameter, a.BatchSizes[k], j), float64(v), float64(b.Layers[l].MiniBatch[k][j]), 1e-4*scale+1e-7) {
						t.FailNow()
					}
				}
			}
		}
	}
	md, err := os.ReadFile(res.Rendered.MDPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "(mini-batch engine)") {
		t.Error("report.md does not show the mini-batch engine's checkpoints")
	}
}

// --engine mini-batch alone: one set per checkpoint, in noise/, and every
// built-in analysis runs on it.
func TestRunMiniBatchEngineOnly(t *testing.T) {
	f := newTiny(t)
	out := filepath.Join(f.dir, "out")
	cfg := f.config(out)
	cfg.Collect.Engine = EngineMiniBatch
	var stdout, stderr bytes.Buffer
	res, err := Run(context.Background(), cfg, &Env{Stdout: &stdout, Stderr: &stderr, ToolVersion: "test"})
	if err != nil {
		t.Fatalf("Run: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	meta, err := ReadMeta(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(meta.Checks) != 2 {
		t.Fatalf("%d checkpoint records, want 2", len(meta.Checks))
	}
	for _, c := range meta.Checks {
		if c.Engine != EngineMiniBatch || filepath.Base(c.Noise) != NoiseDir || c.Results == "" {
			t.Errorf("checkpoint %+v", c)
		}
	}
	if res.Rendered == nil || len(res.Rendered.Report.Checkpoints) != 2 {
		t.Fatal("report without the two checkpoints")
	}
	for _, cp := range res.Rendered.Report.Checkpoints {
		if cp.Engine != EngineMiniBatch || len(cp.Analyses) == 0 {
			t.Errorf("report checkpoint step %d: engine %q, %d analyses", cp.Step, cp.Engine, len(cp.Analyses))
		}
		for _, a := range cp.Analyses {
			if a.Status != "ok" {
				t.Errorf("step %d: analysis %s on the mini-batch set: %s %+v", cp.Step, a.Name, a.Status, a.Failure)
			}
		}
	}
}

// The new keys: YAML sets them; bad values name the key (the flags are
// cmd/gnaudit's TestAuditFlagsTrainingAndEngineKeys).
func TestTrainingAndEngineKeys(t *testing.T) {
	y, err := ParseConfig([]byte("finetune:\n  bn: eval\n  optimizer: adamw\n  warmup_steps: 7\ncollect:\n  engine: mini-batch\n"), "t.yaml", Defaults())
	if err != nil {
		t.Fatal(err)
	}
	if y.FineTune.BN != "eval" || y.FineTune.WarmupSteps != 7 || y.Collect.Engine != EngineMiniBatch {
		t.Errorf("YAML %+v %+v", y.FineTune, y.Collect)
	}
	for _, c := range []struct {
		set func(*Config)
		key string
	}{
		{func(c *Config) { c.FineTune.BN = "frozen" }, "finetune.bn"},
		{func(c *Config) { c.FineTune.Optimizer = "adam" }, "finetune.optimizer"},
		{func(c *Config) { c.FineTune.WarmupSteps = -1 }, "finetune.warmup_steps"},
		{func(c *Config) { c.Collect.Engine = "gpu" }, "collect.engine"},
	} {
		cfg := Defaults()
		c.set(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.key) {
			t.Errorf("%v: want an error naming %s", err, c.key)
		}
	}
}
