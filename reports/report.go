// Package reports builds, reads and renders the audit report: report.json
// (schema gnaudit.report/v1, JSON Schema in report.schema.json) and
// report.md with its plots (Render). Model, data and training sections are
// inputs filled by the audit command; the per-layer sections are built from
// the analyses' results (BuildCheckpoint).
package reports

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"

	"github.com/gnaudit/gnaudit/auditor/atomicfile"
	"github.com/gnaudit/gnaudit/auditor/stats"
	"github.com/gnaudit/gnaudit/plugins"
)

// SchemaID identifies the report format; it changes with incompatible
// changes of the format.
const SchemaID = "gnaudit.report/v1"

// Number is [stats.Number]: a float64 written as null in JSON when it is NaN
// or infinite ("not defined": a ratio with a zero denominator, a median of
// nothing), the same type as statsrun.Number.
type Number = stats.Number

// Opt is an optional Number, for keys added to v1 after its first release:
// the zero Opt is absent (omitted with the omitzero tag; reports written
// before the key existed read back as absent), a present one is a number or
// null (NaN, "not defined").
type Opt struct {
	N   Number
	Set bool
}

// Some returns the present Opt x.
func Some(x float64) Opt { return Opt{N: Number(x), Set: true} }

// IsZero reports whether o is absent (for omitzero).
func (o Opt) IsZero() bool { return !o.Set }

// Defined reports whether o is present and finite.
func (o Opt) Defined() bool { return o.Set && o.N.Defined() }

// Float returns the value, NaN when absent.
func (o Opt) Float() float64 {
	if !o.Set {
		return math.NaN()
	}
	return float64(o.N)
}

// MarshalJSON implements json.Marshaler.
func (o Opt) MarshalJSON() ([]byte, error) { return o.N.MarshalJSON() }

// UnmarshalJSON implements json.Unmarshaler (null reads as a present NaN).
func (o *Opt) UnmarshalJSON(b []byte) error {
	o.Set = true
	return o.N.UnmarshalJSON(b)
}

// Report is the whole audit report (report.json).
type Report struct {
	Schema  string `json:"schema"`
	Tool    Tool   `json:"tool"`
	Created string `json:"created"` // RFC 3339
	Model   Model  `json:"model"`
	Data    Data   `json:"data"`
	// Training is absent when the audit did not fine-tune.
	Training *Training `json:"training,omitempty"`
	// Method records the choices behind the numbers (METHOD.md).
	Method      Method       `json:"method"`
	Checkpoints []Checkpoint `json:"checkpoints"`
	// Dynamics is the SGD-dynamics analysis, when the audit ran one
	// (audit --dynamics) or a dynamics.json sits in its directory
	// (reports/dynamics.go).
	Dynamics *Dynamics `json:"dynamics,omitempty"`
	// Gates holds the outcome of a policy, when one was applied.
	Gates *Gates `json:"gates,omitempty"`
	// Status is "complete", or "partial" when the audit was stopped early
	// (Ctrl-C, a failure) and the report covers only what was collected;
	// empty when the writer does not say.
	Status string `json:"status,omitempty"`
	// Machine is the CPU and BLAS of the run (absent in older reports).
	Machine *Machine `json:"machine,omitempty"`
}

// Tool names the program that wrote the report.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Model describes the audited ONNX model.
type Model struct {
	File       string `json:"file"`
	SHA256     string `json:"sha256"`
	Opset      int    `json:"opset"`
	Parameters int64  `json:"parameters"` // learnable scalars
	Producer   string `json:"producer,omitempty"`
	// Zoo names the zoo model when the audited model was built from the
	// zoo (gnaudit models list).
	Zoo string `json:"zoo,omitempty"`
}

// Data describes the data set and its preprocessing.
type Data struct {
	Name          string   `json:"name"`
	Path          string   `json:"path,omitempty"`
	Split         string   `json:"split,omitempty"`
	Samples       int      `json:"samples"` // samples available
	Preprocessing []string `json:"preprocessing"`
}

