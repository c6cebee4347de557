package gate_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/gnaudit/gnaudit/gate"
	"github.com/gnaudit/gnaudit/internal/approx"
	"github.com/gnaudit/gnaudit/reports"
)

// dynJSON is a small hand-written dynamics.json: the main chain's FDR
// ratio fdr ± fdrSE, two modes, the trace-law ratio (trace "" for none),
// the stability margin and complete.
func dynJSON(fdr, fdrSE string, modes [2]string, trace, margin string, complete bool, diverged string) string {
	tr := ""
	if trace != "" {
		tr = fmt.Sprintf(`"trace_law_ratio": %s,`, trace)
	}
	div := ""
	if diverged != "" {
		div = fmt.Sprintf(`"diverged": %q,`, diverged)
	}
	return fmt.Sprintf(`{
  "schema": "gnaudit.dynamics/v1",
  "samples": 300,
  "config": {"lr": 0.02, "momentum": 0.9, "batch": 16, "steps": 400, "blocks": 10},
  "static": {"stability_margin": %[5]s},
  "chains": [
    {"name": "main", "lr": 0.02, "momentum": 0.9, %[7]s "fdr_ratio": {"value": %[1]s, "se": %[2]s},
     "modes": [{"h": 3, "fdr_ratio": %[3]s}, {"h": 2, "fdr_ratio": %[4]s}]},
    {"name": "lr2", "lr": 0.01, "momentum": 0.9, "fdr_ratio": {"value": 0.9, "se": 0.05}, "modes": []}
  ],
  "gates": {
    "fdr_ratio": {"value": %[1]s, "se": %[2]s},
    %[6]s
    "stability_margin": %[5]s,
    "commutator": 0.04
  },
  "complete": %[8]t
}`, fdr, fdrSE, modes[0], modes[1], margin, tr, div, complete)
}

var goodModes = [2]string{`{"value": 1.01, "se": 0.02}`, `{"value": 0.97, "se": 0.05}`}

const allDynGates = `
max_fdr_deviation: 0.1
max_mode_fdr_deviation: 0.1
max_trace_law_deviation: 0.5
max_stability_margin: 0.5
`

type dynCheck struct {
	gate, layer string
	measured    float64 // |x − 1|, or the margin; NaN: undefined
	pass        bool
	msg         string // substring of the message ("" any)
}

