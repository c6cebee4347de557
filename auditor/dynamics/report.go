package dynamics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/gnaudit/gnaudit/auditor/atomicfile"
)

// File names in the output directory.
const (
	JSONName = "dynamics.json"
	MDName   = "dynamics.md"
)

// Write writes dir/dynamics.json and dir/dynamics.md (each atomically:
// a temporary file renamed over the old one) and returns their paths.
func Write(dir string, res *Result) (jsonPath, mdPath string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", fmt.Errorf("dynamics: %w", err)
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return "", "", fmt.Errorf("dynamics: encoding %s: %w", JSONName, err)
	}
	jsonPath, mdPath = filepath.Join(dir, JSONName), filepath.Join(dir, MDName)
	if err := writeAtomic(jsonPath, append(b, '\n')); err != nil {
		return "", "", err
	}
	if err := writeAtomic(mdPath, []byte(Markdown(res))); err != nil {
		return "", "", err
	}
	return jsonPath, mdPath, nil
}

func writeAtomic(path string, b []byte) error {
	if err := atomicfile.WriteFile(path, b); err != nil {
		return fmt.Errorf("dynamics: writing %s: %w", path, err)
	}
	return nil
}

func pmOr(v Value, alt string) string {
	if math.IsNaN(v.Est) {
		return alt
	}
	return pm(v)
}

func num(n Num) string {
	if math.IsNaN(float64(n)) {
		return "—"
	}
	return fmt.Sprintf("%.4f", float64(n))
}

func pm(v Value) string {
	if math.IsNaN(v.Est) {
		return "—"
	}
	return fmt.Sprintf("%.4g ± %.2g", v.Est, v.SE)
}

