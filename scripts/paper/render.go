package paper

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/gnaudit/gnaudit/reports"
)

// Options configure Write.
type Options struct {
	// Results is the results directory, named in the output.
	Results string
	// Pending lists experiments (config names) expected but without
	// results: their tables are written with "pending" cells.
	Pending []string
	// Blocks, when not nil, receives each table by name ("table-NAME",
	// "models", "berry-esseen", "alpha", "training-NAME-BN") for
	// RefreshBlocks.
	Blocks map[string]string
}

// RefreshBlocks replaces, in a Markdown document, the text between
// "<!-- BEGIN name -->" and "<!-- END name -->" lines by blocks[name]. It
// returns the names of markers without a block (left as they are).
func RefreshBlocks(doc string, blocks map[string]string) (string, []string) {
	var missing []string
	var out strings.Builder
	for {
		i := strings.Index(doc, "<!-- BEGIN ")
		if i < 0 {
			out.WriteString(doc)
			break
		}
		j := strings.Index(doc[i:], " -->")
		if j < 0 {
			out.WriteString(doc)
			break
		}
		name := doc[i+len("<!-- BEGIN ") : i+j]
		endTag := "<!-- END " + name + " -->"
		k := strings.Index(doc[i:], endTag)
		head := i + j + len(" -->")
		if k < 0 {
			out.WriteString(doc[:head])
			doc = doc[head:]
			continue
		}
		out.WriteString(doc[:head])
		b, ok := blocks[name]
		if ok {
			out.WriteString("\n" + b)
		} else {
			missing = append(missing, name)
			out.WriteString(doc[head : i+k])
		}
		out.WriteString(endTag)
		doc = doc[i+k+len(endTag):]
	}
	return out.String(), missing
}

