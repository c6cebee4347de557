package reports

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gnaudit/gnaudit/plugins"
)

// TestFaultsPlotGuards: loss curves and histograms a broken model gives
// (all weights 1e30: huge, non-finite or flat-at-huge values) are drawn
// without a panic or a hang in gonum/plot; what cannot be drawn is left
// out and said so.
func TestFaultsPlotGuards(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	curves := map[string][]float64{
		"1e30 flat":      {1e30, 1e30, 1e30},
		"1e30 rising":    {1e30, 2e30},
		"tiny span":      {1e30, 1e30 * (1 + 1e-15)},
		"float32 max":    {3e38, 1},
		"±1e300":         {1e300, -1e300},
		"±max float":     {math.MaxFloat64, -math.MaxFloat64},
		"Inf and NaN":    {inf, nan, -inf},
		"mixed":          {2.3, inf, 1.1, 1e20, 0.9},
		"flat":           {5, 5},
		"tiny flat span": {1e-300, 2e-300},
	}
	dir := t.TempDir()
	for name, ys := range curves {
		tr := &Training{}
		for i, y := range ys {
			tr.Loss = append(tr.Loss, LossPoint{Step: i, Loss: Number(y)})
		}
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".svg")
		done := make(chan error, 1)
		go func() {
			p, ok := lossPlot(tr)
			if !ok {
				done <- nil
				return
			}
			done <- savePlot(p, path, "svg", 300, 200)
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: drawing the loss plot hangs", name)
		}
	}
	// The drawn points are the plottable ones; the title says what was left out.
	tr := &Training{Loss: []LossPoint{{0, 2.3}, {1, Number(inf)}, {2, 1e20}, {3, 0.9}}}
	p, ok := lossPlot(tr)
	if !ok || !strings.Contains(p.Title.Text, "2 of 4 points not drawn") {
		t.Errorf("title %q", p.Title.Text)
	}
	if _, ok := lossPlot(&Training{Loss: []LossPoint{{0, Number(nan)}}}); ok {
		t.Error("a curve of NaN is drawn")
	}

	// Histograms with bad edges are not drawn; good ones are.
	for name, h := range map[string]*plugins.Histogram{
		"NaN edge":       {Edges: []float64{0, nan, 2}, Counts: []int64{1, 2}},
		"huge edges":     {Edges: []float64{-1e300, 0, 1e300}, Counts: []int64{1, 2}},
		"decreasing":     {Edges: []float64{2, 1, 0}, Counts: []int64{1, 2}},
		"tiny span":      {Edges: []float64{1e30, 1e30 * (1 + 1e-15)}, Counts: []int64{3}},
		"counts ≠ edges": {Edges: []float64{0, 1}, Counts: []int64{1, 2}},
	} {
		if histogramPlottable(h) {
			t.Errorf("%s: plottable", name)
		}
		hp := histPlot(name, "x", h)
		if err := savePlot(hp, filepath.Join(dir, "h.svg"), "svg", 200, 150); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if !histogramPlottable(&plugins.Histogram{Edges: []float64{0, 0.5, 1}, Counts: []int64{1, 2}}) {
		t.Error("a good histogram is refused")
	}
	if b, err := os.ReadFile(filepath.Join(dir, "h.svg")); err != nil || len(b) == 0 {
		t.Errorf("no SVG written: %v", err)
	}
}
