package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/dynamics"
	"github.com/gnaudit/gnaudit/auditor/progress"
	"github.com/gnaudit/gnaudit/reports"
)

// tinyDynamics is a small dynamics stage for the tiny audit (about a
// second).
func tinyDynamics() *DynamicsConfig {
	return &DynamicsConfig{Batch: 8, LR: 0.01, Steps: 40, Burn: 8, Blocks: 4, K: 2, LanczosIter: 4, Probes: 2,
		HessianSamples: 64, NoiseSamples: 64}
}

func readDynamics(t *testing.T, dir string) *dynamics.Result {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, dynamics.JSONName))
	if err != nil {
		t.Fatal(err)
	}
	var res dynamics.Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	return &res
}

// audit --dynamics: the plan shows the stage's cost, the stage runs at the
// last checkpoint with the fine-tuning's μ and λ, writes dynamics.json and
// dynamics.md, and report.json carries its figures (schema-valid); a
// re-render writes the same bytes; rerunning the audit without the stage
// removes the earlier audit's dynamics files and section.
func TestAuditDynamicsStage(t *testing.T) {
	f := newTiny(t)
	out := filepath.Join(f.dir, "out")
	cfg := f.config(out)
	cfg.Dynamics = tinyDynamics()
	var stdout, stderr bytes.Buffer
	res, err := Run(context.Background(), cfg, &Env{Stdout: &stdout, Stderr: &stderr})
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if res.Status != StatusComplete {
		t.Fatalf("status %s", res.Status)
	}
	for _, want := range []string{"dynamics stage at step 4 (η = 0.01, μ = 0.9, λ = 0.0005, B = 8)", "float64 gradient passes", "at θ₀: L ="} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, stdout.String())
		}
	}
	if !strings.Contains(stderr.String(), "dynamics at step 4") || !strings.Contains(stderr.String(), "update") {
		t.Errorf("no progress of the stage on stderr:\n%s", stderr.String())
	}
	dr := readDynamics(t, out)
	if !dr.Complete || dr.Step == nil || *dr.Step != 4 || dr.Model != filepath.Join(CheckpointDir, "step-4", ModelName) ||
		dr.Config.Momentum != 0.9 || dr.Config.WeightDecay != 5e-4 || len(dr.Chains) != 3 {
		t.Fatalf("dynamics.json: complete %v step %v model %s μ %v λ %v chains %d", dr.Complete, dr.Step, dr.Model, dr.Config.Momentum, dr.Config.WeightDecay, len(dr.Chains))
	}
	if _, err := os.Stat(filepath.Join(out, dynamics.MDName)); err != nil {
		t.Error(err)
	}
	b, err := os.ReadFile(filepath.Join(out, ReportJSON))
	if err != nil {
		t.Fatal(err)
	}
	if err := reports.Validate(b); err != nil {
		t.Fatalf("report.json: %v", err)
	}
	rep, err := reports.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	d := rep.Dynamics
	if d == nil || d.File != dynamics.JSONName || !d.Complete || d.Step == nil || *d.Step != 4 || len(d.Chains) != 3 {
		t.Fatalf("report dynamics section %+v", d)
	}
	if got, want := float64(d.Chains[0].FDR.Value), dr.Chains[0].FDR.Est; got != want {
		t.Errorf("report FDR %v, dynamics.json %v", got, want)
	}
	if got, want := float64(d.Static.Commutator.SE), float64(dr.Static.Alignment.CommutatorSE); got != want {
		t.Errorf("report commutator se %v, dynamics.json %v", got, want)
	}
	md, _ := os.ReadFile(filepath.Join(out, ReportMD))
	if !strings.Contains(string(md), "## SGD dynamics") {
		t.Error("report.md has no dynamics section")
	}
	before := snapshot(t, out)
	if _, err := Render(context.Background(), out, RenderOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	if after := snapshot(t, out); !reflect.DeepEqual(before, after) {
		t.Error("re-rendering changed the files")
	}

	cfg.Dynamics, cfg.Force = nil, true
	if _, err := Run(context.Background(), cfg, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, dynamics.JSONName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the earlier audit's dynamics.json survived: %v", err)
	}
	rep2, err := reports.ReadFile(filepath.Join(out, ReportJSON))
	if err != nil {
		t.Fatal(err)
	}
	if rep2.Dynamics != nil {
		t.Error("report without the stage has a dynamics section")
	}
}

// cancelOn cancels when a line containing word is written.
type cancelOn struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	word   string
	cancel func()
}

func (c *cancelOn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	if strings.Contains(string(p), c.word) {
		c.cancel()
	}
	return len(p), nil
}

// Ctrl-C during the dynamics stage: the collection is kept, dynamics.json
// is written marked incomplete, the audit is partial and report.json says
// so in its dynamics section and notes.
func TestAuditDynamicsCancelled(t *testing.T) {
	f := newTiny(t)
	out := filepath.Join(f.dir, "out")
	cfg := f.config(out)
	cfg.Dynamics = tinyDynamics()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &cancelOn{word: "update", cancel: cancel} // the chains' progress bar
	res, err := Run(ctx, cfg, &Env{Stderr: w, ProgressMode: progress.Lines})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled\n%s", err, w.buf.String())
	}
	if res.Status != StatusPartial {
		t.Fatalf("status %s", res.Status)
	}
	dr := readDynamics(t, out)
	if dr.Complete || len(dr.Static.Eigen) != 2 {
		t.Errorf("dynamics.json complete %v, %d eigenpairs", dr.Complete, len(dr.Static.Eigen))
	}
	rep, err := reports.ReadFile(filepath.Join(out, ReportJSON))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != "partial" || rep.Dynamics == nil || rep.Dynamics.Complete || len(rep.Checkpoints) != 2 {
		t.Fatalf("report status %s dynamics %+v, %d checkpoints", rep.Status, rep.Dynamics, len(rep.Checkpoints))
	}
	if !strings.Contains(strings.Join(rep.Method.Notes, "\n"), "dynamics.json) is partial") {
		t.Errorf("no note of the partial dynamics: %q", rep.Method.Notes)
	}
}

