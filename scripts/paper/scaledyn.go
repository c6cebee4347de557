package paper

// The dynamics stage of the paper-scale plan (scale.sh dynamics): the SGD
// dynamics of docs/dynamics.md measured at each seed's trained model, a
// table per config and a verdict per proposition by a stated rule.

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/gnaudit/gnaudit/auditor/dynamics"
)

// dynRun is one seed's dynamics at its trained model.
type dynRun struct {
	Config string
	Seed   int
	Source map[string]any // source.json: train, epoch, plateau, seconds
	Res    *dynamics.Result
}

// readDynConfigs reads the dynamics-*.yaml configs of dir: each needs a
// "# seeds:" and a "# train:" line.
func readDynConfigs(dir string) ([]scaleConfig, error) {
	files, err := filepath.Glob(filepath.Join(dir, "dynamics-*.yaml"))
	if err != nil {
		return nil, err
	}
	var out []scaleConfig
	for _, f := range files {
		h, err := Header(f)
		if err != nil {
			return nil, err
		}
		c := scaleConfig{Name: strings.TrimSuffix(filepath.Base(f), ".yaml"), Header: h, Train: h["train"]}
		if c.Seeds, err = Ints(h["seeds"]); err != nil || len(c.Seeds) == 0 {
			return nil, fmt.Errorf("%s: want a '# seeds:' line (%v)", f, err)
		}
		if c.Train == "" {
			return nil, fmt.Errorf("%s: want a '# train:' line", f)
		}
		out = append(out, c)
	}
	return out, nil
}