// Training describes the fine-tuning run (METHOD.md §7).
type Training struct {
	Optimizer   string         `json:"optimizer"`
	Momentum    float64        `json:"momentum"`
	WeightDecay float64        `json:"weight_decay"`
	BatchSize   int            `json:"batch_size"`
	Steps       int            `json:"steps"`
	Seed        int64          `json:"seed"`
	Schedule    []LRStep       `json:"lr_schedule"`
	Loss        []LossPoint    `json:"loss"`
	Extra       map[string]any `json:"extra,omitempty"`
}

// LRStep: from Step on, the learning rate is LR.
type LRStep struct {
	Step int     `json:"step"`
	LR   float64 `json:"lr"`
}

// LossPoint is the training loss at a step.
type LossPoint struct {
	Step int    `json:"step"`
	Loss Number `json:"loss"`
}

// Method records the settings of the analyses that a reader needs to read
// the numbers (the built-ins' parameters are also in each AnalysisRun).
type Method struct {
	// Notes are free-form statements of the choices made (e.g. "BatchNorm
	// in eval mode", "Berry–Esseen C = 0.4748").
	Notes []string `json:"notes"`
}

// Checkpoint holds the audit at one fine-tuning step.
type Checkpoint struct {
	Step int `json:"step"`
	// Engine is the noise engine of a checkpoint collected by more than
	// one ("mini-batch"; "" for the per-sample engine alone).
	Engine     string `json:"engine,omitempty"`
	File       string `json:"file,omitempty"`
	SHA256     string `json:"sha256,omitempty"`
	Seed       int64  `json:"seed"`
	Pool       int    `json:"pool"`    // N
	Batches    int    `json:"batches"` // n
	BatchSizes []int  `json:"batch_sizes"`
	// DataSize is M, the data set the pool was drawn from (0: unknown).
	DataSize int `json:"data_size,omitempty"`
	// PoolUse describes, per batch size, how much of the pool one batch
	// takes (f = B/N) and how often each pool sample is reused over the n
	// batches (n·B/N); PoolWarning is set when N < 30·B_max (METHOD.md §1,
	// "Pool size").
	PoolUse     []PoolUse `json:"pool_use,omitempty"`
	PoolWarning string    `json:"pool_warning,omitempty"`
	// NoiseScale is the model-level gradient noise scale.
	NoiseScale *NoiseScale    `json:"noise_scale,omitempty"`
	Layers     []Layer        `json:"layers"`
	Analyses   []AnalysisRun  `json:"analyses"`
	Plugins    []PluginValues `json:"plugins,omitempty"` // model-level values of external analyses
}

// PoolUse is the use of the pool at one batch size.
type PoolUse struct {
	BatchSize int    `json:"batch_size"`
	Fraction  Number `json:"fraction"` // f = B/N
	Reuse     Number `json:"reuse"`    // n·B/N, times each pool sample is used
	// SkewFactor is (1−2f)/√(1−f) (exactly, stats.PoolSkewFactor): the
	// factor by which drawing from the pool shrinks the batch mean's
	// skewness compared with drawing from the data set.
	SkewFactor Number `json:"skew_factor"`
}

// Layer holds the audit of one learnable parameter tensor.
type Layer struct {
	Name              string `json:"name"`
	Parameter         string `json:"parameter"`
	Kind              string `json:"kind"`
	Shape             []int  `json:"shape"`
	Size              int    `json:"size"`
	TestedCoordinates int    `json:"tested_coordinates"`
	// Overlap lists the batch sizes whose batches overlapped (n·B > N).
	Overlap       []int          `json:"overlap,omitempty"`
	Gaussianity   []Gaussianity  `json:"gaussianity,omitempty"`
	KurtosisBound *KurtosisBound `json:"kurtosis_bound,omitempty"`
	TailIndex     *TailIndex     `json:"tail_index,omitempty"`
	NoiseScale    *NoiseScale    `json:"noise_scale,omitempty"`
	// Plugins holds the results of the other (external) analyses.
	Plugins []PluginValues `json:"plugins,omitempty"`
}

