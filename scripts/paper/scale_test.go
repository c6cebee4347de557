package paper

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/audit"
	"github.com/gnaudit/gnaudit/internal/approx"
	"github.com/gnaudit/gnaudit/reports"
)

func TestPlateauRule(t *testing.T) {
	r := PlateauRule{Delta: 0.2, K: 3, LRs: []float64{0.01, 0.001}, MaxEpochs: 40}
	for _, c := range []struct {
		acc  []float64
		want bool
	}{
		{[]float64{80, 85, 86}, false},              // fewer than K+1 epochs
		{[]float64{80, 85, 86, 86.1}, false},        // best of the last 3 is 6.1 points above epoch 1
		{[]float64{80, 85, 86, 86.1, 86.15}, false}, // best of last 3 = 86.15 vs 85 before: +1.15
		{[]float64{80, 85, 86, 86.1, 86.15, 86.0}, true},
		{[]float64{80, 85, 86, 86.1, 86.15, 86.35}, false}, // +0.35 over 86.0
		{[]float64{86, 85, 85.5, 86.2}, true},              // +0.2 exactly: plateau
		{[]float64{86, 85, math.NaN(), 86.3}, false},
	} {
		if got := r.Plateaued(c.acc); got != c.want {
			t.Errorf("Plateaued(%v) = %v, want %v", c.acc, got, c.want)
		}
	}
}

func TestParsePlateauRuleErrors(t *testing.T) {
	good := map[string]string{"plateau": "0.2 3", "lr_phases": "0.01 0.001", "max_epochs": "40"}
	if r, err := ParsePlateauRule(good); err != nil || r.K != 3 || r.Delta != 0.2 || len(r.LRs) != 2 || r.MaxEpochs != 40 {
		t.Fatalf("ParsePlateauRule(good) = %+v, %v", r, err)
	}
	for _, bad := range []map[string]string{
		{"plateau": "0.2", "lr_phases": "0.01", "max_epochs": "4"},
		{"plateau": "0.2 0", "lr_phases": "0.01", "max_epochs": "4"},
		{"plateau": "0.2 3", "lr_phases": "", "max_epochs": "4"},
		{"plateau": "0.2 3", "lr_phases": "-1", "max_epochs": "4"},
		{"plateau": "0.2 3", "lr_phases": "0.01", "max_epochs": "x"},
	} {
		if _, err := ParsePlateauRule(bad); err == nil {
			t.Errorf("ParsePlateauRule(%v): no error", bad)
		}
	}
}

// TestCoordsAndWilson: the coordinate count of the full-pool configs, and
// the Wilson half-width against the score interval written out in
// /usr/bin/python3 with z = scipy.stats.norm.ppf(0.975) (statsmodels is not
// installed here): 1200 of 2401 gives (0.4798084352666071, 0.5197757369056032).
func TestCoordsAndWilson(t *testing.T) {
	if got := CoordsForHalfWidth(0.02, 1.96, 0); got != 2401 {
		t.Errorf("CoordsForHalfWidth(0.02, 1.96, 0) = %d, want 2401", got)
	}
	if got := CoordsForHalfWidth(0.02, 1.96, 0.2); got != 3002 {
		t.Errorf("CoordsForHalfWidth(0.02, 1.96, 0.2) = %d, want 3002", got)
	}
	z := 1.959963984540054
	approx.Abs(t, "WilsonHalfWidth(1200, 2401)", WilsonHalfWidth(1200, 2401, z), (0.5197757369056032-0.4798084352666071)/2, approx.Float64)
	if got := WilsonHalfWidth(1200, 2401, z); got > 0.02 {
		t.Errorf("2401 coordinates: half-width %.4f > 0.02", got)
	}
	if !math.IsNaN(WilsonHalfWidth(0, 0, z)) {
		t.Error("WilsonHalfWidth(0, 0) is not NaN")
	}
}