// Write renders the tables (DIR/results.md), a machine-readable summary
// (DIR/summary.json) and the figures (DIR/*.svg) of the experiments.
func Write(dir string, exps []*Experiment, o Options) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var md bytes.Buffer
	w := func(format string, a ...any) { fmt.Fprintf(&md, format, a...) }
	// block records the table written since start as Blocks[name].
	block := func(name string, start int) {
		if o.Blocks != nil {
			o.Blocks[name] = strings.TrimSpace(md.String()[start:]) + "\n"
		}
	}
	w("# Paper experiments: aggregated results\n\n")
	w("Written by `go run ./scripts/paper/aggregate -results %s -out %s` from the report.json files of\n", o.Results, dir)
	w("`scripts/paper/run.sh`; cells are mean ± standard deviation over the seeds listed (sample std).\n")
	w("Only weight tensors are tabulated (biases and BatchNorm parameters are in the reports).\n\n")
	summary := map[string]any{}

	var exp1, exp2 []*Experiment
	for _, e := range exps {
		if strings.HasPrefix(e.Name, "exp2") {
			exp2 = append(exp2, e)
		} else {
			exp1 = append(exp1, e)
		}
	}
	for _, p := range o.Pending {
		w("- `%s`: **pending** (no results in %s; run `scripts/paper/run.sh %s`)\n", p, o.Results, p)
	}
	if len(o.Pending) > 0 {
		w("\n")
	}

	// Experiment 1: tables per model.
	w("## Experiment 1: Gaussianity %% against batch size\n\n")
	w("Gaussianity is the Shapiro–Wilk pass rate (p > α) over each layer's non-degenerate coordinates, in %%:\n")
	w("mean ± std over seeds, and in brackets its Wilson interval (the bounds averaged over seeds; for the\n")
	w("mean over layers, averaged over layers too: the typical interval of one layer). Exactly Gaussian\n")
	w("noise passes at the ceiling 100·(1 − α) (95 %% at α = 0.05), not 100 %%: the figures draw it as a\n")
	w("dashed line. Reports written before the pass rate show the old share (degenerate coordinates counted\n")
	w("Gaussian), without interval.\n\n")
	for _, e := range exp1 {
		bs := e.BatchSizes()
		w("### %s\n\n", e.Name)
		w("%s; held-out accuracy after fine-tuning %s %%.\n\n", runsLine(e), e.Accuracy().Format(1))
		if len(e.Runs) == 0 {
			continue
		}
		start := md.Len()
		w("| layer (weight) | size |")
		for _, b := range bs {
			w(" B = %d |", b)
		}
		w("\n|---|---:|%s\n", strings.Repeat("---:|", len(bs)))
		sizes := map[string]int{}
		for _, l := range WeightLayers(checkpoint(e.Runs[0].Report, -1)) {
			sizes[l.Parameter] = l.Size
		}
		tab := map[string]map[int]Stat{}
		for _, n := range e.LayerNames() {
			w("| %s | %d |", n, sizes[n])
			tab[n] = map[int]Stat{}
			for _, b := range bs {
				s := e.Gaussianity(n, b)
				tab[n][b] = s
				w(" %s |", s.Format(1))
			}
			w("\n")
		}
		w("| **mean over layers** | |")
		model := map[int]Stat{}
		for _, b := range bs {
			s := e.ModelGaussianity(b)
			model[b] = s
			w(" **%s** |", s.Format(1))
		}
		block("table-"+e.Name, start)
		w("\n\n![Gaussianity against B, %s](fig-gaussianity-%s.svg)\n\n", e.Name, e.Name)
		if err := plotGaussVsB(filepath.Join(dir, "fig-gaussianity-"+e.Name+".svg"), e); err != nil {
			return err
		}
		summary[e.Name] = map[string]any{"seeds": seedsOf(e), "batch_sizes": bs, "gaussianity": tab, "model_gaussianity": model, "accuracy": e.Accuracy()}
	}
	if len(exp1) > 1 {
		w("### Models compared (mean over weight layers)\n\n")
		start := md.Len()
		w("| model |")
		bs := exp1[0].BatchSizes()
		for _, b := range bs {
			w(" B = %d |", b)
		}
		w("\n|---|%s\n", strings.Repeat("---:|", len(bs)))
		for _, e := range exp1 {
			w("| %s |", e.Name)
			for _, b := range bs {
				w(" %s |", e.ModelGaussianity(b).Format(1))
			}
			w("\n")
		}
		block("models", start)
		w("\n![models compared](fig-models.svg)\n\n")
		if err := plotModels(filepath.Join(dir, "fig-models.svg"), exp1); err != nil {
			return err
		}
	}

	// Experiment 3: Berry–Esseen link.
	w("## Experiment 3: the Berry–Esseen link\n\n")
	w("Spearman rank correlation, across weight layers, of the median ρ/σ³ (per-sample noise) with the\n")
	w("pass rate at each B (the paper expects it negative), and the Gaussian share predicted by the\n")
	w("Berry–Esseen bound (coordinates whose bound C·ρ/(σ³√B) is below the KS critical distance) against\n")
	w("the pass rate measured by Shapiro–Wilk over the non-degenerate coordinates, both averaged over\n")
	w("weight layers.\n\n")
	start := md.Len()
	w("| model | B | rank corr. (ρ/σ³ median, pass rate) | predicted %% | measured %% |\n|---|---:|---:|---:|---:|\n")
	be := map[string]any{}
	for _, e := range exp1 {
		rows := []map[string]any{}
		for _, b := range e.BatchSizes() {
			rc := e.RankCorrelation(b)
			p, m := e.PredictedMeasured(b)
			w("| %s | %d | %s | %s | %s |\n", e.Name, b, rc.Format(2), p.Format(1), m.Format(1))
			rows = append(rows, map[string]any{"batch_size": b, "spearman": rc, "predicted": p, "measured": m})
		}
		be[e.Name] = rows
	}
	block("berry-esseen", start)
	w("\n")
	for _, e := range exp1 {
		if len(e.Runs) > 0 {
			f := "fig-rho-" + e.Name + ".svg"
			if err := plotRhoScatter(filepath.Join(dir, f), e); err != nil {
				return err
			}
			w("![median ρ/σ³ against Gaussianity, %s](%s)\n\n", e.Name, f)
		}
	}
	summary["berry_esseen"] = be
	if len(exp1) > 0 {
		w("![predicted against measured](fig-predicted-measured.svg)\n\n")
		if err := plotPredMeas(filepath.Join(dir, "fig-predicted-measured.svg"), exp1); err != nil {
			return err
		}
	}

	// Experiment 4: tail index.
	w("## Experiment 4: tail index against batch size\n\n")
	w("Median over weight layers of each layer's median tail index of the mini-batch noise (α = 2: Gaussian).\n\n")
	start = md.Len()
	w("| model | B | α Mohammadi | α McCulloch |\n|---|---:|---:|---:|\n")
	ti := map[string]any{}
	for _, e := range exp1 {
		rows := []map[string]any{}
		for _, b := range e.BatchSizes() {
			m1, m2 := e.Alpha(b)
			w("| %s | %d | %s | %s |\n", e.Name, b, m1.Format(3), m2.Format(3))
			rows = append(rows, map[string]any{"batch_size": b, "mohammadi": m1, "mcculloch": m2})
		}
		ti[e.Name] = rows
	}
	block("alpha", start)
	summary["tail_index"] = ti
	if len(exp1) > 0 {
		w("\n![alpha against B](fig-alpha.svg)\n\n")
		if err := plotAlpha(filepath.Join(dir, "fig-alpha.svg"), exp1); err != nil {
			return err
		}
		for _, e := range exp1 {
			if len(e.Runs) == 0 {
				continue
			}
			names := e.LayerNames()
			layer := names[len(names)/2]
			f := "fig-alpha-hist-" + e.Name + ".svg"
			if err := plotAlphaHist(filepath.Join(dir, f), e, layer); err != nil {
				return err
			}
			w("![alpha histogram %s %s](%s)\n\n", e.Name, layer, f)
		}
	}

	// Experiment 2: training.
	w("## Experiment 2: Gaussianity during training\n\n")
	tr := map[string]any{}
	for _, e := range exp2 {
		w("### %s\n\n%s.\n\n", e.Name, runsLine(e))
		if len(e.Runs) == 0 {
			continue
		}
		for _, b := range e.BatchSizes() {
			steps, names, pct := e.TrainingCurve(b)
			w("B = %d, pass rate %% (non-degenerate coordinates) per checkpoint (seed %d):\n\n", b, e.Runs[0].Seed)
			start := md.Len()
			w("| layer (weight) |")
			for _, s := range steps {
				w(" step %d |", s)
			}
			w("\n|---|%s\n", strings.Repeat("---:|", len(steps)))
			for i, n := range names {
				w("| %s |", n)
				for _, v := range pct[i] {
					w(" %s |", StatOf([]float64{v}).Format(1)) // "–" when undefined (every coordinate degenerate)
				}
				w("\n")
			}
			w("\n")
			block(fmt.Sprintf("training-%s-B%d", e.Name, b), start)
			tr[fmt.Sprintf("%s/B=%d", e.Name, b)] = map[string]any{"steps": steps, "layers": names, "percent": nullNaN(pct)}
			f := fmt.Sprintf("fig-training-%s-B%d.svg", e.Name, b)
			if err := plotTraining(filepath.Join(dir, f), e.Name, b, steps, names, pct, e.Ceiling()); err != nil {
				return err
			}
			w("![training %s B=%d](%s)\n\n", e.Name, b, f)
		}
	}
	summary["training"] = tr
	if err := os.WriteFile(filepath.Join(dir, "results.md"), md.Bytes(), 0o644); err != nil {
		return err
	}
	js, err := json.MarshalIndent(summary, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "summary.json"), append(js, '\n'), 0o644)
}

