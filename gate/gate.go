// Package gate evaluates a YAML policy against a report (gnaudit.report/v1,
// or a dynamics.json, gnaudit.dynamics/v1: see EvaluateDynamics) and turns the outcome into an exit code, a JUnit XML file and a Markdown
// summary for CI.
//
// A policy:
//
//	checkpoint: last          # last (default), all, or a step number
//	allow_missing: false      # true: a rule that matches no layer passes
//	min_gaussianity:          # Shapiro–Wilk Gaussianity % at a batch size
//	  - {layer: "*", batch_size: 128, percent: 80}
//	max_berry_esseen_median:  # median Berry–Esseen bound C·ρ/(σ³√B)
//	  - {layer: "conv*", batch_size: 128, value: 0.1}
//	min_tail_index_median:    # median tail index α (estimator: mohammadi or mcculloch)
//	  - {layer: "*", batch_size: 128, value: 1.8, estimator: mohammadi}
//	max_noise_scale:          # B_simple; layer "model" is the whole model
//	  - {layer: model, value: 4096}
//	alpha: 0.05               # family-wise false-failure rate (default 0.05)
//	compare: bound            # bound (default) or point
//	correction: holm          # holm (default) or none
//
// A policy for a dynamics.json (gnaudit dynamics) names the dynamics gates
// instead (EvaluateDynamics):
//
//	max_fdr_deviation: 0.1        # |FDR ratio − 1| of the main chain
//	max_mode_fdr_deviation: 0.1   # |FDR_j − 1| of each top mode
//	max_trace_law_deviation: 0.5  # |trace-law ratio − 1|
//	max_stability_margin: 0.5     # ηλ_max/(2(1+μ))
//
// With compare: bound a check fails only when the confidence bound on the
// favourable side of its measured value is beyond the threshold — the
// one-sided test of "the true value meets the threshold" rejects — with
// Holm's correction across all checks, so that a healthy run fails with
// probability at most alpha however many checks the policy has (METHOD.md
// "Gates"). The Gaussianity gate compares the non-degenerate pass rate
// (exact binomial test, Clopper–Pearson bound); the median gates use the
// sign test over the layer's coordinates (from the reported quantiles or
// histogram); the noise scale its standard error (log-normal). Checks whose
// report carries no uncertainty (older reports) compare point estimates.
//
// Layer patterns match a layer's parameter name or its layer name; '*'
// matches any run of characters (including '/' and '.'), '?' one character.
package gate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/gnaudit/gnaudit/auditor/yamlerr"
	"github.com/gnaudit/gnaudit/reports"
)

// Gate names, as in the policy and in the checks.
const (
	MinGaussianity       = "min_gaussianity"
	MaxBerryEsseenMedian = "max_berry_esseen_median"
	MinTailIndexMedian   = "min_tail_index_median"
	MaxNoiseScale        = "max_noise_scale"
)

// ModelLayer is the layer pattern that selects the model-level noise scale.
const ModelLayer = "model"

// Policy is a gate policy.
type Policy struct {
	// Checkpoint selects the checkpoints: "last" (default), "all" or a
	// step number.
	Checkpoint   string `yaml:"checkpoint"`
	AllowMissing bool   `yaml:"allow_missing"`

	MinGaussianity       []Rule `yaml:"min_gaussianity"`
	MaxBerryEsseenMedian []Rule `yaml:"max_berry_esseen_median"`
	MinTailIndexMedian   []Rule `yaml:"min_tail_index_median"`
	MaxNoiseScale        []Rule `yaml:"max_noise_scale"`

	// Dynamics gates, for a dynamics.json (gnaudit dynamics): thresholds
	// of |FDR − 1| (main chain), |FDR_j − 1| (each top mode), |trace-law
	// ratio − 1| and the stability margin ηλ_max/(2(1+μ)).
	MaxFDRDeviation      *float64 `yaml:"max_fdr_deviation"`
	MaxModeFDRDeviation  *float64 `yaml:"max_mode_fdr_deviation"`
	MaxTraceLawDeviation *float64 `yaml:"max_trace_law_deviation"`
	MaxStabilityMargin   *float64 `yaml:"max_stability_margin"`
	// Per-mode |Var/prediction − 1| of the exact, small-η and C = τH
	// forms, per-mode |measured/predicted Var_mom/Var_SGD − 1|, and the
	// upper bounds of ‖[H, C]‖ (normalised) and the lag-1 antisymmetry
	// (gate/dynamics.go).
	MaxModeRatioDeviation         *float64 `yaml:"max_mode_ratio_deviation"`
	MaxModeRatioSmallEtaDeviation *float64 `yaml:"max_mode_ratio_small_eta_deviation"`
	MaxModeRatioIsotropicDev      *float64 `yaml:"max_mode_ratio_isotropic_deviation"`
	MaxMomentumSGDDeviation       *float64 `yaml:"max_momentum_sgd_deviation"`
	MaxCommutator                 *float64 `yaml:"max_commutator"`
	MaxLag1Antisym                *float64 `yaml:"max_lag1_antisym"`

	// Alpha is the family-wise false-failure rate (nil: DefaultAlpha);
	// Compare is CompareBound (default) or ComparePoint; Correction is
	// CorrectionHolm (default) or CorrectionNone.
	Alpha      *float64 `yaml:"alpha"`
	Compare    string   `yaml:"compare"`
	Correction string   `yaml:"correction"`

	// Name is the policy's file name, for messages.
	Name string `yaml:"-"`
}