// TestSpearmanPValue: exact two-sided p-values of Spearman's rank
// correlation for n untied ranks, against a brute-force enumeration with
// itertools.permutations and scipy.stats.spearmanr (/usr/bin/python3):
// n = 8, rho = −31/42: 0.04583333333333333; rho = 0.5: 0.21617063492063493;
// n = 5, rho = −0.9: 0.08333333333333333.
func TestSpearmanPValue(t *testing.T) {
	for _, c := range []struct {
		rho  float64
		n    int
		want float64
	}{
		{-31.0 / 42, 8, 0.04583333333333333},
		{0.5, 8, 0.21617063492063493},
		{-0.9, 5, 0.08333333333333333},
	} {
		approx.Abs(t, fmt.Sprintf("SpearmanPValue(%v, %d)", c.rho, c.n), SpearmanPValue(c.rho, c.n), c.want, approx.Float64)
	}
	// n > 9: a permutation estimate near the exact tail (t approximation
	// for n = 12, rho = 0.6: about 0.039).
	if got := SpearmanPValue(0.6, 12); got < 0.02 || got > 0.06 {
		t.Errorf("SpearmanPValue(0.6, 12) = %v, want about 0.04", got)
	}
	if !math.IsNaN(SpearmanPValue(0.5, 2)) {
		t.Error("n = 2: want NaN")
	}
}

// TestScaleConfigs checks the committed paper-scale configs: they load and
// validate; the training ones carry a plateau rule; the full-pool ones use
// the whole training set, B = 64…2048, n = 200 and 600, the coordinate count
// of CoordsForHalfWidth, 3–5 seeds, and both engines on BatchNorm models.
func TestScaleConfigs(t *testing.T) {
	dir := "../../experiments/paper/scale"
	train, full, err := readScaleConfigs(dir)
	if err != nil {
		t.Fatal(err)
	}
	models := []string{"alexnet-cifar", "alexnet-cifar-bn", "resnet20", "resnet56"}
	for _, m := range models {
		if !slices.ContainsFunc(train, func(c scaleConfig) bool { return c.Name == "train-"+m }) {
			t.Errorf("no train-%s.yaml", m)
		}
		if !slices.ContainsFunc(full, func(c scaleConfig) bool { return c.Name == "full-"+m }) {
			t.Errorf("no full-%s.yaml", m)
		}
	}
	for _, c := range append(train, full...) {
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
		if !strings.Contains(string(b), "scripts/paper/scale.sh ") {
			t.Errorf("%s: the header does not give its scale.sh command", p)
		}
		if strings.HasPrefix(c.Name, "train-") {
			if cfg.FineTune.Steps != 60000/cfg.FineTune.BatchSize || cfg.FineTune.Schedule != "constant" || cfg.FineTune.BN != "train" {
				t.Errorf("%s: want one epoch (%d steps) at a constant rate with train-mode BatchNorm, got %d steps, %s, bn %q", p, 60000/cfg.FineTune.BatchSize, cfg.FineTune.Steps, cfg.FineTune.Schedule, cfg.FineTune.BN)
			}
			continue
		}
		deg := 0.2 // the share of degenerate coordinates the count leaves room for ("# degenerate:")
		if x, ok := c.Header["degenerate"]; ok {
			if deg, err = strconv.ParseFloat(x, 64); err != nil || deg < 0 || deg >= 1 {
				t.Fatalf("%s: '# degenerate: %s': want a share in [0, 1)", p, x)
			}
		}
		want := CoordsForHalfWidth(0.02, 1.96, deg)
		if cfg.Collect.Pool != 60000 || cfg.Collect.CoordsPerLayer != want || !slices.Equal(cfg.Collect.BatchSizes, []int{64, 128, 256, 512, 1024, 2048}) {
			t.Errorf("%s: pool %d, coords %d, B %v; want 60000, %d, 64…2048", p, cfg.Collect.Pool, cfg.Collect.CoordsPerLayer, cfg.Collect.BatchSizes, want)
		}
		if !slices.Equal(c.Batches, []int{200, 600}) || cfg.FineTune.Steps != 0 {
			t.Errorf("%s: n %v, steps %d; want n = 200 and 600 of the trained model (0 steps)", p, c.Batches, cfg.FineTune.Steps)
		}
		if !slices.ContainsFunc(train, func(x scaleConfig) bool { return x.Name == c.Train }) {
			t.Errorf("%s: '# train: %s' is no training config", p, c.Train)
		}
		wantEngine := "both"
		if c.Name == "full-alexnet-cifar" {
			wantEngine = "per-sample"
		}
		if cfg.Collect.Engine != wantEngine {
			t.Errorf("%s: engine %q, want %q", p, cfg.Collect.Engine, wantEngine)
		}
	}
}

