package gate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/gnaudit/gnaudit/auditor/dynamics"
	"github.com/gnaudit/gnaudit/reports"
)

// Gate names of a dynamics.json (gnaudit dynamics), as in the policy and in
// the checks.
const (
	// MaxFDRDeviation bounds |FDR − 1|, the main chain's
	// fluctuation–dissipation ratio (gates.fdr_ratio).
	MaxFDRDeviation = "max_fdr_deviation"
	// MaxModeFDRDeviation bounds |FDR_j − 1| of every top mode j of the
	// main chain (chains[main].modes[j].fdr_ratio: one check per mode, so
	// that the multiple-testing correction counts them).
	MaxModeFDRDeviation = "max_mode_fdr_deviation"
	// MaxTraceLawDeviation bounds |trace-law ratio − 1|
	// (gates.trace_law_ratio).
	MaxTraceLawDeviation = "max_trace_law_deviation"
	// MaxStabilityMargin bounds ηλ_max/(2(1+μ)) (gates.stability_margin).
	MaxStabilityMargin = "max_stability_margin"
	// MaxModeRatioDeviation, MaxModeRatioSmallEtaDeviation and
	// MaxModeRatioIsotropicDeviation bound |Var(u_jᵀθ)/prediction − 1|
	// of every top mode j of the main chain, for the exact discrete, the
	// small-η (Ornstein–Uhlenbeck) and the C = τH (τT) prediction
	// (chains[main].modes[j].ratio_exact, ratio_small_eta,
	// ratio_isotropic: one check per mode).
	MaxModeRatioDeviation          = "max_mode_ratio_deviation"
	MaxModeRatioSmallEtaDeviation  = "max_mode_ratio_small_eta_deviation"
	MaxModeRatioIsotropicDeviation = "max_mode_ratio_isotropic_deviation"
	// MaxMomentumSGDDeviation bounds |(Var_mom/Var_SGD)/predicted − 1| of
	// every top mode: momentum (η, μ) against plain SGD at the same
	// effective rate η/(1−μ) (momentum_vs_sgd.ratio_to_predicted).
	MaxMomentumSGDDeviation = "max_momentum_sgd_deviation"
	// MaxCommutator bounds ‖[H_U, C_U]‖/(‖H_U‖‖C_U‖) (gates.commutator):
	// 0 is the precondition of detailed balance.
	MaxCommutator = "max_commutator"
	// MaxLag1Antisym bounds the normalised lag-1 antisymmetry of the main
	// chain (gates.lag1_antisym): 0 at detailed balance.
	MaxLag1Antisym = "max_lag1_antisym"
	// DynamicsComplete is the check added when the dynamics run stopped
	// early (dynamics.json "complete": false).
	DynamicsComplete = "dynamics_complete"
)

// dynGate is a dynamics key of a policy and its threshold.
type dynGate struct {
	name string
	tol  float64
}

// dynamicsGates returns the dynamics keys of p that are set, in order.
func (p *Policy) dynamicsGates() []dynGate {
	var out []dynGate
	for _, g := range []struct {
		name string
		v    *float64
	}{
		{MaxFDRDeviation, p.MaxFDRDeviation},
		{MaxModeFDRDeviation, p.MaxModeFDRDeviation},
		{MaxTraceLawDeviation, p.MaxTraceLawDeviation},
		{MaxStabilityMargin, p.MaxStabilityMargin},
		{MaxModeRatioDeviation, p.MaxModeRatioDeviation},
		{MaxModeRatioSmallEtaDeviation, p.MaxModeRatioSmallEtaDeviation},
		{MaxModeRatioIsotropicDeviation, p.MaxModeRatioIsotropicDev},
		{MaxMomentumSGDDeviation, p.MaxMomentumSGDDeviation},
		{MaxCommutator, p.MaxCommutator},
		{MaxLag1Antisym, p.MaxLag1Antisym},
	} {
		if g.v != nil {
			out = append(out, dynGate{g.name, *g.v})
		}
	}
	return out
}

