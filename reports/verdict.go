package reports

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/gnaudit/gnaudit/plugins"
)

// MethodURL is docs/METHOD.md on the project's site; report.md links its
// anchors (MethodLink).
const MethodURL = "https://github.com/gnaudit/gnaudit/blob/main/docs/METHOD.md"

// MethodLink returns the URL of an anchor of docs/METHOD.md (the anchors
// are explicit <a id> tags there, so that headings can change).
func MethodLink(anchor string) string { return MethodURL + "#" + anchor }

// passRateOf returns a layer's pass rate at batch-size index k: the
// non-degenerate one when the report has it, else the old share.
func passRateOf(l *Layer, k int) (float64, bool) {
	if k >= len(l.Gaussianity) {
		return math.NaN(), false
	}
	r, _, _, _ := l.Gaussianity[k].PassRate()
	return r, !math.IsNaN(r)
}

// trainingIndex returns the index of the audited batch size to read for a
// training batch size tb (equal, else the nearest on a log scale, else the
// largest) and whether it is the training batch size itself.
func trainingIndex(bs []int, tb int) (int, bool) {
	if len(bs) == 0 {
		return -1, false
	}
	if tb <= 0 {
		return len(bs) - 1, false
	}
	best, bd := 0, math.Inf(1)
	for k, b := range bs {
		if b == tb {
			return k, true
		}
		if d := math.Abs(math.Log(float64(b) / float64(tb))); d < bd {
			best, bd = k, d
		}
	}
	return best, false
}

type cpReading struct {
	b             int
	exact         bool
	median        float64 // median layer pass rate, %
	layers        int
	significant   int // layers whose non-Gaussian share's lower bound is > 0
	hasCI         bool
	recMedian     float64
	recMax        float64
	recMaxLayer   string
	recLayers     int
	recAbove      int // layers with recommended B above the training batch size
	unreached     int
	ceiling       float64
	noise         *NoiseScale
	batches, step int
}

func readCheckpoint(cp *Checkpoint, tb int) cpReading {
	rd := cpReading{step: cp.Step, batches: cp.Batches, noise: cp.NoiseScale, ceiling: math.NaN()}
	k, exact := trainingIndex(cp.BatchSizes, tb)
	if k < 0 {
		return rd
	}
	rd.b, rd.exact = cp.BatchSizes[k], exact
	var ps, recs []float64
	for i := range cp.Layers {
		l := &cp.Layers[i]
		if v, ok := passRateOf(l, k); ok {
			ps = append(ps, v)
			g := l.Gaussianity[k]
			if g.NonGaussianLow.Set {
				rd.hasCI = true
				if g.NonGaussianLow.Defined() && g.NonGaussianLow.N > 0 {
					rd.significant++
				}
			}
			if g.Ceiling.Defined() {
				rd.ceiling = g.Ceiling.Float()
			}
		}
		if kb := l.KurtosisBound; kb != nil && kb.RecommendedBatchSize.Set {
			rd.recLayers++
			if !kb.RecommendedBatchSize.Defined() {
				rd.unreached++
				continue
			}
			v := kb.RecommendedBatchSize.Float()
			recs = append(recs, v)
			if v > rd.recMax {
				rd.recMax, rd.recMaxLayer = v, l.Parameter
			}
			if tb > 0 && v > float64(tb) {
				rd.recAbove++
			}
		}
	}
	rd.layers = len(ps)
	rd.median = math.NaN()
	if len(ps) > 0 {
		q, _ := plugins.Quantiles(ps, 0.5)
		rd.median = q[0]
	}
	rd.recMedian = math.NaN()
	if len(recs) > 0 {
		q, _ := plugins.Quantiles(recs, 0.5)
		rd.recMedian = q[0]
	}
	return rd
}

func intText(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "—"
	}
	return strconv.FormatFloat(math.Round(x), 'f', 0, 64)
}