// MarshalJSON writes a Stat with null for undefined numbers.
func (s Stat) MarshalJSON() ([]byte, error) {
	f := func(x float64) any {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
		return x
	}
	m := map[string]any{"mean": f(s.Mean), "std": f(s.Std), "n": s.N}
	if !math.IsNaN(s.Low) && !math.IsNaN(s.High) {
		m["low"], m["high"] = s.Low, s.High
	}
	return json.Marshal(m)
}

// nullNaN is pct for JSON: null where undefined.
func nullNaN(pct [][]float64) [][]any {
	out := make([][]any, len(pct))
	for i, row := range pct {
		out[i] = make([]any, len(row))
		for j, v := range row {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				out[i][j] = v
			}
		}
	}
	return out
}

func seedsOf(e *Experiment) []int {
	var s []int
	for _, r := range e.Runs {
		s = append(s, r.Seed)
	}
	return s
}

func runsLine(e *Experiment) string {
	s := fmt.Sprintf("seeds %v (%d runs)", seedsOf(e), len(e.Runs))
	if len(e.Runs) > 0 {
		c := checkpoint(e.Runs[0].Report, -1)
		s += fmt.Sprintf(", step %d, pool N = %d, n = %d batches", c.Step, c.Pool, c.Batches)
		if len(c.Layers) > 0 {
			s += fmt.Sprintf(", up to %d tested coordinates per parameter", maxTested(c))
		}
	}
	if len(e.Partial) > 0 {
		s += "; **incomplete**: " + strings.Join(e.Partial, ", ")
	}
	return s
}

