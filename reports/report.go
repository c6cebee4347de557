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
	"strconv"

	"github.com/gnaudit/gnaudit/plugins"
)

// SchemaID identifies the report format; it changes with incompatible
// changes of the format.
const SchemaID = "gnaudit.report/v1"

// Number is a float64 written as null in JSON when it is NaN or infinite
// ("not defined": a ratio with a zero denominator, a median of nothing).
type Number float64

// MarshalJSON implements json.Marshaler.
func (n Number) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return []byte(strconv.FormatFloat(f, 'g', -1, 64)), nil
}

// UnmarshalJSON implements json.Unmarshaler (null reads as NaN).
func (n *Number) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = Number(math.NaN())
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*n = Number(f)
	return nil
}

// Defined reports whether n is a finite number.
func (n Number) Defined() bool { return !math.IsNaN(float64(n)) && !math.IsInf(float64(n), 0) }

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
	Step       int    `json:"step"`
	File       string `json:"file,omitempty"`
	SHA256     string `json:"sha256,omitempty"`
	Seed       int64  `json:"seed"`
	Pool       int    `json:"pool"`    // N
	Batches    int    `json:"batches"` // n
	BatchSizes []int  `json:"batch_sizes"`
	// NoiseScale is the model-level gradient noise scale.
	NoiseScale *NoiseScale    `json:"noise_scale,omitempty"`
	Layers     []Layer        `json:"layers"`
	Analyses   []AnalysisRun  `json:"analyses"`
	Plugins    []PluginValues `json:"plugins,omitempty"` // model-level values of external analyses
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
}

// BoundAtB is the Berry–Esseen bound at one batch size, with the predicted
// and (when normality ran) measured Gaussian share.
type BoundAtB struct {
	BatchSize        int       `json:"batch_size"`
	Bound            Quantiles `json:"bound"`
	PredictedPercent Number    `json:"predicted_percent"`
	MeasuredPercent  *Number   `json:"measured_percent,omitempty"`
}

// TailIndex summarises the tail indices of a layer.
type TailIndex struct {
	PerBatch []TailAtB `json:"per_batch_size"`
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
}

// NoiseScale is B_simple = tr Σ / |ḡ|² (null when |ḡ|² = 0).
type NoiseScale struct {
	TraceCov   Number `json:"trace_cov"`
	GradNormSq Number `json:"grad_norm_sq"`
	BSimple    Number `json:"b_simple"`
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
	if err := os.WriteFile(path, data, 0o644); err != nil {
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