// writeHeadline writes the verdict about the training batch size: the pass
// rate there, the layers significantly non-Gaussian, the recommended batch
// size for Gaussian noise and the gradient noise scale.
func writeHeadline(w io.Writer, r *Report) {
	n := len(r.Checkpoints)
	if n == 0 {
		return
	}
	cp := &r.Checkpoints[n-1]
	tb := 0
	if r.Training != nil {
		tb = r.Training.BatchSize
	}
	rd := readCheckpoint(cp, tb)
	if rd.b == 0 {
		return
	}
	var parts []string
	head := fmt.Sprintf("**At the training batch size B = %d** (step %d)", rd.b, rd.step)
	switch {
	case tb > 0 && !rd.exact:
		head = fmt.Sprintf("**Training batch size %d was not audited; at the nearest audited B = %d** (step %d)", tb, rd.b, rd.step)
	case tb == 0:
		head = fmt.Sprintf("**At the largest audited B = %d** (step %d; no fine-tuning, so no training batch size)", rd.b, rd.step)
	}
	if rd.layers > 0 {
		s := fmt.Sprintf("the median layer passes %.1f %% of the Shapiro–Wilk tests", rd.median)
		if !math.IsNaN(rd.ceiling) {
			s += fmt.Sprintf(" (exactly Gaussian noise: %.0f %%)", rd.ceiling)
		}
		if rd.hasCI {
			s += fmt.Sprintf("; %d of %d layers are significantly non-Gaussian (the lower bound of their non-Gaussian share is above 0)", rd.significant, rd.layers)
		}
		parts = append(parts, s)
	}
	if rd.recLayers > 0 {
		s := fmt.Sprintf("for Gaussian noise at n = %d the [calibrated prediction](%s) needs B ≥ %s in the median layer", rd.batches, MethodLink("recommended-batch-size"), intText(rd.recMedian))
		if rd.recMaxLayer != "" {
			s += fmt.Sprintf(" and %s in `%s`", intText(rd.recMax), code(rd.recMaxLayer))
		}
		if tb > 0 {
			s += fmt.Sprintf("; %d of %d layers need more than the training batch %d", rd.recAbove+rd.unreached, rd.recLayers, tb)
		}
		parts = append(parts, s)
	}
	if ns := rd.noise; ns != nil {
		s := "B_simple = " + bSimpleText(ns)
		if iv := intervalText(ns); iv != "—" {
			s += " " + iv
		}
		if tb > 0 && ns.Low.Defined() && ns.High.Defined() {
			switch {
			case float64(tb) < ns.Low.Float():
				s += fmt.Sprintf(": the training batch %d is below the noise scale (noise-dominated steps; a larger batch would cut the noise almost in proportion)", tb)
			case float64(tb) > ns.High.Float():
				s += fmt.Sprintf(": the training batch %d is above the noise scale (signal-dominated; larger batches gain little per sample)", tb)
			default:
				s += fmt.Sprintf(": the training batch %d is within the interval of the noise scale", tb)
			}
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return
	}
	fmt.Fprintf(w, "%s: %s.\n\n", head, strings.Join(parts, "; "))
	if cp.PoolWarning != "" {
		fmt.Fprintf(w, "⚠️ %s.\n\n", md(cp.PoolWarning))
	}
}

// writeSummaryAcross writes one row per checkpoint when there are several.
func writeSummaryAcross(w io.Writer, r *Report) {
	if len(r.Checkpoints) < 2 {
		return
	}
	tb := 0
	if r.Training != nil {
		tb = r.Training.BatchSize
	}
	acc := map[int]float64{}
	if r.Training != nil {
		for _, e := range heldOut(r.Training) {
			acc[e.step] = e.acc
		}
	}
	fmt.Fprintf(w, "| Step | B | median pass rate | significantly non-Gaussian layers | recommended B (median layer) | B_simple | held-out accuracy |\n|---:|---:|---:|---:|---:|---:|---:|\n")
	for i := range r.Checkpoints {
		cp := &r.Checkpoints[i]
		rd := readCheckpoint(cp, tb)
		sig := "—"
		if rd.hasCI {
			sig = fmt.Sprintf("%d of %d", rd.significant, rd.layers)
		}
		bs, a := "—", "—"
		if rd.noise != nil {
			bs = bSimpleText(rd.noise)
			if iv := intervalText(rd.noise); iv != "—" {
				bs += " " + iv
			}
		}
		if v, ok := acc[cp.Step]; ok {
			a = fmt.Sprintf("%.1f %%", 100*v)
		}
		med := "—"
		if !math.IsNaN(rd.median) {
			med = fmt.Sprintf("%.1f %%", rd.median)
		}
		fmt.Fprintf(w, "| %d | %d | %s | %s | %s | %s | %s |\n", cp.Step, rd.b, med, sig, intText(rd.recMedian), bs, a)
	}
	fmt.Fprintln(w)
}

type evalPoint struct {
	step, samples int
	acc           float64
}

// heldOut returns the held-out evaluations recorded in the training
// section's extra "evals" (steps, accuracy 0…1, samples), sorted by step.
func heldOut(t *Training) []evalPoint {
	if t == nil || t.Extra == nil {
		return nil
	}
	var rows []map[string]any
	switch v := t.Extra["evals"].(type) {
	case []map[string]any:
		rows = v
	case []any:
		for _, x := range v {
			if m, ok := x.(map[string]any); ok {
				rows = append(rows, m)
			}
		}
	}
	f := func(x any) (float64, bool) {
		switch v := x.(type) {
		case float64:
			return v, true
		case float32:
			return float64(v), true
		case int:
			return float64(v), true
		case int64:
			return float64(v), true
		}
		return 0, false
	}
	var out []evalPoint
	for _, m := range rows {
		st, ok1 := f(m["step"])
		ac, ok2 := f(m["acc"])
		n, _ := f(m["samples"])
		if ok1 && ok2 && !math.IsNaN(ac) {
			out = append(out, evalPoint{step: int(st), acc: ac, samples: int(n)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].step < out[j].step })
	return out
}

// writePoolUse writes the pool use per batch size (replacing the old "*"
// overlap marker: overlap itself is harmless, a large f is not).
func writePoolUse(w io.Writer, cp *Checkpoint) {
	pu := cp.PoolUse
	if len(pu) == 0 {
		pu, _ = PoolUseOf(cp.Pool, cp.Batches, cp.BatchSizes)
	}
	if len(pu) == 0 {
		return
	}
	var parts []string
	for _, u := range pu {
		parts = append(parts, fmt.Sprintf("B = %d: f = %s, reuse %s×, skewness ×%s", u.BatchSize, num(u.Fraction, 3), num(u.Reuse, 1), num(u.SkewFactor, 2)))
	}
	fmt.Fprintf(w, "[Pool use](%s) (f = B/N of the pool per batch; reuse n·B/N: how often each pool sample enters a batch; overlap between batches is harmless, a large f shrinks the skewness of the batch mean by the factor shown and inflates the Gaussianity): %s.\n\n",
		MethodLink("pool"), strings.Join(parts, "; "))
	warn := cp.PoolWarning
	if warn == "" && len(cp.PoolUse) == 0 {
		_, warn = PoolUseOf(cp.Pool, cp.Batches, cp.BatchSizes)
	}
	if warn != "" {
		fmt.Fprintf(w, "⚠️ %s.\n\n", md(warn))
	}
}

// passCell formats a Gaussianity cell: pass rate [interval] (†degenerate).
func passCell(g Gaussianity) string {
	var cell string
	if g.NonDegenerate.Set {
		cell = num(g.NonDegenerate.N, 1)
		if g.Low.Defined() && g.High.Defined() {
			cell += fmt.Sprintf(" [%s, %s]", num(g.Low.N, 0), num(g.High.N, 0))
		}
	} else {
		cell = num(g.Percent, 1)
	}
	if g.Degenerate > 0 {
		cell += fmt.Sprintf(" (%d†)", g.Degenerate)
	}
	return cell
}

func confPercent(cp *Checkpoint) int {
	for _, a := range cp.Analyses {
		if a.Name == "normality" {
			if c, err := strconv.ParseFloat(a.Params["confidence"], 64); err == nil {
				return int(math.Round(100 * c))
			}
		}
	}
	return 95
}

func ceilingText(cp *Checkpoint) string {
	for _, l := range cp.Layers {
		for _, g := range l.Gaussianity {
			if g.Ceiling.Defined() {
				return num(g.Ceiling.N, 0)
			}
		}
	}
	return "1 − α ="
}

func recommendedText(k *KurtosisBound) string {
	switch {
	case !k.RecommendedBatchSize.Set:
		return "—"
	case !k.RecommendedBatchSize.Defined():
		return "> 2³⁰"
	}
	return intText(k.RecommendedBatchSize.Float())
}

func tailNullText(cp *Checkpoint) string {
	for _, l := range cp.Layers {
		if t := l.TailIndex; t != nil && t.Null != nil {
			return fmt.Sprintf(" Gaussian null at n = %d: median %s / %s, 5 %% quantile %s / %s.", cp.Batches,
				num(t.Null.MohammadiMedian, 2), num(t.Null.McCullochMedian, 2), num(t.Null.MohammadiP05, 2), num(t.Null.McCullochP05, 2))
		}
	}
	return ""
}

func bSimpleText(s *NoiseScale) string {
	if s.NoSignal {
		return "no signal"
	}
	return num(s.BSimple, 1)
}

func intervalText(s *NoiseScale) string {
	if !s.Low.Defined() || !s.High.Defined() {
		return "—"
	}
	return fmt.Sprintf("[%s, %s]", num(s.Low.N, 0), num(s.High.N, 0))
}

func plugInText(s *NoiseScale) string {
	if !s.BSimplePlugIn.Set {
		return "—"
	}
	return num(s.BSimplePlugIn.N, 1)
}
