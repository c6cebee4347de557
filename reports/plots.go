package reports

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/gnaudit/gnaudit/auditor/atomicfile"
	"github.com/gnaudit/gnaudit/plugins"
)

// maxPlotLayers bounds the layers drawn in one figure (the tables list all).
const maxPlotLayers = 24

// plotLayers picks the layers to draw: all when few, otherwise the weight
// tensors, and at most maxPlotLayers. The int is the number left out.
func plotLayers(ls []Layer) ([]Layer, int) {
	sel := ls
	if len(ls) > 16 {
		sel = nil
		for _, l := range ls {
			if l.Kind == "weight" {
				sel = append(sel, l)
			}
		}
		if len(sel) == 0 {
			sel = ls
		}
	}
	if len(sel) > maxPlotLayers {
		sel = sel[:maxPlotLayers]
	}
	return sel, len(ls) - len(sel)
}

// palette is a set of colours that stay apart from each other (Tableau
// 10 and two darker ones): with 12 colours and plotutil's 7 glyph shapes,
// lines 0…83 all differ in colour or shape, and past 12 lines they are
// dashed as well.
var palette = []color.Color{
	color.RGBA{31, 119, 180, 255}, color.RGBA{255, 127, 14, 255}, color.RGBA{44, 160, 44, 255},
	color.RGBA{214, 39, 40, 255}, color.RGBA{148, 103, 189, 255}, color.RGBA{140, 86, 75, 255},
	color.RGBA{227, 119, 194, 255}, color.RGBA{127, 127, 127, 255}, color.RGBA{188, 189, 34, 255},
	color.RGBA{23, 190, 207, 255}, color.RGBA{0, 0, 128, 255}, color.RGBA{0, 0, 0, 255},
}

// style gives line i a colour, a glyph shape and, past the palette, a dash
// pattern: colour i mod 12 and shape i mod 7 (coprime), so no two of the
// first 84 lines look alike.
func style(i int) (color.Color, []vg.Length, draw.GlyphStyle) {
	c := palette[i%len(palette)]
	var dashes []vg.Length
	if i >= len(palette) {
		dashes = plotutil.Dashes(i / len(palette))
	}
	g := draw.GlyphStyle{Color: c, Radius: vg.Points(2.5), Shape: plotutil.Shape(i % 7)}
	return c, dashes, g
}

func batchTicks(bs []int) plot.ConstantTicks {
	var t plot.ConstantTicks
	for _, b := range bs {
		t = append(t, plot.Tick{Value: float64(b), Label: strconv.Itoa(b)})
	}
	return t
}

// gaussianityPlot draws the primary Gaussianity number — the pass rate over
// the non-degenerate coordinates — against the batch size (log scale), one
// line per layer, with its confidence interval as error bars and the
// ceiling 100·(1−α) that exactly Gaussian noise reaches as a dashed
// reference line. Lines are shifted sideways a little so that the error
// bars of different layers at one B do not hide each other. Reports
// written before the pass rate was added show the old share (degenerate
// coordinates counted Gaussian), without intervals, and say so.
func gaussianityPlot(cp *Checkpoint, ls []Layer) (*plot.Plot, bool) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Shapiro–Wilk pass rate vs batch size (step %d)", cp.Step)
	p.X.Label.Text = "batch size B"
	p.Y.Label.Text = "pass rate, non-degenerate coordinates (%)"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = batchTicks(cp.BatchSizes)
	p.Y.Min, p.Y.Max = 0, 100
	p.Add(plotter.NewGrid())
	any, old, ceiling := false, false, math.NaN()
	bmin, bmax := math.Inf(1), math.Inf(-1)
	// spread: lines occupy ±0.04 decades around each B.
	shift := func(i int) float64 {
		if len(ls) < 2 {
			return 1
		}
		return math.Pow(10, 0.08*(float64(i)/float64(len(ls)-1)-0.5))
	}
	for i, l := range ls {
		xy, errs, ceil, o := passRateSeries(l, shift(i))
		old = old || o
		if !math.IsNaN(ceil) {
			ceiling = ceil
		}
		for _, g := range l.Gaussianity {
			if b := float64(g.BatchSize); b > 0 && plottable(b) {
				bmin, bmax = min(bmin, b), max(bmax, b)
			}
		}
		if len(xy) == 0 {
			continue
		}
		line, pts, err := plotter.NewLinePoints(xy)
		if err != nil {
			continue
		}
		c, d, g := style(i)
		line.Color, line.Dashes, line.Width = c, d, vg.Points(1.2)
		pts.GlyphStyle = g
		p.Add(line, pts)
		if eb, err := plotter.NewYErrorBars(struct {
			plotter.XYer
			plotter.YErrorer
		}{xy, errs}); err == nil {
			eb.Color, eb.Width, eb.CapWidth = c, vg.Points(0.8), vg.Points(4)
			p.Add(eb)
		}
		p.Legend.Add(l.Parameter, line, pts)
		any = true
	}
	if any && !math.IsNaN(ceiling) && bmax >= bmin {
		lo, hi := bmin/math.Pow(10, 0.06), bmax*math.Pow(10, 0.06)
		if ref, err := plotter.NewLine(plotter.XYs{{X: lo, Y: ceiling}, {X: hi, Y: ceiling}}); err == nil {
			ref.Color, ref.Width, ref.Dashes = color.Gray{Y: 60}, vg.Points(1.2), []vg.Length{vg.Points(6), vg.Points(3)}
			p.Add(ref)
			p.Legend.Add(fmt.Sprintf("ceiling 1−α = %s %%", strconv.FormatFloat(ceiling, 'f', -1, 64)), ref)
		}
	}
	if any && bmax >= bmin {
		// Room on the right for the legend, so it hides no data: the data
		// keep the left ~70 % of the (log) axis.
		lo, hi := math.Log10(bmin)-0.06, math.Log10(bmax)+0.06
		p.X.Min, p.X.Max = math.Pow(10, lo), math.Pow(10, hi+0.45*(hi-lo))
	}
	var yt plot.ConstantTicks
	for y := 0; y <= 100; y += 10 {
		yt = append(yt, plot.Tick{Value: float64(y), Label: strconv.Itoa(y)})
	}
	p.Y.Tick.Marker = yt
	if old {
		p.Y.Label.Text = "Gaussian coordinates (%, old share: degenerate counted Gaussian)"
	}
	p.Legend.Top = false
	p.Legend.Left = false
	p.Legend.TextStyle.Font.Size = vg.Points(8)
	return p, any
}

