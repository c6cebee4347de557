package reports

// Dynamics is report.json's "dynamics" section: the headline figures of
// the SGD-dynamics analysis at a checkpoint (gnaudit audit --dynamics, or
// a gnaudit dynamics run written into the audit's directory), each with
// its standard error. The whole analysis is in File (dynamics.json,
// schema gnaudit.dynamics/v1); docs/dynamics.md defines every figure.
type Dynamics struct {
	// File is the dynamics.json the section was read from, relative to the
	// report; Schema its schema.
	File   string `json:"file"`
	Schema string `json:"schema"`
	// Complete is false when the analysis stopped early (Ctrl-C).
	Complete bool `json:"complete"`
	// Model is the checkpoint analysed; Step its fine-tuning step when the
	// audit ran the analysis (absent otherwise).
	Model string `json:"model,omitempty"`
	Step  *int   `json:"step,omitempty"`
	// The main chain's hyper-parameters: v ← μv − η(g_B + λθ), θ ← θ + v,
	// i.i.d. batches of B; Steps recorded updates per chain in Blocks
	// batch-means blocks (the standard errors' degrees of freedom are
	// Blocks − 1).
	Batch       int     `json:"batch"`
	LR          float64 `json:"lr"`
	Momentum    float64 `json:"momentum"`
	WeightDecay float64 `json:"weight_decay"`
	Steps       int     `json:"steps"`
	Blocks      int     `json:"blocks"`
	// Static are the quantities at the checkpoint.
	Static DynamicsStatic `json:"static"`
	// Chains are the runs at constant (η, μ): "main", "lr2" (trace law),
	// "sgd" (plain SGD at η/(1−μ)).
	Chains []DynamicsChain `json:"chains"`
	// TraceLaw is the ratio of E[L](η₁) − E[L](η₂) to its prediction
	// (absent without a second learning rate).
	TraceLaw *Estimate `json:"trace_law_ratio,omitempty"`
	// MomentumVsSGD is, per mode, the measured Var_mom/Var_SGD at equal
	// η/(1−μ) over its linear prediction (null where plain SGD is beyond
	// its stability edge); absent when not run.
	MomentumVsSGD []Estimate `json:"momentum_vs_sgd,omitempty"`
	Notes         []string   `json:"notes,omitempty"`
}

// Estimate is a figure and its standard error (null: not defined).
type Estimate struct {
	Value Number `json:"value"`
	SE    Number `json:"se"`
}

// DynamicsStatic are the curvature and noise figures at the checkpoint.
type DynamicsStatic struct {
	Loss     Number `json:"loss"`      // L(θ₀) on the Hessian samples, weight decay included
	GradNorm Number `json:"grad_norm"` // |∇L(θ₀)|
	// Eigenvalues are the top Hessian eigenvalues (Lanczos Ritz values).
	Eigenvalues []Number `json:"eigenvalues"`
	TraceH      Estimate `json:"trace_h"`
	TraceC      Estimate `json:"trace_c"`
	Tau         Estimate `json:"tau"`
	// Commutator is ‖[H_U, C_U]‖/(‖H_U‖‖C_U‖) on the eigenvectors.
	Commutator      Estimate `json:"commutator"`
	StabilityMargin Number   `json:"stability_margin"`
	HVPSymmetry     Number   `json:"hvp_symmetry"`
}

// DynamicsChain is one chain's stationarity, detailed-balance and
// per-mode figures.
type DynamicsChain struct {
	Name     string  `json:"name"`
	LR       float64 `json:"lr"`
	Momentum float64 `json:"momentum"`
	// Diverged says why the chain stopped ("" if it did not; its figures
	// are then null).
	Diverged    string   `json:"diverged,omitempty"`
	FDR         Estimate `json:"fdr_ratio"`
	Loss        Estimate `json:"loss"`
	LossDrift   Estimate `json:"loss_drift"`
	Lag1Antisym Estimate `json:"lag1_antisym"`
	// Lag1AntisymPred is the linear model's prediction of Lag1Antisym.
	Lag1AntisymPred Number         `json:"lag1_antisym_pred"`
	Modes           []DynamicsMode `json:"modes"`
}

// DynamicsMode is one Hessian eigenmode of a chain: its own FDR ratio and
// its measured variance over the exact, small-η and C = τH predictions.
type DynamicsMode struct {
	H              Number   `json:"h"`
	FDR            Estimate `json:"fdr_ratio"`
	RatioExact     Estimate `json:"ratio_exact"`
	RatioSmallEta  Estimate `json:"ratio_small_eta"`
	RatioIsotropic Estimate `json:"ratio_isotropic"`
}