func TestDynamicsConfig(t *testing.T) {
	base := Defaults()
	base.FineTune.Momentum, base.FineTune.WeightDecay = 0.8, 1e-3
	mu, wd := 0.5, 0.0
	for _, tc := range []struct {
		name  string
		d     *DynamicsConfig
		mod   func(c *Config)
		want  string // error substring ("" none)
		check func(t *testing.T, dc dynamics.Config)
	}{
		{"defaults follow the fine-tuning", &DynamicsConfig{}, nil, "", func(t *testing.T, dc dynamics.Config) {
			d := dynamics.Defaults()
			if dc.Momentum != 0.8 || dc.WeightDecay != 1e-3 || dc.LR != d.LR || dc.Batch != d.Batch || dc.Steps != d.Steps ||
				dc.Burn != d.Steps/5 || dc.LR2 != d.LR/2 || !dc.SGD || dc.Seed != 1 {
				t.Errorf("%+v", dc)
			}
		}},
		{"explicit settings", &DynamicsConfig{Batch: 64, LR: 0.002, LR2: -1, Momentum: &mu, WeightDecay: &wd, Steps: 300, Burn: 30,
			Blocks: 6, K: 4, NoSGD: true, Float64: true}, nil, "", func(t *testing.T, dc dynamics.Config) {
			if dc.Momentum != 0.5 || dc.WeightDecay != 0 || dc.LR != 0.002 || dc.LR2 != -1 || dc.Batch != 64 || dc.Steps != 300 ||
				dc.Burn != 30 || dc.Blocks != 6 || dc.K != 4 || dc.SGD || !dc.Float64 {
				t.Errorf("%+v", dc)
			}
		}},
		{"bad blocks", &DynamicsConfig{Blocks: 2}, nil, "dynamics: blocks 2", nil},
		{"unstable parameters", &DynamicsConfig{LR: -1}, nil, "dynamics:", nil},
		{"not with --prepare", &DynamicsConfig{}, func(c *Config) { c.Prepare = true }, "not with --prepare", nil},
		{"not with --shard", &DynamicsConfig{}, func(c *Config) { c.Shard = "0/2"; c.From = "x" }, "not with --prepare or --shard", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			c.Dynamics = tc.d
			if tc.mod != nil {
				tc.mod(&c)
			}
			err := c.validateDynamics()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, c.dynamicsRun())
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// The YAML key and the --dynamics flag.
func TestDynamicsYAMLAndFlag(t *testing.T) {
	c, err := ParseConfig([]byte("dynamics:\n  lr: 0.002\n  momentum: 0\n  steps: 300\n  no_sgd: true\n"), "d.yaml", Defaults())
	if err != nil {
		t.Fatal(err)
	}
	if c.Dynamics == nil || c.Dynamics.LR != 0.002 || c.Dynamics.Momentum == nil || *c.Dynamics.Momentum != 0 || !c.Dynamics.NoSGD {
		t.Fatalf("YAML: %+v", c.Dynamics)
	}
	if _, err := ParseConfig([]byte("dynamics:\n  learning_rate: 0.1\n"), "d.yaml", Defaults()); err == nil {
		t.Error("unknown dynamics key accepted")
	}
	for _, tc := range []struct {
		args  []string
		start *DynamicsConfig
		on    bool
		lr    float64
	}{
		{nil, nil, false, 0},
		{[]string{"--dynamics"}, nil, true, 0},
		{[]string{"--dynamics"}, &DynamicsConfig{LR: 0.003}, true, 0.003}, // the config file's settings kept
		{[]string{"--dynamics=false"}, &DynamicsConfig{LR: 0.003}, false, 0},
	} {
		p := tc.start
		fs := flag.NewFlagSet("audit", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.Var(DynamicsFlag(&p), "dynamics", "")
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if (p != nil) != tc.on || (p != nil && p.LR != tc.lr) {
			t.Errorf("%v from %+v: %+v", tc.args, tc.start, p)
		}
	}
	var p *DynamicsConfig
	if err := DynamicsFlag(&p).Set("maybe"); err == nil {
		t.Error("--dynamics=maybe accepted")
	}
}

// A dynamics.json that is not one is left out of the report with a note.
func TestAddDynamicsBadFile(t *testing.T) {
	dir := t.TempDir()
	rep := &reports.Report{}
	addDynamics(rep, dir, func(string) { t.Error("warning without a file") })
	if rep.Dynamics != nil || len(rep.Method.Notes) != 0 {
		t.Fatal("no file: something added")
	}
	for _, content := range []string{"{", `{"schema": "gnaudit.dynamics/v9"}`} {
		if err := os.WriteFile(filepath.Join(dir, dynamics.JSONName), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		var warned string
		rep := &reports.Report{}
		addDynamics(rep, dir, func(s string) { warned = s })
		if rep.Dynamics != nil || !strings.Contains(warned, "left out of the report") || len(rep.Method.Notes) != 1 {
			t.Errorf("%q: dynamics %v, warning %q, notes %q", content, rep.Dynamics, warned, rep.Method.Notes)
		}
	}
}