// reportGates returns the report gates (report.json) that p names.
func (p *Policy) reportGates() []string {
	var out []string
	for _, g := range p.gates() {
		if len(g.rules) > 0 {
			out = append(out, g.name)
		}
	}
	return out
}

func (p *Policy) dynamicsNames() []string {
	var out []string
	for _, g := range p.dynamicsGates() {
		out = append(out, g.name)
	}
	return out
}

// checkDynamics validates the dynamics keys of p.
func (p *Policy) checkDynamics() error {
	for _, g := range p.dynamicsGates() {
		if math.IsNaN(g.tol) || math.IsInf(g.tol, 0) || g.tol < 0 {
			return fmt.Errorf("%s: %v: want a number ≥ 0", g.name, g.tol)
		}
		if g.name == MaxStabilityMargin && g.tol == 0 {
			return fmt.Errorf("%s: 0: want a number > 0 (the margin of a stable run is in (0, 1))", g.name)
		}
	}
	return nil
}

// IsDynamicsGate reports whether gate is a dynamics.json gate.
func IsDynamicsGate(gate string) bool {
	switch gate {
	case MaxFDRDeviation, MaxModeFDRDeviation, MaxTraceLawDeviation, MaxStabilityMargin, DynamicsComplete,
		MaxModeRatioDeviation, MaxModeRatioSmallEtaDeviation, MaxModeRatioIsotropicDeviation, MaxMomentumSGDDeviation,
		MaxCommutator, MaxLag1Antisym:
		return true
	}
	return false
}

// Input is what a policy is evaluated on: a report.json or a dynamics.json.
// Exactly one of Report and Dynamics is set.
type Input struct {
	Path     string
	Report   *reports.Report
	Dynamics *dynamics.Result
}

// ReadInput reads a report.json (schema gnaudit.report/v1) or a
// dynamics.json (gnaudit.dynamics/v1), told apart by their "schema".
func ReadInput(path string) (*Input, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseInput(data, path)
}

// ParseInput is ReadInput on data read from path.
func ParseInput(data []byte, path string) (*Input, error) {
	var head struct {
		Schema string `json:"schema"`
	}
	_ = json.Unmarshal(data, &head) // a bad file gets reports.Parse's error below
	if strings.HasPrefix(head.Schema, "gnaudit.dynamics/") {
		if head.Schema != dynamics.Schema {
			return nil, fmt.Errorf("%s: schema %q: this gnaudit reads %s", path, head.Schema, dynamics.Schema)
		}
		var res dynamics.Result
		dec := json.NewDecoder(bytes.NewReader(data))
		if err := dec.Decode(&res); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return &Input{Path: path, Dynamics: &res}, nil
	}
	if head.Schema != "" && !strings.HasPrefix(head.Schema, "gnaudit.report/") {
		return nil, fmt.Errorf("%s: schema %q: want %s (gnaudit audit's report.json) or %s (gnaudit dynamics' dynamics.json)",
			path, head.Schema, reports.SchemaID, dynamics.Schema)
	}
	rep, err := reports.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Input{Path: path, Report: rep}, nil
}

// EvaluateInput applies p to a report.json or a dynamics.json. A policy
// whose gates do not apply to the input's kind is an error.
func EvaluateInput(p *Policy, in *Input) (*Result, error) {
	if in.Dynamics != nil {
		return EvaluateDynamics(p, in.Dynamics)
	}
	return Evaluate(p, in.Report)
}

