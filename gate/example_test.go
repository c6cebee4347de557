package gate_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/gnaudit/gnaudit/gate"
)

// Gating a dynamics.json: the whole model's FDR ratio is compared through
// its standard error, the stability margin as a point value.
func ExampleEvaluateInput() {
	p, err := gate.ParsePolicy([]byte("max_fdr_deviation: 0.1\nmax_stability_margin: 0.5\n"), "dyn.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	in, err := gate.ParseInput([]byte(`{"schema": "gnaudit.dynamics/v1", "config": {"blocks": 10},
  "gates": {"fdr_ratio": {"value": 0.6, "se": 0.03}, "stability_margin": 0.1}, "complete": true}`), "dynamics.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := gate.EvaluateInput(p, in)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range res.Checks {
		fmt.Println(strings.TrimSpace(fmt.Sprintf("%s %s pass=%v %s", c.Gate, c.Layer, c.Pass, c.Message)))
	}
	fmt.Println("exit status", res.ExitCode())
	res.WriteMarkdown(os.Stdout, "dynamics.json") // what $GITHUB_STEP_SUMMARY gets
	// Output:
	// max_fdr_deviation fdr_ratio pass=false fdr_ratio = 0.6 ± 0.03: lower 95 % bound 0.345007 > 0.1 (p = 1.81e-06 ≤ level 0.05)
	// max_stability_margin stability_margin pass=true
	// exit status 1
	// ### gnaudit gate: ❌ FAIL
	//
	// 1 of 2 checks of `dyn.yaml` failed on `dynamics.json`.
	//
	// Method: confidence bounds: 1 checks compared through one-sided confidence bounds with Holm's step-down correction, family-wise false-failure rate ≤ 0.05; 1 checks without an uncertainty compared as point estimates.
	//
	// | Gate | Step | Layer | B | Measured | Bound | Threshold | Result |
	// |---|---:|---|---:|---:|---:|---:|---|
	// | `max_fdr_deviation` | 0 | `fdr_ratio` |  | 0.4 | 0.345007 | <= 0.1 | ❌ fail: fdr_ratio = 0.6 ± 0.03: lower 95 % bound 0.345007 &gt; 0.1 (p = 1.81e-06 ≤ level 0.05) |
	// | `max_stability_margin` | 0 | `stability_margin` |  | 0.1 | — | <= 0.5 | ✅ pass |
}