func evalDyn(t *testing.T, policy, js string) *gate.Result {
	t.Helper()
	p, err := gate.ParsePolicy([]byte(policy), "dyn.yaml")
	if err != nil {
		t.Fatal(err)
	}
	in, err := gate.ParseInput([]byte(js), "dynamics.json")
	if err != nil {
		t.Fatal(err)
	}
	if in.Dynamics == nil || in.Report != nil {
		t.Fatalf("input kind: %+v", in)
	}
	res, err := gate.EvaluateInput(p, in)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestEvaluateDynamics(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name, policy, js string
		want             []dynCheck
	}{
		{"healthy run passes every gate", allDynGates,
			dynJSON("0.98", "0.03", goodModes, `{"value": 1.1, "se": 0.3}`, "0.2", true, ""), []dynCheck{
				{gate.MaxFDRDeviation, "fdr_ratio", 0.02, true, ""},
				{gate.MaxModeFDRDeviation, "mode 1", 0.01, true, ""},
				{gate.MaxModeFDRDeviation, "mode 2", 0.03, true, ""},
				{gate.MaxTraceLawDeviation, "trace_law_ratio", 0.1, true, ""},
				{gate.MaxStabilityMargin, "stability_margin", 0.2, true, ""},
			}},
		{"FDR far below 1 fails through its bound",
			"max_fdr_deviation: 0.1\n", dynJSON("0.6", "0.03", goodModes, "", "0.2", true, ""), []dynCheck{
				{gate.MaxFDRDeviation, "fdr_ratio", 0.4, false, "fdr_ratio = 0.6 ± 0.03: lower 95 % bound"},
			}},
		{"FDR far above 1 fails",
			"max_fdr_deviation: 0.1\n", dynJSON("1.5", "0.05", goodModes, "", "0.2", true, ""), []dynCheck{
				{gate.MaxFDRDeviation, "fdr_ratio", 0.5, false, "> 0.1"},
			}},
		{"point estimate outside, within its noise: passes",
			"max_fdr_deviation: 0.1\n", dynJSON("0.85", "0.1", goodModes, "", "0.2", true, ""), []dynCheck{
				{gate.MaxFDRDeviation, "fdr_ratio", 0.15, true, ""},
			}},
		{"compare: point fails the same run",
			"max_fdr_deviation: 0.1\ncompare: point\n", dynJSON("0.85", "0.1", goodModes, "", "0.2", true, ""), []dynCheck{
				{gate.MaxFDRDeviation, "fdr_ratio", 0.15, false, "|x − 1| = 0.15 > 0.1"},
			}},
		{"no standard error: point comparison",
			"max_fdr_deviation: 0.1\n", dynJSON("0.85", "null", goodModes, "", "0.2", true, ""), []dynCheck{
				{gate.MaxFDRDeviation, "fdr_ratio", 0.15, false, "> 0.1"},
			}},
		{"one mode off",
			"max_mode_fdr_deviation: 0.05\n", dynJSON("0.98", "0.03", [2]string{`{"value": 1.0, "se": 0.01}`, `{"value": 0.7, "se": 0.02}`}, "", "0.2", true, ""), []dynCheck{
				{gate.MaxModeFDRDeviation, "mode 1", 0, true, ""},
				{gate.MaxModeFDRDeviation, "mode 2", 0.3, false, "mode 2 = 0.7 ± 0.02"},
			}},
		{"stability margin above the maximum (point)",
			"max_stability_margin: 0.5\n", dynJSON("0.98", "0.03", goodModes, "", "0.7", true, ""), []dynCheck{
				{gate.MaxStabilityMargin, "stability_margin", 0.7, false, "0.7 > 0.5"},
			}},
		{"no trace law measured fails",
			"max_trace_law_deviation: 0.5\n", dynJSON("0.98", "0.03", goodModes, "", "0.2", true, ""), []dynCheck{
				{gate.MaxTraceLawDeviation, "trace_law_ratio", nan, false, "--lr2 < 0"},
			}},
		{"no trace law, allow_missing",
			"max_trace_law_deviation: 0.5\nallow_missing: true\n", dynJSON("0.98", "0.03", goodModes, "", "0.2", true, ""), []dynCheck{
				{gate.MaxTraceLawDeviation, "trace_law_ratio", nan, true, ""},
			}},
		{"trace law far off",
			"max_trace_law_deviation: 0.5\n", dynJSON("0.98", "0.03", goodModes, `{"value": 3, "se": 0.2}`, "0.2", true, ""), []dynCheck{
				{gate.MaxTraceLawDeviation, "trace_law_ratio", 2, false, "trace_law_ratio = 3 ± 0.2"},
			}},
		{"diverged main chain",
			"max_fdr_deviation: 0.1\nmax_mode_fdr_deviation: 0.1\n", dynJSON("null", "null", [2]string{`{"value": null, "se": null}`, `{"value": null, "se": null}`}, "", "0.2", true, "loss is NaN at update 12"), []dynCheck{
				{gate.MaxFDRDeviation, "fdr_ratio", nan, false, "diverged (loss is NaN at update 12)"},
				{gate.MaxModeFDRDeviation, "mode 1", nan, false, "diverged"},
				{gate.MaxModeFDRDeviation, "mode 2", nan, false, "diverged"},
			}},
		{"partial run adds a failing check",
			"max_stability_margin: 0.5\n", dynJSON("0.98", "0.03", goodModes, "", "0.2", false, ""), []dynCheck{
				{gate.MaxStabilityMargin, "stability_margin", 0.2, true, ""},
				{gate.DynamicsComplete, "complete", 0, false, "partial run"},
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := evalDyn(t, tc.policy, tc.js)
			if len(res.Checks) != len(tc.want) {
				t.Fatalf("got %d checks, want %d: %+v", len(res.Checks), len(tc.want), res.Checks)
			}
			for i, w := range tc.want {
				c := res.Checks[i]
				m := float64(c.Measured)
				okM := approx.Close(m, w.measured, approx.Reference, 0)
				if c.Gate != w.gate || c.Layer != w.layer || !okM || c.Pass != w.pass || !strings.Contains(c.Message, w.msg) {
					t.Errorf("check %d = %s %s measured %v pass %v %q; want %+v", i, c.Gate, c.Layer, m, c.Pass, c.Message, w)
				}
			}
			if want := !anyFail(tc.want); res.Passed() != want {
				t.Errorf("Passed = %v, want %v", res.Passed(), want)
			}
		})
	}
}