func maxTested(c *reports.Checkpoint) int {
	m := 0
	for _, l := range c.Layers {
		m = max(m, l.TestedCoordinates)
	}
	return m
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Legend.Top = true
	p.Legend.Left = true
	return p
}

func logBTicks(p *plot.Plot, bs []int) {
	p.X.Scale = plot.LogScale{}
	var t plot.ConstantTicks
	for _, b := range bs {
		t = append(t, plot.Tick{Value: float64(b), Label: fmt.Sprint(b)})
	}
	p.X.Tick.Marker = t
}

// passRateLabel is the y axis of the Gaussianity figures.
const passRateLabel = "pass rate, non-degenerate coordinates (%)"

// addLine draws ys against xs with symmetric error bars ±errs (none when
// errs is nil).
func addLine(p *plot.Plot, i int, name string, xs, ys, errs []float64) error {
	if errs == nil {
		return addLineLH(p, i, name, xs, ys, nil, nil)
	}
	lo, hi := make([]float64, len(ys)), make([]float64, len(ys))
	for k := range ys {
		lo[k], hi[k] = ys[k]-errs[k], ys[k]+errs[k]
	}
	return addLineLH(p, i, name, xs, ys, lo, hi)
}

// addLineLH draws ys against xs with error bars from lo to hi (none when
// lo is nil, or where a bound is NaN). Line i has colour i mod 12 and glyph
// i mod 7, and past 12 lines a dash pattern, so many layers stay apart.
func addLineLH(p *plot.Plot, i int, name string, xs, ys, lo, hi []float64) error {
	var pts plotter.XYs
	var yerr plotter.YErrors
	for k := range xs {
		if math.IsNaN(ys[k]) {
			continue
		}
		pts = append(pts, plotter.XY{X: xs[k], Y: ys[k]})
		e := struct{ Low, High float64 }{}
		if lo != nil && !math.IsNaN(lo[k]) && !math.IsNaN(hi[k]) {
			e.Low, e.High = max(0, ys[k]-lo[k]), max(0, hi[k]-ys[k])
		}
		yerr = append(yerr, e)
	}
	if len(pts) == 0 {
		return nil
	}
	l, s, err := plotter.NewLinePoints(pts)
	if err != nil {
		return err
	}
	c, dashes, g := lineStyle(i)
	l.Color, l.Dashes = c, dashes
	s.GlyphStyle = g
	p.Add(l, s)
	p.Legend.Add(name, l, s)
	if lo != nil {
		eb, err := plotter.NewYErrorBars(struct {
			plotter.XYer
			plotter.YErrorer
		}{pts, yerr})
		if err != nil {
			return err
		}
		eb.Color = c
		p.Add(eb)
	}
	return nil
}