// Rule is one entry of a gate.
type Rule struct {
	Layer     string   `yaml:"layer"`
	BatchSize int      `yaml:"batch_size"`
	Percent   *float64 `yaml:"percent"`   // min_gaussianity
	Value     *float64 `yaml:"value"`     // the other gates
	Estimator string   `yaml:"estimator"` // min_tail_index_median: mohammadi (default) or mcculloch
}

// ParsePolicy decodes and checks a policy. Unknown keys are errors (a
// misspelt gate must not pass silently).
func ParsePolicy(data []byte, name string) (*Policy, error) {
	var p Policy
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("policy %s: empty", name)
		}
		return nil, fmt.Errorf("policy %s: %w", name, yamlerr.Explain(data, &p, err))
	}
	p.Name = name
	if err := p.check(); err != nil {
		return nil, fmt.Errorf("policy %s: %w", name, err)
	}
	if err := p.checkMethod(); err != nil {
		return nil, fmt.Errorf("policy %s: %w", name, err)
	}
	return &p, nil
}

// ReadPolicy reads a policy file.
func ReadPolicy(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParsePolicy(data, path)
}

func (p *Policy) check() error {
	switch p.Checkpoint {
	case "", "last", "all":
	default:
		if n, err := strconv.Atoi(p.Checkpoint); err != nil || n < 0 {
			return fmt.Errorf("checkpoint %q: want last, all or a step number", p.Checkpoint)
		}
	}
	n := 0
	for _, g := range p.gates() {
		for i, r := range g.rules {
			at := fmt.Sprintf("%s[%d]", g.name, i)
			n++
			if r.Layer == "" {
				return fmt.Errorf("%s: missing layer pattern", at)
			}
			if _, err := globRE(r.Layer); err != nil {
				return fmt.Errorf("%s: layer pattern %q: %w", at, r.Layer, err)
			}
			if g.needsB && r.BatchSize < 1 {
				return fmt.Errorf("%s: missing or invalid batch_size", at)
			}
			if !g.needsB && r.BatchSize != 0 {
				return fmt.Errorf("%s: batch_size does not apply", at)
			}
			if g.name == MinGaussianity {
				if r.Value != nil {
					return fmt.Errorf("%s: use percent, not value", at)
				}
				if r.Percent == nil {
					return fmt.Errorf("%s: percent must be given, 0…100", at)
				}
				if !(*r.Percent >= 0 && *r.Percent <= 100) { // NaN too
					return fmt.Errorf("%s: percent %v: want a number in 0…100", at, *r.Percent)
				}
			} else {
				if r.Percent != nil {
					return fmt.Errorf("%s: use value, not percent", at)
				}
				if r.Value == nil || math.IsNaN(*r.Value) {
					return fmt.Errorf("%s: missing value", at)
				}
			}
			if g.name == MinTailIndexMedian {
				switch r.Estimator {
				case "", "mohammadi", "mcculloch":
				default:
					return fmt.Errorf("%s: estimator %q: want mohammadi or mcculloch", at, r.Estimator)
				}
			} else if r.Estimator != "" {
				return fmt.Errorf("%s: estimator does not apply", at)
			}
		}
	}
	if err := p.checkDynamics(); err != nil {
		return err
	}
	if n == 0 && len(p.dynamicsGates()) == 0 {
		return errors.New("no gates")
	}
	return nil
}

type gateRules struct {
	name   string
	rules  []Rule
	needsB bool
	op     string
}

func (p *Policy) gates() []gateRules {
	return []gateRules{
		{MinGaussianity, p.MinGaussianity, true, ">="},
		{MaxBerryEsseenMedian, p.MaxBerryEsseenMedian, true, "<="},
		{MinTailIndexMedian, p.MinTailIndexMedian, true, ">="},
		{MaxNoiseScale, p.MaxNoiseScale, false, "<="},
	}
}

