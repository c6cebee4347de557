package paper

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/audit"
	"github.com/gnaudit/gnaudit/auditor/dynamics"
)

// TestDynConfigs checks the committed dynamics configs: they load and
// validate, run the dynamics stage at the trained model (no fine-tuning)
// with the batch, momentum and weight decay of the training config they
// name and its final rate, for 3–5 seeds, and give their scale.sh command.
func TestDynConfigs(t *testing.T) {
	dir := "../../experiments/paper/scale"
	cfgs, err := readDynConfigs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfgs) == 0 {
		t.Fatal("no dynamics-*.yaml")
	}
	for _, c := range cfgs {
		p := filepath.Join(dir, c.Name+".yaml")
		cfg, err := audit.LoadConfig(p, audit.Defaults())
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: %v", p, err)
		}
		if len(c.Seeds) < 3 || len(c.Seeds) > 5 {
			t.Errorf("%s: seeds %v, want 3 to 5", p, c.Seeds)
		}
		b, _ := os.ReadFile(p)
		if !strings.Contains(string(b), "scripts/paper/scale.sh dynamics "+c.Name) {
			t.Errorf("%s: the header does not give its scale.sh command", p)
		}
		d := cfg.Dynamics
		if d == nil {
			t.Fatalf("%s: no dynamics section", p)
		}
		tp := filepath.Join(dir, c.Train+".yaml")
		tc, err := audit.LoadConfig(tp, audit.Defaults())
		if err != nil {
			t.Fatalf("%s: '# train: %s': %v", p, c.Train, err)
		}
		th, err := Header(tp)
		if err != nil {
			t.Fatal(err)
		}
		rule, err := ParsePlateauRule(th)
		if err != nil {
			t.Fatal(err)
		}
		ft := tc.FineTune
		if cfg.FineTune.Steps != 0 || d.Batch != ft.BatchSize || d.Momentum == nil || *d.Momentum != ft.Momentum ||
			d.WeightDecay == nil || *d.WeightDecay != ft.WeightDecay || d.LR != rule.LRs[len(rule.LRs)-1] {
			t.Errorf("%s: steps %d, dynamics %+v; want 0 steps and %s's batch %d, momentum %g, weight decay %g, final rate %g",
				p, cfg.FineTune.Steps, *d, c.Train, ft.BatchSize, ft.Momentum, ft.WeightDecay, rule.LRs[len(rule.LRs)-1])
		}
	}
}

// dynResult is a synthetic dynamics.json: one main chain with two modes.
func dynResult(comm, commSE, anti, antiSE float64, modeFDR, ratio []dynamics.Value, fdr dynamics.Value) *dynamics.Result {
	r := &dynamics.Result{Schema: dynamics.Schema, Complete: true}
	r.Config = dynamics.Config{LR: 0.001, LR2: 0.0005, Momentum: 0.9, Batch: 128, WeightDecay: 5e-4, Steps: 600, Burn: 150, Blocks: 10, K: 2, HessianSamples: 2048, NoiseSamples: 2048}
	r.Static.Loss, r.Static.GradNorm = 0.58, 0.39
	r.Static.Eigen = []dynamics.EigenPair{{Value: 61.4, Residual: 1e-6}, {Value: 31.1, Residual: 0.2}}
	r.Static.TraceH = dynamics.Value{Est: 1500, SE: 30}
	r.Static.TraceC = dynamics.Value{Est: 130, SE: 20}
	r.Static.Alignment = dynamics.Align{Commutator: comm, CommutatorSE: dynamics.Num(commSE), Cosine: 0.9}
	ch := dynamics.Chain{Name: "main", LR: 0.001, FDR: fdr, Lag1Antisym: dynamics.Value{Est: anti, SE: antiSE}, Lag1AntisymPred: 0.004}
	for i := range modeFDR {
		ch.Modes = append(ch.Modes, dynamics.Mode{FDR: modeFDR[i], RatioExact: ratio[i]})
	}
	r.Chains = []dynamics.Chain{ch}
	r.Trace = &dynamics.Law{Ratio: dynamics.Value{Est: 0.7, SE: 0.3}}
	return r
}

func v(x, se float64) dynamics.Value { return dynamics.Value{Est: x, SE: se} }