// passRateSeries returns the points of layer l for gaussianityPlot (x: the
// batch size times shift), their error bars (the distances from the pass
// rate to its interval's bounds; 0 where there is no interval), the
// ceiling in % (NaN when the report has none) and whether some point is the
// old share.
func passRateSeries(l Layer, shift float64) (xy plotter.XYs, errs plotter.YErrors, ceiling float64, old bool) {
	ceiling = math.NaN()
	for _, g := range l.Gaussianity {
		r, lo, hi, primary := g.PassRate()
		if math.IsNaN(r) || g.BatchSize <= 0 || !plottable(float64(g.BatchSize)) {
			continue
		}
		old = old || !primary
		if g.Ceiling.Defined() {
			ceiling = g.Ceiling.Float()
		}
		xy = append(xy, plotter.XY{X: float64(g.BatchSize) * shift, Y: r})
		e := struct{ Low, High float64 }{}
		if !math.IsNaN(lo) && !math.IsNaN(hi) {
			e.Low, e.High = max(0, r-lo), max(0, hi-r)
		}
		errs = append(errs, e)
	}
	return xy, errs, ceiling, old
}

// histPlot draws one pre-binned histogram.
func histPlot(title, xlabel string, h *plugins.Histogram) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(9)
	p.X.Label.Text = xlabel
	p.X.Tick.Label.Font.Size = vg.Points(7)
	p.Y.Tick.Label.Font.Size = vg.Points(7)
	if !histogramPlottable(h) {
		return p
	}
	bins := make([]plotter.HistogramBin, len(h.Counts))
	for i, c := range h.Counts {
		bins[i] = plotter.HistogramBin{Min: h.Edges[i], Max: h.Edges[i+1], Weight: float64(c)}
	}
	hp := &plotter.Histogram{Bins: bins, Width: h.Edges[1] - h.Edges[0], FillColor: color.RGBA{R: 70, G: 110, B: 170, A: 255},
		LineStyle: draw.LineStyle{Color: color.White, Width: vg.Points(0.3)}}
	p.Add(hp)
	return p
}

// grid lays plots out in a grid of cols columns.
type grid struct {
	plots [][]*plot.Plot
}

func newGrid(ps []*plot.Plot, cols int) grid {
	var g grid
	cols = max(1, min(cols, len(ps)))
	for i := 0; i < len(ps); i += cols {
		row := make([]*plot.Plot, cols)
		copy(row, ps[i:min(len(ps), i+cols)])
		g.plots = append(g.plots, row)
	}
	return g
}

// rhoPlots draws the ρ/σ³ histogram of each layer in a grid.
func rhoPlots(ls []Layer) (grid, bool) {
	var ps []*plot.Plot
	for _, l := range ls {
		if l.KurtosisBound == nil || l.KurtosisBound.RhoSigma3Hist == nil {
			continue
		}
		ps = append(ps, histPlot(l.Parameter, "ρ/σ³", l.KurtosisBound.RhoSigma3Hist))
	}
	return newGrid(ps, 4), len(ps) > 0
}