func anyFail(cs []dynCheck) bool {
	for _, c := range cs {
		if !c.pass {
			return true
		}
	}
	return false
}

// The p-value and the bound of a deviation gate against scipy
// (scripts: stats.t.sf(z, 9), brentq; dynamics.json with 10 blocks:
// Student t with 9 degrees of freedom), at level alpha = 0.05 (one check).
func TestDeviationPValueAndBound(t *testing.T) {
	for _, tc := range []struct {
		est, se, tol  float64
		p, bound      float64
		pass          bool
		blocksPresent bool
	}{
		// d = 0.4, se 0.03, tol 0.1, t_9: p = t.sf(10)+t.sf(16.67)
		{0.6, 0.03, 0.1, 1.8116371670011047e-06, 0.34500661176817604, false, true},
		{1.15, 0.1, 0.1, 0.3314665637545061, 0, true, true},
		{1.05, 0.04, 0, 0.24282427454434113, 0, true, true},
		// no blocks in the config: normal
		{1.3, 0.1, 0.1, 0.022781803190012336, 0.1355081883100756, false, false},
	} {
		js := fmt.Sprintf(`{"schema": "gnaudit.dynamics/v1", "config": {"blocks": %d}, "chains": [],
  "gates": {"fdr_ratio": {"value": %g, "se": %g}, "stability_margin": 0.1}, "complete": true}`,
			map[bool]int{true: 10, false: 0}[tc.blocksPresent], tc.est, tc.se)
		res := evalDyn(t, fmt.Sprintf("max_fdr_deviation: %g\n", tc.tol), js)
		c := res.Checks[0]
		if !c.PValue.Set {
			t.Errorf("%+v: no p-value", tc)
		}
		approx.RelFloor(t, fmt.Sprintf("%+v: p against scipy", tc), c.PValue.Float(), tc.p, approx.Reference, 1e-3)
		approx.Abs(t, fmt.Sprintf("%+v: bound against scipy", tc), c.Bound.Float(), tc.bound, approx.Reference)
		if c.Pass != tc.pass || c.Level.Float() != 0.05 {
			t.Errorf("%+v: pass %v level %v", tc, c.Pass, c.Level.Float())
		}
	}
}

// A run whose true FDR ratio is at the edge of the tolerance (|x − 1| =
// tol), measured with 10 batch-means blocks (t_9 errors), fails at most
// alpha of the time; well inside the tolerance almost never.
func TestDeviationGateCalibrated(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	tdist := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: 9, Src: r}
	const n = 4000
	for _, tc := range []struct {
		truth    float64
		min, max float64 // allowed false-failure rate
	}{
		{1.1, 0.035, 0.065}, // at the edge: ≈ alpha (the far tail adds ~0)
		{0.9, 0.035, 0.065},
		{1.0, 0, 0.002}, // inside by 2.5 se
	} {
		p, err := gate.ParsePolicy([]byte("max_fdr_deviation: 0.1\n"), "p.yaml")
		if err != nil {
			t.Fatal(err)
		}
		fails := 0
		for i := 0; i < n; i++ {
			est := tc.truth + 0.04*tdist.Rand()
			js := fmt.Sprintf(`{"schema": "gnaudit.dynamics/v1", "config": {"blocks": 10}, "chains": [],
  "gates": {"fdr_ratio": {"value": %v, "se": 0.04}}, "complete": true}`, est)
			in, err := gate.ParseInput([]byte(js), "d.json")
			if err != nil {
				t.Fatal(err)
			}
			res, err := gate.EvaluateInput(p, in)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Passed() {
				fails++
			}
		}
		if f := float64(fails) / n; f < tc.min || f > tc.max {
			t.Errorf("true FDR %v: false-failure rate %.4f, want in [%v, %v]", tc.truth, f, tc.min, tc.max)
		}
	}
}

