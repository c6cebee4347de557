// Package paper aggregates the reports of the paper experiments
// (experiments/paper/*.yaml, run by scripts/paper/run.sh) into the tables
// and figures of docs/paper.md: mean ± standard deviation over seeds of the
// Gaussianity percentage per layer and batch size (the paper's Tables 1–4),
// the Berry–Esseen link (rank correlation across layers of the median ρ/σ³
// with the Gaussianity percentage; predicted against measured Gaussian
// share), the tail index against the batch size, and Gaussianity during
// training. It reads only report.json files (schema gnaudit.report/v1).
package paper

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/gnaudit/gnaudit/reports"
)

// Run is one audit: a report of one seed of one experiment.
type Run struct {
	Seed   int
	Report *reports.Report
}

// Experiment is the runs of one config (a directory RESULTS/NAME).
type Experiment struct {
	Name string
	Runs []Run
	// Partial lists the seeds whose audit did not complete (no report or
	// a report without checkpoints).
	Partial []string
}

// Load reads RESULTS/*/seed-*/report.json. Experiments are sorted by name,
// runs by seed. Seeds without a report are recorded in Partial.
func Load(results string) ([]*Experiment, error) {
	dirs, err := os.ReadDir(results)
	if err != nil {
		return nil, fmt.Errorf("results %s: %w", results, err)
	}
	var out []*Experiment
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		e := &Experiment{Name: d.Name()}
		seeds, _ := filepath.Glob(filepath.Join(results, d.Name(), "seed-*"))
		for _, s := range seeds {
			st, err := os.Stat(s)
			if err != nil || !st.IsDir() {
				continue
			}
			seed, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(s), "seed-"))
			if err != nil {
				continue
			}
			p := filepath.Join(s, "report.json")
			r, err := reports.ReadFile(p)
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					e.Partial = append(e.Partial, fmt.Sprintf("seed %d: no report.json", seed))
					continue
				}
				return nil, err
			}
			if len(r.Checkpoints) == 0 {
				e.Partial = append(e.Partial, fmt.Sprintf("seed %d: no checkpoint audited", seed))
				continue
			}
			e.Runs = append(e.Runs, Run{Seed: seed, Report: r})
		}
		sort.Slice(e.Runs, func(i, j int) bool { return e.Runs[i].Seed < e.Runs[j].Seed })
		if len(e.Runs) > 0 || len(e.Partial) > 0 {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Stat is a mean and a sample standard deviation over N values (NaN
// values are left out; Std is NaN for N < 2). Low and High, when not NaN,
// are a confidence interval that goes with the mean (for a pass rate: its
// Wilson interval, see Experiment.Gaussianity); StatOf leaves them NaN.
type Stat struct {
	Mean, Std float64
	N         int
	Low, High float64
}

// StatOf summarises xs.
func StatOf(xs []float64) Stat {
	var s, n float64
	for _, x := range xs {
		if !math.IsNaN(x) {
			s += x
			n++
		}
	}
	st := Stat{Mean: math.NaN(), Std: math.NaN(), N: int(n), Low: math.NaN(), High: math.NaN()}
	if n == 0 {
		return st
	}
	st.Mean = s / n
	if n > 1 {
		var ss float64
		for _, x := range xs {
			if !math.IsNaN(x) {
				ss += (x - st.Mean) * (x - st.Mean)
			}
		}
		st.Std = math.Sqrt(ss / (n - 1))
	}
	return st
}

// Format writes "m ± s" with the given decimals ("m" alone for one value,
// "–" for none), followed by " [lo, hi]" when the Stat has an interval.
func (s Stat) Format(dec int) string {
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', dec, 64) }
	var out string
	switch {
	case s.N == 0 || math.IsNaN(s.Mean):
		return "–"
	case s.N == 1 || math.IsNaN(s.Std):
		out = f(s.Mean)
	default:
		out = f(s.Mean) + " ± " + f(s.Std)
	}
	if !math.IsNaN(s.Low) && !math.IsNaN(s.High) {
		out += " [" + f(s.Low) + ", " + f(s.High) + "]"
	}
	return out
}

// Spearman is the rank correlation of x and y (average ranks for ties;
// pairs with a NaN are left out). NaN when fewer than 3 pairs remain or a
// side is constant.
func Spearman(x, y []float64) float64 {
	var a, b []float64
	for i := range x {
		if i < len(y) && !math.IsNaN(x[i]) && !math.IsNaN(y[i]) {
			a = append(a, x[i])
			b = append(b, y[i])
		}
	}
	if len(a) < 3 {
		return math.NaN()
	}
	return pearson(ranks(a), ranks(b))
}

func ranks(x []float64) []float64 {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool { return x[idx[i]] < x[idx[j]] })
	r := make([]float64, len(x))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && x[idx[j+1]] == x[idx[i]] {
			j++
		}
		avg := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			r[idx[k]] = avg
		}
		i = j + 1
	}
	return r
}