// palette: Tableau 10 and two darker colours (as the report's plots).
var palette = []color.Color{
	color.RGBA{31, 119, 180, 255}, color.RGBA{255, 127, 14, 255}, color.RGBA{44, 160, 44, 255},
	color.RGBA{214, 39, 40, 255}, color.RGBA{148, 103, 189, 255}, color.RGBA{140, 86, 75, 255},
	color.RGBA{227, 119, 194, 255}, color.RGBA{127, 127, 127, 255}, color.RGBA{188, 189, 34, 255},
	color.RGBA{23, 190, 207, 255}, color.RGBA{0, 0, 128, 255}, color.RGBA{0, 0, 0, 255},
}

func lineStyle(i int) (color.Color, []vg.Length, draw.GlyphStyle) {
	c := palette[i%len(palette)]
	var dashes []vg.Length
	if i >= len(palette) {
		dashes = plotutil.Dashes(i / len(palette))
	}
	return c, dashes, draw.GlyphStyle{Color: c, Radius: vg.Points(2.5), Shape: plotutil.Shape(i % 7)}
}

// addCeiling draws the pass rate of exactly Gaussian noise, 100·(1−α), as
// a dashed grey reference line across [x0, x1] (nothing when NaN).
func addCeiling(p *plot.Plot, ceiling, x0, x1 float64) {
	if math.IsNaN(ceiling) {
		return
	}
	ref, err := plotter.NewLine(plotter.XYs{{X: x0, Y: ceiling}, {X: x1, Y: ceiling}})
	if err != nil {
		return
	}
	ref.Color, ref.Width, ref.Dashes = color.Gray{Y: 60}, vg.Points(1.2), []vg.Length{vg.Points(6), vg.Points(3)}
	p.Add(ref)
	p.Legend.Add(fmt.Sprintf("ceiling 1−α = %s %%", strconv.FormatFloat(ceiling, 'f', -1, 64)), ref)
}

// ceilingOf is the first defined ceiling of exps.
func ceilingOf(exps ...*Experiment) float64 {
	for _, e := range exps {
		if c := e.Ceiling(); !math.IsNaN(c) {
			return c
		}
	}
	return math.NaN()
}

// percentAxis sets a 0…100 % y axis with ticks every 10 and, on a log x
// axis over the batch sizes bs, room right of the data for the legend (the
// data keep the left ~70 %), so that the legend hides no point.
func percentAxis(p *plot.Plot, bs []int) {
	p.Y.Min, p.Y.Max = 0, 100
	var yt plot.ConstantTicks
	for y := 0; y <= 100; y += 10 {
		yt = append(yt, plot.Tick{Value: float64(y), Label: strconv.Itoa(y)})
	}
	p.Y.Tick.Marker = yt
	if len(bs) == 0 || bs[0] <= 0 {
		return
	}
	lo, hi := math.Log10(float64(bs[0]))-0.06, math.Log10(float64(bs[len(bs)-1]))+0.06
	p.X.Min, p.X.Max = math.Pow(10, lo), math.Pow(10, hi+0.45*(hi-lo))
	p.Legend.Top, p.Legend.Left = false, false
}

// spread returns the factor that shifts line i of n sideways on a log
// axis (±0.03 decades), so that error bars at one B do not hide each other.
func spread(i, n int) float64 {
	if n < 2 {
		return 1
	}
	return math.Pow(10, 0.06*(float64(i)/float64(n-1)-0.5))
}

func save(p *plot.Plot, path string, w, h vg.Length) error {
	return p.Save(w, h, path)
}

func plotGaussVsB(path string, e *Experiment) error {
	bs := e.BatchSizes()
	p := newPlot("Gaussianity vs batch size: "+e.Name, "batch size B", passRateLabel)
	logBTicks(p, bs)
	xs := make([]float64, len(bs))
	for i, b := range bs {
		xs[i] = float64(b)
	}
	names := e.LayerNames()
	if len(names) > 24 { // ResNet: every other layer keeps the figure legible
		var sel []string
		for i := 0; i < len(names); i += len(names)/12 + 1 {
			sel = append(sel, names[i])
		}
		names = append(sel, e.LayerNames()[len(e.LayerNames())-1])
	}
	for i, n := range names {
		x, ys, lo, hi := make([]float64, len(bs)), make([]float64, len(bs)), make([]float64, len(bs)), make([]float64, len(bs))
		for k, b := range bs {
			s := e.Gaussianity(n, b)
			x[k], ys[k], lo[k], hi[k] = xs[k]*spread(i, len(names)), s.Mean, s.Low, s.High
		}
		if err := addLineLH(p, i, n, x, ys, lo, hi); err != nil {
			return err
		}
	}
	addCeiling(p, e.Ceiling(), xs[0], xs[len(xs)-1])
	percentAxis(p, bs)
	p.Legend.XOffs = vg.Points(0)
	return save(p, path, 7*vg.Inch, 5*vg.Inch)
}

