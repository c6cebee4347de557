package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRefusesMissingData: with no results, or none for an experiment that
// is to be run, nothing is written: docs/paper.md and the output directory
// stay as they are.
func TestRefusesMissingData(t *testing.T) {
	dir := t.TempDir()
	configs := filepath.Join(dir, "configs")
	must(t, os.MkdirAll(configs, 0o755))
	must(t, os.WriteFile(filepath.Join(configs, "exp1.yaml"), []byte("# seeds: 1 2\nmodel: resnet20\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(configs, "exp9.yaml"), []byte("# seeds: 1   (not run at this scale)\n"), 0o644))
	doc := filepath.Join(dir, "paper.md")
	const text = "# paper\n<!-- BEGIN t -->\nthe committed table\n<!-- END t -->\n"
	must(t, os.WriteFile(doc, []byte(text), 0o644))
	out := filepath.Join(dir, "out")

	empty := filepath.Join(dir, "empty")
	must(t, os.MkdirAll(empty, 0o755))
	failed := filepath.Join(dir, "failed") // audits that exited before writing a report
	must(t, os.MkdirAll(filepath.Join(failed, "exp1", "seed-1"), 0o755))
	for _, tc := range []struct {
		name, results string
		allow         bool
		want          string
	}{
		{"missing directory", filepath.Join(dir, "none"), false, "no such file"},
		{"empty directory", empty, false, "no results"},
		{"failed audits", failed, false, "no results"},
		{"failed audits, -allow-missing", failed, true, "no results"},
	} {
		err := run(tc.results, out, configs, doc, tc.allow)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
		if b, _ := os.ReadFile(doc); string(b) != text {
			t.Errorf("%s: %s was rewritten:\n%s", tc.name, doc, b)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%s: %s was written", tc.name, out)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
