package reports

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot/vg"

	"github.com/gnaudit/gnaudit/auditor/atomicfile"
	"github.com/gnaudit/gnaudit/plugins"
)

// RenderOptions tune Render.
type RenderOptions struct {
	// Format of the plots: "svg" (default) or "png".
	Format string
	// Partial, when not empty, puts a "Partial audit" banner with this
	// reason under the title.
	Partial string
}

// Render writes dir/report.md and its plots (dir/plots/*.svg) for r, with
// relative links so that the directory renders on GitHub as is.
func Render(dir string, r *Report) error { return RenderWith(dir, r, RenderOptions{}) }

// RenderWith is Render with options.
func RenderWith(dir string, r *Report, o RenderOptions) error {
	switch o.Format {
	case "":
		o.Format = "svg"
	case "svg", "png":
	default:
		return fmt.Errorf("plot format %q: want svg or png", o.Format)
	}
	if err := os.MkdirAll(filepath.Join(dir, "plots"), 0o755); err != nil {
		return err
	}
	var b strings.Builder
	if err := writeMarkdown(&b, dir, r, o); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, "report.md"), []byte(b.String()))
}

// md escapes text for a Markdown table cell.
func md(s string) string {
	r := strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;", "*", `\*`)
	return r.Replace(s)
}

// code escapes text for a code span in a table cell.
func code(s string) string {
	return strings.NewReplacer("|", `\|`, "`", "'", "\n", " ").Replace(s)
}

// num formats a number compactly; undefined is an em dash.
func num(x Number, digits int) string {
	if !x.Defined() {
		return "—"
	}
	f := float64(x)
	a := math.Abs(f)
	if a != 0 && (a >= 1e6 || a < 1e-3) {
		return strconv.FormatFloat(f, 'e', 2, 64)
	}
	return strconv.FormatFloat(f, 'f', digits, 64)
}

// numG formats a number with up to 6 significant digits.
func numG(x Number) string {
	if !x.Defined() {
		return "—"
	}
	return strconv.FormatFloat(float64(x), 'g', 6, 64)
}

func bsHeader(bs []int) (string, string) {
	var h, sep strings.Builder
	for _, b := range bs {
		fmt.Fprintf(&h, " B=%d |", b)
		sep.WriteString("---:|")
	}
	return h.String(), sep.String()
}

func writeMarkdown(w io.Writer, dir string, r *Report, o RenderOptions) error {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	title := r.Model.File
	if title == "" {
		title = "model"
	}
	p("# gnaudit report: %s\n\n", strings.ReplaceAll(md(filepath.Base(title)), `\|`, "|"))
	if o.Partial != "" {
		p("%s", partialBanner(o.Partial))
	}
	writeVerdict(w, r)

	// Overview.
	p("## Overview\n\n| | |\n|---|---|\n")
	p("| Model | `%s` (opset %d, %s parameters) |\n", code(r.Model.File), r.Model.Opset, strconv.FormatInt(r.Model.Parameters, 10))
	if r.Model.Zoo != "" {
		p("| Zoo model | `%s` (gnaudit models list) |\n", code(r.Model.Zoo))
	}
	if r.Model.SHA256 != "" {
		p("| Model SHA-256 | `%s` |\n", r.Model.SHA256)
	}
	p("| Data | %s, %d samples", md(r.Data.Name), r.Data.Samples)
	if r.Data.Split != "" {
		p(" (%s)", md(r.Data.Split))
	}
	p(" |\n")
	if len(r.Data.Preprocessing) > 0 {
		p("| Preprocessing | %s |\n", md(strings.Join(r.Data.Preprocessing, "; ")))
	}
	if t := r.Training; t != nil {
		p("| Fine-tuning | %s, momentum %g, weight decay %g, batch %d, %d steps, seed %d |\n", md(t.Optimizer), t.Momentum, t.WeightDecay, t.BatchSize, t.Steps, t.Seed)
		if len(t.Schedule) > 0 {
			var parts []string
			for _, s := range t.Schedule {
				parts = append(parts, fmt.Sprintf("%g from step %d", s.LR, s.Step))
			}
			p("| Learning rate | %s |\n", strings.Join(parts, ", "))
		}
		if ev := heldOut(t); len(ev) > 0 {
			var parts []string
			for _, e := range ev {
				parts = append(parts, fmt.Sprintf("%.1f %% at step %d", 100*e.acc, e.step))
			}
			p("| Held-out accuracy | %s (%d samples) |\n", strings.Join(parts, ", "), ev[len(ev)-1].samples)
		}
	}
	p("| Tool | %s %s, report %s |\n\n", md(r.Tool.Name), md(r.Tool.Version), md(r.Created))

	for ci := range r.Checkpoints {
		if err := writeCheckpoint(w, dir, &r.Checkpoints[ci], o); err != nil {
			return err
		}
	}

	if t := r.Training; t != nil {
		if lp, ok := lossPlot(t); ok {
			name := "plots/training-loss." + o.Format
			if err := savePlot(lp, filepath.Join(dir, name), o.Format, 16*vg.Centimeter, 9*vg.Centimeter); err != nil {
				return err
			}
			p("## Training\n\n![training loss](%s)\n\n", name)
		}
	}
	writeDynamicsLink(w, dir)
	if len(r.Method.Notes) > 0 {
		p("## Method\n\n")
		for _, n := range r.Method.Notes {
			p("- %s\n", n)
		}
		p("\n")
	}
	return nil
}