// globRE compiles a layer pattern: '*' any run, '?' one character.
func globRE(g string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for _, r := range g {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// Result is the outcome of a policy on a report.
type Result struct {
	Policy string
	Checks []reports.GateCheck
	// Method says how the checks were decided (Gates.Method).
	Method string
}

// Passed reports whether every check passed.
func (r *Result) Passed() bool {
	for _, c := range r.Checks {
		if !c.Pass {
			return false
		}
	}
	return true
}

// Failed returns the number of failed checks.
func (r *Result) Failed() int {
	n := 0
	for _, c := range r.Checks {
		if !c.Pass {
			n++
		}
	}
	return n
}

// Report returns the outcome as the report's gates section.
func (r *Result) Report() *reports.Gates {
	return &reports.Gates{Policy: r.Policy, Passed: r.Passed(), Checks: r.Checks, Method: r.Method}
}

// Evaluate applies p to rep. The error is for a policy that cannot apply
// (no checkpoint, or the requested step absent); failing checks are in the
// Result.
func Evaluate(p *Policy, rep *reports.Report) (*Result, error) {
	if dg := p.dynamicsNames(); len(dg) > 0 {
		return nil, fmt.Errorf("policy %s: %s gate a dynamics.json (gnaudit dynamics), not a report.json; use a separate policy for report.json (docs/dynamics.md \"Gating\")",
			p.Name, strings.Join(dg, ", "))
	}
	var cps []*reports.Checkpoint
	switch p.Checkpoint {
	case "", "last":
		if len(rep.Checkpoints) > 0 {
			cps = append(cps, &rep.Checkpoints[len(rep.Checkpoints)-1])
		}
	case "all":
		for i := range rep.Checkpoints {
			cps = append(cps, &rep.Checkpoints[i])
		}
	default:
		step, _ := strconv.Atoi(p.Checkpoint)
		for i := range rep.Checkpoints {
			if rep.Checkpoints[i].Step == step {
				cps = append(cps, &rep.Checkpoints[i])
			}
		}
		if len(cps) == 0 {
			return nil, fmt.Errorf("policy %s: the report has no checkpoint at step %d", p.Name, step)
		}
	}
	if len(cps) == 0 {
		return nil, fmt.Errorf("policy %s: the report has no checkpoint", p.Name)
	}
	res := &Result{Policy: p.Name}
	var evs []*evidence
	for _, cp := range cps {
		for _, g := range p.gates() {
			for _, r := range g.rules {
				cs, es := evalRule(p, cp, g, r)
				res.Checks = append(res.Checks, cs...)
				evs = append(evs, es...)
			}
		}
	}
	if p.Compare == ComparePoint {
		res.Method = "point estimates against the thresholds (compare: point)"
	} else {
		res.Method = decide(p, res.Checks, evs)
	}
	return res, nil
}

func evalRule(p *Policy, cp *reports.Checkpoint, g gateRules, r Rule) ([]reports.GateCheck, []*evidence) {
	re, _ := globRE(r.Layer)
	thr := r.Value
	if g.name == MinGaussianity {
		thr = r.Percent
	}
	mk := func(layer string, measured float64, msg string) reports.GateCheck {
		c := reports.GateCheck{Gate: g.name, Step: cp.Step, Layer: layer, BatchSize: r.BatchSize,
			Measured: reports.Number(measured), Op: g.op, Threshold: reports.Number(*thr), Message: msg}
		if g.name == MinTailIndexMedian {
			c.Estimator = r.Estimator
			if c.Estimator == "" {
				c.Estimator = "mohammadi"
			}
		}
		if msg == "" {
			if g.op == ">=" {
				c.Pass = measured >= *thr
			} else {
				c.Pass = measured <= *thr
			}
			if !c.Pass {
				c.Message = fmt.Sprintf("%s %s %s", trim(measured), map[string]string{">=": "<", "<=": ">"}[g.op], trim(*thr))
			}
		}
		return c
	}
	var out []reports.GateCheck
	var evs []*evidence
	one := func(c reports.GateCheck, e *evidence) ([]reports.GateCheck, []*evidence) {
		return []reports.GateCheck{c}, []*evidence{e}
	}
	if g.name == MaxNoiseScale && r.Layer == ModelLayer {
		if cp.NoiseScale == nil {
			return one(mk(ModelLayer, math.NaN(), "not measured (noise-scale did not run)"), nil)
		}
		b := float64(cp.NoiseScale.BSimple)
		if math.IsNaN(b) {
			// Undefined (no signal): the lower confidence bound, when
			// the report has the parts, still decides.
			return one(mk(ModelLayer, b, noSignal(cp.NoiseScale)), noiseEvidence(cp.NoiseScale, *thr))
		}
		return one(mk(ModelLayer, b, ""), noiseEvidence(cp.NoiseScale, *thr))
	}
	bIndex := -1
	for k, b := range cp.BatchSizes {
		if b == r.BatchSize {
			bIndex = k
		}
	}
	matched := 0
	for _, l := range cp.Layers {
		if !re.MatchString(l.Parameter) && !re.MatchString(l.Name) {
			continue
		}
		matched++
		if g.needsB && bIndex < 0 {
			out = append(out, mk(l.Parameter, math.NaN(), fmt.Sprintf("batch size %d was not audited (audited: %v)", r.BatchSize, cp.BatchSizes)))
			evs = append(evs, nil)
			continue
		}
		v, missing := measure(g.name, &l, bIndex, r.Estimator)
		if missing != "" {
			out = append(out, mk(l.Parameter, math.NaN(), missing))
			var e *evidence
			if g.name == MaxNoiseScale && l.NoiseScale != nil && l.NoiseScale.NoSignal {
				e = noiseEvidence(l.NoiseScale, *thr)
			}
			evs = append(evs, e)
			continue
		}
		out = append(out, mk(l.Parameter, v, ""))
		evs = append(evs, evidenceFor(g.name, &l, bIndex, r.Estimator, *thr))
	}
	if matched == 0 {
		c := mk(r.Layer, math.NaN(), fmt.Sprintf("no layer matches %q", r.Layer))
		c.Pass = p.AllowMissing
		out = append(out, c)
		evs = append(evs, nil)
	}
	return out, evs
}

// noSignal is the message of an undefined noise scale.
func noSignal(ns *reports.NoiseScale) string {
	if ns.NoSignal {
		return "undefined: no signal (|G|² not distinguishable from 0)"
	}
	return "undefined: |ḡ|² = 0"
}

// evidenceFor returns the uncertainty of a measured check, nil when the
// report carries none.
func evidenceFor(gate string, l *reports.Layer, k int, estimator string, thr float64) *evidence {
	switch gate {
	case MinGaussianity:
		g := l.Gaussianity[k]
		if m := g.Tested - g.Degenerate; g.Tested > 0 && m > 0 && g.Gaussian >= g.Degenerate {
			return binomialEvidence(g.Gaussian-g.Degenerate, m, thr)
		}
	case MaxBerryEsseenMedian:
		kb := l.KurtosisBound
		return berryEvidence(kb.PerBatch[k].Bound, l.TestedCoordinates-kb.ZeroVariance, thr)
	case MinTailIndexMedian:
		t := l.TailIndex.PerBatch[k]
		if estimator == "mcculloch" {
			return tailEvidence(t.McCullochHist, thr)
		}
		return tailEvidence(t.MohammadiHist, thr)
	case MaxNoiseScale:
		return noiseEvidence(l.NoiseScale, thr)
	}
	return nil
}

// measure returns the measured value of a gate for layer l at batch-size
// index k, or why it is missing.
func measure(gate string, l *reports.Layer, k int, estimator string) (float64, string) {
	undefined := func(x reports.Number, what string) (float64, string) {
		if !x.Defined() {
			return math.NaN(), what + " undefined for this layer"
		}
		return float64(x), ""
	}
	switch gate {
	case MinGaussianity:
		if k >= len(l.Gaussianity) {
			return math.NaN(), "not measured (normality did not run)"
		}
		// The primary number: the pass rate of the non-degenerate
		// coordinates (from the counts; older reports without them: the
		// share with degenerate coordinates counted Gaussian).
		g := l.Gaussianity[k]
		if m := g.Tested - g.Degenerate; g.Tested > 0 && m > 0 && g.Gaussian >= g.Degenerate {
			return 100 * float64(g.Gaussian-g.Degenerate) / float64(m), ""
		}
		return undefined(g.Percent, "Gaussianity")
	case MaxBerryEsseenMedian:
		if l.KurtosisBound == nil || k >= len(l.KurtosisBound.PerBatch) {
			return math.NaN(), "not measured (kurtosis-bound did not run)"
		}
		return undefined(l.KurtosisBound.PerBatch[k].Bound.P50, "Berry–Esseen bound (zero variance)")
	case MinTailIndexMedian:
		if l.TailIndex == nil || k >= len(l.TailIndex.PerBatch) {
			return math.NaN(), "not measured (alpha-stable did not run)"
		}
		if estimator == "mcculloch" {
			return undefined(l.TailIndex.PerBatch[k].McCullochMedian, "tail index")
		}
		return undefined(l.TailIndex.PerBatch[k].MohammadiMedian, "tail index")
	case MaxNoiseScale:
		if l.NoiseScale == nil {
			return math.NaN(), "not measured (noise-scale did not run)"
		}
		if l.NoiseScale.NoSignal {
			return math.NaN(), "B_simple undefined: no signal (|G|² not distinguishable from 0)"
		}
		return undefined(l.NoiseScale.BSimple, "B_simple (|ḡ|² = 0)")
	}
	return math.NaN(), "unknown gate"
}

func trim(x float64) string { return strconv.FormatFloat(x, 'g', 6, 64) }
