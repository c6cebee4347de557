package dynamics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/gnaudit/gnaudit/auditor/data"
	"github.com/gnaudit/gnaudit/auditor/dynamics/internal/hessian"
	"github.com/gnaudit/gnaudit/auditor/dynamics/internal/linear"
	"github.com/gnaudit/gnaudit/auditor/dynamics/internal/series"
	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/auditor/persample"
	"github.com/gnaudit/gnaudit/auditor/progress"
)

// Run measures the dynamics of SGD at the checkpoint m (its weights) on
// the training data ds (already preprocessed for the model): the static
// curvature and noise, then the chains. On cancellation or a chain error
// it returns what was measured with Complete false and the error.
func Run(ctx context.Context, m *ir.Model, ds data.Dataset, cfg Config) (out *Result, err error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("dynamics: %w", err)
	}
	if ds.Len() < 2 {
		return nil, errors.New("dynamics: need at least 2 training samples")
	}
	res := &Result{Schema: Schema, Samples: ds.Len(), Config: cfg}
	defer func() {
		// a partial result still gets its gate keys (NaN where not measured)
		if out != nil && !out.Complete {
			out.Gates = gates(out)
		}
	}()
	su, err := setUp(m, ds, cfg)
	if err != nil {
		return nil, err
	}
	obj, nIdx, cr := su.obj, su.nIdx, su.cr
	res.Plan = su.plan
	st := &res.Static
	st.HessianSamples, st.NoiseSamples = len(su.hIdx), len(nIdx)
	st.Loss, st.GradNorm = su.loss, su.gradNorm
	pl := &res.Plan
	if cfg.OnPlan != nil {
		if err := cfg.OnPlan(*pl); err != nil {
			return res, err
		}
	}

	// curvature
	hvps := 2 + cfg.LanczosIter + cfg.Probes
	bar := progress.New(cfg.Progress, hvps, progress.Options{Label: "HVP", Mode: cfg.ProgressMode})
	done := 0
	tick := func() { done++; bar.Update(done) }
	counted := countingOp{obj, tick}
	if st.Symmetry, err = hessian.Symmetry(counted, uint64(cfg.Seed)+1); err != nil {
		return nil, fmt.Errorf("dynamics: symmetry check: %w", err)
	}
	eig, err := hessian.Lanczos(counted, hessian.LanczosOptions{K: cfg.K, MaxIter: cfg.LanczosIter, Seed: uint64(cfg.Seed) + 2})
	if err != nil {
		return nil, fmt.Errorf("dynamics: %w", err)
	}
	st.LanczosIters = eig.Iters
	for i, v := range eig.Values {
		st.Eigen = append(st.Eigen, EigenPair{Value: v, Residual: eig.Residuals[i]})
	}
	trH, trHSE, err := hessian.Hutchinson(counted, cfg.Probes, uint64(cfg.Seed)+3)
	if err != nil {
		return nil, fmt.Errorf("dynamics: %w", err)
	}
	bar.Finish()
	st.TraceH = Value{Est: trH, SE: trHSE}
	for i, v := range eig.Values {
		if v <= 0 {
			res.Notes = append(res.Notes, fmt.Sprintf("eigenvalue %d is %.4g ≤ 0: θ₀ is not near a minimum along it; its mode has no stationary variance", i+1, v))
		}
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}

	// noise on the eigenvectors
	eng, err := persample.New(m, persample.Options{Batch: 32})
	if err != nil {
		return res, fmt.Errorf("dynamics: per-sample engine: %w", err)
	}
	nz, err := hessian.ProjectNoise(eng, &obj.Layout, ds, nIdx, eig.Vectors)
	if err != nil {
		return res, fmt.Errorf("dynamics: %w", err)
	}
	k := len(eig.Values)
	st.TraceC = Value{Est: nz.TraceC, SE: nz.TraceSE}
	tau := nz.TraceC / trH
	st.Tau = Value{Est: tau, SE: math.Abs(tau) * math.Hypot(nz.TraceSE/nz.TraceC, trHSE/trH)}
	for a := 0; a < k; a++ {
		for b := 0; b < k; b++ {
			st.NoiseCov = append(st.NoiseCov, nz.Cov.At(a, b))
			st.NoiseCovSE = append(st.NoiseCovSE, nz.CovSE.At(a, b))
		}
	}
	al := hessian.Align(eig.Values, nz.Cov)
	st.Alignment = Align{Commutator: al.Commutator, CommutatorSE: Num(math.NaN()), OffDiagonal: al.OffDiagonal, Tau: al.Tau, Cosine: al.Cosine}
	if se, err := hessian.CommutatorSE(eig.Values, nz.Proj, min(cfg.Blocks, len(nz.Proj)/2)); err == nil {
		st.Alignment.CommutatorSE = Num(se)
	}
	if !(trH > 0) {
		res.Notes = append(res.Notes, fmt.Sprintf("tr H = %.4g ± %.2g is not positive: θ₀ is not near a minimum (or the finite differences cross many ReLU kinks); τ = tr C/tr H is meaningless here, the isotropic form uses the top modes' τ = %.4g", trH, trHSE, al.Tau))
	}
	for i, r := range eig.Residuals {
		if r > 0.01*math.Abs(eig.Values[i]) {
			res.Notes = append(res.Notes, fmt.Sprintf("Ritz pair %d has residual %.3g (%.1f %% of h = %.4g) after %d Lanczos iterations: raise --lanczos-iter for accurate eigenvectors", i+1, r, 100*r/math.Abs(eig.Values[i]), eig.Values[i], eig.Iters))
		}
	}
	main := linear.Params{LR: cfg.LR, Momentum: cfg.Momentum, Batch: cfg.Batch}
	st.StabilityMargin = main.StabilityMargin(eig.Values[0])
	if err := ctx.Err(); err != nil {
		return res, err
	}

	// chains
	cr.u = eig.Vectors
	specs := cfg.chains()
	total := len(specs) * (cfg.Burn + cfg.Steps)
	cbar := progress.New(cfg.Progress, total, progress.Options{Label: "update", Mode: cfg.ProgressMode})
	done = 0
	traces := map[string]*trace{}
	for _, sp := range specs {
		p := linear.Params{LR: sp.LR, Momentum: sp.Momentum, Batch: cfg.Batch}
		tr, err := cr.run(ctx, sp, cfg.Burn, cfg.Steps, func() {
			done++
			cbar.Update(done, progress.F("chain", "%s", sp.Name))
		})
		if err != nil {
			cbar.Finish()
			return res, fmt.Errorf("dynamics: chain %s: %w", sp.Name, err)
		}
		traces[sp.Name] = tr
		ch, err := analyse(sp, p, cfg, tr, eig.Values, nz, al.Tau)
		if err != nil {
			return res, fmt.Errorf("dynamics: chain %s: %w", sp.Name, err)
		}
		res.Chains = append(res.Chains, *ch)
	}
	cbar.Finish()
	res.Trace = traceLaw(res, nz, cfg)
	res.SGD = sgdComp(res, cfg)
	res.Gates = gates(res)
	res.Complete = true
	return res, nil
}