func pearson(a, b []float64) float64 {
	ma, mb := StatOf(a).Mean, StatOf(b).Mean
	var sab, saa, sbb float64
	for i := range a {
		sab += (a[i] - ma) * (b[i] - mb)
		saa += (a[i] - ma) * (a[i] - ma)
		sbb += (b[i] - mb) * (b[i] - mb)
	}
	if saa == 0 || sbb == 0 {
		return math.NaN()
	}
	return sab / math.Sqrt(saa*sbb)
}

// checkpoint returns the checkpoint of r at step (-1: the last one).
func checkpoint(r *reports.Report, step int) *reports.Checkpoint {
	if len(r.Checkpoints) == 0 {
		return nil
	}
	if step < 0 {
		return &r.Checkpoints[len(r.Checkpoints)-1]
	}
	for i := range r.Checkpoints {
		if r.Checkpoints[i].Step == step {
			return &r.Checkpoints[i]
		}
	}
	return nil
}

// WeightLayers returns the weight parameters of a checkpoint (the tensors
// the paper's tables list), in model order.
func WeightLayers(c *reports.Checkpoint) []reports.Layer {
	var out []reports.Layer
	for _, l := range c.Layers {
		if l.Kind == "weight" {
			out = append(out, l)
		}
	}
	return out
}

// gaussAt is the primary Gaussianity number of l at batch size b — the
// Shapiro–Wilk pass rate over the non-degenerate coordinates, in % — and
// its confidence interval (NaN if absent). A report written before that
// number was added gives the old share (degenerate coordinates counted
// Gaussian) and no interval: reports.Gaussianity.PassRate decides.
func gaussAt(l reports.Layer, b int) (rate, low, high float64) {
	for _, g := range l.Gaussianity {
		if g.BatchSize == b {
			rate, low, high, _ = g.PassRate()
			return rate, low, high
		}
	}
	return math.NaN(), math.NaN(), math.NaN()
}

func rateAt(l reports.Layer, b int) float64 { r, _, _ := gaussAt(l, b); return r }
func lowAt(l reports.Layer, b int) float64  { _, lo, _ := gaussAt(l, b); return lo }
func highAt(l reports.Layer, b int) float64 { _, _, hi := gaussAt(l, b); return hi }

// Ceiling is the pass rate that exactly Gaussian noise reaches, 100·(1−α)
// in %, as the experiment's reports give it (NaN when none does).
func (e *Experiment) Ceiling() float64 {
	for _, r := range e.Runs {
		for _, c := range r.Report.Checkpoints {
			for _, l := range c.Layers {
				for _, g := range l.Gaussianity {
					if g.Ceiling.Defined() {
						return g.Ceiling.Float()
					}
				}
			}
		}
	}
	return math.NaN()
}

func boundAt(l reports.Layer, b int) (pred, meas float64) {
	pred, meas = math.NaN(), math.NaN()
	if l.KurtosisBound == nil {
		return
	}
	for _, p := range l.KurtosisBound.PerBatch {
		if p.BatchSize == b {
			pred = float64(p.PredictedPercent)
			switch {
			case p.MeasuredNonDegeneratePercent.Set: // the primary number
				meas = p.MeasuredNonDegeneratePercent.Float()
			case p.MeasuredPercent != nil: // reports before it
				meas = float64(*p.MeasuredPercent)
			}
		}
	}
	return
}

