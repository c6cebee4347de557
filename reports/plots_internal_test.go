package reports

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot/vg"
)

// gauss is a Gaussianity row with the primary pass rate r and its interval.
func gauss(b int, share, r, lo, hi float64) Gaussianity {
	return Gaussianity{BatchSize: b, Percent: Number(share), Tested: 100,
		NonDegenerate: Some(r), Low: Some(lo), High: Some(hi), Ceiling: Some(95)}
}

func TestPassRate(t *testing.T) {
	r, lo, hi, primary := gauss(8, 90, 80, 71, 87).PassRate()
	if r != 80 || lo != 71 || hi != 87 || !primary {
		t.Errorf("new row: %v [%v, %v] %v", r, lo, hi, primary)
	}
	// A report written before the pass rate: the old share, no interval.
	r, lo, hi, primary = Gaussianity{BatchSize: 8, Percent: 90}.PassRate()
	if r != 90 || !math.IsNaN(lo) || !math.IsNaN(hi) || primary {
		t.Errorf("old row: %v [%v, %v] %v", r, lo, hi, primary)
	}
}

// TestPassRateSeries: the plot draws the primary number (not the share
// that counts degenerate coordinates Gaussian), with error bars reaching
// exactly the interval's bounds, and finds the ceiling.
func TestPassRateSeries(t *testing.T) {
	l := Layer{Parameter: "w", Gaussianity: []Gaussianity{gauss(4, 60, 50, 40, 61), gauss(16, 97, 94, 89, 97)}}
	xy, errs, ceiling, old := passRateSeries(l, 1.5)
	if old || ceiling != 95 || len(xy) != 2 || len(errs) != 2 {
		t.Fatalf("series %v %v ceiling %v old %v", xy, errs, ceiling, old)
	}
	for i, want := range []struct{ x, y, lo, hi float64 }{{6, 50, 10, 11}, {24, 94, 5, 3}} {
		if xy[i].X != want.x || xy[i].Y != want.y || errs[i].Low != want.lo || errs[i].High != want.hi {
			t.Errorf("point %d: (%v, %v) −%v +%v, want %+v", i, xy[i].X, xy[i].Y, errs[i].Low, errs[i].High, want)
		}
	}
	xy, errs, ceiling, old = passRateSeries(Layer{Gaussianity: []Gaussianity{{BatchSize: 8, Percent: 70}, {BatchSize: 0, Percent: 1}}}, 1)
	if !old || !math.IsNaN(ceiling) || len(xy) != 1 || xy[0].Y != 70 || errs[0].Low != 0 || errs[0].High != 0 {
		t.Errorf("old report: %v %v %v %v", xy, errs, ceiling, old)
	}
}

// TestGaussianityPlotRenders: the figure is labelled with the primary
// number, shows the ceiling as a reference line, and a report without the
// pass rate says that it shows the old share.
func TestGaussianityPlotRenders(t *testing.T) {
	var ls []Layer
	for i := range 20 {
		ls = append(ls, Layer{Parameter: fmt.Sprintf("layer%d.weight", i), Gaussianity: []Gaussianity{
			gauss(4, 50, 40+float64(i), 30+float64(i), 50+float64(i)), gauss(64, 90, 85, 80, 89)}})
	}
	cp := &Checkpoint{Step: 3, BatchSizes: []int{4, 64}}
	for _, c := range []struct {
		name string
		ls   []Layer
		want []string
		not  []string
	}{
		{"new", ls, []string{"pass rate, non-degenerate coordinates", "ceiling 1−α = 95 %", "layer19.weight"}, []string{"old share"}},
		{"old", []Layer{{Parameter: "a", Gaussianity: []Gaussianity{{BatchSize: 4, Percent: 30}, {BatchSize: 64, Percent: 80}}}},
			[]string{"old share"}, []string{"ceiling"}},
	} {
		p, ok := gaussianityPlot(cp, c.ls)
		if !ok {
			t.Fatalf("%s: nothing drawn", c.name)
		}
		path := filepath.Join(t.TempDir(), "g.svg")
		if err := savePlot(p, path, "svg", 18*vg.Centimeter, 12*vg.Centimeter); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range c.want {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s: the SVG lacks %q", c.name, w)
			}
		}
		for _, w := range c.not {
			if strings.Contains(string(b), w) {
				t.Errorf("%s: the SVG has %q", c.name, w)
			}
		}
		if p.X.Max <= 64 {
			t.Errorf("%s: no room right of the data for the legend (x max %v)", c.name, p.X.Max)
		}
	}
}

// TestStylesDistinct: the first 84 lines differ in colour or glyph shape,
// and the palette's colours are distinct.
func TestStylesDistinct(t *testing.T) {
	type key struct {
		c     color.RGBA
		shape string
	}
	seen := map[key]int{}
	for i := range 84 {
		c, _, g := style(i)
		r, gg, b, a := c.RGBA()
		k := key{color.RGBA{uint8(r >> 8), uint8(gg >> 8), uint8(b >> 8), uint8(a >> 8)}, fmt.Sprintf("%T", g.Shape)}
		if j, dup := seen[k]; dup {
			t.Errorf("lines %d and %d look alike", j, i)
		}
		seen[k] = i
	}
	cols := map[color.Color]bool{}
	for _, c := range palette {
		cols[c] = true
	}
	if len(cols) != len(palette) {
		t.Errorf("%d distinct colours in a palette of %d", len(cols), len(palette))
	}
}