// setup is what Run prepares before its plan: the samples, the float64
// objective, the chains' executor, and the measured pass times.
type setup struct {
	obj            *hessian.Objective
	hIdx, nIdx     []int
	cr             *chainRunner
	theta0         []float64
	loss, gradNorm float64
	plan           Plan
}

func setUp(m *ir.Model, ds data.Dataset, cfg Config) (*setup, error) {
	var decay func(string, []int) bool
	if cfg.DecayWeightsOnly {
		decay = func(_ string, shape []int) bool { return len(shape) >= 2 }
	}
	su := &setup{}
	rng := data.NewRand(cfg.Seed, "dynamics/hessian-samples")
	su.hIdx = rng.Sample(ds.Len(), min(cfg.HessianSamples, ds.Len()))
	su.nIdx = data.NewRand(cfg.Seed, "dynamics/noise-samples").Sample(ds.Len(), min(cfg.NoiseSamples, ds.Len()))
	obj, err := hessian.New(m, ds, su.hIdx, hessian.Options{WeightDecay: cfg.WeightDecay, Decay: decay, Batch: min(cfg.Batch, 128)})
	if err != nil {
		return nil, fmt.Errorf("dynamics: %w", err)
	}
	su.obj = obj
	su.plan = PlanFor(cfg, obj.Dim(), ds.Len())
	su.theta0 = obj.Theta()
	g0 := make([]float64, obj.Dim())
	t0 := time.Now()
	if su.loss, err = obj.Grad(su.theta0, g0); err != nil {
		return nil, fmt.Errorf("dynamics: at the checkpoint: %w", err)
	}
	gradSecs := time.Since(t0).Seconds()
	su.gradNorm = math.Sqrt(dot(g0, g0))

	// the chains' executor, timed on two updates' gradients
	if su.cr, err = newChainRunner(m, &obj.Layout, su.theta0, nil, ds, cfg); err != nil {
		return nil, err
	}
	var stepSecs float64
	for i := 0; i < 2; i++ {
		t1 := time.Now()
		if _, err := su.cr.grad(su.theta0, data.NewRand(cfg.Seed, "dynamics/timing")); err != nil {
			return nil, fmt.Errorf("dynamics: a batch gradient at the checkpoint: %w", err)
		}
		stepSecs = time.Since(t1).Seconds()
	}
	pl := &su.plan
	pl.GradPassSeconds, pl.StepSeconds = gradSecs, stepSecs
	// a per-sample gradient costs about 3 samples of a batched backward pass
	pl.EstimatedSeconds = float64(pl.GradPasses)*gradSecs + float64(pl.ChainSteps)*stepSecs +
		3*float64(pl.NoiseSamples)*stepSecs/float64(cfg.Batch)
	pl.Loss, pl.GradNorm = su.loss, su.gradNorm
	return su, nil
}