// Gaussianity is the Shapiro–Wilk result of a layer at one batch size.
type Gaussianity struct {
	BatchSize  int    `json:"batch_size"`
	Percent    Number `json:"percent"`
	Gaussian   int    `json:"gaussian"`
	Degenerate int    `json:"degenerate"`
	Tested     int    `json:"tested"`
	// The pass rate over the non-degenerate coordinates (the primary
	// number, METHOD.md §3) with its confidence interval, the ceiling
	// 100·(1−α) it cannot exceed, and the estimated share of non-Gaussian
	// coordinates ((R−α)/(1−α) with interval, and Storey's 1−π̂₀). Absent
	// in reports written before these were added.
	NonDegenerate     Opt `json:"nondegenerate_percent,omitzero"`
	Low               Opt `json:"nondegenerate_low,omitzero"`
	High              Opt `json:"nondegenerate_high,omitzero"`
	Ceiling           Opt `json:"ceiling_percent,omitzero"`
	NonGaussian       Opt `json:"non_gaussian_percent,omitzero"`
	NonGaussianLow    Opt `json:"non_gaussian_low,omitzero"`
	NonGaussianHigh   Opt `json:"non_gaussian_high,omitzero"`
	NonGaussianStorey Opt `json:"non_gaussian_storey,omitzero"`
}

// PassRate returns the primary Gaussianity number of g (METHOD.md §3): the
// pass rate over the non-degenerate coordinates, in %, with its confidence
// interval, and primary = true. A report written before that number was
// added gives the old share (degenerate coordinates counted Gaussian) with
// low = high = NaN and primary = false. Undefined values are NaN.
func (g Gaussianity) PassRate() (rate, low, high float64, primary bool) {
	if g.NonDegenerate.Set {
		return g.NonDegenerate.Float(), g.Low.Float(), g.High.Float(), true
	}
	return float64(g.Percent), math.NaN(), math.NaN(), false
}

// Quantiles are the 5, 25, 50, 75 and 95 % quantiles of a quantity over a
// layer's coordinates.
type Quantiles struct {
	P5  Number `json:"p5"`
	P25 Number `json:"p25"`
	P50 Number `json:"p50"`
	P75 Number `json:"p75"`
	P95 Number `json:"p95"`
}

// QuantilesOf converts a 5-array (plugins.SpineProbs order).
func QuantilesOf(a []float64) Quantiles {
	q := Quantiles{Number(math.NaN()), Number(math.NaN()), Number(math.NaN()), Number(math.NaN()), Number(math.NaN())}
	if len(a) == 5 {
		q = Quantiles{Number(a[0]), Number(a[1]), Number(a[2]), Number(a[3]), Number(a[4])}
	}
	return q
}

// KurtosisBound summarises ρ/σ³, √κ and the Berry–Esseen bound of a layer.
type KurtosisBound struct {
	RhoSigma3     Quantiles          `json:"rho_sigma3"`
	SqrtKappa     Quantiles          `json:"sqrt_kappa"`
	RhoSigma3Hist *plugins.Histogram `json:"rho_sigma3_histogram,omitempty"`
	SqrtKappaHist *plugins.Histogram `json:"sqrt_kappa_histogram,omitempty"`
	ZeroVariance  int                `json:"zero_variance"`
	Threshold     Number             `json:"threshold"`
	PerBatch      []BoundAtB         `json:"per_batch_size"`
	// RecommendedBatchSize is the smallest B whose calibrated i.i.d. pass
	// rate reaches TargetPercent (null: not reached up to 2³⁰).
	RecommendedBatchSize Opt `json:"recommended_batch_size,omitzero"`
	TargetPercent        Opt `json:"target_percent,omitzero"`
}