// EvaluateDynamics applies p's dynamics gates to a dynamics.json. The
// error is for a policy that cannot apply (report gates, a checkpoint, or
// no dynamics gate); failing checks are in the Result.
//
// The deviation gates (|FDR − 1|, |trace-law ratio − 1|) compare the
// estimate with its batch-means standard error: the p-value of "the true
// |x − 1| is at most the tolerance" is that of the folded test at the
// tolerance's edge, Student t with blocks − 1 degrees of freedom, and the
// bound is the lower confidence bound on |x − 1|. The stability margin
// carries no standard error and is compared as a point estimate.
func EvaluateDynamics(p *Policy, res *dynamics.Result) (*Result, error) {
	if rg := p.reportGates(); len(rg) > 0 {
		return nil, fmt.Errorf("policy %s: %s gate a report.json (gnaudit audit), not a dynamics.json; use a separate policy for dynamics.json (docs/dynamics.md \"Gating\")",
			p.Name, strings.Join(rg, ", "))
	}
	if p.Checkpoint != "" {
		return nil, fmt.Errorf("policy %s: checkpoint does not apply to a dynamics.json (one run at one checkpoint)", p.Name)
	}
	dg := p.dynamicsGates()
	if len(dg) == 0 {
		return nil, fmt.Errorf("policy %s: no dynamics gate (%s) for a dynamics.json", p.Name, strings.Join(DynamicsGateNames(), ", "))
	}
	df := math.Inf(1)
	if nb := res.Config.Blocks; nb >= 2 {
		df = float64(nb - 1)
	}
	var main *dynamics.Chain
	for i := range res.Chains {
		if res.Chains[i].Name == "main" {
			main = &res.Chains[i]
		}
	}
	out := &Result{Policy: p.Name}
	var evs []*evidence
	add := func(c reports.GateCheck, e *evidence) {
		out.Checks = append(out.Checks, c)
		evs = append(evs, e)
	}
	diverged := func(ch *dynamics.Chain, what string) string {
		switch {
		case ch == nil:
			return what + " not measured (no main chain in dynamics.json)"
		case ch.Diverged != "":
			return what + " undefined: the main chain diverged (" + ch.Diverged + ")"
		}
		return what + " undefined"
	}
	for _, g := range dg {
		switch g.name {
		case MaxFDRDeviation:
			v := res.Gates.FDRRatio
			if math.IsNaN(v.Est) {
				add(missingCheck(g.name, "fdr_ratio", g.tol, diverged(main, "FDR ratio"), p.AllowMissing), nil)
				continue
			}
			add(deviationCheck(g.name, "fdr_ratio", v, g.tol, df))
		case MaxModeFDRDeviation:
			if main == nil || len(main.Modes) == 0 {
				add(missingCheck(g.name, "mode", g.tol, diverged(main, "mode FDR ratios"), p.AllowMissing), nil)
				continue
			}
			for j, m := range main.Modes {
				layer := "mode " + strconv.Itoa(j+1)
				if math.IsNaN(m.FDR.Est) {
					add(missingCheck(g.name, layer, g.tol, diverged(main, "mode FDR ratio"), false), nil)
					continue
				}
				add(deviationCheck(g.name, layer, m.FDR, g.tol, df))
			}
		case MaxTraceLawDeviation:
			v := res.Gates.TraceLawRatio
			if v == nil || math.IsNaN(v.Est) {
				msg := "trace-law ratio not measured (no second learning rate: the run had --lr2 < 0)"
				if v != nil {
					msg = "trace-law ratio undefined (a chain diverged)"
				}
				add(missingCheck(g.name, "trace_law_ratio", g.tol, msg, p.AllowMissing), nil)
				continue
			}
			add(deviationCheck(g.name, "trace_law_ratio", *v, g.tol, df))
		case MaxModeRatioDeviation, MaxModeRatioSmallEtaDeviation, MaxModeRatioIsotropicDeviation:
			if main == nil || len(main.Modes) == 0 {
				add(missingCheck(g.name, "mode", g.tol, diverged(main, "mode variance ratios"), p.AllowMissing), nil)
				continue
			}
			for j, m := range main.Modes {
				layer := "mode " + strconv.Itoa(j+1)
				v, form := m.RatioExact, "exact"
				switch g.name {
				case MaxModeRatioSmallEtaDeviation:
					v, form = m.RatioSmall, "small-η"
				case MaxModeRatioIsotropicDeviation:
					v, form = m.RatioIso, "C = τH"
				}
				if math.IsNaN(v.Est) {
					msg := fmt.Sprintf("no %s prediction for mode %d (h = %.4g: unstable or not positive", form, j+1, m.H)
					if g.name == MaxModeRatioIsotropicDeviation {
						msg += ", or no positive τ"
					}
					add(missingCheck(g.name, layer, g.tol, msg+")", p.AllowMissing), nil)
					continue
				}
				add(deviationCheck(g.name, layer, v, g.tol, df))
			}
		case MaxMomentumSGDDeviation:
			s := res.SGD
			switch {
			case s == nil:
				add(missingCheck(g.name, "momentum_vs_sgd", g.tol, "momentum vs plain SGD not measured (μ = 0, --no-sgd, or a chain missing)", p.AllowMissing), nil)
				continue
			case s.Skipped != "":
				add(missingCheck(g.name, "momentum_vs_sgd", g.tol, s.Skipped, p.AllowMissing), nil)
				continue
			}
			for j, v := range s.RatioToPred {
				layer := "mode " + strconv.Itoa(j+1)
				if math.IsNaN(v.Est) {
					add(missingCheck(g.name, layer, g.tol, fmt.Sprintf("no prediction for mode %d: plain SGD at η/(1−μ) is beyond its linear stability edge", j+1), p.AllowMissing), nil)
					continue
				}
				add(deviationCheck(g.name, layer, v, g.tol, df))
			}
		case MaxCommutator, MaxLag1Antisym:
			v, key := res.Gates.Commutator, "commutator"
			if g.name == MaxLag1Antisym {
				v, key = res.Gates.Lag1Antisym, "lag1_antisym"
			}
			if math.IsNaN(v.Est) {
				add(missingCheck(g.name, key, g.tol, key+" not measured (needs ≥ 2 eigenpairs; lag1_antisym also a main chain)", p.AllowMissing), nil)
				continue
			}
			add(upperCheck(g.name, key, v, g.tol, df))
		case MaxStabilityMargin:
			m := res.Gates.StabilityMargin
			c := reports.GateCheck{Gate: g.name, Layer: "stability_margin", Measured: reports.Number(m), Op: "<=", Threshold: reports.Number(g.tol)}
			switch {
			case math.IsNaN(m) || m <= 0:
				c.Message = "stability margin not measured (no Hessian eigenvalue)"
				c.Pass = p.AllowMissing
			default:
				c.Pass = m <= g.tol
				if !c.Pass {
					c.Message = fmt.Sprintf("%s > %s (ηλ_max/(2(1+μ)), a point estimate)", trim(m), trim(g.tol))
				}
			}
			add(c, nil)
		}
	}
	if !res.Complete {
		add(reports.GateCheck{Gate: DynamicsComplete, Layer: "complete", Measured: 0, Op: ">=", Threshold: 1,
			Message: "partial run: dynamics.json says complete: false (the run stopped before the end)"}, nil)
	}
	if p.Compare == ComparePoint {
		out.Method = "point estimates against the thresholds (compare: point)"
	} else {
		out.Method = decide(p, out.Checks, evs)
	}
	return out, nil
}