// Estimate returns the plan of Run(ctx, m, ds, cfg) with its pass times
// measured on this machine (one float64 gradient pass over the Hessian
// samples and two chain updates' gradients: a few seconds), without
// running it.
func Estimate(m *ir.Model, ds data.Dataset, cfg Config) (Plan, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return Plan{}, fmt.Errorf("dynamics: %w", err)
	}
	if ds.Len() < 2 {
		return Plan{}, errors.New("dynamics: need at least 2 training samples")
	}
	su, err := setUp(m, ds, cfg)
	if err != nil {
		return Plan{}, err
	}
	return su.plan, nil
}

type countingOp struct {
	op   hessian.Operator
	tick func()
}

func (c countingOp) Dim() int { return c.op.Dim() }
func (c countingOp) HVP(x, y []float64) error {
	err := c.op.HVP(x, y)
	c.tick()
	return err
}

// analyse turns a chain's trace into its stationary figures.
func analyse(sp chainSpec, p linear.Params, cfg Config, tr *trace, h []float64, nz *hessian.Noise, tau float64) (*Chain, error) {
	c := nz.Cov
	ch := &Chain{Name: sp.Name, LR: sp.LR, Momentum: sp.Momentum, Burn: cfg.Burn, Steps: len(tr.XG), Diverged: tr.Diverged,
		StabilityMargin: p.StabilityMargin(h[0]), Temperature: p.Temperature()}
	nb := cfg.Blocks
	if len(tr.XG) < 2*nb {
		if ch.Diverged == "" {
			ch.Diverged = "too few recorded updates"
		}
		return ch, nil
	}
	ch.BlockLength = len(tr.XG) / nb
	if cfg.WeightDecay > 0 {
		ch.SlowTime = (1 - p.Momentum) / (p.LR * cfg.WeightDecay)
	}
	var err error
	if ch.Loss, err = series.Mean(nb, tr.Loss); err != nil {
		return nil, err
	}
	half := len(tr.Loss) / 2
	a, err1 := series.Mean(nb/2, tr.Loss[:half])
	b, err2 := series.Mean(nb/2, tr.Loss[half:])
	if err1 == nil && err2 == nil {
		ch.LossDrift = Value{Est: b.Est - a.Est, SE: math.Hypot(a.SE, b.SE)}
	}
	f := p.FDRFactor()
	if ch.XG, err = series.Mean(nb, tr.XG); err != nil {
		return nil, err
	}
	if ch.VV, err = series.Mean(nb, tr.VV); err != nil {
		return nil, err
	}
	if ch.FDR, err = series.Estimate(nb, func(m []float64) float64 { return m[0] / (f * m[1]) }, tr.XG, tr.VV); err != nil {
		return nil, err
	}
	k := len(h)
	stable := p.CheckStable(h) == nil
	for j := 0; j < k; j++ {
		md := Mode{H: h[j], C: c.At(j, j), CorrTime: p.CorrTime(h[j])}
		ch.MaxCorrTime = math.Max(ch.MaxCorrTime, md.CorrTime)
		if md.Var, err = series.Variance(nb, tr.P[j]); err != nil {
			return nil, err
		}
		if md.VarV, err = series.Variance(nb, tr.Q[j]); err != nil {
			return nil, err
		}
		res, drift := detrend(tr.P[j])
		md.Drift = drift
		if md.VarDetrended, err = series.Variance(nb, res); err != nil {
			return nil, err
		}
		if md.FDR, err = modeFDR(nb, p, tr.P[j], tr.Q[j]); err != nil {
			return nil, err
		}
		md.PredExact, md.PredSmallEta, md.PredIso, md.PredVarV = Num(math.NaN()), Num(math.NaN()), Num(math.NaN()), Num(math.NaN())
		md.RatioExact, md.RatioSmall, md.RatioIso, md.RatioDetrended = nan(), nan(), nan(), nan()
		if h[j] > 0 && p.StabilityMargin(h[j]) < 1 {
			pe, ps := linear.ModeVarX(h[j], md.C, p), linear.ModeVarSmallEta(h[j], md.C, p)
			md.PredExact, md.PredSmallEta = Num(pe), Num(ps)
			md.PredVarV = Num(linear.ModeVarV(h[j], md.C, p))
			// both forms are ∝ c_jj: its relative standard error enters
			cRel := 0.0
			if nz.CovSE != nil && md.C != 0 {
				cRel = nz.CovSE.At(j, j) / math.Abs(md.C)
			}
			md.RatioExact, md.RatioSmall = ratioRel(md.Var, pe, cRel), ratioRel(md.Var, ps, cRel)
			md.RatioDetrended = ratioRel(md.VarDetrended, pe, cRel)
			if tau > 0 {
				md.PredIso = Num(linear.Isotropic(tau, p))
				md.RatioIso = ratio(md.Var, float64(md.PredIso))
			}
		}
		ch.Modes = append(ch.Modes, md)
	}
	// lag-1 antisymmetry on the modes, normalised
	var sx *mat.SymDense
	var lag *mat.Dense
	if stable && k > 1 {
		sx, lag, err = linear.DiagonalBasis(h, c, p)
		if err != nil {
			return nil, err
		}
	}
	best := -1.0
	for i := 0; i < k; i++ {
		for j := i + 1; j < k; j++ {
			xi, xj := tr.P[i], tr.P[j]
			n := len(xi) - 1
			prod := func(a, b []float64, lagAB bool) []float64 {
				out := make([]float64, n)
				for t := 0; t < n; t++ {
					if lagAB {
						out[t] = a[t+1] * b[t]
					} else {
						out[t] = a[t] * b[t]
					}
				}
				return out
			}
			// (E[x_i' x_j] − E[x_j' x_i]) / 2 / √(Var x_i Var x_j); the means cancel in the difference
			v, err := series.Estimate(nb, func(m []float64) float64 {
				vi := m[2] - m[0]*m[0]
				vj := m[3] - m[1]*m[1]
				if vi <= 0 || vj <= 0 {
					return 0
				}
				return (m[4] - m[5]) / 2 / math.Sqrt(vi*vj)
			}, xi[:n], xj[:n], prod(xi[:n], xi[:n], false), prod(xj[:n], xj[:n], false), prod(xi, xj, true), prod(xj, xi, true))
			if err != nil {
				return nil, err
			}
			if math.Abs(v.Est) > best {
				best = math.Abs(v.Est)
				ch.Lag1Antisym = Value{Est: math.Abs(v.Est), SE: v.SE}
				if lag != nil {
					ch.Lag1AntisymPred = math.Abs(lag.At(i, j)-lag.At(j, i)) / 2 / math.Sqrt(sx.At(i, i)*sx.At(j, j))
				}
			}
		}
	}
	return ch, nil
}

