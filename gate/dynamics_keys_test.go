package gate_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/gnaudit/gnaudit/gate"
	"github.com/gnaudit/gnaudit/internal/approx"
)

// modesJSON is a dynamics.json whose main chain has two modes with the
// given exact, small-η and C = τH variance ratios, a momentum-vs-SGD
// comparison (sgd "" for none) and the commutator and lag-1 antisymmetry
// gate figures.
func modesJSON(ratios [2][3]string, sgd, commutator, lag1 string) string {
	mode := func(r [3]string) string {
		return fmt.Sprintf(`{"h": 3, "fdr_ratio": {"value": 1, "se": 0.01}, "ratio_exact": %s, "ratio_small_eta": %s, "ratio_isotropic": %s}`, r[0], r[1], r[2])
	}
	s := ""
	if sgd != "" {
		s = `"momentum_vs_sgd": ` + sgd + ","
	}
	return fmt.Sprintf(`{
  "schema": "gnaudit.dynamics/v1",
  "config": {"lr": 0.01, "momentum": 0.9, "batch": 32, "steps": 600, "blocks": 10},
  "chains": [{"name": "main", "lr": 0.01, "momentum": 0.9, "fdr_ratio": {"value": 1, "se": 0.02},
              "modes": [%s, %s]}],
  %s
  "gates": {"fdr_ratio": {"value": 1, "se": 0.02}, "stability_margin": 0.1, "commutator": %s, "lag1_antisym": %s},
  "complete": true
}`, mode(ratios[0]), mode(ratios[1]), s, commutator, lag1)
}

const v1 = `{"value": 1.02, "se": 0.05}`

func TestEvaluateDynamicsModeAndBalanceKeys(t *testing.T) {
	nan := math.NaN()
	good := [2][3]string{{v1, v1, v1}, {`{"value": 0.95, "se": 0.04}`, v1, v1}}
	sgdOK := `{"ratios": [{"value": 0.9, "se": 0.05}, {"value": 0.8, "se": 0.05}], "predicted": [0.9, 0.85],
	           "ratio_to_predicted": [{"value": 1.0, "se": 0.06}, {"value": 0.94, "se": 0.06}], "unstable_modes": 0}`
	for _, tc := range []struct {
		name, policy, js string
		want             []dynCheck
	}{
		{"healthy: every new key passes",
			"max_mode_ratio_deviation: 0.2\nmax_mode_ratio_small_eta_deviation: 0.2\nmax_mode_ratio_isotropic_deviation: 0.2\n" +
				"max_momentum_sgd_deviation: 0.2\nmax_commutator: 0.1\nmax_lag1_antisym: 0.1\n",
			modesJSON(good, sgdOK, `{"value": 0.03, "se": 0.01}`, `{"value": 0.02, "se": 0.015}`), []dynCheck{
				{gate.MaxModeRatioDeviation, "mode 1", 0.02, true, ""},
				{gate.MaxModeRatioDeviation, "mode 2", 0.05, true, ""},
				{gate.MaxModeRatioSmallEtaDeviation, "mode 1", 0.02, true, ""},
				{gate.MaxModeRatioSmallEtaDeviation, "mode 2", 0.02, true, ""},
				{gate.MaxModeRatioIsotropicDeviation, "mode 1", 0.02, true, ""},
				{gate.MaxModeRatioIsotropicDeviation, "mode 2", 0.02, true, ""},
				{gate.MaxMomentumSGDDeviation, "mode 1", 0, true, ""},
				{gate.MaxMomentumSGDDeviation, "mode 2", 0.06, true, ""},
				{gate.MaxCommutator, "commutator", 0.03, true, ""},
				{gate.MaxLag1Antisym, "lag1_antisym", 0.02, true, ""},
			}},
		{"positions 8× the exact prediction fail (the alexnet-cifar case)",
			"max_mode_ratio_deviation: 0.5\n",
			modesJSON([2][3]string{{`{"value": 8.2, "se": 2.1}`, v1, v1}, {`{"value": 2.7, "se": 0.2}`, v1, v1}}, "", "0.03", "0.02"), []dynCheck{
				{gate.MaxModeRatioDeviation, "mode 1", 7.2, false, "mode 1 = 8.2 ± 2.1: lower"},
				{gate.MaxModeRatioDeviation, "mode 2", 1.7, false, "mode 2 = 2.7 ± 0.2"},
			}},
		{"the small-η form fails where the exact one holds",
			"max_mode_ratio_deviation: 0.1\nmax_mode_ratio_small_eta_deviation: 0.1\n",
			modesJSON([2][3]string{{v1, `{"value": 1.6, "se": 0.05}`, v1}, {v1, v1, v1}}, "", "0.03", "0.02"), []dynCheck{
				{gate.MaxModeRatioDeviation, "mode 1", 0.02, true, ""},
				{gate.MaxModeRatioDeviation, "mode 2", 0.02, true, ""},
				{gate.MaxModeRatioSmallEtaDeviation, "mode 1", 0.6, false, "mode 1 = 1.6 ± 0.05"},
				{gate.MaxModeRatioSmallEtaDeviation, "mode 2", 0.02, true, ""},
			}},
		{"an unstable mode has no prediction: fails as missing",
			"max_mode_ratio_isotropic_deviation: 0.2\n",
			modesJSON([2][3]string{{v1, v1, `{"value": null, "se": null}`}, {v1, v1, v1}}, "", "0.03", "0.02"), []dynCheck{
				{gate.MaxModeRatioIsotropicDeviation, "mode 1", nan, false, "no C = τH prediction for mode 1"},
				{gate.MaxModeRatioIsotropicDeviation, "mode 2", 0.02, true, ""},
			}},
		{"momentum vs SGD off, and a mode beyond SGD's edge",
			"max_momentum_sgd_deviation: 0.1\n",
			modesJSON(good, `{"ratios": [{"value": 0.5, "se": 0.05}, {"value": 0.6, "se": 0.1}], "predicted": [0.9, null],
			  "ratio_to_predicted": [{"value": 0.55, "se": 0.05}, {"value": null, "se": null}], "unstable_modes": 1}`, "0.03", "0.02"), []dynCheck{
				{gate.MaxMomentumSGDDeviation, "mode 1", 0.45, false, "mode 1 = 0.55 ± 0.05"},
				{gate.MaxMomentumSGDDeviation, "mode 2", nan, false, "beyond its linear stability edge"},
			}},
		{"momentum vs SGD skipped (SGD diverged), allow_missing",
			"max_momentum_sgd_deviation: 0.1\nallow_missing: true\n",
			modesJSON(good, `{"ratios": null, "predicted": null, "skipped": "plain SGD at η/(1−μ) diverged: update 3", "unstable_modes": 0}`, "0.03", "0.02"), []dynCheck{
				{gate.MaxMomentumSGDDeviation, "momentum_vs_sgd", nan, true, ""},
			}},
		{"no momentum-vs-SGD section fails",
			"max_momentum_sgd_deviation: 0.1\n", modesJSON(good, "", "0.03", "0.02"), []dynCheck{
				{gate.MaxMomentumSGDDeviation, "momentum_vs_sgd", nan, false, "not measured"},
			}},
		{"commutator clearly above the tolerance fails; lag-1 within its noise passes",
			"max_commutator: 0.1\nmax_lag1_antisym: 0.05\n",
			modesJSON(good, "", `{"value": 0.3, "se": 0.05}`, `{"value": 0.08, "se": 0.04}`), []dynCheck{
				{gate.MaxCommutator, "commutator", 0.3, false, "commutator = 0.3 ± 0.05: lower"},
				{gate.MaxLag1Antisym, "lag1_antisym", 0.08, true, ""},
			}},
		{"an old dynamics.json with a bare commutator: point comparison",
			"max_commutator: 0.01\n", modesJSON(good, "", "0.03", "0.02"), []dynCheck{
				{gate.MaxCommutator, "commutator", 0.03, false, "commutator = 0.03 > 0.01"},
			}},
		{"commutator not measured",
			"max_commutator: 0.1\n", modesJSON(good, "", "null", "null"), []dynCheck{
				{gate.MaxCommutator, "commutator", nan, false, "not measured"},
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
		})
	}
}