// DynamicsGateNames lists the policy keys that gate a dynamics.json.
func DynamicsGateNames() []string {
	return []string{MaxFDRDeviation, MaxModeFDRDeviation, MaxTraceLawDeviation, MaxStabilityMargin,
		MaxModeRatioDeviation, MaxModeRatioSmallEtaDeviation, MaxModeRatioIsotropicDeviation, MaxMomentumSGDDeviation,
		MaxCommutator, MaxLag1Antisym}
}

// upperCheck is the check x ≤ tol of a non-negative estimate v ± se (a
// norm, a largest absolute value), and its evidence: the one-sided test of
// "the true x is at most tol", p = P(T ≥ (x̂ − tol)/se) with Student t of
// df degrees of freedom, and the lower confidence bound x̂ − t_level·se
// (at least 0). Without a usable standard error: a point comparison.
func upperCheck(gate, layer string, v dynamics.Value, tol, df float64) (reports.GateCheck, *evidence) {
	c := reports.GateCheck{Gate: gate, Layer: layer, Measured: reports.Number(v.Est), Op: "<=", Threshold: reports.Number(tol)}
	c.Pass = v.Est <= tol
	note := fmt.Sprintf("%s = %.4g", layer, v.Est)
	if !math.IsNaN(v.SE) {
		note += fmt.Sprintf(" ± %.2g", v.SE)
	}
	if !c.Pass {
		c.Message = fmt.Sprintf("%s > %s", note, trim(tol))
	}
	if !(v.SE > 0) || math.IsInf(v.SE, 0) {
		return c, nil
	}
	var dist interface {
		Survival(float64) float64
		Quantile(float64) float64
	} = distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}
	if math.IsInf(df, 1) {
		dist = distuv.UnitNormal
	}
	x, se := v.Est, v.SE
	return c, &evidence{p: dist.Survival((x - tol) / se), what: "lower", note: note, bound: func(a float64) float64 {
		return math.Max(0, x-dist.Quantile(1-a)*se)
	}}
}