// detrend returns x minus its least-squares line a + b t, and the line's
// change b·(n−1) over the series.
func detrend(x []float64) ([]float64, float64) {
	n := float64(len(x))
	var st, sx, stt, stx float64
	for t, v := range x {
		ft := float64(t)
		st += ft
		sx += v
		stt += ft * ft
		stx += ft * v
	}
	d := n*stt - st*st
	b := 0.0
	if d != 0 {
		b = (n*stx - st*sx) / d
	}
	a := (sx - b*st) / n
	out := make([]float64, len(x))
	for t, v := range x {
		out[t] = v - a - b*float64(t)
	}
	return out, b * (n - 1)
}

func nan() Value { return Value{Est: math.NaN(), SE: math.NaN()} }

// modeFDR is the FDR ratio of one mode from its position and velocity
// series (see Mode.FDR).
func modeFDR(nb int, p linear.Params, x, q []float64) (Value, error) {
	n := len(x) - 1
	g := make([]float64, n)
	xg := make([]float64, n)
	vv := make([]float64, n)
	for t := 0; t < n; t++ {
		g[t] = (p.Momentum*q[t] - q[t+1]) / p.LR
		xg[t] = x[t] * g[t]
		vv[t] = q[t+1] * q[t+1]
	}
	f := p.FDRFactor()
	return series.Estimate(nb, func(m []float64) float64 { return (m[2] - m[0]*m[1]) / (f * m[3]) }, x[:n], g, xg, vv)
}

