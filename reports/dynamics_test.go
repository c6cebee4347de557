package reports_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/reports"
)

// dynamicsSection is a report.json dynamics section with a diverged
// chain's null figures and an unstable mode's null ratios.
func dynamicsSection() *reports.Dynamics {
	nan := reports.Number(math.NaN())
	e := func(v, se float64) reports.Estimate {
		return reports.Estimate{Value: reports.Number(v), SE: reports.Number(se)}
	}
	null := reports.Estimate{Value: nan, SE: nan}
	step := 1200
	return &reports.Dynamics{File: "dynamics.json", Schema: "gnaudit.dynamics/v1", Complete: true, Model: "checkpoints/step-1200/model.onnx",
		Step: &step, Batch: 32, LR: 0.01, Momentum: 0.9, WeightDecay: 5e-4, Steps: 600, Blocks: 10,
		Static: reports.DynamicsStatic{Loss: 0.3, GradNorm: 0.05, Eigenvalues: []reports.Number{41, 37},
			TraceH: e(1508, 27), TraceC: e(132, 18), Tau: e(0.087, 0.012), Commutator: e(0.027, 0.01), StabilityMargin: 0.108, HVPSymmetry: 1e-4},
		Chains: []reports.DynamicsChain{
			{Name: "main", LR: 0.01, Momentum: 0.9, FDR: e(0.98, 0.02), Loss: e(0.3, 0.01), LossDrift: e(-0.01, 0.01),
				Lag1Antisym: e(0.02, 0.016), Lag1AntisymPred: 0.12, Modes: []reports.DynamicsMode{
					{H: 41, FDR: e(1, 0.08), RatioExact: e(8.2, 2.1), RatioSmallEta: e(8.5, 2.2), RatioIsotropic: e(3, 1)},
					{H: 37, FDR: e(1.03, 0.05), RatioExact: null, RatioSmallEta: null, RatioIsotropic: null}}},
			{Name: "sgd", LR: 0.1, Momentum: 0, Diverged: "update 12: the batch loss is NaN", FDR: null, Loss: null, LossDrift: null,
				Lag1Antisym: null, Lag1AntisymPred: nan, Modes: []reports.DynamicsMode{}},
		},
		TraceLaw: &reports.Estimate{Value: 0.68, SE: 0.26}, MomentumVsSGD: []reports.Estimate{e(0.9, 0.2), null},
		Notes: []string{"times measured on: test"}}
}

// A report with a dynamics section validates against report.schema.json
// and reads back equal; a report without one has no "dynamics" key (the
// v1 files written before it stay valid: reports/testdata/report-v1.0.json
// is checked by compat_test.go).
func TestDynamicsSectionValidatesAndRoundTrips(t *testing.T) {
	r := buildReport(t, false)
	plain, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(plain), `"dynamics"`) {
		t.Error("a report without dynamics writes the key")
	}
	r.Dynamics = dynamicsSection()
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := reports.Validate(b); err != nil {
		t.Fatalf("schema: %v", err)
	}
	back, err := reports.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	d := back.Dynamics
	if d == nil || d.Step == nil || *d.Step != 1200 || len(d.Chains) != 2 || d.Chains[1].Diverged == "" ||
		d.Chains[0].Modes[0].RatioExact != (reports.Estimate{Value: 8.2, SE: 2.1}) ||
		!math.IsNaN(float64(d.Chains[0].Modes[1].RatioExact.Value)) || !math.IsNaN(float64(d.MomentumVsSGD[1].SE)) ||
		d.TraceLaw == nil || float64(d.TraceLaw.Value) != 0.68 || float64(d.Static.Commutator.SE) != 0.01 {
		t.Errorf("read back %+v", d)
	}
}

func TestDynamicsSchemaRejects(t *testing.T) {
	r := buildReport(t, false)
	r.Dynamics = dynamicsSection()
	good, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	dyn := func(m map[string]any) map[string]any { return m["dynamics"].(map[string]any) }
	for _, tc := range []struct {
		name   string
		mutate func(m map[string]any)
		want   string
	}{
		{"missing static", func(m map[string]any) { delete(dyn(m), "static") }, `/dynamics: missing required property "static"`},
		{"unknown key", func(m map[string]any) { dyn(m)["fdr"] = 1 }, `unknown property "fdr"`},
		{"bare number for an estimate", func(m map[string]any) {
			dyn(m)["static"].(map[string]any)["commutator"] = 0.03
		}, "/dynamics/static/commutator: number, want object"},
		{"estimate without se", func(m map[string]any) {
			delete(dyn(m)["trace_law_ratio"].(map[string]any), "se")
		}, `/dynamics/trace_law_ratio: missing required property "se"`},
		{"momentum above 1", func(m map[string]any) { dyn(m)["momentum"] = 1.5 }, "/dynamics/momentum: 1.5 > maximum 1"},
		{"other schema", func(m map[string]any) { dyn(m)["schema"] = "gnaudit.report/v1" }, "/dynamics/schema"},
		{"mode without its small-η ratio", func(m map[string]any) {
			ch := dyn(m)["chains"].([]any)[0].(map[string]any)
			delete(ch["modes"].([]any)[0].(map[string]any), "ratio_small_eta")
		}, `/dynamics/chains/0/modes/0: missing required property "ratio_small_eta"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(good, &m); err != nil {
				t.Fatal(err)
			}
			tc.mutate(m)
			bad, _ := json.Marshal(m)
			err := reports.Validate(bad)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want containing %q", err, tc.want)
			}
		})
	}
}
