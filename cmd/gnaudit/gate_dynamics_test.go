package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/reports"
)

// gnaudit gate on a dynamics.json: the docs' example policy and file, exit
// codes 0/1/2, JUnit and the step summary.
func TestGateDynamicsCLI(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const example = "../../docs/examples/dynamics.json"
	policy := "../../docs/examples/dynamics-gates.yaml"
	modes := write("modes.yaml", "max_mode_fdr_deviation: 0.1\nmax_stability_margin: 0.5\n")
	rep := filepath.Join(dir, "report.json")
	r := reports.New("test", reports.Model{File: "m.onnx"}, reports.Data{Name: "d"}, nil)
	r.Checkpoints = []reports.Checkpoint{{Step: 0, Pool: 64, Batches: 4, BatchSizes: []int{32}}}
	if err := reports.WriteFile(rep, r); err != nil {
		t.Fatal(err)
	}
	summary := filepath.Join(dir, "summary.md")
	t.Setenv("GITHUB_STEP_SUMMARY", summary)
	junit := filepath.Join(dir, "junit.xml")
	for _, tc := range []struct {
		args           []string
		code           int
		stdout, stderr string
	}{
		{[]string{"gate", "--policy", policy, "--junit", junit, example}, 1, "FAIL  max_fdr_deviation", "1 of 15 gate checks failed"},
		{[]string{"gate", "--policy", modes, example}, 0, "PASS: 3 checks", ""},
		{[]string{"gate", "--policy", "../../docs/examples/gates.yaml", example}, 2, "", "gate a report.json (gnaudit audit), not a dynamics.json"},
		{[]string{"gate", "--policy", policy, rep}, 2, "", "gate a dynamics.json (gnaudit dynamics), not a report.json"},
	} {
		var o, e bytes.Buffer
		code := run(tc.args, &o, &e)
		if code != tc.code || !strings.Contains(o.String(), tc.stdout) || !strings.Contains(e.String(), tc.stderr) {
			t.Errorf("gnaudit %s: code %d, want %d\nstdout: %s\nstderr: %s", strings.Join(tc.args, " "), code, tc.code, o.String(), e.String())
		}
	}
	x, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`classname="gnaudit.gate.max_fdr_deviation" name="fdr_ratio"`, `name="mode 2"`, `failures="1"`} {
		if !strings.Contains(string(x), want) {
			t.Errorf("junit.xml lacks %q:\n%s", want, x)
		}
	}
	s, err := os.ReadFile(summary)
	if err != nil || !strings.Contains(string(s), "1 of 15 checks") || !strings.Contains(string(s), "All 3 checks") {
		t.Errorf("step summary: %v\n%s", err, s)
	}
}