func ratio(v Value, pred float64) Value { return ratioRel(v, pred, 0) }

// ratioRel is v/pred with the standard errors of v and of pred (relative
// standard error predRel) combined: independent estimates (the chain's
// batches and the noise samples are drawn independently).
func ratioRel(v Value, pred, predRel float64) Value {
	if pred == 0 || math.IsNaN(pred) {
		return nan()
	}
	r := v.Est / pred
	return Value{Est: r, SE: math.Hypot(v.SE/math.Abs(pred), math.Abs(r)*predRel)}
}

func chainNamed(res *Result, name string) *Chain {
	for i := range res.Chains {
		if res.Chains[i].Name == name && res.Chains[i].Diverged == "" {
			return &res.Chains[i]
		}
	}
	return nil
}

// traceLaw compares E[L]₁ − E[L]₂ of the two momentum chains with
// (η₁ − η₂) tr C / (4B(1−μ)).
func traceLaw(res *Result, nz *hessian.Noise, cfg Config) *Law {
	a, b := chainNamed(res, "main"), chainNamed(res, "lr2")
	if a == nil || b == nil {
		return nil
	}
	d := Value{Est: a.Loss.Est - b.Loss.Est, SE: math.Hypot(a.Loss.SE, b.Loss.SE)}
	f := (a.LR - b.LR) / (4 * float64(cfg.Batch) * (1 - cfg.Momentum))
	pred := f * nz.TraceC
	law := &Law{DeltaLoss: d, Predicted: pred, PredSE: math.Abs(f) * nz.TraceSE}
	law.Ratio = Value{Est: d.Est / pred, SE: math.Abs(d.Est/pred) * math.Hypot(d.SE/d.Est, law.PredSE/pred)}
	if d.Est == 0 {
		law.Ratio.SE = d.SE / math.Abs(pred)
	}
	return law
}