func tailAt(l reports.Layer, b int) (moh, mcc float64) {
	moh, mcc = math.NaN(), math.NaN()
	if l.TailIndex == nil {
		return
	}
	for _, t := range l.TailIndex.PerBatch {
		if t.BatchSize == b {
			return float64(t.MohammadiMedian), float64(t.McCullochMedian)
		}
	}
	return
}

func medianRho(l reports.Layer) float64 {
	if l.KurtosisBound == nil {
		return math.NaN()
	}
	return float64(l.KurtosisBound.RhoSigma3.P50)
}

// BatchSizes returns the batch sizes of an experiment's last checkpoints
// (those of its first run).
func (e *Experiment) BatchSizes() []int {
	if len(e.Runs) == 0 {
		return nil
	}
	return checkpoint(e.Runs[0].Report, -1).BatchSizes
}

// LayerNames lists the weight parameters of the first run.
func (e *Experiment) LayerNames() []string {
	if len(e.Runs) == 0 {
		return nil
	}
	var out []string
	for _, l := range WeightLayers(checkpoint(e.Runs[0].Report, -1)) {
		out = append(out, l.Parameter)
	}
	return out
}

// perSeed collects f(layer) over the runs for the weight parameter name
// at the last checkpoint.
func (e *Experiment) perSeed(name string, f func(reports.Layer) float64) []float64 {
	var out []float64
	for _, r := range e.Runs {
		v := math.NaN()
		for _, l := range WeightLayers(checkpoint(r.Report, -1)) {
			if l.Parameter == name {
				v = f(l)
			}
		}
		out = append(out, v)
	}
	return out
}

// perSeedModel collects, per run, agg over the weight layers of f(layer).
func (e *Experiment) perSeedModel(f func(reports.Layer) float64, agg func([]float64) float64) []float64 {
	var out []float64
	for _, r := range e.Runs {
		var xs []float64
		for _, l := range WeightLayers(checkpoint(r.Report, -1)) {
			xs = append(xs, f(l))
		}
		out = append(out, agg(xs))
	}
	return out
}

func mean(xs []float64) float64 { return StatOf(xs).Mean }

func median(xs []float64) float64 {
	var a []float64
	for _, x := range xs {
		if !math.IsNaN(x) {
			a = append(a, x)
		}
	}
	if len(a) == 0 {
		return math.NaN()
	}
	sort.Float64s(a)
	if len(a)%2 == 1 {
		return a[len(a)/2]
	}
	return (a[len(a)/2-1] + a[len(a)/2]) / 2
}

// Gaussianity returns the mean ± std over seeds of the pass rate (%) of
// weight parameter name at batch size b, over its non-degenerate
// coordinates; Low and High are the means over seeds of the bounds of its
// Wilson interval (the binomial uncertainty of one seed's rate).
func (e *Experiment) Gaussianity(name string, b int) Stat {
	s := StatOf(e.perSeed(name, func(l reports.Layer) float64 { return rateAt(l, b) }))
	s.Low, s.High = bounds(e.perSeed(name, func(l reports.Layer) float64 { return lowAt(l, b) }),
		e.perSeed(name, func(l reports.Layer) float64 { return highAt(l, b) }))
	return s
}

// ModelGaussianity is the mean over weight parameters of the pass rate at
// b, as mean ± std over seeds; Low and High are the means (over layers,
// then seeds) of the layers' Wilson bounds: the typical interval of one
// layer, not an interval for the mean.
func (e *Experiment) ModelGaussianity(b int) Stat {
	s := StatOf(e.perSeedModel(func(l reports.Layer) float64 { return rateAt(l, b) }, mean))
	s.Low, s.High = bounds(e.perSeedModel(func(l reports.Layer) float64 { return lowAt(l, b) }, mean),
		e.perSeedModel(func(l reports.Layer) float64 { return highAt(l, b) }, mean))
	return s
}

