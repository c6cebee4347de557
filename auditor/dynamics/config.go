package dynamics

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/gnaudit/gnaudit/auditor/dynamics/internal/linear"
	"github.com/gnaudit/gnaudit/auditor/progress"
)

// Config configures a dynamics run. Zero fields take the Defaults, except
// Momentum, WeightDecay and the flags, whose zero is meaningful: start from
// Defaults() and change what differs.
type Config struct {
	// LR (η), Momentum (μ), Batch (B) and WeightDecay (λ) of the main
	// chain; the update is v ← μv − η(g_S + λθ), θ ← θ + v.
	LR          float64 `json:"lr"`
	Momentum    float64 `json:"momentum"`
	Batch       int     `json:"batch"`
	WeightDecay float64 `json:"weight_decay"`
	// DecayWeightsOnly decays only tensors of rank ≥ 2; false (the
	// default, as torch.optim.SGD and `gnaudit audit`'s fine-tuning) decays
	// every trainable parameter.
	DecayWeightsOnly bool `json:"decay_weights_only"`
	// Steps is K, the recorded updates per chain; Burn the updates before
	// them (0: Steps/5).
	Steps int `json:"steps"`
	Burn  int `json:"burn"`
	// LR2 is the second learning rate of the trace law (0: LR/2; negative:
	// no second chain).
	LR2 float64 `json:"lr2"`
	// SGD also runs plain SGD (μ = 0) at the same effective rate η/(1−μ)
	// (the high-friction comparison); skipped when μ = 0.
	SGD bool `json:"sgd"`
	// K is the number of Hessian eigenpairs; LanczosIter the most HVPs
	// spent on them (0: max(3K + 10, 25)); Probes the Hutchinson probes of tr H.
	K           int `json:"k"`
	LanczosIter int `json:"lanczos_iter"`
	Probes      int `json:"probes"`
	// HessianSamples and NoiseSamples are the training samples (a seeded
	// random subset) of the Hessian and of the per-sample noise
	// covariance; 0: the Defaults, at most the data.
	HessianSamples int `json:"hessian_samples"`
	NoiseSamples   int `json:"noise_samples"`
	// Blocks is the number of batch-means blocks (0: Defaults).
	Blocks int `json:"blocks"`
	// Seed fixes every random choice.
	Seed int64 `json:"seed"`
	// Float64 runs the chains in float64 (the Hessian is always float64).
	Float64 bool `json:"float64"`

	// OnPlan, when set, receives the plan (with measured pass times)
	// before the expensive work; an error stops the run and is returned.
	OnPlan func(Plan) error `json:"-"`
	// Progress receives progress lines (nil: none); ProgressMode chooses
	// redraw or plain lines.
	Progress     io.Writer     `json:"-"`
	ProgressMode progress.Mode `json:"-"`
}

// Defaults returns the defaults, sized for a CPU (a CIFAR AlexNet is
// planned at about 6 minutes on two cores with OpenBLAS, 2.6 M parameters;
// `gnaudit dynamics --plan` prints the estimate): the paper's μ = 0.9 and λ = 5·10⁻⁴, B = 32,
// η = 0.01, 1000 recorded updates per chain after 200 of burn-in (50
// correlation times of the momentum, 1/(1−√μ) = 19.5 updates), 10
// batch-means blocks, 3 eigenpairs from at most 25 Lanczos HVPs, 4
// Hutchinson probes, 512 Hessian and 1024 noise samples.
func Defaults() Config {
	return Config{LR: 0.01, Momentum: 0.9, Batch: 32, WeightDecay: 5e-4,
		Steps: 1000, SGD: true, K: 3, LanczosIter: 25, Probes: 4, HessianSamples: 512, NoiseSamples: 1024, Blocks: 10}
}

// WithDefaults returns c with its zero fields filled from Defaults (see
// Config).
func (c Config) WithDefaults() Config {
	d := Defaults()
	if c.LR == 0 {
		c.LR = d.LR
	}
	if c.Batch == 0 {
		c.Batch = d.Batch
	}
	if c.Steps == 0 {
		c.Steps = d.Steps
	}
	if c.Burn == 0 {
		c.Burn = c.Steps / 5
	}
	if c.LR2 == 0 {
		c.LR2 = c.LR / 2
	}
	if c.K == 0 {
		c.K = d.K
	}
	if c.LanczosIter == 0 {
		c.LanczosIter = max(3*c.K+10, 25)
	}
	if c.Probes == 0 {
		c.Probes = d.Probes
	}
	if c.HessianSamples == 0 {
		c.HessianSamples = d.HessianSamples
	}
	if c.NoiseSamples == 0 {
		c.NoiseSamples = d.NoiseSamples
	}
	if c.Blocks == 0 {
		c.Blocks = d.Blocks
	}
	return c
}