// The one-sided p-value and lower bound of max_commutator /
// max_lag1_antisym against scipy: p = stats.t.sf((x − tol)/se, 9),
// bound = max(0, x − stats.t.ppf(0.95, 9)·se) (10 blocks); with no blocks
// recorded, the normal distribution.
func TestUpperCheckPValueAndBound(t *testing.T) {
	for _, tc := range []struct {
		x, se, tol float64
		blocks     int
		p, bound   float64
		pass       bool
	}{
		{0.3, 0.05, 0.1, 10, 0.001555214155192928, 0.20834435336731832, false},
		{0.12, 0.05, 0.1, 10, 0.34924204583568275, 0.028344353367318317, true},
		{0.05, 0.02, 0.1, 10, 0.9830690861585071, 0.013337741346927334, true},
		{0.3, 0.05, 0.1, 0, 3.167124183311998e-05, 0.21775731865242637, false},
	} {
		for _, key := range []string{"commutator", "lag1_antisym"} {
			js := fmt.Sprintf(`{"schema": "gnaudit.dynamics/v1", "config": {"blocks": %d}, "chains": [],
  "gates": {"%s": {"value": %g, "se": %g}}, "complete": true}`, tc.blocks, key, tc.x, tc.se)
			res := evalDyn(t, fmt.Sprintf("max_%s: %g\n", key, tc.tol), js)
			c := res.Checks[0]
			if !c.PValue.Set {
				t.Errorf("%s %+v: no p-value", key, tc)
			}
			approx.RelFloor(t, key+": p (scipy t.sf)", c.PValue.Float(), tc.p, approx.Reference, 1e-3)
			approx.Abs(t, key+": bound (scipy t.ppf)", c.Bound.Float(), tc.bound, approx.Reference)
			if c.Pass != tc.pass {
				t.Errorf("%s %+v: pass %v", key, tc, c.Pass)
			}
		}
	}
}

// max_commutator at a true commutator equal to the tolerance, measured
// with t_9 errors (10 groups), fails about alpha of the time; a true value
// 3 se inside almost never.
func TestUpperCheckCalibrated(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	tdist := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: 9, Src: r}
	p, err := gate.ParsePolicy([]byte("max_commutator: 0.1\n"), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const n = 4000
	for _, tc := range []struct {
		truth    float64
		min, max float64
	}{
		{0.1, 0.038, 0.062},
		{0.04, 0, 0.002},
	} {
		fails := 0
		for i := 0; i < n; i++ {
			js := fmt.Sprintf(`{"schema": "gnaudit.dynamics/v1", "config": {"blocks": 10}, "chains": [],
  "gates": {"commutator": {"value": %v, "se": 0.02}}, "complete": true}`, tc.truth+0.02*tdist.Rand())
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
			t.Errorf("true commutator %v: false-failure rate %.4f, want in [%v, %v]", tc.truth, f, tc.min, tc.max)
		}
	}
}