func writeVerdict(w io.Writer, r *Report) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	failedAnalyses := 0
	for _, cp := range r.Checkpoints {
		for _, a := range cp.Analyses {
			if a.Status == "failed" {
				failedAnalyses++
			}
		}
	}
	if g := r.Gates; g != nil {
		nf := 0
		for _, c := range g.Checks {
			if !c.Pass {
				nf++
			}
		}
		if g.Passed {
			p("**Verdict: ✅ PASS** — all %d gate checks passed (policy `%s`).\n\n", len(g.Checks), code(g.Policy))
		} else {
			p("**Verdict: ❌ FAIL** — %d of %d gate checks failed (policy `%s`).\n\n", nf, len(g.Checks), code(g.Policy))
		}
		if g.Method != "" {
			p("[Gates](%s): %s.\n\n", MethodLink("gates"), md(g.Method))
		}
		WriteGateTable(w, g.Checks)
	} else {
		p("**Verdict: not gated** — no policy was applied (see `gnaudit gate --policy`).\n\n")
	}
	if failedAnalyses > 0 {
		p("⚠️ %d analysis run(s) failed; see *Analyses* below.\n\n", failedAnalyses)
	}
	writeHeadline(w, r)
	writeSummaryAcross(w, r)
}

// WriteGateTable writes the gate checks as a Markdown table (failures
// first; at most 100 rows).
func WriteGateTable(w io.Writer, checks []GateCheck) {
	if len(checks) == 0 {
		return
	}
	cs := append([]GateCheck(nil), checks...)
	sort.SliceStable(cs, func(i, j int) bool { return !cs[i].Pass && cs[j].Pass })
	fmt.Fprintf(w, "| Gate | Step | Layer | B | Measured | Bound | Threshold | Result |\n|---|---:|---|---:|---:|---:|---:|---|\n")
	for i, c := range cs {
		if i == 100 {
			fmt.Fprintf(w, "\n… %d more checks (all in report.json).\n", len(cs)-100)
			break
		}
		b := ""
		if c.BatchSize > 0 {
			b = strconv.Itoa(c.BatchSize)
		}
		res := "✅ pass"
		if !c.Pass {
			res = "❌ fail"
			if c.Message != "" {
				res += ": " + md(c.Message)
			}
		}
		gname, bound := c.Gate, "—"
		if c.Estimator != "" {
			gname += " (" + c.Estimator + ")"
		}
		if c.Bound.Set {
			bound = numG(c.Bound.N)
		}
		fmt.Fprintf(w, "| `%s` | %d | `%s` | %s | %s | %s | %s %s | %s |\n", code(gname), c.Step, code(c.Layer), b, numG(c.Measured), bound, c.Op, numG(c.Threshold), res)
	}
	fmt.Fprintln(w)
}

