package paper

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/audit"
	"github.com/gnaudit/gnaudit/auditor/audit/audittest"
	"github.com/gnaudit/gnaudit/internal/approx"
	"github.com/gnaudit/gnaudit/reports"
)

// configs returns the committed experiment configs.
func configs(t *testing.T) []string {
	t.Helper()
	cfgs, err := filepath.Glob("../../experiments/paper/*.yaml")
	if err != nil || len(cfgs) == 0 {
		t.Fatalf("no configs in experiments/paper (%v)", err)
	}
	return cfgs
}

// TestConfigsAtFullScale checks that every committed config loads and
// validates as written, with the documented scale, and names its seeds.
func TestConfigsAtFullScale(t *testing.T) {
	seedsLine := regexp.MustCompile(`(?m)^# seeds: *[0-9]`)
	for _, p := range configs(t) {
		name := strings.TrimSuffix(filepath.Base(p), ".yaml")
		t.Run(name, func(t *testing.T) {
			cfg, err := audit.LoadConfig(p, audit.Defaults())
			if err != nil {
				t.Fatal(err)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(p)
			if !seedsLine.Match(b) {
				t.Errorf("%s: no \"# seeds:\" line for scripts/paper/run.sh", p)
			}
			if !strings.Contains(string(b), "scripts/paper/run.sh "+name) {
				t.Errorf("%s: the header does not give the command scripts/paper/run.sh %s", p, name)
			}
			if cfg.Data.Dir != "" || cfg.Model == "" {
				t.Errorf("%s: want a zoo model on the default data, got model %q data %q", p, cfg.Model, cfg.Data.Dir)
			}
			if cfg.Collect.Batches != 200 || cfg.Collect.BatchSizes[0] > 32 {
				t.Errorf("%s: want n = 200 batches from B <= 32, got n = %d, B = %v", p, cfg.Collect.Batches, cfg.Collect.BatchSizes)
			}
			if strings.HasPrefix(name, "exp2") && len(cfg.AuditAt) < 4 {
				t.Errorf("%s: a training experiment needs several checkpoints, got %v", p, cfg.AuditAt)
			}
		})
	}
}

// tiny shrinks a config to run in a second or two: generated 8×8 data
// (padded to the zoo's 32×32), 2 fine-tuning steps (the audit steps scaled
// accordingly), a pool of 16, 4 batches of B = 2 and 4, 4 coordinates, batch 4.
func tiny(cfg audit.Config, data, out string) audit.Config {
	const steps = 2
	var at audit.StepList
	for _, s := range cfg.AuditAt {
		if s != audit.Last && cfg.FineTune.Steps > 0 {
			s = int(math.Round(float64(s) * steps / float64(cfg.FineTune.Steps)))
		}
		if !slices.Contains(at, s) {
			at = append(at, s)
		}
	}
	cfg.AuditAt = at
	cfg.FineTune.Steps = steps
	cfg.FineTune.BatchSize = 4
	cfg.Data.Dir, cfg.Data.Format, cfg.Data.EvalSamples = data, "mnist", 0
	cfg.Collect.Pool, cfg.Collect.BatchSizes, cfg.Collect.Batches, cfg.Collect.CoordsPerLayer = 16, []int{2, 4}, 4, 4
	cfg.Out = out
	return cfg
}

// TestConfigsTiny runs every committed config at a tiny scale on generated
// data, then aggregates the reports: the configs, the report fields the
// aggregation reads and the tables and figures keep working together.
func TestConfigsTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every paper config (about 20 s)")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := audittest.WriteMNIST(data, 64, 8, 7); err != nil {
		t.Fatal(err)
	}
	results := filepath.Join(dir, "results")
	var names []string
	for _, p := range configs(t) {
		name := strings.TrimSuffix(filepath.Base(p), ".yaml")
		names = append(names, name)
		cfg, err := audit.LoadConfig(p, audit.Defaults())
		if err != nil {
			t.Fatal(err)
		}
		full := len(cfg.AuditAt)
		cfg = tiny(cfg, data, filepath.Join(results, name, "seed-1"))
		out, err := audit.Run(context.Background(), cfg, nil)
		if err != nil {
			t.Fatalf("%s (tiny): %v", name, err)
		}
		if out == nil {
			t.Fatalf("%s: no outcome", name)
		}
		if len(cfg.AuditAt) != full {
			t.Logf("%s: audit steps %v (scaled from %d)", name, cfg.AuditAt, full)
		}
	}
	exps, err := Load(results)
	if err != nil {
		t.Fatal(err)
	}
	if len(exps) != len(names) {
		t.Fatalf("loaded %d experiments, ran %d", len(exps), len(names))
	}
	for _, e := range exps {
		if len(e.Runs) != 1 || len(e.Partial) != 0 {
			t.Errorf("%s: %d runs, partial %v", e.Name, len(e.Runs), e.Partial)
			continue
		}
		r := e.Runs[0].Report
		if strings.HasPrefix(e.Name, "exp2") && len(r.Checkpoints) < 3 {
			t.Errorf("%s: %d checkpoints, want several", e.Name, len(r.Checkpoints))
		}
		for _, b := range e.BatchSizes() {
			g := e.ModelGaussianity(b)
			if g.N != 1 || g.Mean < 0 || g.Mean > 100 {
				t.Errorf("%s B=%d: Gaussianity %+v", e.Name, b, g)
			}
		}
	}
	agg := filepath.Join(dir, "agg")
	if err := Write(agg, exps, Options{Results: results}); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(agg, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if !strings.Contains(string(md), "### "+n) && !strings.Contains(string(md), "| "+n+" |") {
			t.Errorf("results.md does not mention %s", n)
		}
	}
	for _, f := range []string{"fig-models.svg", "fig-alpha.svg", "fig-predicted-measured.svg", "summary.json"} {
		if st, err := os.Stat(filepath.Join(agg, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s not written (%v)", f, err)
		}
	}
}

