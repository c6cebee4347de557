package paper

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/internal/approx"
	"github.com/gnaudit/gnaudit/reports"
)

// row is a Gaussianity row whose old share (degenerate counted Gaussian)
// differs from its pass rate r over the non-degenerate coordinates.
func row(b int, share, r, lo, hi float64) reports.Gaussianity {
	return reports.Gaussianity{BatchSize: b, Percent: reports.Number(share), Tested: 100, Degenerate: 10,
		NonDegenerate: reports.Some(r), Low: reports.Some(lo), High: reports.Some(hi), Ceiling: reports.Some(95)}
}

func run1(seed int, gs ...[]reports.Gaussianity) Run {
	cp := reports.Checkpoint{Step: 10, BatchSizes: []int{8, 64}}
	for i, g := range gs {
		m := reports.Number(1)
		cp.Layers = append(cp.Layers, reports.Layer{Parameter: string(rune('a'+i)) + ".weight", Kind: "weight", Gaussianity: g,
			KurtosisBound: &reports.KurtosisBound{RhoSigma3: reports.Quantiles{P50: reports.Number(2 + i)},
				PerBatch: []reports.BoundAtB{{BatchSize: 8, PredictedPercent: 5, MeasuredPercent: &m, MeasuredNonDegeneratePercent: g[0].NonDegenerate}}},
			TailIndex: &reports.TailIndex{PerBatch: []reports.TailAtB{{BatchSize: 8, MohammadiMedian: 1.9, McCullochMedian: 1.95}, {BatchSize: 64, MohammadiMedian: 2, McCullochMedian: 2}}}})
	}
	return Run{Seed: seed, Report: &reports.Report{Checkpoints: []reports.Checkpoint{cp}}}
}

// TestAggregatesPassRate: the paper's tables average the primary number
// (not the old share) over seeds and carry the Wilson bounds, averaged;
// old reports fall back to the share with no interval.
func TestAggregatesPassRate(t *testing.T) {
	e := &Experiment{Name: "exp1-x", Runs: []Run{
		run1(1, []reports.Gaussianity{row(8, 70, 60, 50, 70), row(64, 99, 90, 84, 94)}, []reports.Gaussianity{row(8, 50, 40, 30, 50), row(64, 90, 80, 72, 86)}),
		run1(2, []reports.Gaussianity{row(8, 74, 64, 54, 72), row(64, 99, 94, 88, 97)}, []reports.Gaussianity{row(8, 50, 44, 34, 54), row(64, 90, 84, 76, 90)}),
	}}
	g := e.Gaussianity("a.weight", 8)
	if g.N != 2 {
		t.Errorf("layer a at B=8: %+v, want 2 runs", g)
	}
	approx.Abs(t, "layer a at B=8: mean", g.Mean, 62, approx.Float64)
	approx.Abs(t, "layer a at B=8: std", g.Std, math.Sqrt(8), approx.Float64)
	approx.Abs(t, "layer a at B=8: low", g.Low, 52, approx.Float64)
	approx.Abs(t, "layer a at B=8: high", g.High, 71, approx.Float64)
	if got, want := g.Format(1), "62.0 ± 2.8 [52.0, 71.0]"; got != want {
		t.Errorf("Format %q, want %q", got, want)
	}
	m := e.ModelGaussianity(64)
	// per seed: mean(90, 80) = 85 and mean(94, 84) = 89; bounds (84+72)/2=78, (88+76)/2=82 → 80; (94+86)/2=90, (97+90)/2=93.5 → 91.75.
	approx.Abs(t, "model at B=64: mean", m.Mean, 87, approx.Float64)
	approx.Abs(t, "model at B=64: low", m.Low, 80, approx.Float64)
	approx.Abs(t, "model at B=64: high", m.High, 91.75, approx.Float64)
	_, meas := e.PredictedMeasured(8)
	approx.Abs(t, "measured at B=8 (the pass rate, not the old share)", meas.Mean, 52, approx.Float64)
	if c := e.Ceiling(); c != 95 {
		t.Errorf("ceiling %v", c)
	}
	// A report without the pass rate: the old share, no interval.
	old := &Experiment{Name: "exp1-old", Runs: []Run{run1(1, []reports.Gaussianity{{BatchSize: 8, Percent: 77}, {BatchSize: 64, Percent: 88}})}}
	if g := old.Gaussianity("a.weight", 8); g.Mean != 77 || !math.IsNaN(g.Low) || g.Format(1) != "77.0" {
		t.Errorf("old report: %+v %q", g, g.Format(1))
	}
	if !math.IsNaN(old.Ceiling()) {
		t.Error("old report has a ceiling")
	}
	// Stats that are not pass rates keep their format.
	if s := StatOf([]float64{1, 3}); s.Format(1) != "2.0 ± 1.4" {
		t.Errorf("plain Stat %q", s.Format(1))
	}

	// The written tables and figures use it too.
	dir := t.TempDir()
	e2 := &Experiment{Name: "exp1-y", Runs: e.Runs}
	if err := Write(dir, []*Experiment{e, e2, old}, Options{Results: "r"}); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "| a.weight | 0 | 62.0 ± 2.8 [52.0, 71.0] |") {
		t.Errorf("results.md lacks the pass-rate row:\n%s", md)
	}
	for _, f := range []string{"fig-gaussianity-exp1-x.svg", "fig-models.svg"} {
		svg, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"ceiling 1−α = 95 %", passRateLabel} {
			if !strings.Contains(string(svg), want) {
				t.Errorf("%s lacks %q", f, want)
			}
		}
	}
}

func TestLineStylesDistinct(t *testing.T) {
	seen := map[string]int{}
	for i := range 84 {
		c, _, g := lineStyle(i)
		r, gg, b, _ := c.RGBA()
		k := fmt.Sprintf("%d,%d,%d/%T", r, gg, b, g.Shape)
		if j, dup := seen[k]; dup {
			t.Errorf("lines %d and %d look alike", j, i)
		}
		seen[k] = i
	}
}
