package reports

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/gnaudit/gnaudit/auditor/noise"
	"github.com/gnaudit/gnaudit/auditor/stats"
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
		"Gaussianity is a pass rate: the primary number is the share of non-degenerate coordinates with p > α, with a Wilson interval; exactly Gaussian noise passes at the ceiling 1 − α; the non-Gaussian share is estimated by (R − α)/(1 − α) and Storey's 1 − π̂₀.",
		"Berry–Esseen share: coordinates whose bound is below the Kolmogorov–Smirnov critical distance c(α)/√n; a bound, not a prediction (structurally 0 at small B, and Shapiro–Wilk detects deviations far below the threshold).",
		"Calibrated pass rate: mean over coordinates of 1 − P(χ²₂(λ) > χ²₂,₁₋α), λ = n·[γ₁²φ²/(6B) + γ₂²/(24B²)] from the per-sample skewness γ₁ and excess kurtosis γ₂, φ the pool's skewness factor (1 for i.i.d. batches from the data set); recommended batch size: the smallest B whose i.i.d. pass rate reaches the target.",
		"Tail index α of the mini-batch noise per coordinate (the paper's Figure 7; Şimşekli et al. pool all parameters): log-moment estimator of Mohammadi et al. (2015) and McCulloch's (1986) quantile estimator (scipy's _fitstart; pylevy's fit is maximum likelihood); α = 2 is Gaussian; reported with the Gaussian null band for n and the share of coordinates below its 5 % quantile.",
		"Gradient noise scale B_simple = tr Σ̂/|G|²_u, unbiased: s² = (S − N·g)/(N − 1), |G|²_u = g − s²·(1/N − 1/M), S = Σ|g_i|², g = |ḡ|², pool N from a data set of M (McCandlish et al. 2018; the plug-in tr Σ/|ḡ|² is ≈ B·N/(N+B) and is reported as b_simple_plugin); undefined when |G|²_u ≤ 0 (no signal); with a delta-method standard error.",
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
	if set.Collection != nil && set.Collection.DataSize > 0 {
		cp.DataSize = set.Collection.DataSize
	}
	cp.PoolUse, cp.PoolWarning = PoolUseOf(set.Pool, set.Batches, set.BatchSizes)
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
					Percent:           Number(lr.Number(builtin.KeyGaussianityPercent, b)),
					Gaussian:          count(lr.Number(builtin.KeyGaussian, b)),
					Degenerate:        count(lr.Number(builtin.KeyDegenerate, b)),
					Tested:            count(lr.Number(builtin.KeyTested, b)),
					NonDegenerate:     opt(lr, builtin.KeyNonDegeneratePercent, b),
					Low:               opt(lr, builtin.KeyPercentLow, b),
					High:              opt(lr, builtin.KeyPercentHigh, b),
					Ceiling:           opt(lr, builtin.KeyCeilingPercent, 0),
					NonGaussian:       opt(lr, builtin.KeyNonGaussianPercent, b),
					NonGaussianLow:    opt(lr, builtin.KeyNonGaussianLow, b),
					NonGaussianHigh:   opt(lr, builtin.KeyNonGaussianHigh, b),
					NonGaussianStorey: opt(lr, builtin.KeyNonGaussianStorey, b)})
			}
		}
		if kb != nil {
			out.KurtosisBound = kurtosisOf(kb.Layer(l.Parameter), set.BatchSizes)
		}
		if st != nil {
			lr := st.Layer(l.Parameter)
			ti := &TailIndex{}
			if _, ok := lr.Get(builtin.KeyNullMohammadiP05, 0); ok {
				ti.Null = &TailNull{MohammadiP05: Number(lr.Number(builtin.KeyNullMohammadiP05, 0)),
					MohammadiMedian: Number(lr.Number(builtin.KeyNullMohammadiMedian, 0)),
					McCullochP05:    Number(lr.Number(builtin.KeyNullMcCullochP05, 0)),
					McCullochMedian: Number(lr.Number(builtin.KeyNullMcCullochMedian, 0))}
			}
			for _, b := range set.BatchSizes {
				ti.PerBatch = append(ti.PerBatch, TailAtB{BatchSize: b,
					MohammadiMedian:    Number(lr.Number(builtin.KeyAlphaMohammadiMedian, b)),
					McCullochMedian:    Number(lr.Number(builtin.KeyAlphaMcCullochMedian, b)),
					UndefinedMohammadi: count(lr.Number(builtin.KeyUndefinedMohammadi, b)),
					UndefinedMcCulloch: count(lr.Number(builtin.KeyUndefinedMcCulloch, b)),
					MohammadiHist:      hist(lr, builtin.KeyAlphaMohammadiHist, b),
					McCullochHist:      hist(lr, builtin.KeyAlphaMcCullochHist, b),
					BelowNullMohammadi: opt(lr, builtin.KeyBelowNullMohammadi, b),
					BelowNullMcCulloch: opt(lr, builtin.KeyBelowNullMcCulloch, b)})
			}
			out.TailIndex = ti
		}
		if ns != nil {
			out.NoiseScale = noiseScaleOf(ns.Layer(l.Parameter).Summary)
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
		cp.NoiseScale = noiseScaleOf(ns.Model)
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
	out.RecommendedBatchSize = opt(lr, builtin.KeyRecommendedBatchSize, 0)
	if r := out.RecommendedBatchSize; r.Set && r.N < 1 {
		out.RecommendedBatchSize = Some(math.NaN()) // not reached
	}
	out.TargetPercent = opt(lr, builtin.KeyTargetPercent, 0)
	for _, b := range bs {
		e := BoundAtB{BatchSize: b, Bound: QuantilesOf(arr(builtin.KeyBoundQuantiles, b)),
			PredictedPercent:             Number(lr.Number(builtin.KeyPredictedPercent, b)),
			CalibratedPercent:            opt(lr, builtin.KeyCalibratedPercent, b),
			CalibratedIIDPercent:         opt(lr, builtin.KeyCalibratedIIDPercent, b),
			MeasuredNonDegeneratePercent: opt(lr, builtin.KeyMeasuredNonDegeneratePercent, b),
			Spine:                        opt(lr, builtin.KeySpine, b),
			SpineOverSqrtB:               opt(lr, builtin.KeySpineOverSqrtB, b)}
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

// opt returns the summary number key@b of lr, nil when absent (NaN, written
// as null, when present but undefined).
func opt(lr *plugins.LayerResult, key string, b int) Opt {
	v, ok := lr.Get(key, b)
	if !ok || v.Kind != plugins.KindNumber {
		return Opt{}
	}
	return Some(v.Number)
}

// noiseScaleOf builds the noise-scale section from the analysis' values.
func noiseScaleOf(vs []plugins.Value) *NoiseScale {
	r := &plugins.LayerResult{Summary: vs}
	ns := &NoiseScale{TraceCov: Number(r.Number(builtin.KeyTraceCov, 0)),
		GradNormSq: Number(r.Number(builtin.KeyGradNormSq, 0)), BSimple: Number(r.Number(builtin.KeyBSimple, 0)),
		BSimplePlugIn:      opt(r, builtin.KeyBSimplePlugIn, 0),
		TraceCovUnbiased:   opt(r, builtin.KeyTraceCovUnbiased, 0),
		GradNormSqUnbiased: opt(r, builtin.KeyGradNormSqUnbiased, 0),
		NoSignal:           r.Number(builtin.KeyNoSignal, 0) == 1,
		SE:                 opt(r, builtin.KeyBSimpleSE, 0),
		Low:                opt(r, builtin.KeyBSimpleLow, 0),
		High:               opt(r, builtin.KeyBSimpleHigh, 0),
		TraceCovSE:         opt(r, builtin.KeyTraceCovSE, 0),
		GradNormSqSE:       opt(r, builtin.KeyGradNormSqSE, 0),
		Confidence:         opt(r, builtin.KeyConfidence, 0),
		DataSize:           opt(r, builtin.KeyDataSize, 0)}
	return ns
}

// MinPoolFactor is the least pool size per largest batch size below which
// drawing batches from the pool visibly shrinks their skewness (and so
// inflates the Gaussianity at large B): N ≥ 30·B_max (METHOD.md §1).
const MinPoolFactor = 30

// PoolUseOf returns the pool use per batch size and, when the pool is
// smaller than MinPoolFactor·B_max, a warning.
func PoolUseOf(pool, batches int, bs []int) ([]PoolUse, string) {
	if pool < 1 || len(bs) == 0 {
		return nil, ""
	}
	var out []PoolUse
	maxB := 0
	for _, b := range bs {
		f := float64(b) / float64(pool)
		out = append(out, PoolUse{BatchSize: b, Fraction: Number(f), Reuse: Number(float64(batches) * f),
			SkewFactor: Number(stats.PoolSkewFactor(b, pool))})
		maxB = max(maxB, b)
	}
	warn := ""
	if pool < MinPoolFactor*maxB {
		warn = PoolWarning(pool, maxB)
	}
	return out, warn
}

// PoolWarning is the warning for a pool of n samples smaller than
// MinPoolFactor·maxB.
func PoolWarning(pool, maxB int) string {
	f := float64(maxB) / float64(pool)
	return fmt.Sprintf("pool N = %d < %d·B_max = %d: at B = %d a batch takes f = %.3f of the pool, which shrinks the batch mean's skewness by %.2f and inflates the Gaussianity there (use a pool of at least %d)",
		pool, MinPoolFactor, MinPoolFactor*maxB, maxB, f, stats.PoolSkewFactor(maxB, pool), MinPoolFactor*maxB)
}