// loadDyn reads results/NAME/seed-S/{dynamics.json,source.json} for every
// seed of c that has a directory; a directory without a complete
// dynamics.json is an error (scale.sh keep copies finished runs only).
func loadDyn(results string, c scaleConfig) ([]dynRun, error) {
	var out []dynRun
	for _, s := range c.Seeds {
		dir := filepath.Join(results, c.Name, fmt.Sprintf("seed-%d", s))
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		p := filepath.Join(dir, "dynamics.json")
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("dynamics results %s: %w", dir, err)
		}
		var res dynamics.Result
		if err := json.Unmarshal(b, &res); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if res.Schema != dynamics.Schema {
			return nil, fmt.Errorf("%s: schema %q, want %q", p, res.Schema, dynamics.Schema)
		}
		if !res.Complete {
			return nil, fmt.Errorf("%s: the run is partial (complete: false)", p)
		}
		r := dynRun{Config: c.Name, Seed: s, Res: &res, Source: map[string]any{}}
		if sb, err := os.ReadFile(filepath.Join(dir, "source.json")); err == nil {
			if err := json.Unmarshal(sb, &r.Source); err != nil {
				return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "source.json"), err)
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// within2 says whether v is within 2 standard errors of x (false when the
// error is not finite).
func within2(v dynamics.Value, x float64) bool {
	return finite(v.Est) && finite(v.SE) && math.Abs(v.Est-x) <= 2*v.SE
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// Verdicts of the dynamics propositions, one seed (the rules are
// dynRuleText).
const (
	dynAgrees      = "agrees"
	dynDisagrees   = "disagrees"
	dynNotResolved = "not resolved"
	dynNotTestable = "not testable"
)

// prop1Verdict: Proposition 1 (the stationary state breaks detailed
// balance). In the linear model detailed balance needs [H, C] = 0 and
// shows as a zero lag-1 antisymmetry of the modes. Agrees when the
// commutator is more than 2 SE above 0 and the main chain's antisymmetry
// more than 3 SE above 0 (a maximum of absolute values, biased upward by
// about one SE when it is 0); disagrees when the antisymmetry is
// significantly below the linear model's prediction from the measured H
// and C (measured + 2 SE < predicted: the predicted breaking is absent);
// else not resolved.
func prop1Verdict(r *dynamics.Result) string {
	a := r.Static.Alignment
	if !finite(float64(a.CommutatorSE)) || len(r.Chains) == 0 {
		return dynNotTestable
	}
	m, pred := r.Chains[0].Lag1Antisym, r.Chains[0].Lag1AntisymPred
	if !finite(m.Est) || !finite(m.SE) {
		return dynNotTestable
	}
	switch {
	case a.Commutator > 2*float64(a.CommutatorSE) && m.Est > 3*m.SE:
		return dynAgrees
	case finite(pred) && m.Est+2*m.SE < pred:
		return dynDisagrees
	}
	return dynNotResolved
}

// maxRitzResidual is the largest relative Ritz residual |Hy − hy|/h of
// an eigenpair whose mode Proposition 2 judges: an unconverged Ritz vector
// is no eigenmode, and the linear prediction is that of an eigenmode.
const maxRitzResidual = 0.01

// converged says whether mode j of r is a converged eigenpair.
func converged(r *dynamics.Result, j int) bool {
	if j >= len(r.Static.Eigen) {
		return false
	}
	e := r.Static.Eigen[j]
	return e.Value > 0 && e.Residual <= maxRitzResidual*e.Value
}

// prop2Verdict: Proposition 2 (a stationary state, Boltzmann-like in the
// effective potential), on the converged top modes of the main chain. Not
// testable when no mode converged, a judged mode is not stationary (its
// own FDR ratio more than 2 SE from 1) or the chain diverged; agrees when
// every judged mode's variance is within 2 SE of the exact linear
// (Boltzmann-like) prediction; disagrees otherwise. whole says in
// addition whether the whole model is stationary (main-chain FDR ratio
// within 2 SE of 1), which the trace law needs.
func prop2Verdict(r *dynamics.Result) (v string, whole bool) {
	if len(r.Chains) == 0 || r.Chains[0].Diverged != "" {
		return dynNotTestable, false
	}
	c := r.Chains[0]
	whole = within2(c.FDR, 1)
	var judged []dynamics.Mode
	for j, m := range c.Modes {
		if converged(r, j) {
			judged = append(judged, m)
		}
	}
	if len(judged) == 0 {
		return dynNotTestable, whole
	}
	for _, m := range judged {
		if !within2(m.FDR, 1) {
			return dynNotTestable, whole
		}
	}
	for _, m := range judged {
		if !within2(m.RatioExact, 1) {
			return dynDisagrees, whole
		}
	}
	return dynAgrees, whole
}

// combineDyn is the verdict over seeds: all the same, that one; else
// "mixed" with the counts.
func combineDyn(vs []string) string {
	if len(vs) == 0 {
		return dynNotTestable
	}
	n := map[string]int{}
	for _, v := range vs {
		n[v]++
	}
	if n[vs[0]] == len(vs) {
		return vs[0]
	}
	var parts []string
	for _, v := range []string{dynAgrees, dynDisagrees, dynNotResolved, dynNotTestable} {
		if n[v] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", v, n[v]))
		}
	}
	return "mixed (" + strings.Join(parts, ", ") + " of " + fmt.Sprint(len(vs)) + " seeds)"
}

const dynRuleText = "Rules (applied by `scalectl aggregate`, one verdict per seed, then all seeds the same or \"mixed\"): " +
	"**Proposition 1** (detailed balance broken) agrees when ‖[H_U, C_U]‖/(‖H_U‖‖C_U‖) is more than 2 SE above 0 and the main chain's lag-1 antisymmetry more than 3 SE above 0 " +
	"(it is a maximum of absolute values, biased upward by about one SE when it is 0), disagrees when the antisymmetry plus 2 SE is below the linear model's prediction from the measured H and C (the predicted breaking is absent), and is not resolved otherwise; " +
	"**Proposition 2** (stationary, Boltzmann-like on the top modes) judges the modes whose Ritz pair converged (residual |Hy − hy| at most 1 % of h; the others are marked \"unconverged\" and not judged): " +
	"not testable when none converged, a judged mode's own FDR ratio is more than 2 SE from 1 (not stationary) or the chain diverged, " +
	"agrees when every judged mode's position variance is within 2 SE of the exact linear (harmonic, discrete) prediction, and disagrees otherwise; " +
	"\"whole model stationary\" is the main chain's FDR ratio within 2 SE of 1, which the trace law needs.\n"

func pmV(v dynamics.Value) string {
	if !finite(v.Est) {
		return "–"
	}
	if !finite(v.SE) {
		return sig3(v.Est)
	}
	return sig3(v.Est) + " ± " + sig3(v.SE)
}

// sig3 writes x with 3 significant digits (no exponent between 1e-4 and 1e6).
func sig3(x float64) string {
	a := math.Abs(x)
	switch {
	case a == 0:
		return "0"
	case a < 1e-4 || a >= 1e6:
		return fmt.Sprintf("%.2e", x)
	}
	d := 2 - int(math.Floor(math.Log10(a)))
	if d < 0 {
		d = 0
	}
	return fmt.Sprintf("%.*f", d, x)
}

// dynamicsBlock writes the scale-dynamics block: per config a table of the
// static figures and chains per seed, the verdicts and the rules.
func (s *scaleDoc) dynamicsBlock(cfgs []scaleConfig, runs []dynRun) {
	if len(runs) == 0 {
		return
	}
	var b strings.Builder
	sum := map[string]any{}
	for _, c := range cfgs {
		var rs []dynRun
		for _, r := range runs {
			if r.Config == c.Name {
				rs = append(rs, r)
			}
		}
		if len(rs) == 0 {
			continue
		}
		cfg := rs[0].Res.Config
		fmt.Fprintf(&b, "#### Dynamics: %s\n\n", c.Name)
		fmt.Fprintf(&b, "θ₀ = the trained model of `%s` (its plateau epoch); B = %d, μ = %g, λ = %g, η = %g (main chain) and %g (trace law), plain SGD at η/(1−μ); %d recorded updates per chain after %d of burn-in, %d batch-means blocks; K = %d eigenpairs, Hessian and noise covariance on %d and %d training samples. Every figure ± 1 standard error.\n\n",
			c.Train, cfg.Batch, cfg.Momentum, cfg.WeightDecay, cfg.LR, cfg.LR2, cfg.Steps, cfg.Burn, cfg.Blocks, cfg.K, cfg.HessianSamples, cfg.NoiseSamples)
		b.WriteString("| seed | θ₀ | L(θ₀) | \\|∇L(θ₀)\\| | h₁, h₂, h₃ | tr H | tr C | commutator | cos(diag C_U, h) | FDR ratio (whole model) | mode FDR ratios | mode Var / exact prediction | lag-1 antisymmetry (linear prediction) | trace law ratio | Var_mom/Var_SGD ÷ prediction | loss drift |\n")
		b.WriteString("|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---|---|---|---:|---|---:|\n")
		var v1, v2 []string
		var whole []string
		seeds := map[string]any{}
		for _, r := range rs {
			st := r.Res.Static
			var hs []string
			for _, e := range st.Eigen {
				hs = append(hs, sig3(e.Value))
			}
			theta := "–"
			if ep, ok := jf(r.Source["epoch"]); ok {
				state := "plateau"
				if pl, _ := r.Source["plateau"].(bool); !pl {
					state = "not plateaued"
				}
				theta = fmt.Sprintf("epoch %d (%s)", int(ep), state)
			}
			row := []string{fmt.Sprint(r.Seed), theta, sig3(st.Loss), sig3(st.GradNorm), strings.Join(hs, ", "), pmV(st.TraceH), pmV(st.TraceC),
				pmV(dynamics.Value{Est: st.Alignment.Commutator, SE: float64(st.Alignment.CommutatorSE)}), sig3(st.Alignment.Cosine)}
			if len(r.Res.Chains) > 0 {
				m := r.Res.Chains[0]
				var fdr, ratio []string
				for j, md := range m.Modes {
					fdr = append(fdr, pmV(md.FDR))
					x := pmV(md.RatioExact)
					if !converged(r.Res, j) && j < len(st.Eigen) {
						x += fmt.Sprintf(" (unconverged, residual %.0f %%)", 100*st.Eigen[j].Residual/st.Eigen[j].Value)
					}
					ratio = append(ratio, x)
				}
				row = append(row, pmV(m.FDR), strings.Join(fdr, "; "), strings.Join(ratio, "; "), fmt.Sprintf("%s (%s)", pmV(m.Lag1Antisym), sig3(m.Lag1AntisymPred)))
				if m.Diverged != "" {
					row[len(row)-4] += " (diverged: " + m.Diverged + ")"
				}
			} else {
				row = append(row, "–", "–", "–", "–")
			}
			tl := "–"
			if r.Res.Trace != nil {
				tl = pmV(r.Res.Trace.Ratio)
			}
			sg := "–"
			if r.Res.SGD != nil {
				var xs []string
				for _, x := range r.Res.SGD.RatioToPred {
					xs = append(xs, pmV(x))
				}
				if len(xs) > 0 {
					sg = strings.Join(xs, "; ")
				} else if r.Res.SGD.Skipped != "" {
					sg = "skipped"
				}
			}
			drift := "–"
			if len(r.Res.Chains) > 0 {
				drift = pmV(r.Res.Chains[0].LossDrift)
			}
			row = append(row, tl, sg, drift)
			b.WriteString("| " + strings.Join(row, " | ") + " |\n")
			p1 := prop1Verdict(r.Res)
			p2, w := prop2Verdict(r.Res)
			v1, v2 = append(v1, p1), append(v2, p2)
			ws := "not stationary"
			if w {
				ws = "stationary"
			}
			whole = append(whole, ws)
			seeds[fmt.Sprint(r.Seed)] = map[string]any{"prop1": p1, "prop2": p2, "whole_model": ws,
				"fdr_ratio": r.Res.Gates.FDRRatio, "commutator": r.Res.Gates.Commutator, "lag1_antisym": r.Res.Gates.Lag1Antisym,
				"mode_ratio_worst": r.Res.Gates.ModeRatioWorst, "mode_fdr_worst": r.Res.Gates.ModeFDRWorst, "grad_norm": r.Res.Static.GradNorm}
		}
		fmt.Fprintf(&b, "\nVerdicts, seeds %s: **Proposition 1** (detailed balance broken): %s (per seed: %s); **Proposition 2** (Boltzmann-like on the top modes): %s (per seed: %s); whole model: %s.\n\n",
			seedList(rs), combineDyn(v1), strings.Join(v1, ", "), combineDyn(v2), strings.Join(v2, ", "), strings.Join(whole, ", "))
		sum[c.Name] = map[string]any{"prop1": combineDyn(v1), "prop2": combineDyn(v2), "seeds": seeds}
	}
	b.WriteString(dynRuleText)
	s.section("Dynamics at the trained model", "scale-dynamics", b.String())
	s.summary["dynamics"] = sum
}

func seedList(rs []dynRun) string {
	var xs []int
	for _, r := range rs {
		xs = append(xs, r.Seed)
	}
	return intsString(xs)
}