// BoundAtB is the Berry–Esseen bound at one batch size, with the predicted
// and (when normality ran) measured Gaussian share.
type BoundAtB struct {
	BatchSize        int       `json:"batch_size"`
	Bound            Quantiles `json:"bound"`
	PredictedPercent Number    `json:"predicted_percent"`
	MeasuredPercent  *Number   `json:"measured_percent,omitempty"`
	// The calibrated prediction of the pass rate (batches as in this
	// audit, and i.i.d. from the data set), the measured non-degenerate
	// pass rate, and the quantile spine t_B = Q_{p_B}(ρ/σ³) with t_B/√B.
	CalibratedPercent            Opt `json:"calibrated_percent,omitzero"`
	CalibratedIIDPercent         Opt `json:"calibrated_iid_percent,omitzero"`
	MeasuredNonDegeneratePercent Opt `json:"measured_nondegenerate_percent,omitzero"`
	Spine                        Opt `json:"spine_rho_sigma3,omitzero"`
	SpineOverSqrtB               Opt `json:"spine_over_sqrt_b,omitzero"`
}

// TailIndex summarises the tail indices of a layer.
type TailIndex struct {
	PerBatch []TailAtB `json:"per_batch_size"`
	// Null is the Gaussian null band of the estimators for the audit's n.
	Null *TailNull `json:"null,omitempty"`
}

// TailNull is the Gaussian null band: the 5 % quantile and the median of
// each estimator for n exactly Gaussian values.
type TailNull struct {
	MohammadiP05    Number `json:"mohammadi_p05"`
	MohammadiMedian Number `json:"mohammadi_median"`
	McCullochP05    Number `json:"mcculloch_p05"`
	McCullochMedian Number `json:"mcculloch_median"`
}

// TailAtB is the tail-index summary at one batch size.
type TailAtB struct {
	BatchSize          int                `json:"batch_size"`
	MohammadiMedian    Number             `json:"mohammadi_median"`
	McCullochMedian    Number             `json:"mcculloch_median"`
	UndefinedMohammadi int                `json:"undefined_mohammadi"`
	UndefinedMcCulloch int                `json:"undefined_mcculloch"`
	MohammadiHist      *plugins.Histogram `json:"mohammadi_histogram,omitempty"`
	McCullochHist      *plugins.Histogram `json:"mcculloch_histogram,omitempty"`
	// Percent of the defined coordinates below the null 5 % quantile.
	BelowNullMohammadi Opt `json:"below_null_mohammadi_percent,omitzero"`
	BelowNullMcCulloch Opt `json:"below_null_mcculloch_percent,omitzero"`
}

// NoiseScale is the gradient noise scale. BSimple is the unbiased
// tr Σ̂/|G|²_u (null when |G|²_u ≤ 0, NoSignal); in reports written before
// BSimplePlugIn existed it is the plug-in ratio TraceCov/GradNormSq.
type NoiseScale struct {
	TraceCov   Number `json:"trace_cov"`
	GradNormSq Number `json:"grad_norm_sq"`
	BSimple    Number `json:"b_simple"`
	// Optional (METHOD.md §6): the plug-in ratio, the unbiased parts, the
	// no-signal flag, the standard error and confidence bounds of
	// BSimple at Confidence, and the data-set size M used.
	BSimplePlugIn      Opt  `json:"b_simple_plugin,omitzero"`
	TraceCovUnbiased   Opt  `json:"trace_cov_unbiased,omitzero"`
	GradNormSqUnbiased Opt  `json:"grad_norm_sq_unbiased,omitzero"`
	NoSignal           bool `json:"no_signal,omitempty"`
	SE                 Opt  `json:"b_simple_se,omitzero"`
	Low                Opt  `json:"b_simple_low,omitzero"`
	High               Opt  `json:"b_simple_high,omitzero"`
	TraceCovSE         Opt  `json:"trace_cov_se,omitzero"`
	GradNormSqSE       Opt  `json:"grad_norm_sq_se,omitzero"`
	// With weight decay λ (the fine-tuning's): tr Σ̂/|G + λθ|², the noise
	// scale of the step SGD takes (AddWeightDecay).
	WeightDecay        Opt `json:"weight_decay,omitzero"`
	BSimpleWeightDecay Opt `json:"b_simple_weight_decay,omitzero"`
	Confidence         Opt `json:"confidence,omitzero"`
	DataSize           Opt `json:"data_size,omitzero"`
}

