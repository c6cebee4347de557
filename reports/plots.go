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

// style gives line i a colour and, past the palette, a dash pattern.
func style(i int) (color.Color, []vg.Length, draw.GlyphStyle) {
	c := plotutil.Color(i)
	var dashes []vg.Length
	if i >= len(plotutil.DefaultColors) {
		dashes = plotutil.Dashes(i / len(plotutil.DefaultColors))
	}
	g := draw.GlyphStyle{Color: c, Radius: vg.Points(2.5), Shape: plotutil.Shape(i)}
	return c, dashes, g
}

func batchTicks(bs []int) plot.ConstantTicks {
	var t plot.ConstantTicks
	for _, b := range bs {
		t = append(t, plot.Tick{Value: float64(b), Label: strconv.Itoa(b)})
	}
	return t
}

// gaussianityPlot draws Gaussianity % against the batch size (log scale),
// one line per layer.
func gaussianityPlot(cp *Checkpoint, ls []Layer) (*plot.Plot, bool) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Gaussianity vs batch size (step %d)", cp.Step)
	p.X.Label.Text = "batch size B"
	p.Y.Label.Text = "Gaussian coordinates (%)"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = batchTicks(cp.BatchSizes)
	p.Y.Min, p.Y.Max = 0, 100
	p.Add(plotter.NewGrid())
	any := false
	for i, l := range ls {
		var xy plotter.XYs
		for _, g := range l.Gaussianity {
			if g.Percent.Defined() && g.BatchSize > 0 && plottable(float64(g.BatchSize)) {
				xy = append(xy, plotter.XY{X: float64(g.BatchSize), Y: float64(g.Percent)})
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
		p.Legend.Add(l.Parameter, line, pts)
		any = true
	}
	p.Legend.Top = false
	p.Legend.Left = false
	p.Legend.TextStyle.Font.Size = vg.Points(8)
	return p, any
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