func TestDynVerdicts(t *testing.T) {
	ok2 := []dynamics.Value{v(1.01, 0.02), v(0.97, 0.03)}
	for _, tc := range []struct {
		name   string
		r      *dynamics.Result
		p1, p2 string
		whole  bool
	}{
		{"both resolved", dynResult(0.05, 0.01, 0.08, 0.02, ok2, []dynamics.Value{v(1.1, 0.1), v(0.9, 0.2)}, v(1.02, 0.05)), dynAgrees, dynAgrees, true},
		{"antisymmetry within 3 SE", dynResult(0.05, 0.01, 0.05, 0.02, ok2, []dynamics.Value{v(1.1, 0.1), v(0.9, 0.2)}, v(0.5, 0.05)), dynNotResolved, dynAgrees, false},
		{"commutator within 2 SE of 0", dynResult(0.01, 0.01, 0.08, 0.01, ok2, []dynamics.Value{v(1.1, 0.1), v(0.9, 0.2)}, v(0.5, 0.05)), dynNotResolved, dynAgrees, false},
		{"antisymmetry below the prediction", dynResult(0.05, 0.01, 0.001, 0.001, ok2, []dynamics.Value{v(1.1, 0.1), v(0.9, 0.2)}, v(0.5, 0.05)), dynDisagrees, dynAgrees, false},
		{"variance off the prediction", dynResult(0.05, 0.01, 0.08, 0.02, ok2, []dynamics.Value{v(1.1, 0.1), v(2.5, 0.3)}, v(1, 0.1)), dynAgrees, dynDisagrees, true},
		{"a mode not stationary", dynResult(0.05, 0.01, 0.08, 0.02, []dynamics.Value{v(1.01, 0.02), v(0.5, 0.1)}, []dynamics.Value{v(1, 0.1), v(1, 0.1)}, v(1, 0.1)), dynAgrees, dynNotTestable, true},
		{"no commutator error", dynResult(0.05, math.NaN(), 0.08, 0.02, ok2, []dynamics.Value{v(1, 0.1), v(1, 0.1)}, v(1, 0.1)), dynNotTestable, dynAgrees, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := prop1Verdict(tc.r); got != tc.p1 {
				t.Errorf("Proposition 1: %q, want %q", got, tc.p1)
			}
			got, whole := prop2Verdict(tc.r)
			if got != tc.p2 || whole != tc.whole {
				t.Errorf("Proposition 2: %q (whole model %v), want %q (%v)", got, whole, tc.p2, tc.whole)
			}
		})
	}
	r := dynResult(0.05, 0.01, 0.08, 0.02, ok2, []dynamics.Value{v(1.1, 0.1), v(3.5, 0.9)}, v(1, 0.1))
	r.Static.Eigen[1].Residual = 1.2 // 3.9 % of h: the off-prediction mode is not judged
	if got, _ := prop2Verdict(r); got != dynAgrees {
		t.Errorf("unconverged mode off the prediction: Proposition 2 %q, want agrees", got)
	}
	r.Static.Eigen[0].Residual = 1 // 1.6 %: none converged
	if got, _ := prop2Verdict(r); got != dynNotTestable {
		t.Errorf("no converged mode: Proposition 2 %q, want not testable", got)
	}
	r = dynResult(0.05, 0.01, 0.08, 0.02, []dynamics.Value{v(1, 0.1)}, []dynamics.Value{v(1, 0.1)}, v(1, 0.1))
	r.Chains[0].Diverged = "loss not finite"
	if got, _ := prop2Verdict(r); got != dynNotTestable {
		t.Errorf("diverged chain: Proposition 2 %q, want not testable", got)
	}
	if got := combineDyn([]string{dynAgrees, dynAgrees}); got != dynAgrees {
		t.Errorf("combine: %q", got)
	}
	if got := combineDyn([]string{dynAgrees, dynNotResolved, dynAgrees}); got != "mixed (agrees 2, not resolved 1 of 3 seeds)" {
		t.Errorf("combine: %q", got)
	}
}

func writeDyn(t *testing.T, dir string, r *dynamics.Result, src string) {
	t.Helper()
	must(t, os.MkdirAll(dir, 0o755))
	b, err := json.Marshal(r)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "dynamics.json"), b, 0o644))
	if src != "" {
		must(t, os.WriteFile(filepath.Join(dir, "source.json"), []byte(src), 0o644))
	}
}