// PluginValues are the values of one external analysis for a layer (or the
// model).
type PluginValues struct {
	Analysis      string          `json:"analysis"`
	Summary       []plugins.Value `json:"summary"`
	PerCoordinate []plugins.Value `json:"per_coordinate,omitempty"`
}

// AnalysisRun records one analysis of a checkpoint: what ran, where, with
// which parameters, and whether it failed.
type AnalysisRun struct {
	Name     string            `json:"name"`
	Version  string            `json:"version"`
	Origin   string            `json:"origin"`
	Path     string            `json:"path,omitempty"`
	SHA256   string            `json:"sha256,omitempty"`
	Params   map[string]string `json:"params"`
	Status   string            `json:"status"` // "ok" or "failed"
	Failure  *plugins.Failure  `json:"failure,omitempty"`
	Warnings []string          `json:"warnings,omitempty"`
	Seconds  float64           `json:"seconds"`
}

// Gates is the outcome of a gate policy.
type Gates struct {
	Policy string      `json:"policy"`
	Passed bool        `json:"passed"`
	Checks []GateCheck `json:"checks"`
	// Method says how the checks were decided (e.g. "confidence bounds,
	// Holm across 16 checks, family α = 0.05"); absent in older reports.
	Method string `json:"method,omitempty"`
}

// GateCheck is one comparison of a gate.
type GateCheck struct {
	Gate      string `json:"gate"`
	Step      int    `json:"step"`
	Layer     string `json:"layer"`
	BatchSize int    `json:"batch_size,omitempty"`
	Measured  Number `json:"measured"`
	Op        string `json:"op"` // ">=" or "<="
	Threshold Number `json:"threshold"`
	Pass      bool   `json:"pass"`
	Message   string `json:"message,omitempty"`
	// Estimator of a tail-index check (mohammadi or mcculloch).
	Estimator string `json:"estimator,omitempty"`
	// PValue is the one-sided p-value of "the true value meets the
	// threshold"; Level is the Holm level it was compared with; Bound is
	// the confidence bound on the favourable side at that level (the check
	// fails when even it is beyond the threshold). Absent when the check
	// compared a point estimate.
	PValue Opt `json:"p_value,omitzero"`
	Level  Opt `json:"level,omitzero"`
	Bound  Opt `json:"bound,omitzero"`
}

// normalize replaces nil lists by empty ones, so that they are written as
// [] (the schema wants arrays).
func (r *Report) normalize() {
	if r.Data.Preprocessing == nil {
		r.Data.Preprocessing = []string{}
	}
	if r.Checkpoints == nil {
		r.Checkpoints = []Checkpoint{}
	}
	for i := range r.Checkpoints {
		cp := &r.Checkpoints[i]
		if cp.BatchSizes == nil {
			cp.BatchSizes = []int{}
		}
		if cp.Layers == nil {
			cp.Layers = []Layer{}
		}
		if cp.Analyses == nil {
			cp.Analyses = []AnalysisRun{}
		}
		for j := range cp.Layers {
			if cp.Layers[j].Shape == nil {
				cp.Layers[j].Shape = []int{}
			}
		}
		for j := range cp.Analyses {
			if cp.Analyses[j].Params == nil {
				cp.Analyses[j].Params = map[string]string{}
			}
		}
	}
}

// Marshal returns the indented JSON of r, after validating it against the
// schema. Nil lists in r are replaced by empty ones.
func Marshal(r *Report) ([]byte, error) {
	r.normalize()
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	if err := Validate(data); err != nil {
		return nil, fmt.Errorf("report does not match %s: %w", SchemaID, err)
	}
	return append(data, '\n'), nil
}

// WriteFile writes r as JSON to path.
func WriteFile(path string, r *Report) error {
	data, err := Marshal(r)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, data); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// Parse validates data against the schema and decodes it.
func Parse(data []byte) (*Report, error) {
	if err := Validate(data); err != nil {
		return nil, err
	}
	var r Report
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ReadFile reads and validates a report.json.
func ReadFile(path string) (*Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}
