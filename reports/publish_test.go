package reports_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/reports"
)

// TestWriteDir: the partial banner sits under the title, stored bytes are
// written back as they are, stale plots go, and a failure before
// report.json leaves no report.json.
func TestWriteDir(t *testing.T) {
	r := buildReport(t, false)
	dir := t.TempDir()
	stale := filepath.Join(dir, "plots", "old.svg")
	if err := os.MkdirAll(filepath.Dir(stale), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, []byte("<svg/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := reports.WriteDir(dir, r, reports.DirOptions{Partial: "interrupted"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the stale plot survived: %v", err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	title, rest, _ := strings.Cut(string(md), "\n\n")
	if !strings.HasPrefix(title, "# gnaudit report: ") || !strings.HasPrefix(rest, "> ⚠️ **Partial audit** — interrupted. ") {
		t.Errorf("banner not under the title:\n%.300s", md)
	}
	stored, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reports.Parse(stored); err != nil {
		t.Fatalf("report.json: %v", err)
	}

	// The stored bytes (here: re-indented, still a valid report) are kept.
	ind := bytes.ReplaceAll(stored, []byte("\n  "), []byte("\n    "))
	if err := reports.WriteDir(dir, r, reports.DirOptions{JSON: ind}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "report.json")); !bytes.Equal(b, ind) {
		t.Error("DirOptions.JSON was not written as given")
	}
	if md2, _ := os.ReadFile(filepath.Join(dir, "report.md")); bytes.Contains(md2, []byte("Partial audit")) {
		t.Error("banner without DirOptions.Partial")
	}

	boom := errors.New("boom")
	err = reports.WriteDir(dir, r, reports.DirOptions{BeforeJSON: func() error { return boom }})
	if !errors.Is(err, boom) || errors.Is(err, reports.ErrWriteJSON) {
		t.Errorf("BeforeJSON's error: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "report.json")); !os.IsNotExist(err) {
		t.Errorf("report.json after a failed rendering: %v", err)
	}
}
