package reports_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/reports"
)

// TestOldReportReadsAndRenders: a report.json written by gnaudit before the
// calibrated and interval keys were added (testdata/report-v1.0.json, main
// 9a6de35, histograms stripped) still validates, reads, renders and
// round-trips without gaining keys.
func TestOldReportReadsAndRenders(t *testing.T) {
	r, err := reports.ReadFile(filepath.Join("testdata", "report-v1.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := reports.Render(dir, r); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"the median layer passes", "Pool use", "### Gaussianity", "B_simple"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md of an old report lacks %q", want)
		}
	}
	data, err := reports.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"nondegenerate_percent", "calibrated_percent", "b_simple_plugin", "p_value", "pool_use"} {
		if strings.Contains(string(data), `"`+k+`"`) {
			t.Errorf("an old report gained key %q on a round trip", k)
		}
	}
}

// TestNewSectionsRender: the new numbers reach report.json and report.md.
func TestNewSectionsRender(t *testing.T) {
	r := buildReport(t, false)
	data, err := reports.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"nondegenerate_percent", "non_gaussian_storey", "calibrated_percent", "recommended_batch_size",
		"spine_rho_sigma3", "below_null_mohammadi_percent", "b_simple_plugin", "b_simple_se", "pool_use"} {
		if !strings.Contains(string(data), `"`+k+`"`) {
			t.Errorf("report.json lacks %q", k)
		}
	}
	dir := t.TempDir()
	if err := reports.Render(dir, r); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	if os.Getenv("GNAUDIT_DUMP_MD") != "" {
		os.WriteFile(os.Getenv("GNAUDIT_DUMP_MD"), md, 0o644)
	}
	for _, want := range []string{"**Training batch size 128 was not audited; at the nearest audited B = 64** (step 300): the median layer passes", "calibrated prediction", "METHOD.md#pass-rate",
		"recommended B", "Gaussian null at n = ", "| Step | B | median pass rate"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
}