func missingCheck(gate, layer string, tol float64, msg string, pass bool) reports.GateCheck {
	return reports.GateCheck{Gate: gate, Layer: layer, Measured: reports.Number(math.NaN()), Op: "<=",
		Threshold: reports.Number(tol), Message: msg, Pass: pass}
}

// deviationCheck is the check |x − 1| ≤ tol of an estimate v ± se, and its
// evidence (nil when v has no usable standard error: point comparison).
func deviationCheck(gate, layer string, v dynamics.Value, tol, df float64) (reports.GateCheck, *evidence) {
	d := math.Abs(v.Est - 1)
	c := reports.GateCheck{Gate: gate, Layer: layer, Measured: reports.Number(d), Op: "<=", Threshold: reports.Number(tol)}
	c.Pass = d <= tol
	note := fmt.Sprintf("%s = %.4g ± %.2g", layer, v.Est, v.SE)
	if !c.Pass {
		c.Message = fmt.Sprintf("%s: |x − 1| = %s > %s", note, trim(d), trim(tol))
	}
	if !(v.SE > 0) || math.IsInf(v.SE, 0) {
		return c, nil
	}
	e := deviationEvidence(d, v.SE, tol, df)
	e.note = note
	return c, e
}

// deviationEvidence: the measured deviation d = |x̂ − 1| with standard
// error se, against "the true deviation δ = |x − 1| is at most tol". With
// (x̂ − x)/se ~ t_df the p-value is sup over δ ≤ tol of P(|x̂ − 1| ≥ d),
// attained at δ = tol: P(T ≥ (d − tol)/se) + P(T ≥ (d + tol)/se) (the
// folded test; tol = 0 is the two-sided test of x = 1). The bound is the
// lower confidence bound on δ: the δ at which that p-value equals the level
// (0 when even δ = 0 is not rejected).
func deviationEvidence(d, se, tol, df float64) *evidence {
	q := func(z float64) float64 {
		if math.IsInf(df, 1) {
			return distuv.UnitNormal.Survival(z)
		}
		return distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}.Survival(z)
	}
	pAt := func(delta float64) float64 { return math.Min(1, q((d-delta)/se)+q((d+delta)/se)) }
	return &evidence{p: pAt(tol), what: "lower", bound: func(a float64) float64 {
		if pAt(0) > a {
			return 0
		}
		lo, hi := 0.0, d // pAt(lo) ≤ a < pAt(hi) = ½ + …
		for i := 0; i < 100; i++ {
			mid := (lo + hi) / 2
			if pAt(mid) <= a {
				lo = mid
			} else {
				hi = mid
			}
		}
		return lo
	}}
}
