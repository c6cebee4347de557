package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/audit"
	"github.com/gnaudit/gnaudit/auditor/audit/audittest"
	"github.com/gnaudit/gnaudit/plugins/host"
	"github.com/gnaudit/gnaudit/reports"
)

// tinyAuditConfig writes a tiny model, a generated MNIST-layout data set and
// a config file for them; it returns the config file.
func tinyAuditConfig(t *testing.T) (dir, cfg string) {
	t.Helper()
	t.Setenv(host.EnvPluginDir, "")
	dir = t.TempDir()
	model := filepath.Join(dir, "tiny.onnx")
	if err := audittest.TinyModel(model, 1); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "digits")
	if err := audittest.WriteMNIST(data, 400, 50, 5); err != nil {
		t.Fatal(err)
	}
	cfg = filepath.Join(dir, "audit.yaml")
	yaml := "model: " + model + "\ndata: {dir: " + data + ", eval_samples: 40}\n" +
		"finetune: {steps: 3, batch_size: 16, lr: 0.05}\n" +
		"collect: {pool: 64, batch_sizes: [4, 8], batches: 8, coords_per_layer: 12, engine_batch: 16}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, cfg
}

func TestAuditGateExitCodes(t *testing.T) {
	dir, cfg := tinyAuditConfig(t)
	pass := filepath.Join(dir, "pass.yaml")
	fail := filepath.Join(dir, "fail.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(pass, []byte("min_gaussianity: [{layer: \"*\", batch_size: 8, percent: 0}]\nmax_noise_scale: [{layer: model, value: 1e15}]\n"), 0o644)
	os.WriteFile(fail, []byte("max_noise_scale: [{layer: model, value: 1e-9}]\n"), 0o644)
	os.WriteFile(bad, []byte("max_noise_scale: {layer: model}\n"), 0o644)

	out := filepath.Join(dir, "pass")
	junit := filepath.Join(dir, "junit.xml")
	code, stdout, stderr := runCLI("audit", "--config", cfg, "--out", out, "--gate", pass, "--junit", junit)
	if code != exitOK {
		t.Fatalf("passing gate: exit %d\n%s\n%s", code, stdout, stderr)
	}
	rep, err := reports.ReadFile(filepath.Join(out, "report.json"))
	if err != nil || rep.Gates == nil || !rep.Gates.Passed || len(rep.Gates.Checks) == 0 {
		t.Fatalf("gates in the report: %v %+v", err, rep)
	}
	if b, err := os.ReadFile(junit); err != nil || !bytes.Contains(b, []byte("<testsuite")) {
		t.Errorf("JUnit file: %v", err)
	}
	if !strings.Contains(stdout, "report: "+filepath.Join(out, "report.md")) {
		t.Errorf("stdout does not say where the report is:\n%s", stdout)
	}

	out = filepath.Join(dir, "fail")
	code, stdout, stderr = runCLI("audit", "--config", cfg, "--out", out, "--gate", fail)
	if code != exitFail || !strings.Contains(stderr, "gate checks failed") {
		t.Fatalf("failing gate: exit %d\n%s\n%s", code, stdout, stderr)
	}
	md, _ := os.ReadFile(filepath.Join(out, "report.md"))
	if !bytes.Contains(md, []byte("FAIL")) {
		t.Errorf("report.md does not show the failed gate")
	}

	code, _, stderr = runCLI("audit", "--config", cfg, "--out", filepath.Join(dir, "bad"), "--gate", bad)
	if code != exitUsage {
		t.Errorf("bad policy: exit %d, want %d\n%s", code, exitUsage, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "bad", "audit.json")); !os.IsNotExist(err) {
		t.Errorf("a bad policy should stop the audit before any work (audit.json: %v)", err)
	}
}

func TestReportDirCLI(t *testing.T) {
	dir, cfg := tinyAuditConfig(t)
	out := filepath.Join(dir, "out")
	if code, stdout, stderr := runCLI("audit", "--config", cfg, "--out", out); code != exitOK {
		t.Fatalf("audit: exit %d\n%s\n%s", code, stdout, stderr)
	}
	read := func() ([]byte, []byte) {
		j, err1 := os.ReadFile(filepath.Join(out, "report.json"))
		m, err2 := os.ReadFile(filepath.Join(out, "report.md"))
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		return j, m
	}
	j1, m1 := read()
	code, stdout, stderr := runCLI("report", out)
	if code != exitOK || !strings.Contains(stdout, filepath.Join(out, "report.md")) {
		t.Fatalf("report DIR: exit %d\n%s\n%s", code, stdout, stderr)
	}
	j2, m2 := read()
	if !bytes.Equal(j1, j2) || !bytes.Equal(m1, m2) {
		t.Errorf("gnaudit report DIR did not re-render identically")
	}
	// --format png is remembered: the next plain report DIR keeps PNG.
	for _, args := range [][]string{{"report", "--format", "png", out}, {"report", out}} {
		if code, _, stderr := runCLI(args...); code != exitOK {
			t.Fatalf("%v: exit %d\n%s", args, code, stderr)
		}
		png, _ := filepath.Glob(filepath.Join(out, "plots", "*.png"))
		svg, _ := filepath.Glob(filepath.Join(out, "plots", "*.svg"))
		if len(png) == 0 || len(svg) != 0 {
			t.Errorf("%v: %d PNG and %d SVG plots, want PNG only", args, len(png), len(svg))
		}
		if j, _ := os.ReadFile(filepath.Join(out, "report.json")); !bytes.Equal(j, j1) {
			t.Errorf("%v changed report.json", args)
		}
	}
	// Re-analysis with another level: the normality runs record it.
	code, _, stderr = runCLI("report", "--reanalyze", "--param", "normality.alpha=0.2", out)
	if code != exitOK {
		t.Fatalf("report --reanalyze: exit %d\n%s", code, stderr)
	}
	rep, err := reports.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, cp := range rep.Checkpoints {
		for _, a := range cp.Analyses {
			if a.Name == "normality" && a.Params["alpha"] != "0.2" {
				t.Errorf("step %d normality params %v", cp.Step, a.Params)
			}
		}
	}
	// The report.json form still works, and a directory without audit.json
	// is a usage error.
	if code, _, stderr := runCLI("report", "--out", filepath.Join(dir, "md"), filepath.Join(out, "report.json")); code != exitOK {
		t.Errorf("report FILE: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := runCLI("report", dir); code != exitUsage || !strings.Contains(stderr, "not an audit directory") {
		t.Errorf("report of a non-audit dir: exit %d\n%s", code, stderr)
	}
	if code, _, _ := runCLI("report", "--param", "normality.alpha=0.2", out); code != exitUsage {
		t.Errorf("--param without --reanalyze: exit %d", code)
	}
}

func TestAuditUsageErrors(t *testing.T) {
	dir, cfg := tinyAuditConfig(t)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"audit", "--device", "cuda", "--config", cfg, "--out", filepath.Join(dir, "c")}, exitUsage, "built without CUDA"},
		{[]string{"audit", "--no-such-flag"}, exitUsage, "no-such-flag"},
		{[]string{"audit", "--config", cfg, "--batches", "1"}, exitUsage, "3 to 5000"},
		{[]string{"audit", "--config", cfg, "--model", filepath.Join(dir, "missing.onnx"), "--out", filepath.Join(dir, "m")}, exitUsage, "missing.onnx"},
		{[]string{"audit", "-h"}, exitOK, ""},
	} {
		code, _, stderr := runCLI(c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d (want %d)\n%s", c.args[1:], code, c.code, stderr)
		}
	}
	if audit.ErrNoCUDA == nil {
		t.Fatal("no ErrNoCUDA")
	}
}

