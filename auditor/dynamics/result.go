package dynamics

import (
	"math"
	"strconv"

	"github.com/gnaudit/gnaudit/auditor/dynamics/internal/series"
)

// Schema names the format of dynamics.json.
const Schema = "gnaudit.dynamics/v1"

// Value is an estimate with its standard error.
type Value = series.Value

// Num is a float64 written to JSON as null when it is not finite (a
// prediction that does not exist, e.g. for an unstable mode).
type Num float64

// MarshalJSON writes the number, or null.
func (n Num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

// UnmarshalJSON reads a number or null (NaN).
func (n *Num) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = Num(math.NaN())
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	*n = Num(f)
	return err
}

// Result is everything a run measured (dynamics.json).
type Result struct {
	Schema  string `json:"schema"`
	Model   string `json:"model,omitempty"`
	Data    string `json:"data,omitempty"`
	Samples int    `json:"samples"`
	// Step is the checkpoint's fine-tuning step when gnaudit audit
	// --dynamics ran the analysis (absent for gnaudit dynamics).
	Step     *int     `json:"step,omitempty"`
	Config   Config   `json:"config"`
	Plan     Plan     `json:"plan"`
	Static   Static   `json:"static"`
	Chains   []Chain  `json:"chains"`
	Trace    *Law     `json:"trace_law,omitempty"`
	SGD      *SGDComp `json:"momentum_vs_sgd,omitempty"`
	Gates    Gates    `json:"gates"`
	Notes    []string `json:"notes,omitempty"`
	Complete bool     `json:"complete"`
}

// Static are the quantities measured at the checkpoint θ₀.
type Static struct {
	Loss     float64 `json:"loss"`      // L(θ₀) on the Hessian samples (with (λ/2)|θ|²_D)
	GradNorm float64 `json:"grad_norm"` // |∇L(θ₀)|
	// Symmetry is |uᵀHw − wᵀHu| relative to |Hu|, |Hw| for random u, w.
	Symmetry float64 `json:"hvp_symmetry"`
	// Eigen are the top Ritz pairs' values and residuals |Hy − hy|.
	Eigen        []EigenPair `json:"eigen"`
	LanczosIters int         `json:"lanczos_iters"`
	TraceH       Value       `json:"trace_h"`
	TraceC       Value       `json:"trace_c"`
	// Tau = tr C / tr H (C = τH's τ, Fisher ≈ Hessian).
	Tau Value `json:"tau"`
	// NoiseCov is C_U, the per-sample gradient covariance on the
	// eigenvectors (row-major K×K), NoiseCovSE its standard errors.
	NoiseCov   []float64 `json:"noise_cov"`
	NoiseCovSE []float64 `json:"noise_cov_se"`
	Alignment  Align     `json:"alignment"`
	// StabilityMargin is η λ_max / (2(1+μ)) of the main chain (stable < 1).
	StabilityMargin float64 `json:"stability_margin"`
	HessianSamples  int     `json:"hessian_samples"`
	NoiseSamples    int     `json:"noise_samples"`
}

// EigenPair is one Ritz pair's value and residual.
type EigenPair struct {
	Value    float64 `json:"value"`
	Residual float64 `json:"residual"`
}

// Align is hessian.Alignment, with the commutator's standard error
// (jackknife over groups of the noise samples, hessian.CommutatorSE).
type Align struct {
	Commutator   float64 `json:"commutator"`
	CommutatorSE Num     `json:"commutator_se"`
	OffDiagonal  float64 `json:"off_diagonal"`
	Tau          float64 `json:"tau"`
	Cosine       float64 `json:"cosine"`
}

// Chain is one constant-(η, μ, B) run and its stationary figures.
type Chain struct {
	Name     string  `json:"name"`
	LR       float64 `json:"lr"`
	Momentum float64 `json:"momentum"`
	Burn     int     `json:"burn"`
	Steps    int     `json:"steps"` // recorded updates
	// Diverged says why the chain stopped early ("" if it did not).
	Diverged        string  `json:"diverged,omitempty"`
	StabilityMargin float64 `json:"stability_margin"`
	Temperature     float64 `json:"temperature"` // η/(2B(1−μ))
	// Loss is the mean batch loss over the recorded updates.
	Loss Value `json:"loss"`
	// FDR: E[(θ−c)·g] / ((1+μ)/(2η) E|v|²), 1 at stationarity.
	FDR   Value  `json:"fdr_ratio"`
	XG    Value  `json:"x_dot_g"`
	VV    Value  `json:"v_squared"`
	Modes []Mode `json:"modes"`
	// Lag1Antisym is max_{i<j} |K₁ − K₁ᵀ|_ij/2 / √(Σ_ii Σ_jj) measured on
	// the modes, with the exact prediction of the linear model.
	Lag1Antisym     Value   `json:"lag1_antisym"`
	Lag1AntisymPred float64 `json:"lag1_antisym_pred"`
	// BlockLength is the updates per batch-means block, MaxCorrTime the
	// longest predicted correlation time of the modes.
	BlockLength int     `json:"block_length"`
	MaxCorrTime float64 `json:"max_corr_time"`
	// SlowTime is the relaxation time (1−μ)/(η λ) of the directions whose
	// only curvature is the weight decay λ (+Inf without decay): the whole
	// chain is stationary (FDR ratio 1) only after several of them.
	SlowTime float64 `json:"slow_time,omitempty"`
	// LossDrift is the mean batch loss of the second half of the recorded
	// updates minus that of the first half (0 at stationarity).
	LossDrift Value `json:"loss_drift"`
}