// TestSpearmanAndStat checks the statistics against scipy.stats.spearmanr
// and numpy (ddof = 1).
func TestSpearmanAndStat(t *testing.T) {
	for _, c := range []struct {
		x, y []float64
		want float64
	}{
		{[]float64{1, 2, 3, 4, 5}, []float64{5, 6, 7, 8, 7}, 0.8207826816681233}, // ties in y
		{[]float64{3.1, 1.2, 5.5, 2.2, 9.0, 4.4}, []float64{10, 40, 20, 30, 5, 20}, -0.8116794499134279},
		{[]float64{1, 2, math.NaN(), 3}, []float64{1, 2, 9, 3}, 1}, // NaN pair left out
	} {
		approx.Abs(t, fmt.Sprintf("Spearman(%v, %v)", c.x, c.y), Spearman(c.x, c.y), c.want, approx.Float64)
	}
	if got := Spearman([]float64{1, 2}, []float64{1, 2}); !math.IsNaN(got) {
		t.Errorf("Spearman of 2 pairs = %v, want NaN", got)
	}
	s := StatOf([]float64{61.5, 70.2, math.NaN(), 58.3})
	if s.N != 3 {
		t.Errorf("StatOf = %+v, want 3 values", s)
	}
	approx.Abs(t, "StatOf mean", s.Mean, 63.333333333333336, approx.Float64)
	approx.Abs(t, "StatOf std", s.Std, 6.158192375472965, approx.Float64)
	if got := s.Format(1); got != "63.3 ± 6.2" {
		t.Errorf("Format = %q", got)
	}
	if got := StatOf(nil).Format(1); got != "–" {
		t.Errorf("empty Format = %q", got)
	}
}

// TestConfigOnCIFAR10Binary runs an experiment config on a generated
// CIFAR-10 binary directory (data_batch_1..5.bin, test_batch.bin: records of
// a label byte and 3×32×32 pixels), found by the format detection as
// docs/paper.md tells CIFAR-10 users to run it (scripts/paper/run.sh -d DIR).
func TestConfigOnCIFAR10Binary(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a tiny audit")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "cifar-10-batches-bin")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"} {
		var b []byte
		for r := range 12 {
			class := (r + i) % 10
			rec := make([]byte, 1+3*32*32)
			rec[0] = byte(class)
			for p := 1; p < len(rec); p++ {
				rec[p] = byte((p*7 + r*13 + class*29) % 251)
			}
			b = append(b, rec...)
		}
		if err := os.WriteFile(filepath.Join(data, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := audit.LoadConfig("../../experiments/paper/exp1-alexnet-cifar.yaml", audit.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	cfg = tiny(cfg, dir, filepath.Join(dir, "out"))
	cfg.Data.Format = "auto" // the parent directory: detection finds cifar-10-batches-bin/
	if _, err := audit.Run(context.Background(), cfg, nil); err != nil {
		t.Fatal(err)
	}
	r, err := reports.ReadFile(filepath.Join(cfg.Out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.ToLower(r.Data.Name), "cifar") || r.Data.Samples != 60 {
		t.Errorf("data recorded as %q with %d samples, want CIFAR-10 with 5×12", r.Data.Name, r.Data.Samples)
	}
	for _, p := range r.Data.Preprocessing {
		if strings.Contains(p, "pad") {
			t.Errorf("CIFAR-10 is 32×32 already, yet: %s", p)
		}
	}
	if len(r.Checkpoints) != 1 || len(r.Checkpoints[0].Layers) == 0 || r.Checkpoints[0].Layers[0].Shape[1] != 3 {
		t.Errorf("want one checkpoint of a 3-channel model, got %d checkpoints", len(r.Checkpoints))
	}
}

// TestRefreshBlocks checks that marked tables are replaced, others kept.
func TestRefreshBlocks(t *testing.T) {
	doc := "intro\n<!-- BEGIN a -->\nold a\n<!-- END a -->\nmid\n<!-- BEGIN b -->\nold b\n<!-- END b -->\nend\n"
	got, missing := RefreshBlocks(doc, map[string]string{"a": "| new |\n"})
	want := "intro\n<!-- BEGIN a -->\n| new |\n<!-- END a -->\nmid\n<!-- BEGIN b -->\nold b\n<!-- END b -->\nend\n"
	if got != want || len(missing) != 1 || missing[0] != "b" {
		t.Errorf("RefreshBlocks = %q, missing %v; want %q, [b]", got, missing, want)
	}
}