// sgdComp compares the main chain with plain SGD at η/(1−μ).
func sgdComp(res *Result, cfg Config) *SGDComp {
	if !cfg.SGD || cfg.Momentum == 0 {
		return nil
	}
	a := chainNamed(res, "main")
	var s *Chain
	for i := range res.Chains {
		if res.Chains[i].Name == "sgd" {
			s = &res.Chains[i]
		}
	}
	if a == nil || s == nil {
		return nil
	}
	out := &SGDComp{}
	if s.Diverged != "" {
		out.Skipped = "plain SGD at η/(1−μ) diverged: " + s.Diverged
		return out
	}
	p := linear.Params{LR: cfg.LR, Momentum: cfg.Momentum, Batch: cfg.Batch}
	for j := range a.Modes {
		m, q := a.Modes[j].Var, s.Modes[j].Var
		r := m.Est / q.Est
		out.Ratios = append(out.Ratios, Value{Est: r, SE: math.Abs(r) * math.Hypot(m.SE/m.Est, q.SE/q.Est)})
		pred := Num(linear.MomentumVsSGD(a.Modes[j].H, p))
		if sgdP := (linear.Params{LR: s.LR, Batch: cfg.Batch}); sgdP.StabilityMargin(a.Modes[j].H) >= 1 {
			pred = Num(math.NaN())
			out.Unstable++
		}
		out.Predicted = append(out.Predicted, pred)
		out.RatioToPred = append(out.RatioToPred, ratio(out.Ratios[j], float64(pred)))
	}
	if out.Unstable > 0 {
		out.Note = fmt.Sprintf("plain SGD at η/(1−μ) = %.4g is beyond the linear stability edge ηh < 2 in %d of the %d modes (margin %.3g) yet ran for %d updates without diverging: the loss is not quadratic there (edge of stability); no prediction for those modes", s.LR, out.Unstable, len(a.Modes), s.StabilityMargin, s.Steps)
	}
	out.LossDiff = Value{Est: a.Loss.Est - s.Loss.Est, SE: math.Hypot(a.Loss.SE, s.Loss.SE)}
	return out
}

// gates collects the gateable figures of the main chain.
func gates(res *Result) Gates {
	al := res.Static.Alignment
	g := Gates{StabilityMargin: res.Static.StabilityMargin, Commutator: Value{Est: al.Commutator, SE: float64(al.CommutatorSE)},
		HVPSymmetry: res.Static.Symmetry, Tau: res.Static.Tau, IsotropyCosine: al.Cosine}
	if len(res.Static.Eigen) == 0 {
		g.Commutator = nan()
	}
	g.FDRRatio = nan()
	g.ModeRatioWorst, g.ModeRatioSmallWorst, g.ModeRatioIsoWorst = nan(), nan(), nan()
	g.ModeFDRWorst = nan()
	g.Lag1Antisym = nan()
	g.MomentumSGDWorst = nan()
	if a := chainNamed(res, "main"); a != nil {
		g.FDRRatio = a.FDR
		if len(a.Modes) > 1 {
			g.Lag1Antisym = a.Lag1Antisym
		}
		var rs []float64
		worstFDR := -1.0
		for _, m := range a.Modes {
			if d := math.Abs(m.FDR.Est - 1); d > worstFDR && !math.IsNaN(d) {
				worstFDR = d
				g.ModeFDRWorst = m.FDR
			}
			if !math.IsNaN(m.RatioExact.Est) {
				rs = append(rs, m.RatioExact.Est)
			}
		}
		g.ModeRatioWorst = worstLog(a.Modes, func(m Mode) Value { return m.RatioExact })
		g.ModeRatioSmallWorst = worstLog(a.Modes, func(m Mode) Value { return m.RatioSmall })
		g.ModeRatioIsoWorst = worstLog(a.Modes, func(m Mode) Value { return m.RatioIso })
		if len(rs) > 0 {
			sort.Float64s(rs)
			med := rs[len(rs)/2]
			if len(rs)%2 == 0 {
				med = (rs[len(rs)/2-1] + rs[len(rs)/2]) / 2
			}
			g.ModeRatioMedian = &med
		}
	}
	if res.Trace != nil {
		v := res.Trace.Ratio
		g.TraceLawRatio = &v
	}
	if s := res.SGD; s != nil {
		worst := -1.0
		for _, v := range s.RatioToPred {
			if d := math.Abs(math.Log(v.Est)); v.Est > 0 && d > worst {
				worst, g.MomentumSGDWorst = d, v
			}
		}
	}
	return g
}

// worstLog returns the value of f over the modes farthest from 1 in
// |log|, NaN when none is positive.
func worstLog(modes []Mode, f func(Mode) Value) Value {
	out, worst := nan(), -1.0
	for _, m := range modes {
		v := f(m)
		if !(v.Est > 0) {
			continue
		}
		if d := math.Abs(math.Log(v.Est)); d > worst {
			worst, out = d, v
		}
	}
	return out
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}