func writeCheckpoint(w io.Writer, dir string, cp *Checkpoint, o RenderOptions) error {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	if cp.Engine != "" {
		p("## Checkpoint: step %d (%s engine)\n\n", cp.Step, cp.Engine)
	} else {
		p("## Checkpoint: step %d\n\n", cp.Step)
	}
	p("Pool N = %d samples, n = %d mini-batches per batch size, batch sizes %s, seed %d.\n\n", cp.Pool, cp.Batches, intsString(cp.BatchSizes), cp.Seed)
	h, sep := bsHeader(cp.BatchSizes)
	prefix := fmt.Sprintf("plots/step-%d-", cp.Step)
	if cp.Engine != "" {
		prefix = fmt.Sprintf("plots/step-%d-%s-", cp.Step, cp.Engine)
	}
	drawn, left := plotLayers(cp.Layers)
	note := ""
	if left > 0 {
		note = fmt.Sprintf(" (%d of %d layers drawn; the tables list all)", len(drawn), len(cp.Layers))
	}

	writePoolUse(w, cp)
	if hasGaussianity(cp) {
		p("### Gaussianity\n\nPass rate of the Shapiro–Wilk test (p > α) over the non-degenerate coordinates, with its %d %% Wilson interval ([pass rate](%s)); exactly Gaussian noise passes at the ceiling %s %%, not 100 %%. Degenerate (zero-range) coordinates are counted apart (†); the last column estimates the share of non-Gaussian coordinates at the largest B ((R − α)/(1 − α) / Storey).\n\n",
			confPercent(cp), MethodLink("pass-rate"), ceilingText(cp))
		p("| Layer | Parameter | Tested |%s non-Gaussian |\n|---|---|---:|%s---:|\n", h, sep)
		for _, l := range cp.Layers {
			if len(l.Gaussianity) == 0 {
				continue
			}
			p("| %s | `%s` | %d |", md(l.Name), code(l.Parameter), l.TestedCoordinates)
			for _, g := range l.Gaussianity {
				p(" %s |", passCell(g))
			}
			last := l.Gaussianity[len(l.Gaussianity)-1]
			if last.NonGaussian.Set {
				p(" %s %% / %s %% |", num(last.NonGaussian.N, 0), num(last.NonGaussianStorey.N, 0))
			} else {
				p(" — |")
			}
			p("\n")
		}
		p("\n† degenerate coordinates (not in the pass rate). Reports without the non-degenerate rate show the old share (degenerate counted Gaussian).\n")
		if gp, ok := gaussianityPlot(cp, drawn); ok {
			name := prefix + "gaussianity." + o.Format
			height := 10*vg.Centimeter + vg.Length(len(drawn))*0.35*vg.Centimeter
			if err := savePlot(gp, filepath.Join(dir, name), o.Format, 18*vg.Centimeter, height); err != nil {
				return err
			}
			p("\n![Gaussianity vs batch size](%s)\n%s\n", name, note)
			p("\nThe figure draws the pass rate with its Wilson interval as error bars (layers shifted sideways a little at each B) and the ceiling 1 − α as a dashed line.\n")
		}
		p("\n")
	}

	if hasKurtosis(cp) {
		p("### Berry–Esseen bound and calibrated prediction\n\nρ/σ³ of the per-sample noise (quantiles over the tested coordinates), √κ (median), and per batch size: the Berry–Esseen share (bound below the threshold — [a bound, not a prediction](%s)) / the [calibrated predicted pass rate](%s) / the measured pass rate. The last column is the [recommended batch size](%s) for Gaussian noise: the smallest B whose calibrated pass rate (i.i.d. batches) reaches the target.\n\n",
			MethodLink("berry-esseen"), MethodLink("calibrated"), MethodLink("recommended-batch-size"))
		p("| Layer | ρ/σ³ p5 | p25 | p50 | p75 | p95 | √κ p50 |%s recommended B |\n|---|---:|---:|---:|---:|---:|---:|%s---:|\n", h, sep)
		for _, l := range cp.Layers {
			k := l.KurtosisBound
			if k == nil {
				continue
			}
			p("| `%s` | %s | %s | %s | %s | %s | %s |", code(l.Parameter), num(k.RhoSigma3.P5, 2), num(k.RhoSigma3.P25, 2), num(k.RhoSigma3.P50, 2),
				num(k.RhoSigma3.P75, 2), num(k.RhoSigma3.P95, 2), num(k.SqrtKappa.P50, 2))
			for _, e := range k.PerBatch {
				cell := num(e.PredictedPercent, 0) + " %"
				if e.CalibratedPercent.Set {
					cell += " / " + num(e.CalibratedPercent.N, 0) + " %"
				}
				switch {
				case e.MeasuredNonDegeneratePercent.Set:
					cell += " / " + num(e.MeasuredNonDegeneratePercent.N, 0) + " %"
				case e.MeasuredPercent != nil:
					cell += " / " + num(*e.MeasuredPercent, 0) + " %"
				}
				p(" %s |", cell)
			}
			p(" %s |\n", recommendedText(k))
		}
		p("\nCells at each B: Berry–Esseen share / calibrated / measured (older reports: Berry–Esseen / measured). Threshold: %s.\n", thresholdText(cp))
		if g, ok := rhoPlots(drawn); ok {
			name := prefix + "rho-sigma3." + o.Format
			if err := saveGrid(g, filepath.Join(dir, name), o.Format, 6*vg.Centimeter, 4.5*vg.Centimeter); err != nil {
				return err
			}
			p("\n![histograms of ρ/σ³ per layer](%s)\n%s\n", name, note)
		}
		p("\n")
	}

	if hasTail(cp) {
		p("### Tail index\n\nMedian tail index α of the mini-batch noise (2 = Gaussian), Mohammadi / McCulloch, and in brackets the share of coordinates below the [Gaussian null's 5 %% quantile](%s) (5 %% expected when all are Gaussian; a median near 2 cannot show a heavy minority).%s\n\n",
			MethodLink("tail-null"), tailNullText(cp))
		p("| Layer |%s\n|---|%s\n", h, sep)
		for _, l := range cp.Layers {
			if l.TailIndex == nil {
				continue
			}
			p("| `%s` |", code(l.Parameter))
			for _, e := range l.TailIndex.PerBatch {
				cell := num(e.MohammadiMedian, 2) + " / " + num(e.McCullochMedian, 2)
				if e.BelowNullMohammadi.Set {
					cell += fmt.Sprintf(" (%s %% / %s %%)", num(e.BelowNullMohammadi.N, 0), num(e.BelowNullMcCulloch.N, 0))
				}
				p(" %s |", cell)
			}
			p("\n")
		}
		if g, ok := tailPlots(cp, drawn); ok {
			name := prefix + "tail-index." + o.Format
			if err := saveGrid(g, filepath.Join(dir, name), o.Format, 11*vg.Centimeter, 8*vg.Centimeter); err != nil {
				return err
			}
			p("\n![histograms of tail indices](%s)\n%s\n", name, note)
		}
		p("\n")
	}

	if cp.NoiseScale != nil || hasNoiseScale(cp) {
		p("### Gradient noise scale\n\n[B_simple](%s) = tr Σ / |G|²: the batch size at which noise and signal of a mini-batch gradient are equal; unbiased (the plug-in tr Σ/|ḡ|² ≈ B·N/(N+B) is biased low and never exceeds ≈ N), with its confidence interval; \"no signal\": |G|² is not distinguishable from 0.\n\n", MethodLink("noise-scale"))
		wd, wdh, wds := weightDecayColumn(cp)
		p("| Layer | tr Σ | \\|ḡ\\|² | B_simple | interval | plug-in |%s\n|---|---:|---:|---:|---:|---:|%s\n", wdh, wds)
		for _, l := range cp.Layers {
			if s := l.NoiseScale; s != nil {
				p("| `%s` | %s | %s | %s | %s | %s |%s\n", code(l.Parameter), num(s.TraceCov, 4), num(s.GradNormSq, 4), bSimpleText(s), intervalText(s), plugInText(s), wd(s))
			}
		}
		if s := cp.NoiseScale; s != nil {
			p("| **model** | %s | %s | **%s** | %s | %s |%s\n", num(s.TraceCov, 4), num(s.GradNormSq, 4), bSimpleText(s), intervalText(s), plugInText(s), wd(s))
		}
		p("\n")
	}

	writePluginTables(w, cp)

	p("### Analyses\n\n| Analysis | Version | Origin | Status | Time (s) | Parameters |\n|---|---|---|---|---:|---|\n")
	for _, a := range cp.Analyses {
		status := "✅ ok"
		if a.Status == "failed" && a.Failure != nil {
			status = fmt.Sprintf("❌ failed at %s: %s", md(a.Failure.Stage), md(truncate(a.Failure.Reason, 300)))
		}
		origin := md(a.Origin)
		if a.SHA256 != "" && a.Origin == "plugin" {
			origin += fmt.Sprintf(" `%s…`", a.SHA256[:12])
		}
		p("| %s | %s | %s | %s | %.2f | %s |\n", md(a.Name), md(a.Version), origin, status, a.Seconds, md(paramsText(a.Params)))
	}
	p("\n")
	return nil
}