func TestAuditPlanOnlyAndIsolate(t *testing.T) {
	dir, cfg := tinyAuditConfig(t)
	out := filepath.Join(dir, "plan")
	code, stdout, stderr := runCLI("audit", "--config", cfg, "--out", out, "--plan")
	if code != exitOK || !strings.Contains(stdout, "time estimate:") || !strings.Contains(stdout, "collection plan:") {
		t.Fatalf("--plan: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("--plan created its output directory: %v", err)
	}
	// --isolate: the built-ins run as "<this binary> plugins serve NAME".
	t.Setenv(envAsCLI, "1")
	out = filepath.Join(dir, "iso")
	code, stdout, stderr = runCLI("audit", "--config", cfg, "--out", out, "--isolate", "--finetune-steps", "0")
	if code != exitOK {
		t.Fatalf("--isolate: exit %d\n%s\n%s", code, stdout, stderr)
	}
	rep, err := reports.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range rep.Checkpoints[0].Analyses {
		if a.Origin != "builtin (isolated)" || a.Status != "ok" {
			t.Errorf("isolated analysis %+v", a)
		}
	}
	// --plan leaves an earlier audit in its directory alone.
	if code, _, stderr := runCLI("audit", "--config", cfg, "--out", out, "--plan"); code != exitOK {
		t.Fatalf("--plan: exit %d\n%s", code, stderr)
	}
	for _, f := range []string{"report.md", "audit.json", "checkpoints/step-0/noise/manifest.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("--plan removed %s: %v", f, err)
		}
	}
}