// fakeLayer is a weight layer of a generated report: pass rates per batch
// size (in %) over tested non-degenerate coordinates, and its median ρ/σ³.
type fakeLayer struct {
	name   string
	shape  []int
	tested int
	rate   map[int]float64
	rho    float64
	alpha  map[int]float64
}

func fakeReport(step, pool, n int, bs []int, layers []fakeLayer, lr float64, steps int, acc0, acc1 float64) *reports.Report {
	r := &reports.Report{Schema: reports.SchemaID, Tool: reports.Tool{Name: "gnaudit", Version: "test"}, Created: "2026-12-02T00:00:00Z",
		Model:  reports.Model{File: "m.onnx", SHA256: strings.Repeat("ab", 32), Opset: 13, Parameters: 100},
		Data:   reports.Data{Name: "fashion-mnist", Samples: 60000, Preprocessing: []string{}},
		Method: reports.Method{Notes: []string{}},
	}
	if steps > 0 || acc0 >= 0 {
		r.Training = &reports.Training{Optimizer: "sgd", Momentum: 0.9, BatchSize: 128, Steps: steps, Schedule: []reports.LRStep{{Step: 0, LR: lr}},
			Loss:  []reports.LossPoint{{Step: 0, Loss: 1.0}, {Step: 1, Loss: 0.5}},
			Extra: map[string]any{"evals": []any{map[string]any{"step": 0.0, "acc": acc0 / 100, "loss": 1.0, "samples": 10000.0}, map[string]any{"step": float64(steps), "acc": acc1 / 100, "loss": 0.4, "samples": 10000.0}}}}
	}
	c := reports.Checkpoint{Step: step, Pool: pool, Batches: n, BatchSizes: bs, Layers: []reports.Layer{}, Analyses: []reports.AnalysisRun{}}
	z := 1.959963984540054
	for _, l := range layers {
		size := 1
		for _, d := range l.shape {
			size *= d
		}
		L := reports.Layer{Name: l.name, Parameter: l.name, Kind: "weight", Shape: l.shape, Size: size, TestedCoordinates: l.tested}
		kb := &reports.KurtosisBound{RhoSigma3: reports.Quantiles{P5: 1, P25: 1, P50: reports.Number(l.rho), P75: 1, P95: 1}}
		ti := &reports.TailIndex{Null: &reports.TailNull{MohammadiP05: 1.6, MohammadiMedian: 1.97, McCullochP05: 1.7, McCullochMedian: 2}}
		for _, b := range bs {
			k := int(math.Round(l.rate[b] / 100 * float64(l.tested)))
			p := 100 * float64(k) / float64(l.tested)
			hw := 100 * WilsonHalfWidth(k, l.tested, z)
			L.Gaussianity = append(L.Gaussianity, reports.Gaussianity{BatchSize: b, Percent: reports.Number(p), Gaussian: k, Tested: l.tested,
				NonDegenerate: reports.Some(p), Low: reports.Some(p - hw), High: reports.Some(p + hw), Ceiling: reports.Some(95)})
			kb.PerBatch = append(kb.PerBatch, reports.BoundAtB{BatchSize: b, CalibratedPercent: reports.Some(math.Max(0, p-5)), MeasuredNonDegeneratePercent: reports.Some(p), SpineOverSqrtB: reports.Some(l.rho / math.Sqrt(float64(b)))})
			ti.PerBatch = append(ti.PerBatch, reports.TailAtB{BatchSize: b, MohammadiMedian: reports.Number(l.alpha[b]), McCullochMedian: reports.Number(l.alpha[b]), BelowNullMohammadi: reports.Some(100 * (2 - l.alpha[b]))})
		}
		L.KurtosisBound, L.TailIndex = kb, ti
		c.Layers = append(c.Layers, L)
	}
	c.NoiseScale = &reports.NoiseScale{TraceCov: 10, GradNormSq: 0.01, BSimple: 1000, SE: reports.Some(50)}
	r.Checkpoints = []reports.Checkpoint{c}
	return r
}