// writePluginTables writes, per external analysis, a table of its number
// values (layers × keys@B).
func writePluginTables(w io.Writer, cp *Checkpoint) {
	type col struct {
		key string
		b   int
	}
	var names []string
	cols := map[string][]col{}
	seen := map[string]map[col]bool{}
	for _, l := range cp.Layers {
		for _, pv := range l.Plugins {
			if seen[pv.Analysis] == nil {
				seen[pv.Analysis] = map[col]bool{}
				names = append(names, pv.Analysis)
			}
			for _, v := range pv.Summary {
				c := col{v.Key, v.BatchSize}
				if v.Kind == plugins.KindNumber && !seen[pv.Analysis][c] {
					seen[pv.Analysis][c] = true
					cols[pv.Analysis] = append(cols[pv.Analysis], c)
				}
			}
		}
	}
	for _, name := range names {
		cs := cols[name]
		if len(cs) == 0 {
			continue
		}
		if len(cs) > 12 {
			cs = cs[:12]
		}
		fmt.Fprintf(w, "### Plugin: %s\n\n| Layer |", md(name))
		for _, c := range cs {
			if c.b > 0 {
				fmt.Fprintf(w, " %s (B=%d) |", md(c.key), c.b)
			} else {
				fmt.Fprintf(w, " %s |", md(c.key))
			}
		}
		fmt.Fprintf(w, "\n|---|%s\n", strings.Repeat("---:|", len(cs)))
		for _, l := range cp.Layers {
			for _, pv := range l.Plugins {
				if pv.Analysis != name {
					continue
				}
				fmt.Fprintf(w, "| `%s` |", code(l.Parameter))
				for _, c := range cs {
					v, ok := plugins.FindValue(pv.Summary, c.key, c.b)
					cell := "—"
					if ok && v.Kind == plugins.KindNumber {
						cell = num(Number(v.Number), 3)
					}
					fmt.Fprintf(w, " %s |", cell)
				}
				fmt.Fprintln(w)
			}
		}
		fmt.Fprintln(w)
	}
}

