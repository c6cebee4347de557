package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gnaudit/gnaudit/plugins/host"
	"github.com/gnaudit/gnaudit/plugins/synth"
	"github.com/gnaudit/gnaudit/reports"
)

// envAsCLI makes this test binary behave as gnaudit itself, so that
// --isolate can start "<test binary> plugins serve NAME" as the real
// gnaudit does.
const envAsCLI = "GNAUDIT_TEST_AS_CLI"

func init() {
	if os.Getenv(envAsCLI) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
}

func synthSet(t *testing.T) *synth.Spec {
	return &synth.Spec{Seed: 5, Pool: 1600, Batches: 40, BatchSizes: []int{8, 32},
		Layers: []synth.LayerSpec{
			{Name: "conv1", Parameter: "conv1.weight", Laws: synth.Repeat(30, synth.Gaussian)},
			{Name: "fc", Parameter: "fc.weight", Laws: synth.Repeat(20, synth.Cauchy)},
		}}
}

// TestIsolateThroughServeVerb: the built-ins served by "gnaudit plugins
// serve NAME" give the same results as in-process.
func TestIsolateThroughServeVerb(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	t.Setenv(envAsCLI, "1")
	t.Setenv(host.EnvPluginDir, "")
	set, err := synth.Set(*synthSet(t))
	if err != nil {
		t.Fatal(err)
	}
	local, err := host.Analyze(context.Background(), set, &host.Options{})
	if err != nil {
		t.Fatal(err)
	}
	iso, err := host.Analyze(context.Background(), set, &host.Options{Isolate: true, SelfExe: exe, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for i := range local {
		if iso[i].Failed() {
			t.Fatalf("%s: %v", iso[i].Description.Name, iso[i].Failure)
		}
		a, _ := json.Marshal(local[i].Layers)
		b, _ := json.Marshal(iso[i].Layers)
		if string(a) != string(b) || !reflect.DeepEqual(local[i].Params, iso[i].Params) {
			t.Errorf("%s: isolated results differ", local[i].Description.Name)
		}
		if iso[i].Origin != "builtin (isolated)" {
			t.Errorf("origin %q", iso[i].Origin)
		}
	}
}

func writeReport(t *testing.T, dir string) string {
	t.Helper()
	set, err := synth.Set(*synthSet(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(host.EnvPluginDir, "")
	res, err := host.Analyze(context.Background(), set, &host.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := reports.New("test", reports.Model{File: "m.onnx"}, reports.Data{Name: "synthetic", Samples: 1600}, nil)
	r.Checkpoints = append(r.Checkpoints, reports.BuildCheckpoint(set, res, reports.BuildOptions{}))
	path := filepath.Join(dir, "report.json")
	if err := reports.WriteFile(path, r); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestGateAndReportCLI(t *testing.T) {
	dir := t.TempDir()
	rep := writeReport(t, dir)
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pass := write("pass.yaml", "min_gaussianity: [{layer: 'conv*', batch_size: 32, percent: 80}]\nmax_noise_scale: [{layer: 'conv*', value: 1e12}]\n") // the model's B_simple is infinite (a Cauchy layer)
	fail := write("fail.yaml", "min_gaussianity: [{layer: '*', batch_size: 32, percent: 80}]\n")
	bad := write("bad.yaml", "min_gaussianity: [{layer: '*', percent: 80}]\n")
	broken := write("broken.json", `{"schema": "gnaudit.report/v1"}`)
	summary := filepath.Join(dir, "summary.md")
	t.Setenv("GITHUB_STEP_SUMMARY", summary)
	junit := filepath.Join(dir, "junit.xml")

	for _, tc := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"gate", "--policy", pass, rep}, 0, "PASS: 2 checks", ""},
		{[]string{"gate", rep, "--policy", fail, "--junit", junit}, 1, "FAIL  min_gaussianity", "1 of 2 gate checks failed"},
		{[]string{"gate", "--policy", bad, rep}, 2, "", "missing or invalid batch_size"},
		{[]string{"gate", "--policy", pass, broken}, 2, "", "broken.json: /: missing required property"},
		{[]string{"gate", "--policy", pass, filepath.Join(dir, "none.json")}, 2, "", "no such file"},
		{[]string{"gate", rep}, 2, "", "want --policy FILE"},
		{[]string{"report", "--policy", fail, "--format", "png", "--out", filepath.Join(dir, "out"), rep}, 0, "", "wrote"},
		{[]string{"report", "--format", "gif", rep}, 2, "", "want svg or png"},
		{[]string{"plugins", "list"}, 0, "kurtosis-bound  1.1.0", ""},
		{[]string{"plugins", "list", "--plugin", "/nonexistent"}, 2, "", "no such file"},
		{[]string{"plugins", "serve", "nope"}, 2, "", `no built-in analysis "nope"`},
	} {
		code, out, errOut := runStatsCLI(tc.args...)
		if code != tc.code || !strings.Contains(out, tc.stdout) || !strings.Contains(errOut, tc.stderr) {
			t.Errorf("gnaudit %s: code %d, want %d\nstdout: %s\nstderr: %s", strings.Join(tc.args, " "), code, tc.code, out, errOut)
		}
	}
	if b, err := os.ReadFile(junit); err != nil || !strings.Contains(string(b), `<testsuites name="gnaudit gate" tests="2" failures="1">`) {
		t.Errorf("junit: %v\n%s", err, b)
	}
	if b, err := os.ReadFile(summary); err != nil || strings.Count(string(b), "### gnaudit gate:") != 2 {
		t.Errorf("step summary: %v\n%s", err, b)
	}
	md, err := os.ReadFile(filepath.Join(dir, "out", "report.md"))
	if err != nil || !strings.Contains(string(md), "**Verdict: ❌ FAIL**") || !strings.Contains(string(md), "(plots/step-0-gaussianity.png)") {
		t.Errorf("report.md: %v\n%.600s", err, md)
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "plots", "step-0-gaussianity.png")); err != nil {
		t.Error(err)
	}
}