func TestDynamicsPolicyErrors(t *testing.T) {
	js := dynJSON("0.98", "0.03", goodModes, "", "0.2", true, "")
	for _, tc := range []struct {
		name, policy, input, want string
	}{
		{"report gates on a dynamics.json", "min_gaussianity:\n  - {layer: \"*\", batch_size: 128, percent: 80}\n", js,
			"min_gaussianity gate a report.json"},
		{"mixed policy on a dynamics.json", "max_fdr_deviation: 0.1\nmax_noise_scale:\n  - {layer: model, value: 10}\n", js,
			"max_noise_scale gate a report.json"},
		{"checkpoint on a dynamics.json", "max_fdr_deviation: 0.1\ncheckpoint: all\n", js, "checkpoint does not apply"},
		{"dynamics gates on a report.json", "max_fdr_deviation: 0.1\nmax_stability_margin: 0.5\n", "report",
			"max_fdr_deviation, max_stability_margin gate a dynamics.json"},
		{"unknown dynamics schema", "max_fdr_deviation: 0.1\n", `{"schema": "gnaudit.dynamics/v2"}`, `schema "gnaudit.dynamics/v2"`},
		{"not a report at all", "max_fdr_deviation: 0.1\n", `{"schema": "something/v1"}`, `schema "something/v1": want gnaudit.report/v1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := gate.ParsePolicy([]byte(tc.policy), "dyn.yaml")
			if err != nil {
				t.Fatal(err)
			}
			var in *gate.Input
			if tc.input == "report" {
				in = &gate.Input{Path: "report.json", Report: testReport()}
			} else {
				in, err = gate.ParseInput([]byte(tc.input), "dynamics.json")
			}
			if err == nil {
				_, err = gate.EvaluateInput(p, in)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	for _, bad := range []struct{ policy, want string }{
		{"max_fdr_deviation: -0.1\n", "max_fdr_deviation: -0.1: want a number ≥ 0"},
		{"max_stability_margin: 0\n", "max_stability_margin: 0: want a number > 0"},
		{"max_fdr_deviation: .nan\n", "want a number ≥ 0"},
		{"max_fdr_devaition: 0.1\n", "max_fdr_devaition"},
	} {
		if _, err := gate.ParsePolicy([]byte(bad.policy), "p.yaml"); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: err = %v, want %q", bad.policy, err, bad.want)
		}
	}
}

// A report.json still reads as a report; the committed example
// dynamics.json and policy (docs/dynamics.md) read and evaluate.
func TestReadInputKinds(t *testing.T) {
	dir := t.TempDir()
	rp := filepath.Join(dir, "report.json")
	if err := reports.WriteFile(rp, testReport()); err != nil {
		t.Fatal(err)
	}
	in, err := gate.ReadInput(rp)
	if err != nil || in.Report == nil || in.Dynamics != nil {
		t.Fatalf("report.json: %+v, %v", in, err)
	}
	in, err = gate.ReadInput("../docs/examples/dynamics.json")
	if err != nil || in.Dynamics == nil {
		t.Fatalf("docs/examples/dynamics.json: %+v, %v", in, err)
	}
	p, err := gate.ReadPolicy("../docs/examples/dynamics-gates.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res, err := gate.EvaluateInput(p, in)
	if err != nil {
		t.Fatal(err)
	}
	// The example's whole-model FDR ratio is 0.63 ± 0.04 (not stationary),
	// its two modes' are 1 within 0.01, every other check passes: one failure of 15 (docs/dynamics.md).
	if len(res.Checks) != 15 || res.Failed() != 1 || res.Checks[0].Pass {
		t.Errorf("example: %d checks, %d failed: %+v", len(res.Checks), res.Failed(), res.Checks)
	}
}