// bounds averages interval bounds over seeds: NaN unless every seed has
// both (reports before the pass rate have none).
func bounds(lo, hi []float64) (float64, float64) {
	l, h := StatOf(lo), StatOf(hi)
	if l.N == 0 || l.N != len(lo) || h.N != len(hi) {
		return math.NaN(), math.NaN()
	}
	return l.Mean, h.Mean
}

// RankCorrelation is, per seed, the Spearman correlation across weight
// parameters of the median ρ/σ³ with the Gaussianity % at b.
func (e *Experiment) RankCorrelation(b int) Stat {
	var out []float64
	for _, r := range e.Runs {
		var x, y []float64
		for _, l := range WeightLayers(checkpoint(r.Report, -1)) {
			x = append(x, medianRho(l))
			y = append(y, rateAt(l, b))
		}
		out = append(out, Spearman(x, y))
	}
	return StatOf(out)
}

// PredictedMeasured is the mean over weight parameters of the predicted
// (Berry–Esseen bound below the threshold) and measured Gaussian share at
// b, each as mean ± std over seeds.
func (e *Experiment) PredictedMeasured(b int) (pred, meas Stat) {
	pred = StatOf(e.perSeedModel(func(l reports.Layer) float64 { p, _ := boundAt(l, b); return p }, mean))
	meas = StatOf(e.perSeedModel(func(l reports.Layer) float64 { _, m := boundAt(l, b); return m }, mean))
	return
}

// Alpha is the median over weight parameters of the per-layer median tail
// index at b (Mohammadi and McCulloch), as mean ± std over seeds.
func (e *Experiment) Alpha(b int) (moh, mcc Stat) {
	moh = StatOf(e.perSeedModel(func(l reports.Layer) float64 { m, _ := tailAt(l, b); return m }, median))
	mcc = StatOf(e.perSeedModel(func(l reports.Layer) float64 { _, m := tailAt(l, b); return m }, median))
	return
}

// TrainingCurve returns, for the first run of a training experiment, the
// steps audited and per weight parameter the Gaussianity % at b per step.
func (e *Experiment) TrainingCurve(b int) (steps []int, names []string, pct [][]float64) {
	if len(e.Runs) == 0 {
		return
	}
	r := e.Runs[0].Report
	for _, c := range r.Checkpoints {
		steps = append(steps, c.Step)
	}
	for _, l := range WeightLayers(&r.Checkpoints[0]) {
		names = append(names, l.Parameter)
		row := make([]float64, len(r.Checkpoints))
		for i := range r.Checkpoints {
			row[i] = math.NaN()
			for _, m := range r.Checkpoints[i].Layers {
				if m.Parameter == l.Parameter {
					row[i] = rateAt(m, b)
				}
			}
		}
		pct = append(pct, row)
	}
	return
}

// Accuracy returns the held-out accuracy (mean ± std over seeds, in %) at
// the last evaluation of each run, when recorded.
func (e *Experiment) Accuracy() Stat {
	var xs []float64
	for _, r := range e.Runs {
		v := math.NaN()
		if r.Report.Training != nil {
			if evs, ok := r.Report.Training.Extra["evals"].([]any); ok && len(evs) > 0 {
				if m, ok := evs[len(evs)-1].(map[string]any); ok {
					if a, ok := m["acc"].(float64); ok {
						v = 100 * a
					}
				}
			}
		}
		xs = append(xs, v)
	}
	return StatOf(xs)
}

// SortRuns orders the runs of e by seed.
func SortRuns(e *Experiment) {
	sort.Slice(e.Runs, func(i, j int) bool { return e.Runs[i].Seed < e.Runs[j].Seed })
}

// SortExperiments orders experiments by name.
func SortExperiments(es []*Experiment) {
	sort.Slice(es, func(i, j int) bool { return es[i].Name < es[j].Name })
}
