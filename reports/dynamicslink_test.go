package reports_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/reports"
)

// report.md links a dynamics.json written into the same directory, with
// its headline figures; without one it says nothing of dynamics.
func TestRenderLinksDynamics(t *testing.T) {
	r, err := reports.ReadFile(filepath.Join("testdata", "report-v1.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, dynamics string
		want, not      []string
	}{
		{"none", "", nil, []string{"SGD dynamics"}},
		{"complete", `{"schema": "gnaudit.dynamics/v1", "complete": true, "gates": {"fdr_ratio": {"value": 0.634, "se": 0.039},
  "mode_fdr_worst": {"value": 1.03, "se": 0.036}, "trace_law_ratio": {"value": 0.37, "se": 0.92}, "stability_margin": 0.0143}}`,
			[]string{"## SGD dynamics", "[dynamics.md](dynamics.md)", "FDR ratio 0.634 ± 0.039", "worst top-mode FDR 1.03 ± 0.036",
				"trace-law ratio 0.37 ± 0.92", "stability margin 0.0143"}, []string{"partial"}},
		{"partial, diverged", `{"schema": "gnaudit.dynamics/v1", "complete": false, "gates": {"fdr_ratio": {"value": null, "se": null}, "stability_margin": 0.2}}`,
			[]string{"**partial**", "FDR ratio —"}, []string{"trace-law"}},
		{"not dynamics", `{"schema": "other"}`, []string{"not a gnaudit dynamics output"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.dynamics != "" {
				if err := os.WriteFile(filepath.Join(dir, "dynamics.json"), []byte(tc.dynamics), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := reports.Render(dir, r); err != nil {
				t.Fatal(err)
			}
			md, err := os.ReadFile(filepath.Join(dir, "report.md"))
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(md), w) {
					t.Errorf("report.md lacks %q", w)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(string(md), w) {
					t.Errorf("report.md has %q", w)
				}
			}
		})
	}
}