func thresholdText(cp *Checkpoint) string {
	for _, l := range cp.Layers {
		if l.KurtosisBound != nil && l.KurtosisBound.Threshold.Defined() {
			return num(l.KurtosisBound.Threshold, 4) + " (Kolmogorov distance; see Method)"
		}
	}
	return "—"
}

func paramsText(p map[string]string) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+p[k])
	}
	return strings.Join(parts, ", ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func intsString(xs []int) string {
	var parts []string
	for _, x := range xs {
		parts = append(parts, strconv.Itoa(x))
	}
	return strings.Join(parts, ", ")
}

func hasGaussianity(cp *Checkpoint) bool {
	for _, l := range cp.Layers {
		if len(l.Gaussianity) > 0 {
			return true
		}
	}
	return false
}

func hasKurtosis(cp *Checkpoint) bool {
	for _, l := range cp.Layers {
		if l.KurtosisBound != nil {
			return true
		}
	}
	return false
}

func hasTail(cp *Checkpoint) bool {
	for _, l := range cp.Layers {
		if l.TailIndex != nil {
			return true
		}
	}
	return false
}

func hasNoiseScale(cp *Checkpoint) bool {
	for _, l := range cp.Layers {
		if l.NoiseScale != nil {
			return true
		}
	}
	return false
}

// weightDecayColumn returns the cell function, header and separator of the
// "with weight decay" column of the noise-scale table (all empty when no
// layer has the value).
func weightDecayColumn(cp *Checkpoint) (func(*NoiseScale) string, string, string) {
	lambda := Opt{}
	for _, l := range cp.Layers {
		if l.NoiseScale != nil && l.NoiseScale.WeightDecay.Set {
			lambda = l.NoiseScale.WeightDecay
		}
	}
	if !lambda.Set {
		return func(*NoiseScale) string { return "" }, "", ""
	}
	return func(s *NoiseScale) string {
		if !s.BSimpleWeightDecay.Set {
			return " — |"
		}
		return " " + num(s.BSimpleWeightDecay.N, 1) + " |"
	}, fmt.Sprintf(" tr Σ/\\|G + λθ\\|², λ = %g |", lambda.Float()), "---:|"
}
