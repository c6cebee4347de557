package dynamics

import (
	"github.com/gnaudit/gnaudit/reports"
)

// Section returns the headline figures of res for report.json's
// "dynamics" section (reports.Dynamics); file is where res was written,
// relative to the report, and step the checkpoint's fine-tuning step (nil:
// unknown).
func (res *Result) Section(file string, step *int) *reports.Dynamics {
	cfg := res.Config
	d := &reports.Dynamics{File: file, Schema: res.Schema, Complete: res.Complete, Model: res.Model, Step: step,
		Batch: cfg.Batch, LR: cfg.LR, Momentum: cfg.Momentum, WeightDecay: cfg.WeightDecay, Steps: cfg.Steps, Blocks: cfg.Blocks,
		Chains: []reports.DynamicsChain{}, Notes: res.Notes}
	st := res.Static
	d.Static = reports.DynamicsStatic{Loss: reports.Number(st.Loss), GradNorm: reports.Number(st.GradNorm),
		Eigenvalues: []reports.Number{}, TraceH: est(st.TraceH), TraceC: est(st.TraceC), Tau: est(st.Tau),
		Commutator:      est(res.Gates.Commutator),
		StabilityMargin: reports.Number(st.StabilityMargin), HVPSymmetry: reports.Number(st.Symmetry)}
	for _, e := range st.Eigen {
		d.Static.Eigenvalues = append(d.Static.Eigenvalues, reports.Number(e.Value))
	}
	for _, ch := range res.Chains {
		c := reports.DynamicsChain{Name: ch.Name, LR: ch.LR, Momentum: ch.Momentum, Diverged: ch.Diverged,
			FDR: est(ch.FDR), Loss: est(ch.Loss), LossDrift: est(ch.LossDrift), Lag1Antisym: est(ch.Lag1Antisym),
			Lag1AntisymPred: reports.Number(ch.Lag1AntisymPred), Modes: []reports.DynamicsMode{}}
		short := ch.Steps < 2*cfg.Blocks // stopped before its figures (their zero Values are not figures)
		if short || len(ch.Modes) < 2 {
			c.Lag1Antisym = est(nan())
		}
		for _, m := range ch.Modes {
			c.Modes = append(c.Modes, reports.DynamicsMode{H: reports.Number(m.H), FDR: est(m.FDR),
				RatioExact: est(m.RatioExact), RatioSmallEta: est(m.RatioSmall), RatioIsotropic: est(m.RatioIso)})
		}
		if short {
			c.FDR, c.Loss, c.LossDrift = est(nan()), est(nan()), est(nan())
		}
		d.Chains = append(d.Chains, c)
	}
	if res.Trace != nil {
		v := est(res.Trace.Ratio)
		d.TraceLaw = &v
	}
	if s := res.SGD; s != nil && s.Skipped == "" {
		for _, v := range s.RatioToPred {
			d.MomentumVsSGD = append(d.MomentumVsSGD, est(v))
		}
	}
	return d
}

func est(v Value) reports.Estimate {
	return reports.Estimate{Value: reports.Number(v.Est), SE: reports.Number(v.SE)}
}
