package reports

import (
	"math"
	"strings"
	"time"

	"github.com/gnaudit/gnaudit/auditor/noise"
	"github.com/gnaudit/gnaudit/plugins"
	"github.com/gnaudit/gnaudit/plugins/builtin"
)

// New returns a report with the schema, tool and creation time set and the
// given model, data and (optional) training sections.
func New(toolVersion string, model Model, data Data, training *Training) *Report {
	if data.Preprocessing == nil {
		data.Preprocessing = []string{}
	}
	return &Report{
		Schema:      SchemaID,
		Tool:        Tool{Name: "gnaudit", Version: toolVersion},
		Created:     time.Now().UTC().Format(time.RFC3339),
		Model:       model,
		Data:        data,
		Training:    training,
		Method:      Method{Notes: DefaultNotes()},
		Checkpoints: []Checkpoint{},
	}
}

// DefaultNotes states the analyses' fixed choices (METHOD.md).
func DefaultNotes() []string {
	return []string{
		"Shapiro–Wilk W test, algorithm AS R94 (as scipy.stats.shapiro and R's shapiro.test); a coordinate is Gaussian when p > alpha; zero-range columns count as Gaussian and are reported as degenerate.",
		"Per-sample noise moments are about the pool mean ḡ: σ² = E ξ², ρ = E|ξ|³, κ = E ξ⁴/σ⁴; Berry–Esseen bound C·ρ/(σ³√B) with C = 0.4748 (Shevtsova 2011); ρ/σ³ ≤ √κ.",
		"Predicted Gaussian share: coordinates whose Berry–Esseen bound is below the threshold (default: the Kolmogorov–Smirnov critical distance c(α)/√n for n mini-batches); a worst-case bound, so the prediction is conservative.",
		"Tail index α of the mini-batch noise: log-moment estimator of Mohammadi et al. (2015) and McCulloch's (1986) quantile estimator; α = 2 is Gaussian; undefined values (zero range, zero IQR) are counted, not plotted.",
		"Gradient noise scale B_simple = tr(Σ)/|ḡ|² over all coordinates of a parameter (McCandlish et al. 2018); model value: sum of traces / sum of squared norms.",
	}
}

// BuildOptions tune BuildCheckpoint.
type BuildOptions struct {
	// PerCoordinate keeps the per-coordinate arrays of external analyses
	// in the report (large); the built-ins' are always summarised.
	PerCoordinate bool
	// File and SHA256 identify the checkpoint's model file, if saved.
	File, SHA256 string
	// Engine labels the checkpoint's noise engine (Checkpoint.Engine).
	Engine string
}

func isBuiltin(r *plugins.Result, name string) bool {
	return r.Description.Name == name && strings.HasPrefix(r.Origin, "builtin")
}