// Validate reports the first invalid setting.
func (c Config) Validate() error {
	if err := (linear.Params{LR: c.LR, Momentum: c.Momentum, Batch: c.Batch}).Validate(); err != nil {
		return err
	}
	switch {
	case c.WeightDecay < 0 || math.IsNaN(c.WeightDecay):
		return fmt.Errorf("weight decay %v: must be ≥ 0", c.WeightDecay)
	case c.Blocks < 4:
		return fmt.Errorf("blocks %d: need at least 4", c.Blocks)
	case c.Steps < 2*c.Blocks:
		return fmt.Errorf("steps %d: need at least 2 per block (%d blocks)", c.Steps, c.Blocks)
	case c.Burn < 0:
		return errors.New("burn-in must be ≥ 0")
	case c.K < 1:
		return fmt.Errorf("k %d: need at least one eigenpair", c.K)
	case c.LanczosIter < c.K:
		return fmt.Errorf("lanczos iterations %d < k = %d", c.LanczosIter, c.K)
	case c.Probes < 2:
		return fmt.Errorf("probes %d: need at least 2", c.Probes)
	case c.HessianSamples < 2 || c.NoiseSamples < 2:
		return errors.New("hessian and noise samples: need at least 2 each")
	case c.LR2 > 0 && c.LR2 == c.LR:
		return errors.New("the second learning rate equals the first: the trace law needs two")
	}
	return nil
}

// chains lists the chains of the run.
func (c Config) chains() []chainSpec {
	out := []chainSpec{{Name: "main", LR: c.LR, Momentum: c.Momentum}}
	if c.LR2 > 0 {
		out = append(out, chainSpec{Name: "lr2", LR: c.LR2, Momentum: c.Momentum})
	}
	if c.SGD && c.Momentum > 0 {
		out = append(out, chainSpec{Name: "sgd", LR: c.LR / (1 - c.Momentum), Momentum: 0})
	}
	return out
}

// Plan is the cost of a run, in executor passes, before any work.
type Plan struct {
	Params int `json:"params"`
	// GradPasses are float64 gradient passes over the Hessian samples
	// (2 per HVP: symmetry 2 HVPs, Lanczos ≤ LanczosIter, Hutchinson
	// Probes, plus the loss at θ₀).
	GradPasses int `json:"grad_passes"`
	// NoiseSamples per-sample gradients; ChainSteps batch gradient passes
	// of Batch samples (all chains, burn-in included).
	NoiseSamples int `json:"noise_samples"`
	ChainSteps   int `json:"chain_steps"`
	Chains       int `json:"chains"`
	// MemoryBytes is the float64 vectors held: Lanczos basis, eigenvectors,
	// θ, v, gradients.
	MemoryBytes int64 `json:"memory_bytes"`
	// SampleEquivalents is the total number of per-sample forward+backward
	// passes, the unit of the time estimate.
	SampleEquivalents int64 `json:"sample_equivalents"`
	// GradPassSeconds and StepSeconds are the measured times of one
	// float64 gradient pass over the Hessian samples and of one chain
	// update's gradient; EstimatedSeconds the whole run's estimate.
	GradPassSeconds  float64 `json:"grad_pass_seconds"`
	StepSeconds      float64 `json:"step_seconds"`
	EstimatedSeconds float64 `json:"estimated_seconds"`
	// Loss and GradNorm are L(θ₀) and |∇L(θ₀)| on the Hessian samples,
	// measured with the pass times: how near a stationary point θ₀ is,
	// known before the run.
	Loss     float64 `json:"loss"`
	GradNorm float64 `json:"grad_norm"`
}

// Describe is the plan as printed before a run (gnaudit dynamics, gnaudit
// audit --dynamics): cost in passes, memory and the time estimate, for
// the configuration cfg the plan was made for.
func (p Plan) Describe(cfg Config) string {
	cfg = cfg.WithDefaults()
	var b strings.Builder
	fmt.Fprintf(&b, "plan: %d trainable parameters; K = %d eigenpairs (≤ %d Lanczos HVPs), %d Hutchinson probes, %d float64 gradient passes over the Hessian samples (%.3g s each)\n",
		p.Params, cfg.K, cfg.LanczosIter, cfg.Probes, p.GradPasses, p.GradPassSeconds)
	fmt.Fprintf(&b, "      %d per-sample gradients; %d chains × (%d burn-in + %d recorded) updates of B = %d (%.3g s each)\n",
		p.NoiseSamples, p.Chains, cfg.Burn, cfg.Steps, cfg.Batch, p.StepSeconds)
	if p.GradPassSeconds > 0 {
		fmt.Fprintf(&b, "      at θ₀: L = %.6g, |∇L| = %.4g (on the Hessian samples)\n", p.Loss, p.GradNorm)
	}
	fmt.Fprintf(&b, "      memory ≈ %.0f MiB of float64 vectors; estimated time %s\n", float64(p.MemoryBytes)/(1<<20),
		progress.Duration(time.Duration(p.EstimatedSeconds*float64(time.Second))))
	return b.String()
}

// PlanFor returns the cost of cfg on a model of params trainable
// coordinates and a data set of n samples.
func PlanFor(cfg Config, params, n int) Plan {
	cfg = cfg.WithDefaults()
	hs, ns := min(cfg.HessianSamples, n), min(cfg.NoiseSamples, n)
	p := Plan{Params: params, NoiseSamples: ns, Chains: len(cfg.chains())}
	p.GradPasses = 1 + 2*(2+cfg.LanczosIter+cfg.Probes)
	p.ChainSteps = p.Chains * (cfg.Burn + cfg.Steps)
	p.MemoryBytes = int64(cfg.LanczosIter+cfg.K+8) * int64(params) * 8
	// float64 passes count double
	p.SampleEquivalents = int64(p.GradPasses)*int64(hs)*2 + int64(ns)*2 + int64(p.ChainSteps)*int64(cfg.Batch)
	return p
}