func plotModels(path string, exps []*Experiment) error {
	bs := exps[0].BatchSizes()
	p := newPlot("Mean Gaussianity over weight layers", "batch size B", passRateLabel)
	logBTicks(p, bs)
	for i, e := range exps {
		bs := e.BatchSizes()
		xs, ys, lo, hi := make([]float64, len(bs)), make([]float64, len(bs)), make([]float64, len(bs)), make([]float64, len(bs))
		for k, b := range bs {
			s := e.ModelGaussianity(b)
			xs[k], ys[k], lo[k], hi[k] = float64(b)*spread(i, len(exps)), s.Mean, s.Low, s.High
		}
		if err := addLineLH(p, i, e.Name, xs, ys, lo, hi); err != nil {
			return err
		}
	}
	addCeiling(p, ceilingOf(exps...), float64(bs[0]), float64(bs[len(bs)-1]))
	percentAxis(p, bs)
	return save(p, path, 6*vg.Inch, 4*vg.Inch)
}

func plotPredMeas(path string, exps []*Experiment) error {
	p := newPlot("Berry–Esseen prediction vs Shapiro–Wilk", "batch size B", "Gaussian share (%), mean over weight layers")
	logBTicks(p, exps[0].BatchSizes())
	for i, e := range exps {
		bs := e.BatchSizes()
		xs, pm, ps, mm, ms := make([]float64, len(bs)), make([]float64, len(bs)), make([]float64, len(bs)), make([]float64, len(bs)), make([]float64, len(bs))
		for k, b := range bs {
			pr, me := e.PredictedMeasured(b)
			xs[k], pm[k], ps[k], mm[k], ms[k] = float64(b), pr.Mean, pr.Std, me.Mean, me.Std
		}
		if err := addLine(p, 2*i, e.Name+" measured", xs, mm, ms); err != nil {
			return err
		}
		if err := addLine(p, 2*i+1, e.Name+" predicted", xs, pm, ps); err != nil {
			return err
		}
	}
	if bs := exps[0].BatchSizes(); len(bs) > 0 {
		addCeiling(p, ceilingOf(exps...), float64(bs[0]), float64(bs[len(bs)-1]))
	}
	p.Y.Min, p.Y.Max = 0, 100
	p.Legend.Top, p.Legend.Left = true, true
	return save(p, path, 7*vg.Inch, 5*vg.Inch)
}

func plotAlpha(path string, exps []*Experiment) error {
	p := newPlot("Tail index vs batch size (median over weight layers)", "batch size B", "α")
	logBTicks(p, exps[0].BatchSizes())
	for i, e := range exps {
		bs := e.BatchSizes()
		xs, y1, e1, y2, e2 := make([]float64, len(bs)), make([]float64, len(bs)), make([]float64, len(bs)), make([]float64, len(bs)), make([]float64, len(bs))
		for k, b := range bs {
			m1, m2 := e.Alpha(b)
			xs[k], y1[k], e1[k], y2[k], e2[k] = float64(b), m1.Mean, m1.Std, m2.Mean, m2.Std
		}
		if err := addLine(p, 2*i, e.Name+" Mohammadi", xs, y1, e1); err != nil {
			return err
		}
		if err := addLine(p, 2*i+1, e.Name+" McCulloch", xs, y2, e2); err != nil {
			return err
		}
	}
	p.Y.Max = 2.05
	p.Legend.Top, p.Legend.Left = false, false
	return save(p, path, 7*vg.Inch, 5*vg.Inch)
}

