package dynamics

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/gnaudit/gnaudit/reports"
)

// Section of a result with a main chain, a chain that diverged before
// recording enough updates and a skipped SGD comparison: the figures are
// copied, the unmeasured ones are null, and the section validates against
// report.schema.json inside a report.
func TestSectionValidates(t *testing.T) {
	v := func(e, s float64) Value { return Value{Est: e, SE: s} }
	res := &Result{Schema: Schema, Model: "m.onnx", Complete: false,
		Config: Config{LR: 0.01, Momentum: 0.9, Batch: 32, WeightDecay: 5e-4, Steps: 400, Blocks: 10},
		Static: Static{Loss: 0.4, GradNorm: 0.02, Eigen: []EigenPair{{Value: 40}, {Value: 30}}, TraceH: v(1000, 20),
			TraceC: v(100, 10), Tau: v(0.1, 0.01), Alignment: Align{Commutator: 0.05, CommutatorSE: 0.01}, StabilityMargin: 0.1},
		Chains: []Chain{
			{Name: "main", LR: 0.01, Momentum: 0.9, Steps: 400, FDR: v(0.97, 0.02), Loss: v(0.4, 0.01), LossDrift: v(0, 0.01),
				Lag1Antisym: v(0.03, 0.02), Lag1AntisymPred: 0.05, Modes: []Mode{
					{H: 40, FDR: v(1, 0.05), RatioExact: v(1.1, 0.1), RatioSmall: v(1.2, 0.1), RatioIso: v(0.9, 0.1)},
					{H: 30, FDR: v(1, 0.05), RatioExact: nan(), RatioSmall: nan(), RatioIso: nan()}}},
			{Name: "sgd", LR: 0.1, Diverged: "update 3: the batch loss is NaN", Steps: 0},
		},
		Trace: &Law{Ratio: v(0.8, 0.3)}, SGD: &SGDComp{Skipped: "plain SGD at η/(1−μ) diverged"}}
	res.Gates = gates(res)
	step := 7
	d := res.Section("dynamics.json", &step)
	if d.Complete || *d.Step != 7 || d.Static.Commutator != (reports.Estimate{Value: 0.05, SE: 0.01}) ||
		len(d.Static.Eigenvalues) != 2 || d.MomentumVsSGD != nil || d.TraceLaw == nil || float64(d.TraceLaw.Value) != 0.8 {
		t.Errorf("section %+v", d)
	}
	sgd := d.Chains[1]
	for name, e := range map[string]reports.Estimate{"fdr": sgd.FDR, "loss": sgd.Loss, "drift": sgd.LossDrift, "lag1": sgd.Lag1Antisym} {
		if !math.IsNaN(float64(e.Value)) {
			t.Errorf("diverged chain's %s = %v, want null", name, e)
		}
	}
	if m := d.Chains[0].Modes[0]; float64(m.RatioSmallEta.Value) != 1.2 || float64(m.RatioIsotropic.SE) != 0.1 {
		t.Errorf("mode 1 %+v", m)
	}
	rep := reports.Report{Schema: reports.SchemaID, Tool: reports.Tool{Name: "gnaudit", Version: "test"}, Created: "2026-12-02T17:00:00Z",
		Data: reports.Data{Name: "x", Preprocessing: []string{}}, Method: reports.Method{Notes: []string{}},
		Checkpoints: []reports.Checkpoint{}, Dynamics: d}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if err := reports.Validate(b); err != nil {
		t.Errorf("schema: %v\n%s", err, b)
	}
}