// Markdown renders the result as dynamics.md.
func Markdown(res *Result) string {
	var b bytes.Buffer
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	cfg := res.Config
	w("# SGD dynamics near a minimum\n\n")
	if !res.Complete {
		w("> **PARTIAL**: the run stopped before the end; the figures below are what was measured.\n\n")
	}
	if res.Model != "" {
		w("Model `%s`", res.Model)
		if res.Data != "" {
			w(", data %s", res.Data)
		}
		w(", %d training samples. ", res.Samples)
	}
	w("Update v ← μv − η(g_S + λθ), θ ← θ + v with i.i.d. batches of B = %d drawn with replacement; "+
		"η = %g, μ = %g, λ = %g; %d recorded updates per chain after %d of burn-in; error bars: 1 standard error "+
		"from %d batch-means blocks (jackknife). Definitions: docs/dynamics.md.\n\n",
		cfg.Batch, cfg.LR, cfg.Momentum, cfg.WeightDecay, cfg.Steps, cfg.Burn, cfg.Blocks)

	st := res.Static
	w("## At the checkpoint θ₀\n\n")
	w("| quantity | value |\n|---|---|\n")
	w("| L(θ₀) on %d samples (with λ/2·|θ|²) | %.6g |\n", st.HessianSamples, st.Loss)
	w("| \\|∇L(θ₀)\\| | %.4g |\n", st.GradNorm)
	w("| HVP symmetry \\|uᵀHw − wᵀHu\\| (relative) | %.2g |\n", st.Symmetry)
	for i, e := range st.Eigen {
		w("| h%d (Lanczos, residual) | %.6g (%.2g) |\n", i+1, e.Value, e.Residual)
	}
	w("| Lanczos iterations | %d |\n", st.LanczosIters)
	w("| tr H (Hutchinson) | %s |\n", pm(st.TraceH))
	w("| tr C (per-sample gradient covariance, %d samples) | %s |\n", st.NoiseSamples, pm(st.TraceC))
	w("| τ = tr C / tr H | %s |\n", pm(st.Tau))
	w("| ‖[H,C]‖/(‖H‖‖C‖) on the eigenvectors | %s |\n", pm(Value{Est: st.Alignment.Commutator, SE: float64(st.Alignment.CommutatorSE)}))
	w("| off-diagonal share of C_U | %.3g |\n", st.Alignment.OffDiagonal)
	w("| cos(diag C_U, h) (1: C ∝ H) | %.4g |\n", st.Alignment.Cosine)
	w("| stability margin ηλ_max/(2(1+μ)) | %.4g |\n\n", st.StabilityMargin)

	w("## Chains\n\n")
	w("| chain | η | μ | T = η/(2B(1−μ)) | margin | FDR ratio | E[L] | lag-1 antisym (pred) | block / max τ_corr |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, ch := range res.Chains {
		if ch.Diverged != "" {
			w("| %s | %.4g | %g | %.3g | %.3g | diverged: %s | | | |\n", ch.Name, ch.LR, ch.Momentum, ch.Temperature, ch.StabilityMargin, strings.ReplaceAll(ch.Diverged, "|", "/"))
			continue
		}
		w("| %s | %.4g | %g | %.3g | %.3g | %s | %s | %s (%.3g) | %d / %.3g |\n", ch.Name, ch.LR, ch.Momentum, ch.Temperature,
			ch.StabilityMargin, pm(ch.FDR), pm(ch.Loss), pm(ch.Lag1Antisym), ch.Lag1AntisymPred, ch.BlockLength, ch.MaxCorrTime)
	}
	w("\nFDR ratio = E[(θ−c)·g] / ((1+μ)/(2η)·E|v|²): 1 at stationarity for any loss (Yaida); the mode FDR (tables below) is the same on one eigenmode.\n\n")
	for _, ch := range res.Chains {
		if ch.Diverged != "" {
			continue
		}
		w("- %s: loss drift (second half − first half) %s", ch.Name, pm(ch.LossDrift))
		if ch.SlowTime > 0 {
			w("; the directions curved only by the weight decay relax in (1−μ)/(ηλ) = %.3g updates (%d recorded)", ch.SlowTime, ch.Steps)
		}
		w(".\n")
	}
	w("\n")
	for _, ch := range res.Chains {
		if ch.Diverged != "" || len(ch.Modes) == 0 {
			continue
		}
		w("### Modes of chain %s (η = %.4g, μ = %g)\n\n", ch.Name, ch.LR, ch.Momentum)
		w("| mode | h | c = u·C·u | τ_corr | mode FDR | Var(uᵀθ) | /exact | /small-η | /τT (C = τH) | drift of uᵀθ | detrended Var/exact | Var(uᵀv)/exact |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for j, md := range ch.Modes {
			vr := "unstable"
			if pv := float64(md.PredVarV); pv > 0 {
				vr = pm(Value{Est: md.VarV.Est / pv, SE: md.VarV.SE / pv})
			}
			w("| %d | %.5g | %.4g | %.3g | %s | %s | %s | %s | %s | %.3g | %s | %s |\n", j+1, md.H, md.C, md.CorrTime, pm(md.FDR), pm(md.Var),
				pmOr(md.RatioExact, "unstable"), pmOr(md.RatioSmall, "unstable"), pmOr(md.RatioIso, "—"), md.Drift,
				pmOr(md.RatioDetrended, "unstable"), vr)
		}
		w("\n")
	}
	if t := res.Trace; t != nil {
		w("## Trace law\n\n")
		w("E[L](η₁) − E[L](η₂) = %s; predicted (η₁ − η₂)·tr C/(4B(1−μ)) = %.4g ± %.2g; ratio %s.\n\n",
			pm(t.DeltaLoss), t.Predicted, t.PredSE, pm(t.Ratio))
	}
	if s := res.SGD; s != nil {
		w("## Momentum vs plain SGD at equal η/(1−μ)\n\n")
		if s.Skipped != "" {
			w("%s.\n\n", s.Skipped)
		} else {
			w("| mode | Var_mom/Var_SGD | predicted (2 − ηh/(1−μ))/(2 − ηh/(1+μ)) | measured/predicted |\n|---|---|---|---|\n")
			for j, r := range s.Ratios {
				rp := "—"
				if j < len(s.RatioToPred) {
					rp = pm(s.RatioToPred[j])
				}
				w("| %d | %s | %s | %s |\n", j+1, pm(r), num(s.Predicted[j]), rp)
			}
			if s.Note != "" {
				w("\n%s.\n", s.Note)
			}
			w("\nE[L]_mom − E[L]_SGD = %s.\n\n", pm(s.LossDiff))
		}
	}
	g := res.Gates
	w("## Gate keys (dynamics.json \"gates\")\n\n| key | value |\n|---|---|\n")
	w("| fdr_ratio | %s |\n", pm(g.FDRRatio))
	w("| mode_fdr_worst | %s |\n", pm(g.ModeFDRWorst))
	if g.ModeRatioMedian != nil {
		w("| mode_ratio_median | %.4g |\n", *g.ModeRatioMedian)
	}
	w("| mode_ratio_worst | %s |\n", pm(g.ModeRatioWorst))
	w("| mode_ratio_small_eta_worst | %s |\n", pm(g.ModeRatioSmallWorst))
	w("| mode_ratio_isotropic_worst | %s |\n", pm(g.ModeRatioIsoWorst))
	w("| momentum_sgd_worst | %s |\n", pm(g.MomentumSGDWorst))
	if g.TraceLawRatio != nil {
		w("| trace_law_ratio | %s |\n", pm(*g.TraceLawRatio))
	}
	w("| stability_margin | %.4g |\n| commutator | %s |\n| lag1_antisym | %s |\n| hvp_symmetry | %.2g |\n| tau | %s |\n| isotropy_cosine | %.4g |\n\n",
		g.StabilityMargin, pm(g.Commutator), pm(g.Lag1Antisym), g.HVPSymmetry, pm(g.Tau), g.IsotropyCosine)
	p := res.Plan
	w("## Cost\n\n%d trainable parameters; %d float64 gradient passes over %d samples (%.3g s each); %d per-sample gradients; "+
		"%d chain updates (%.3g s each); estimated %.0f s.\n", p.Params, p.GradPasses, st.HessianSamples, p.GradPassSeconds,
		p.NoiseSamples, p.ChainSteps, p.StepSeconds, p.EstimatedSeconds)
	if len(res.Notes) > 0 {
		w("\n## Notes\n\n")
		for _, n := range res.Notes {
			w("- %s\n", n)
		}
	}
	return b.String()
}
