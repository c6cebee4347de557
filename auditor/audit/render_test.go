package audit

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRerenderReadsStoredReport: gnaudit report DIR re-renders report.md
// and the plots from the stored report.json — with the noise sets, the
// analyses' results and the gate policy deleted, so that neither an
// analysis nor the gate can have run — and leaves report.json byte for
// byte as it was; a missing or foreign report.json is rebuilt from the
// saved results instead; another plot format is remembered.
func TestRerenderReadsStoredReport(t *testing.T) {
	f := newTiny(t)
	out := filepath.Join(f.dir, "out")
	cfg := f.config(out)
	cfg.FineTune.Steps = 0
	cfg.AuditAt = nil
	cfg.Gate = writeFile(t, f.dir, "pass.yaml", "min_gaussianity: [{layer: \"*\", batch_size: 8, percent: 0}]\n")
	cfg.JUnit = filepath.Join(f.dir, "junit.xml")
	res, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rendered.Gate == nil || len(res.Rendered.Gate.Checks) == 0 {
		t.Fatalf("the audit applied no gate: %+v", res.Rendered)
	}
	before := snapshot(t, out)
	junit, err := os.ReadFile(cfg.JUnit)
	if err != nil {
		t.Fatal(err)
	}
	same := func(what string) {
		t.Helper()
		after := snapshot(t, out)
		for k, b := range before {
			if !bytes.Equal(b, after[k]) {
				t.Errorf("%s: %s differs", what, k)
			}
		}
		if len(after) != len(before) {
			t.Errorf("%s: %d files, want %d", what, len(after), len(before))
		}
	}

	// report.json missing (an interrupted rendering), or another audit's:
	// rebuilt from the saved results, the same bytes.
	if err := os.Remove(filepath.Join(out, ReportJSON)); err != nil {
		t.Fatal(err)
	}
	rd, err := Rerender(context.Background(), out, RenderOptions{}, nil)
	if err != nil || !rd.Rebuilt {
		t.Fatalf("missing report.json: %v, rebuilt %v", err, rd != nil && rd.Rebuilt)
	}
	same("rebuilt after report.json was removed")
	foreign := bytes.Replace(before[ReportJSON], []byte(res.Rendered.Report.Created), []byte("2001-01-01T00:00:00Z"), 1)
	if bytes.Equal(foreign, before[ReportJSON]) {
		t.Fatal("report.json does not hold the creation time")
	}
	if err := os.WriteFile(filepath.Join(out, ReportJSON), foreign, 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	rd, err = Rerender(context.Background(), out, RenderOptions{}, &Env{Stderr: &stderr})
	if err != nil || !rd.Rebuilt || !strings.Contains(stderr.String(), "not this audit's report") {
		t.Fatalf("foreign report.json: %v, rebuilt %v\n%s", err, rd != nil && rd.Rebuilt, stderr.String())
	}
	same("rebuilt over another audit's report.json")

	// The stored report alone: no noise set, no analyses' results, no
	// policy file.
	meta, err := ReadMeta(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, cm := range meta.Checks {
		if cm.Noise == "" || cm.Results == "" {
			t.Fatalf("checkpoint %+v lacks its noise set or results", cm)
		}
		if err := os.RemoveAll(filepath.Join(out, cm.Noise)); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(out, cm.Results)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(cfg.Gate); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(cfg.JUnit); err != nil {
		t.Fatal(err)
	}
	rd, err = Rerender(context.Background(), out, RenderOptions{}, nil)
	if err != nil {
		t.Fatalf("re-render from the stored report: %v", err)
	}
	if rd.Rebuilt || rd.Gate == nil || !rd.Gate.Passed() || len(rd.Gate.Checks) != len(res.Rendered.Gate.Checks) {
		t.Errorf("re-render: rebuilt %v, gate %+v", rd.Rebuilt, rd.Gate)
	}
	same("re-rendered from report.json")
	if b, err := os.ReadFile(cfg.JUnit); err != nil || !bytes.Equal(b, junit) {
		t.Errorf("the audit's JUnit file was not written again from the stored gate: %v", err)
	}

	// --format png is remembered by the next re-render, and svg again.
	plots := func(ext string) int {
		m, _ := filepath.Glob(filepath.Join(out, "plots", "*."+ext))
		return len(m)
	}
	nsvg := plots("svg")
	if nsvg == 0 {
		t.Fatal("no SVG plot")
	}
	for _, c := range []struct{ format, want string }{{"png", "png"}, {"", "png"}, {"svg", "svg"}, {"", "svg"}} {
		if _, err := Rerender(context.Background(), out, RenderOptions{Format: c.format}, nil); err != nil {
			t.Fatalf("format %q: %v", c.format, err)
		}
		other := map[string]string{"png": "svg", "svg": "png"}[c.want]
		if plots(c.want) != nsvg || plots(other) != 0 {
			t.Errorf("format %q: %d %s and %d %s plots, want %d %s only", c.format, plots(c.want), c.want, plots(other), other, nsvg, c.want)
		}
		m, err := ReadMeta(out)
		if err != nil || m.Config.PNG != (c.want == "png") {
			t.Errorf("format %q: audit.json records png=%v (%v)", c.format, m != nil && m.Config.PNG, err)
		}
		if b, _ := os.ReadFile(filepath.Join(out, ReportJSON)); !bytes.Equal(b, before[ReportJSON]) {
			t.Errorf("format %q: report.json changed", c.format)
		}
	}
	same("back to SVG")
}