// tailPlots draws, for each estimator, the histogram of the tail indices
// of all drawn layers pooled, one step line per batch size.
func tailPlots(cp *Checkpoint, ls []Layer) (grid, bool) {
	var ps []*plot.Plot
	any := false
	for _, est := range []string{"Mohammadi", "McCulloch"} {
		p := plot.New()
		p.Title.Text = fmt.Sprintf("tail index α (%s), all drawn layers", est)
		p.X.Label.Text = "α (2 = Gaussian)"
		p.Y.Label.Text = "coordinates"
		p.X.Min, p.X.Max = 0, 2
		for k, b := range cp.BatchSizes {
			var sum *plugins.Histogram
			for _, l := range ls {
				if l.TailIndex == nil || k >= len(l.TailIndex.PerBatch) {
					continue
				}
				h := l.TailIndex.PerBatch[k].MohammadiHist
				if est == "McCulloch" {
					h = l.TailIndex.PerBatch[k].McCullochHist
				}
				if !histogramPlottable(h) {
					continue
				}
				if sum == nil {
					sum = &plugins.Histogram{Edges: h.Edges, Counts: make([]int64, len(h.Counts))}
				}
				if len(h.Counts) != len(sum.Counts) || !slices.Equal(h.Edges, sum.Edges) {
					continue
				}
				for i, c := range h.Counts {
					sum.Counts[i] += c
				}
			}
			if sum == nil {
				continue
			}
			var xy plotter.XYs
			for i, c := range sum.Counts {
				xy = append(xy, plotter.XY{X: sum.Edges[i], Y: float64(c)}, plotter.XY{X: sum.Edges[i+1], Y: float64(c)})
			}
			line, err := plotter.NewLine(xy)
			if err != nil {
				continue
			}
			c, d, _ := style(k)
			line.Color, line.Dashes, line.Width = c, d, vg.Points(1.2)
			p.Add(line)
			p.Legend.Add("B = "+strconv.Itoa(b), line)
			any = true
		}
		p.Legend.Top = true
		p.Legend.Left = true
		p.Legend.XOffs = 4 * vg.Millimeter
		p.Legend.YOffs = -4 * vg.Millimeter
		ps = append(ps, p)
	}
	return newGrid(ps, 2), any
}

// lossPlot draws the training loss curve.
func lossPlot(tr *Training) (*plot.Plot, bool) {
	p := plot.New()
	p.Title.Text = "training loss"
	p.X.Label.Text = "step"
	p.Y.Label.Text = "cross-entropy loss"
	p.Add(plotter.NewGrid())
	var xy plotter.XYs
	left := 0
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, pt := range tr.Loss {
		if y := float64(pt.Loss); plottable(y) && plottable(float64(pt.Step)) {
			xy = append(xy, plotter.XY{X: float64(pt.Step), Y: y})
			lo, hi = math.Min(lo, y), math.Max(hi, y)
		} else {
			left++
		}
	}
	if left > 0 {
		p.Title.Text += fmt.Sprintf(" (%d of %d points not drawn: non-finite or beyond ±%g)", left, len(tr.Loss), maxPlotValue)
	}
	if len(xy) == 0 {
		return p, false
	}
	safeRange(&p.Y, lo, hi)
	safeRange(&p.X, xy[0].X, xy[len(xy)-1].X)
	line, err := plotter.NewLine(xy)
	if err != nil {
		return p, false
	}
	line.Color = plotutil.Color(0)
	p.Add(line)
	return p, true
}

func newCanvas(format string, w, h vg.Length) (vg.CanvasSizer, func(f io.Writer) error) {
	if format == "png" {
		c := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(110))
		return c, func(f io.Writer) error {
			_, err := vgimg.PngCanvas{Canvas: c}.WriteTo(f)
			return err
		}
	}
	c := vgsvg.New(w, h)
	return c, func(f io.Writer) error {
		_, err := c.WriteTo(f)
		return err
	}
}

func writeCanvas(path string, write func(f io.Writer) error) error {
	return atomicfile.Write(path, write)
}

// savePlot writes one plot.
func savePlot(p *plot.Plot, path, format string, w, h vg.Length) error {
	c, write := newCanvas(format, w, h)
	if err := drawSafely(path, func() { p.Draw(draw.New(c)) }); err != nil {
		return err
	}
	return writeCanvas(path, write)
}

// saveGrid writes a grid of plots, each tile tw × th.
func saveGrid(g grid, path, format string, tw, th vg.Length) error {
	rows := len(g.plots)
	if rows == 0 {
		return nil
	}
	cols := len(g.plots[0])
	c, write := newCanvas(format, tw*vg.Length(cols), th*vg.Length(rows))
	dc := draw.New(c)
	t := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter * 2, PadY: vg.Millimeter * 2,
		PadTop: vg.Millimeter, PadBottom: vg.Millimeter, PadLeft: vg.Millimeter, PadRight: vg.Millimeter}
	err := drawSafely(path, func() {
		canvases := plot.Align(g.plots, t, dc)
		for i, row := range g.plots {
			for j, p := range row {
				if p != nil {
					p.Draw(canvases[i][j])
				}
			}
		}
	})
	if err != nil {
		return err
	}
	return writeCanvas(path, write)
}