// plotAlphaHist draws the Mohammadi α histogram of one layer at the
// smallest and the largest B, summed over seeds.
func plotAlphaHist(path string, e *Experiment, layer string) error {
	bs := e.BatchSizes()
	p := newPlot(fmt.Sprintf("Tail index histogram, %s %s (all seeds)", e.Name, layer), "α (Mohammadi)", "coordinates")
	for i, b := range []int{bs[0], bs[len(bs)-1]} {
		var edges []float64
		var counts []float64
		for _, r := range e.Runs {
			for _, l := range WeightLayers(checkpoint(r.Report, -1)) {
				if l.Parameter != layer || l.TailIndex == nil {
					continue
				}
				for _, t := range l.TailIndex.PerBatch {
					if t.BatchSize != b || t.MohammadiHist == nil {
						continue
					}
					h := t.MohammadiHist
					if counts == nil {
						edges = h.Edges
						counts = make([]float64, len(h.Counts))
					}
					for k, c := range h.Counts {
						if k < len(counts) {
							counts[k] += float64(c)
						}
					}
				}
			}
		}
		if counts == nil {
			continue
		}
		var pts plotter.XYs
		for k, c := range counts {
			pts = append(pts, plotter.XY{X: edges[k], Y: c}, plotter.XY{X: edges[k+1], Y: c})
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		l.Color = plotutil.Color(i)
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("B = %d", b), l)
	}
	return save(p, path, 6*vg.Inch, 4*vg.Inch)
}

func plotRhoScatter(path string, e *Experiment) error {
	bs := e.BatchSizes()
	p := newPlot("Median ρ/σ³ vs Gaussianity per weight layer: "+e.Name, "median ρ/σ³ (log scale)", passRateLabel)
	p.X.Scale = plot.LogScale{}
	var ticks plot.ConstantTicks
	for _, v := range []float64{1, 2, 3, 5, 10, 20, 30, 50, 100} {
		ticks = append(ticks, plot.Tick{Value: v, Label: fmt.Sprint(v)})
	}
	p.X.Tick.Marker = ticks
	drawn := false
	for i, b := range []int{bs[0], bs[len(bs)-1]} {
		var pts plotter.XYs
		for _, n := range e.LayerNames() {
			x := StatOf(e.perSeed(n, medianRho)).Mean
			y := e.Gaussianity(n, b).Mean
			if x > 0 && !math.IsNaN(y) {
				pts = append(pts, plotter.XY{X: x, Y: y})
			}
		}
		if len(pts) == 0 {
			continue
		}
		s, err := plotter.NewScatter(pts)
		if err != nil {
			return err
		}
		s.GlyphStyle = draw.GlyphStyle{Color: plotutil.Color(i), Radius: vg.Points(3), Shape: plotutil.Shape(i)}
		p.Add(s)
		p.Legend.Add(fmt.Sprintf("B = %d", b), s)
		drawn = true
	}
	if !drawn { // no ρ/σ³ (no kurtosis-bound): a log axis over nothing panics
		p.X.Scale, p.X.Tick.Marker = plot.LinearScale{}, plot.DefaultTicks{}
	}
	p.Y.Min, p.Y.Max = 0, 100
	p.Legend.Top, p.Legend.Left = false, false
	return save(p, path, 6*vg.Inch, 4*vg.Inch)
}

func plotTraining(path, name string, b int, steps []int, names []string, pct [][]float64, ceiling float64) error {
	p := newPlot(fmt.Sprintf("Gaussianity during training, %s, B = %d", name, b), "fine-tuning step", passRateLabel)
	xs := make([]float64, len(steps))
	for i, s := range steps {
		xs[i] = float64(s)
	}
	for i, n := range names {
		if err := addLine(p, i, n, xs, pct[i], nil); err != nil {
			return err
		}
	}
	if len(xs) > 0 {
		addCeiling(p, ceiling, xs[0], xs[len(xs)-1])
	}
	p.Y.Min, p.Y.Max = 0, 100
	p.Legend.Top, p.Legend.Left = false, true
	return save(p, path, 7*vg.Inch, 5*vg.Inch)
}