// BuildCheckpoint turns the analyses' results over set into a checkpoint
// section: the built-ins into the typed fields, the other analyses into
// Plugins values, every analysis (failed ones too) into Analyses.
func BuildCheckpoint(set *noise.Set, results []*plugins.Result, o BuildOptions) Checkpoint {
	cp := Checkpoint{Step: set.Step, Engine: o.Engine, File: o.File, SHA256: o.SHA256, Seed: set.Seed, Pool: set.Pool,
		Batches: set.Batches, BatchSizes: append([]int{}, set.BatchSizes...), Layers: []Layer{}, Analyses: []AnalysisRun{}}
	for _, r := range results {
		run := AnalysisRun{Name: r.Description.Name, Version: r.Description.Version, Origin: r.Origin, Path: r.Path,
			SHA256: r.SHA256, Params: map[string]string(r.Params), Status: "ok", Failure: r.Failure,
			Warnings: r.Warnings, Seconds: r.Duration.Seconds()}
		if run.Params == nil {
			run.Params = map[string]string{}
		}
		if r.Failed() {
			run.Status = "failed"
		}
		cp.Analyses = append(cp.Analyses, run)
	}
	ok := func(name string) *plugins.Result {
		for _, r := range results {
			if isBuiltin(r, name) && !r.Failed() {
				return r
			}
		}
		return nil
	}
	norm, kb, st, ns := ok(builtin.NormalityName), ok(builtin.KurtosisBoundName), ok(builtin.AlphaStableName), ok(builtin.NoiseScaleName)
	for li := range set.Layers {
		l := &set.Layers[li]
		out := Layer{Name: l.Name, Parameter: l.Parameter, Kind: l.Kind, Shape: append([]int{}, l.Shape...), Size: l.Size,
			TestedCoordinates: len(l.Coords)}
		if out.Shape == nil {
			out.Shape = []int{}
		}
		for k, b := range set.BatchSizes {
			if k < len(l.Overlap) && l.Overlap[k] {
				out.Overlap = append(out.Overlap, b)
			}
		}
		if norm != nil {
			lr := norm.Layer(l.Parameter)
			for _, b := range set.BatchSizes {
				out.Gaussianity = append(out.Gaussianity, Gaussianity{BatchSize: b,
					Percent:    Number(lr.Number(builtin.KeyGaussianityPercent, b)),
					Gaussian:   count(lr.Number(builtin.KeyGaussian, b)),
					Degenerate: count(lr.Number(builtin.KeyDegenerate, b)),
					Tested:     count(lr.Number(builtin.KeyTested, b))})
			}
		}
		if kb != nil {
			out.KurtosisBound = kurtosisOf(kb.Layer(l.Parameter), set.BatchSizes)
		}
		if st != nil {
			lr := st.Layer(l.Parameter)
			ti := &TailIndex{}
			for _, b := range set.BatchSizes {
				ti.PerBatch = append(ti.PerBatch, TailAtB{BatchSize: b,
					MohammadiMedian:    Number(lr.Number(builtin.KeyAlphaMohammadiMedian, b)),
					McCullochMedian:    Number(lr.Number(builtin.KeyAlphaMcCullochMedian, b)),
					UndefinedMohammadi: count(lr.Number(builtin.KeyUndefinedMohammadi, b)),
					UndefinedMcCulloch: count(lr.Number(builtin.KeyUndefinedMcCulloch, b)),
					MohammadiHist:      hist(lr, builtin.KeyAlphaMohammadiHist, b),
					McCullochHist:      hist(lr, builtin.KeyAlphaMcCullochHist, b)})
			}
			out.TailIndex = ti
		}
		if ns != nil {
			lr := ns.Layer(l.Parameter)
			out.NoiseScale = &NoiseScale{TraceCov: Number(lr.Number(builtin.KeyTraceCov, 0)),
				GradNormSq: Number(lr.Number(builtin.KeyGradNormSq, 0)), BSimple: Number(lr.Number(builtin.KeyBSimple, 0))}
		}
		for _, r := range results {
			if r.Failed() || isTyped(r) {
				continue
			}
			lr := r.Layer(l.Parameter)
			if lr == nil {
				continue
			}
			pv := PluginValues{Analysis: r.Description.Name, Summary: lr.Summary}
			if pv.Summary == nil {
				pv.Summary = []plugins.Value{}
			}
			if o.PerCoordinate {
				pv.PerCoordinate = lr.PerCoordinate
			}
			out.Plugins = append(out.Plugins, pv)
		}
		cp.Layers = append(cp.Layers, out)
	}
	if ns != nil {
		get := func(k string) Number {
			v, ok := plugins.FindValue(ns.Model, k, 0)
			if !ok {
				return Number(math.NaN())
			}
			return Number(v.Number)
		}
		cp.NoiseScale = &NoiseScale{TraceCov: get(builtin.KeyTraceCov), GradNormSq: get(builtin.KeyGradNormSq), BSimple: get(builtin.KeyBSimple)}
	}
	for _, r := range results {
		if !r.Failed() && !isTyped(r) && len(r.Model) > 0 {
			cp.Plugins = append(cp.Plugins, PluginValues{Analysis: r.Description.Name, Summary: r.Model})
		}
	}
	return cp
}

func isTyped(r *plugins.Result) bool {
	for _, n := range []string{builtin.NormalityName, builtin.KurtosisBoundName, builtin.AlphaStableName, builtin.NoiseScaleName} {
		if isBuiltin(r, n) {
			return true
		}
	}
	return false
}

func kurtosisOf(lr *plugins.LayerResult, bs []int) *KurtosisBound {
	arr := func(k string, b int) []float64 {
		v, _ := lr.Get(k, b)
		return v.Array
	}
	out := &KurtosisBound{
		RhoSigma3:     QuantilesOf(arr(builtin.KeyRhoSigma3Quantiles, 0)),
		SqrtKappa:     QuantilesOf(arr(builtin.KeySqrtKappaQuantiles, 0)),
		RhoSigma3Hist: hist(lr, builtin.KeyRhoSigma3Hist, 0),
		SqrtKappaHist: hist(lr, builtin.KeySqrtKappaHist, 0),
		ZeroVariance:  count(lr.Number(builtin.KeyZeroVariance, 0)),
		Threshold:     Number(lr.Number(builtin.KeyThreshold, 0)),
	}
	for _, b := range bs {
		e := BoundAtB{BatchSize: b, Bound: QuantilesOf(arr(builtin.KeyBoundQuantiles, b)),
			PredictedPercent: Number(lr.Number(builtin.KeyPredictedPercent, b))}
		if m := lr.Number(builtin.KeyMeasuredPercent, b); !math.IsNaN(m) {
			mm := Number(m)
			e.MeasuredPercent = &mm
		}
		out.PerBatch = append(out.PerBatch, e)
	}
	return out
}

func hist(lr *plugins.LayerResult, key string, b int) *plugins.Histogram {
	v, ok := lr.Get(key, b)
	if !ok || v.Kind != plugins.KindHistogram {
		return nil
	}
	return v.Hist
}

func count(x float64) int {
	if math.IsNaN(x) {
		return 0
	}
	return int(math.Round(x))
}