func writeReport(t *testing.T, dir string, r *reports.Report) {
	t.Helper()
	must(t, os.MkdirAll(dir, 0o755))
	must(t, reports.WriteFile(filepath.Join(dir, "report.json"), r))
	must(t, os.WriteFile(filepath.Join(dir, "audit.json"), []byte(`{"status": "complete"}`+"\n"), 0o644))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// layersAt: 8 AlexNet-like weight layers whose pass rate rises with B and
// falls with their ρ/σ³ (the paper's ordering), with a growing α.
func layersAt(bs []int, tested int, shift float64) []fakeLayer {
	var out []fakeLayer
	for i := range 8 {
		l := fakeLayer{name: fmt.Sprintf("conv%d.weight", i+1), shape: []int{64, 3, 3, 3}, tested: tested, rate: map[int]float64{}, alpha: map[int]float64{}, rho: 2 + float64(i)}
		if i >= 5 {
			l.name, l.shape = fmt.Sprintf("fc%d.weight", i-4), []int{256, 256}
		}
		for k, b := range bs {
			l.rate[b] = math.Max(2, math.Min(94, 30+shift+8*float64(k)-3*float64(i)))
			l.alpha[b] = 1.5 + 0.08*float64(k)
		}
		out = append(out, l)
	}
	return out
}

// scaleFixture writes a small results directory as scale.sh keep leaves
// it: two epochs of train-alexnet-cifar and of train-alexnet-cifar-bn
// (checkpoint audits at steps 0, 468, 936), and one full-pool audit of
// alexnet-cifar at n = 200, seed 1.
func scaleFixture(t *testing.T, dir string) {
	t.Helper()
	tbs := []int{64, 256}
	for _, m := range []struct {
		name  string
		shift float64
	}{{"train-alexnet-cifar", 0}, {"train-alexnet-cifar-bn", 20}} {
		run := filepath.Join(dir, m.name, "seed-1")
		r1 := fakeReport(0, 8192, 200, tbs, layersAt(tbs, 1024, 30+m.shift), 0.01, 468, 11, 85)
		second := fakeReport(468, 8192, 200, tbs, layersAt(tbs, 1024, 10+m.shift), 0.01, 468, 85, 87.5)
		r1.Checkpoints = append(r1.Checkpoints, second.Checkpoints[0])
		writeReport(t, EpochDir(run, 1), r1)
		writeReport(t, EpochDir(run, 2), fakeReport(468, 8192, 200, tbs, layersAt(tbs, 1024, 5+m.shift), 0.01, 468, 87.5, 88.6))
		must(t, os.WriteFile(EpochDir(run, 2)+".seconds", []byte("421\n"), 0o644))
	}
	fbs := []int{64, 128, 256, 512, 1024, 2048}
	full := filepath.Join(dir, "full-alexnet-cifar", "n-200", "seed-1")
	writeReport(t, full, fakeReport(0, 60000, 200, fbs, layersAt(fbs, 3002, 0), 0, 0, 88.6, -1))
	must(t, os.WriteFile(filepath.Join(full, "source.json"), []byte(`{"train": "train-alexnet-cifar", "seed": 1, "epoch": 2, "plateau": false, "seconds": 900}`+"\n"), 0o644))
	// A reduced run (1500 coordinates) of the BN model with both engines:
	// a per-sample and a mini-batch checkpoint at step 0.
	bn := filepath.Join(dir, "full-alexnet-cifar-bn", "n-200-C-1500", "seed-1")
	both := fakeReport(0, 60000, 200, fbs, layersAt(fbs, 1500, 10), 0, 0, 90, -1)
	mb := fakeReport(0, 60000, 200, fbs, layersAt(fbs, 1500, 25), 0, 0, 90, -1).Checkpoints[0]
	mb.Engine = "mini-batch"
	both.Checkpoints = append(both.Checkpoints, mb)
	writeReport(t, bn, both)
	must(t, os.WriteFile(filepath.Join(bn, "source.json"), []byte(`{"train": "train-alexnet-cifar-bn", "seed": 1, "epoch": 2, "plateau": false, "seconds": 1900}`+"\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "plan.txt"), []byte("== full-alexnet-cifar\nmachine: test CPU; OpenBLAS, Zen kernels\n  memory about 1.1 GiB:\ntime estimate: fine-tuning 0 steps × 0s = 0s; collection 6m55s per checkpoint (3ms per sample) × 1 checkpoints (steps [0]); total about 6m55s\n== train-alexnet-cifar\ntime estimate: fine-tuning 468 steps × 600ms = 4m40s; collection 23s per checkpoint; total about 5m3s\n"), 0o644))
}

const scaleDocText = "# paper\nintro kept\n<!-- BEGIN scale-ran -->\nold\n<!-- END scale-ran -->\n" +
	"<!-- BEGIN scale-full -->\n#### Full pool: full-alexnet-cifar n-200\n\nold\n<!-- END scale-full -->\n" +
	"<!-- BEGIN scale-during -->\n*Not run yet* (no committed results).\n<!-- END scale-during -->\n" +
	"<!-- BEGIN scale-extra -->\n*Not run yet* (no committed results).\n<!-- END scale-extra -->\n" +
	"<!-- BEGIN scale-claims -->\nold\n<!-- END scale-claims -->\n## Dynamics\ni16's text, kept\n"

// TestAggregateScale aggregates a generated results directory with the
// committed configs and checks the tables, verdicts, figures and what is
// left alone; then the refusals.
func TestAggregateScale(t *testing.T) {
	dir := t.TempDir()
	res := filepath.Join(dir, "results")
	scaleFixture(t, res)
	doc := filepath.Join(dir, "paper.md")
	must(t, os.WriteFile(doc, []byte(scaleDocText), 0o644))
	out := filepath.Join(dir, "out")
	o := ScaleOptions{Results: res, Configs: "../../experiments/paper/scale", Out: out, Doc: doc}
	if err := AggregateScale(o); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(doc)
	got := string(b)
	for _, want := range []string{
		"intro kept", "i16's text, kept",
		"| train until plateau | `train-alexnet-cifar` |", "seed 1: 2 epochs (936 steps of 128), held-out 88.60 %",
		"**stopped before the plateau** (time)",
		"| full-pool audit | `full-alexnet-cifar` n = 200 |", "model of epoch 2 (not plateaued)",
		"| full-pool audit | `full-resnet56` n = 600 | seeds 1, 2, 3, B = 64…2048, N = 60,000 | not run |",
		"| conv1.weight | 1728 | 3002 |",
		"| full-pool audit | `full-alexnet-cifar-bn` n = 200 (**reduced**: `n-200-C-1500-per-sample`) |",
		"| full-pool audit | `full-alexnet-cifar-bn` n = 200 (**reduced**: `n-200-C-1500-mini-batch`) |",
		"engine mini-batch, up to 1500 tested coordinates per parameter",
		"alexnet-cifar-bn n-200-C-1500-per-sample: layer mean 29.5 % at B = 64",
		"1. Gaussianity rises with B", "| **agrees** |",
		"2. BatchNorm keeps the conv layers Gaussian during training",
		"3. ResNet is more Gaussian than AlexNet | needs full-pool audits", "**not testable (not run)**",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("docs: no %q in\n%s", want, got)
		}
	}
	if testing.Verbose() {
		t.Logf("generated document:\n%s", got)
	}
	if strings.Contains(got, "old\n") || !strings.Contains(got, "#### Full pool: full-alexnet-cifar n-200\n") || !strings.Contains(got, "#### During training: train-alexnet-cifar-bn, B = 64") {
		t.Errorf("a block was not refreshed:\n%s", got)
	}
	// Claim 1: layer mean 20+… rises by 40 points: agrees; claim 2: the BN
	// model is 20 points more Gaussian at step 936: agrees; claim 4: ρ/σ³
	// and the pass rate are perfectly anti-ordered: agrees (p = 2/8!).
	sum, _ := os.ReadFile(filepath.Join(out, "summary.json"))
	for _, want := range []string{`"1": "agrees"`, `"2": "agrees"`, `"3": "not testable (not run)"`, `"4": "agrees"`, `"5": "agrees"`} {
		if !strings.Contains(string(sum), want) {
			t.Errorf("summary.json: no %s", want)
		}
	}
	for _, f := range []string{"results.md", "fig-train-accuracy.svg", "fig-full-alexnet-cifar-n-200.svg", "scale-training-alexnet-cifar-B256.svg", "scale-training-alexnet-cifar-bn-B64.svg"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s not written (%v)", f, err)
		}
	}
	md, _ := os.ReadFile(filepath.Join(out, "results.md"))
	if !strings.Contains(string(md), "| 2 | 0.01 | 88.60 |") || !strings.Contains(string(md), "| **whole plan** |") {
		t.Errorf("results.md lacks the training row or the cost table:\n%s", md)
	}

	// Refusals: nothing written.
	before, _ := os.ReadFile(doc)
	out2 := filepath.Join(dir, "out2")
	empty := filepath.Join(dir, "empty")
	must(t, os.MkdirAll(empty, 0o755))
	noSource := filepath.Join(dir, "nosource")
	scaleFixture(t, noSource)
	must(t, os.Remove(filepath.Join(noSource, "full-alexnet-cifar", "n-200", "seed-1", "source.json")))
	onlyTrain := filepath.Join(dir, "onlytrain")
	scaleFixture(t, onlyTrain)
	must(t, os.RemoveAll(filepath.Join(onlyTrain, "full-alexnet-cifar")))
	onlyTrainNoBN := filepath.Join(dir, "onlytrain-nobn")
	scaleFixture(t, onlyTrainNoBN)
	must(t, os.RemoveAll(filepath.Join(onlyTrainNoBN, "full-alexnet-cifar")))
	must(t, os.RemoveAll(filepath.Join(onlyTrainNoBN, "full-alexnet-cifar-bn")))
	for _, c := range []struct{ name, results, want string }{
		{"missing directory", filepath.Join(dir, "none"), "no such file"},
		{"no results", empty, "no results"},
		{"report without source.json", noSource, "no source.json"},
		{"a table's results gone", onlyTrain, `block "scale-full" holds "Full pool: full-alexnet-cifar n-200"`},
		{"every full-pool result gone", onlyTrainNoBN, `block "scale-full" holds results`},
	} {
		err := AggregateScale(ScaleOptions{Results: c.results, Configs: o.Configs, Out: out2, Doc: doc})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
		if b, _ := os.ReadFile(doc); string(b) != string(before) {
			t.Errorf("%s: the document was rewritten", c.name)
		}
		if _, err := os.Stat(out2); !os.IsNotExist(err) {
			t.Errorf("%s: %s was written", c.name, out2)
		}
	}
	// -allow-missing turns the vanished table into "not run".
	if err := AggregateScale(ScaleOptions{Results: onlyTrain, Configs: o.Configs, Out: out2, Doc: doc, AllowMissing: true}); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(doc)
	if full := blockBody(string(b), "scale-full"); strings.Contains(full, "full-alexnet-cifar n-200") || !strings.Contains(full, "#### Full pool: full-alexnet-cifar-bn n-200-C-1500-mini-batch") {
		t.Errorf("with -allow-missing: scale-full is\n%s", full)
	}
	if !strings.Contains(blockBody(string(b), "scale-extra"), "Not run yet") {
		t.Errorf("an unknown scale block is not marked not run")
	}
}

// TestTrainingRunPhases walks a run through the plateau rule: the first
// phase ends at its plateau, the second phase's rate follows, the run ends
// after the second plateau; max_epochs caps a run that keeps rising.
func TestTrainingRunPhases(t *testing.T) {
	rule := PlateauRule{Delta: 0.2, K: 2, LRs: []float64{0.01, 0.001}, MaxEpochs: 9}
	dir := t.TempDir()
	accs := []struct {
		lr, acc float64
	}{{0.01, 80}, {0.01, 85}, {0.01, 85.1}, {0.01, 85.2}, {0.001, 87}, {0.001, 87.1}, {0.001, 87.0}}
	wantNext := []struct {
		epoch int
		lr    float64
		done  string
	}{{2, 0.01, ""}, {3, 0.01, ""}, {4, 0.01, ""}, {5, 0.001, ""}, {6, 0.001, ""}, {7, 0.001, ""}, {0, 0, "plateau"}}
	prev := 11.0
	for i, a := range accs {
		writeReport(t, EpochDir(dir, i+1), fakeReport(468, 64, 4, []int{2}, nil, a.lr, 468, prev, a.acc))
		must(t, os.WriteFile(EpochModel(dir, i+1), []byte("onnx"), 0o644))
		prev = a.acc
		tr, err := ReadTrainingRun(dir, "c.yaml", 1, rule, true)
		if err != nil {
			t.Fatal(err)
		}
		e, lr, done := tr.Next()
		w := wantNext[i]
		if e != w.epoch || lr != w.lr || done != w.done {
			t.Errorf("after epoch %d: Next() = %d, %g, %q; want %d, %g, %q", i+1, e, lr, done, w.epoch, w.lr, w.done)
		}
	}
	// An epoch without its saved model is not finished; an earlier epoch's
	// model is not needed (keep commits only the last one).
	must(t, os.Remove(EpochModel(dir, 7)))
	must(t, os.Remove(EpochModel(dir, 3)))
	tr, _ := ReadTrainingRun(dir, "c.yaml", 1, rule, true)
	if len(tr.Epochs) != 6 {
		t.Errorf("epochs read without the 3rd and 7th models: %d, want 6", len(tr.Epochs))
	}
	if steps := tr.StepsAudited(); len(steps) != 6 || steps[5] != 6*468 {
		t.Errorf("audited steps %v, want the ends of the 6 epochs read", steps)
	}
	if tr.Epochs[1].FirstStep != 468 || tr.Epochs[4].Phase != 1 || tr.Epochs[1].HeldOutAccBefore != 80 {
		t.Errorf("epoch records: %+v", tr.Epochs[:5])
	}
	rule.MaxEpochs = 3
	tr, _ = ReadTrainingRun(dir, "c.yaml", 1, PlateauRule{Delta: 0, K: 5, LRs: []float64{0.01, 0.001}, MaxEpochs: 3}, true)
	if _, _, done := tr.Next(); done != "max_epochs" {
		t.Errorf("capped run: done %q, want max_epochs", done)
	}
	must(t, os.Remove(EpochModel(dir, 6)))
	must(t, os.Remove(EpochModel(dir, 5)))
	must(t, os.Remove(EpochModel(dir, 4)))
	if tr, _ := ReadTrainingRun(dir, "c.yaml", 1, rule, true); len(tr.Epochs) != 2 {
		t.Errorf("epochs read with the models of epochs 1 and 2 only: %d, want 2", len(tr.Epochs))
	}
	if tr, _ := ReadTrainingRun(dir, "c.yaml", 1, rule, false); len(tr.Epochs) != 7 {
		t.Errorf("epochs read without needing models: %d, want 7", len(tr.Epochs))
	}
	if EpochSeed(3, 1) != 3 || EpochSeed(3, 4) != 3004 {
		t.Error("EpochSeed")
	}
}

// TestScaleClaim3 adds a ResNet-20 full-pool audit on a subset of the batch
// sizes (64, 128, 256, as `scale.sh -B 64,128,256` leaves it) to the
// fixture: claim 3 compares it with AlexNet's at those batch sizes.
func TestScaleClaim3(t *testing.T) {
	for _, c := range []struct {
		shift float64
		want  string
	}{
		{30, "agrees"},      // 30 points above AlexNet at every common B
		{0, "inconclusive"}, // the same layer means
		{-20, "disagrees"},  // below AlexNet at every common B
	} {
		t.Run(c.want, func(t *testing.T) {
			dir := t.TempDir()
			res := filepath.Join(dir, "results")
			scaleFixture(t, res)
			bs := []int{64, 128, 256}
			run := filepath.Join(res, "full-resnet20", "n-200-B-64-128-256-E-per-sample", "seed-1")
			writeReport(t, run, fakeReport(0, 60000, 200, bs, layersAt(bs, 3002, c.shift), 0, 0, 88, -1))
			must(t, os.WriteFile(filepath.Join(run, "source.json"), []byte(`{"train": "train-resnet20", "seed": 1, "epoch": 8, "plateau": false, "seconds": 826}`+"\n"), 0o644))
			doc := filepath.Join(dir, "paper.md")
			must(t, os.WriteFile(doc, []byte(scaleDocText), 0o644))
			out := filepath.Join(dir, "out")
			if err := AggregateScale(ScaleOptions{Results: res, Configs: "../../experiments/paper/scale", Out: out, Doc: doc}); err != nil {
				t.Fatal(err)
			}
			sum, _ := os.ReadFile(filepath.Join(out, "summary.json"))
			if want := `"3": "` + c.want + `"`; !strings.Contains(string(sum), want) {
				t.Errorf("summary.json: no %s in\n%s", want, sum)
			}
			b, _ := os.ReadFile(doc)
			if want := "full-resnet20 n-200-B-64-128-256-E-per-sample (epoch 8, not plateaued) vs full-alexnet-cifar n-200 (epoch 2, not plateaued), layer means %: B = 64:"; !strings.Contains(string(b), want) {
				t.Errorf("docs: no %q in\n%s", want, b)
			}
			line := string(b)[strings.Index(string(b), "| 3. ResNet"):]
			line = line[:strings.Index(line, "\n")]
			if strings.Contains(line, "B = 512") || !strings.Contains(line, "B = 256") {
				t.Errorf("claim 3 compared other batch sizes than the common 64, 128, 256: %s", line)
			}
		})
	}
}

// TestKeepBytes: a file within the limit is kept as it is, an indented
// JSON file over it compacted (same values), anything else over it refused.
func TestKeepBytes(t *testing.T) {
	indented := []byte("{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": \"x y\"\n}\n")
	for _, tc := range []struct {
		name  string
		in    []byte
		limit int
		want  string
		err   string
	}{
		{"report.json", indented, 100, string(indented), ""},
		{"report.json", indented, 30, "{\"a\":[1,2],\"b\":\"x y\"}\n", ""},
		{"report.json", indented, 10, "", "22 compacted"},
		{"report.json", []byte("{\n  \"a\": \n"), 5, "", "unexpected end"},
		{"epoch-001.seconds", []byte("123456\n"), 3, "", "over the 3-byte limit"},
	} {
		got, err := KeepBytes(tc.name, tc.in, tc.limit)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), tc.name) {
				t.Errorf("%s, limit %d: error %v, want one naming the file and %q", tc.name, tc.limit, err, tc.err)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("%s, limit %d: %q, %v; want %q", tc.name, tc.limit, got, err, tc.want)
		}
	}
}