// TestAggregateDynamics: the dynamics block and the scale table's rows from
// generated dynamics results, and the refusal of a partial run.
func TestAggregateDynamics(t *testing.T) {
	dir := t.TempDir()
	res := filepath.Join(dir, "results")
	scaleFixture(t, res)
	ok2 := []dynamics.Value{v(1.01, 0.02), v(0.97, 0.03)}
	writeDyn(t, filepath.Join(res, "dynamics-alexnet-cifar", "seed-1"),
		dynResult(0.05, 0.01, 0.08, 0.02, ok2, []dynamics.Value{v(1.1, 0.1), v(0.9, 0.2)}, v(0.5, 0.05)),
		`{"train": "train-alexnet-cifar", "seed": 1, "epoch": 16, "plateau": true, "seconds": 400}`)
	writeDyn(t, filepath.Join(res, "dynamics-alexnet-cifar", "seed-2"),
		dynResult(0.05, 0.01, 0.03, 0.02, ok2, []dynamics.Value{v(1.1, 0.1), v(0.9, 0.2)}, v(0.5, 0.05)),
		`{"train": "train-alexnet-cifar", "seed": 2, "epoch": 14, "plateau": true, "seconds": 380}`)
	doc := filepath.Join(dir, "paper.md")
	must(t, os.WriteFile(doc, []byte(scaleDocText+"<!-- BEGIN scale-dynamics -->\nold\n<!-- END scale-dynamics -->\n"), 0o644))
	o := ScaleOptions{Results: res, Configs: "../../experiments/paper/scale", Out: filepath.Join(dir, "out"), Doc: doc}
	if err := AggregateScale(o); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(doc)
	got := string(b)
	for _, want := range []string{
		"| dynamics at the trained model | `dynamics-alexnet-cifar` | seeds 1, 2, 3, the trained model of `train-alexnet-cifar` | seeds 1, 2 | seed 1: model of epoch 16, 400 s; seed 2: model of epoch 14, 380 s |",
		"#### Dynamics: dynamics-alexnet-cifar",
		"B = 128, μ = 0.9, λ = 0.0005, η = 0.001 (main chain) and 0.0005 (trace law)",
		"| 1 | epoch 16 (plateau) | 0.580 | 0.390 | 61.4, 31.1 | 1500 ± 30.0 | 130 ± 20.0 | 0.0500 ± 0.0100 | 0.900 | 0.500 ± 0.0500 | 1.01 ± 0.0200; 0.970 ± 0.0300 | 1.10 ± 0.100; 0.900 ± 0.200 | 0.0800 ± 0.0200 (0.00400) | 0.700 ± 0.300 |",
		"**Proposition 1** (detailed balance broken): mixed (agrees 1, not resolved 1 of 2 seeds) (per seed: agrees, not resolved)",
		"**Proposition 2** (Boltzmann-like on the top modes): agrees (per seed: agrees, agrees); whole model: not stationary, not stationary.",
		"Rules (applied by `scalectl aggregate`, one verdict per seed",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("docs: no %q in\n%s", want, got)
		}
	}
	if strings.Contains(got, "old\n") {
		t.Errorf("the dynamics block was not refreshed:\n%s", got)
	}
	sum, _ := os.ReadFile(filepath.Join(dir, "out", "summary.json"))
	if !strings.Contains(string(sum), `"prop2": "agrees"`) {
		t.Errorf("summary.json has no dynamics verdicts:\n%.2000s", sum)
	}

	partial := dynResult(0.05, 0.01, 0.08, 0.02, ok2, ok2, v(1, 0.1))
	partial.Complete = false
	writeDyn(t, filepath.Join(res, "dynamics-alexnet-cifar", "seed-3"), partial, "")
	before, _ := os.ReadFile(doc)
	err := AggregateScale(o)
	if err == nil || !strings.Contains(err.Error(), "partial") || !strings.Contains(err.Error(), "seed-3") {
		t.Errorf("a partial run: error %v, want one naming seed-3 and partial", err)
	}
	after, _ := os.ReadFile(doc)
	if string(before) != string(after) {
		t.Error("a refused aggregate changed the document")
	}
}