// Mode is one eigenmode's measured stationary variance against the
// linear model's forms.
type Mode struct {
	H        float64 `json:"h"`
	C        float64 `json:"c"` // per-sample noise variance along the mode
	CorrTime float64 `json:"corr_time"`
	Var      Value   `json:"var"`
	// Predictions: exact discrete, small-η (OU), and C = τH (τ T).
	PredExact    Num   `json:"pred_exact"`
	PredSmallEta Num   `json:"pred_small_eta"`
	PredIso      Num   `json:"pred_isotropic"`
	RatioExact   Value `json:"ratio_exact"`
	RatioSmall   Value `json:"ratio_small_eta"`
	RatioIso     Value `json:"ratio_isotropic"`
	// FDR is the fluctuation–dissipation ratio of the mode alone,
	// E[(x_j − x̄_j) u·g] / ((1+μ)/(2η) E[(u·v)²]) with u·g_t recovered
	// from the velocities (u·g_t = (μ u·v_t − u·v_{t+1})/η): 1 when the
	// mode is stationary, whatever the slow modes do (for a quadratic loss
	// the eigenmodes decouple).
	FDR Value `json:"fdr_ratio"`
	// Drift is the change of uᵀθ over the recorded updates by a
	// least-squares line; VarDetrended the variance about that line and
	// RatioDetrended its ratio to the exact prediction (a slow drift of
	// the valley inflates Var but not VarDetrended).
	Drift          float64 `json:"drift"`
	VarDetrended   Value   `json:"var_detrended"`
	RatioDetrended Value   `json:"ratio_detrended"`
	// VarV is the measured variance of the velocity along the mode.
	VarV     Value `json:"var_v"`
	PredVarV Num   `json:"pred_var_v"`
}

// Law is the trace law at two learning rates:
// E[L]₁ − E[L]₂ against (η₁ − η₂) tr C / (4B(1−μ)).
type Law struct {
	DeltaLoss Value   `json:"delta_loss"`
	Predicted float64 `json:"predicted"`
	PredSE    float64 `json:"predicted_se"`
	Ratio     Value   `json:"ratio"`
}

// SGDComp compares momentum (η, μ) with plain SGD at η/(1−μ), mode by mode:
// measured Var_mom/Var_SGD against (2 − ηh/(1−μ))/(2 − ηh/(1+μ)).
type SGDComp struct {
	Ratios    []Value `json:"ratios"`
	Predicted []Num   `json:"predicted"`
	// RatioToPred is Ratios[j]/Predicted[j] (1 when the linear theory
	// holds; NaN where there is no prediction).
	RatioToPred []Value `json:"ratio_to_predicted"`
	LossDiff    Value   `json:"loss_diff"` // E[L]_mom − E[L]_SGD
	Skipped     string  `json:"skipped,omitempty"`
	// Unstable counts the modes beyond plain SGD's stability edge; Note
	// says what that means.
	Unstable int    `json:"unstable_modes"`
	Note     string `json:"note,omitempty"`
}

// Gates are the gateable figures (docs/dynamics.md "Gate keys"): each
// with its standard error where it has one.
type Gates struct {
	FDRRatio        Value    `json:"fdr_ratio"`
	ModeFDRWorst    Value    `json:"mode_fdr_worst"`
	ModeRatioMedian *float64 `json:"mode_ratio_median"`
	// ModeRatioWorst, ModeRatioSmallWorst and ModeRatioIsoWorst are the
	// mode ratios Var/prediction farthest from 1 (in log) of the exact,
	// small-η and C = τH forms.
	ModeRatioWorst      Value  `json:"mode_ratio_worst"`
	ModeRatioSmallWorst Value  `json:"mode_ratio_small_eta_worst"`
	ModeRatioIsoWorst   Value  `json:"mode_ratio_isotropic_worst"`
	TraceLawRatio       *Value `json:"trace_law_ratio,omitempty"`
	// MomentumSGDWorst is the measured/predicted Var_mom/Var_SGD farthest
	// from 1 (in log) over the modes with a prediction.
	MomentumSGDWorst Value   `json:"momentum_sgd_worst"`
	StabilityMargin  float64 `json:"stability_margin"`
	Commutator       Value   `json:"commutator"`
	Lag1Antisym      Value   `json:"lag1_antisym"`
	HVPSymmetry      float64 `json:"hvp_symmetry"`
	Tau              Value   `json:"tau"`
	IsotropyCosine   float64 `json:"isotropy_cosine"`
}
