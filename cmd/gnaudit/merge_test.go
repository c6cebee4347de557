package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/audit"
	"github.com/gnaudit/gnaudit/auditor/audit/audittest"
	"github.com/gnaudit/gnaudit/auditor/noise"
	"github.com/gnaudit/gnaudit/plugins/host"
)

// buildGnaudit builds this command into a temporary directory (from the
// build cache: seconds) so that the shards run as separate processes.
func buildGnaudit(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gnaudit")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("building gnaudit: %v\n%s", err, out)
	}
	return bin
}

// shardAuditConfig is a small audit with fine-tuning (two checkpoints),
// disjoint batch sizes 4 and 8 and an overlapping one (8·16 > 64).
func shardAuditConfig(t *testing.T, seed int) (dir, cfg string) {
	t.Helper()
	t.Setenv(host.EnvPluginDir, "")
	dir = t.TempDir()
	model := filepath.Join(dir, "tiny.onnx")
	if err := audittest.TinyModel(model, 1); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "digits")
	if err := audittest.WriteMNIST(data, 400, 50, 5); err != nil {
		t.Fatal(err)
	}
	cfg = filepath.Join(dir, "audit.yaml")
	yaml := "model: " + model + "\ndata: {dir: " + data + ", eval_samples: 40}\n" +
		"finetune: {steps: 3, batch_size: 16, lr: 0.05}\n" +
		"collect: {pool: 64, batch_sizes: [4, 8, 16], batches: 8, coords_per_layer: 12, engine_batch: 16}\n" +
		"seed: " + strconv.Itoa(seed) + "\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, cfg
}

// runBin runs the built gnaudit with extra environment variables.
func runBin(t *testing.T, bin string, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd
}

func waitOK(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, cmd.Stdout.(*bytes.Buffer))
	}
}

// TestShardedAuditEqualsSingle runs a small audit in one process and as
// prepare + 3 concurrent shard processes (k from --shard k/K, GNAUDIT_SHARD,
// JOB_COMPLETION_INDEX and SLURM_ARRAY_TASK_ID) + merge, and compares: the
// noise sets bit for bit, report.json equal except the creation time, the
// durations and the note on the scheme. Then the refusals, and the recipes
// of docs/scale.md (recipes_test.go).
func TestShardedAuditEqualsSingle(t *testing.T) {
	bin := buildGnaudit(t)
	dir, cfg := shardAuditConfig(t, 1)
	single := filepath.Join(dir, "single")
	if code, out, errs := runCLI("audit", "--config", cfg, "--out", single); code != exitOK {
		t.Fatalf("single audit: exit %d\n%s\n%s", code, out, errs)
	}
	prep := filepath.Join(dir, "prep")
	waitOK(t, runBin(t, bin, nil, "audit", "--config", cfg, "--prepare", "--out", prep))
	shard := func(k int) string { return filepath.Join(prep, "shards", audit.ShardDirName(k, 3)) }
	cmds := []*exec.Cmd{
		runBin(t, bin, nil, "audit", "--shard", "0/3", "--from", prep),
		runBin(t, bin, []string{"JOB_COMPLETION_INDEX=1", "GNAUDIT_SHARDS=3"}, "audit", "--shard", "env", "--from", prep),
		runBin(t, bin, []string{"SLURM_ARRAY_TASK_ID=7", "SLURM_ARRAY_TASK_MIN=5", "SLURM_ARRAY_TASK_MAX=7", "SLURM_ARRAY_TASK_COUNT=3"},
			"audit", "--shard", "env", "--from", prep),
	}
	for _, c := range cmds {
		waitOK(t, c)
	}
	merge := runBin(t, bin, nil, "merge", prep)
	waitOK(t, merge)
	if out := merge.Stdout.(*bytes.Buffer).String(); !strings.Contains(out, "report: ") || strings.Contains(out, "PARTIAL") {
		t.Errorf("merge output:\n%s", out)
	}
	compareAudits(t, single, prep)

	// Refusals, each naming the directory at fault.
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"missing", []string{prep, shard(0), shard(2)}, []string{"shard(s) 1 of 3 missing", shard(1), "--partial"}},
		{"duplicate", []string{prep, shard(0), shard(1), copyDir(t, shard(1)), shard(2)}, []string{"shard 1/3 given twice", shard(1)}},
		{"no prepared audit", []string{dir}, []string{"not a prepared audit"}},
	} {
		code, _, errs := runCLI(append([]string{"merge"}, tc.args...)...)
		if code != exitUsage {
			t.Errorf("%s: exit %d, want %d\n%s", tc.name, code, exitUsage, errs)
		}
		for _, w := range tc.want {
			if !strings.Contains(errs, w) {
				t.Errorf("%s: error lacks %q:\n%s", tc.name, w, errs)
			}
		}
	}
	// A shard never writes over an audit.
	if code, _, errs := runCLI("audit", "--shard", "1/3", "--from", prep, "--out", single); code != exitUsage || !strings.Contains(errs, "holds an audit") {
		t.Errorf("--out an audit directory: exit %d\n%s", code, errs)
	}
	// A shard stopped by Ctrl-C (status partial) is refused without --partial.
	stopped := copyDir(t, shard(1))
	editJSON(t, filepath.Join(stopped, audit.ShardName), func(m map[string]any) { m["status"], m["reason"] = "partial", "interrupted" })
	if code, _, errs := runCLI("merge", prep, shard(0), stopped, shard(2)); code != exitUsage || !strings.Contains(errs, "did not finish (status partial") || !strings.Contains(errs, "rerun it alone") {
		t.Errorf("stopped shard: exit %d\n%s", code, errs)
	}
	// A shard of another K.
	other := filepath.Join(dir, "k2")
	if code, _, errs := runCLI("audit", "--shard", "1/2", "--from", prep, "--out", other); code != exitOK {
		t.Fatalf("shard 1/2: %s", errs)
	}
	if code, _, errs := runCLI("merge", prep, shard(0), other, shard(2)); code != exitUsage || !strings.Contains(errs, "same K") || !strings.Contains(errs, other) {
		t.Errorf("another K: exit %d\n%s", code, errs)
	}
	// A shard of another prepared audit (another seed).
	_, cfg2 := shardAuditConfig(t, 2)
	prep2 := filepath.Join(dir, "prep2")
	if code, _, errs := runCLI("audit", "--config", cfg2, "--prepare", "--out", prep2); code != exitOK {
		t.Fatal(errs)
	}
	foreign := filepath.Join(dir, "foreign")
	if code, _, errs := runCLI("audit", "--shard", "1/3", "--from", prep2, "--out", foreign); code != exitOK {
		t.Fatal(errs)
	}
	if code, _, errs := runCLI("merge", prep, shard(0), foreign, shard(2)); code != exitUsage || !strings.Contains(errs, "another prepared audit") || !strings.Contains(errs, foreign) {
		t.Errorf("foreign shard: exit %d\n%s", code, errs)
	}
	// A shard whose configuration was changed after the fact.
	tampered := copyDir(t, shard(1))
	editJSON(t, filepath.Join(tampered, audit.ShardName), func(m map[string]any) { m["identity"].(map[string]any)["pool"] = 65 })
	if code, _, errs := runCLI("merge", prep, shard(0), tampered, shard(2)); code != exitUsage || !strings.Contains(errs, "does not belong") || !strings.Contains(errs, "pool 65") {
		t.Errorf("tampered shard: exit %d\n%s", code, errs)
	}
	// An unfinished shard (no shard.json) is refused; --partial merges the
	// others into a report marked partial.
	os.Remove(filepath.Join(shard(1), audit.ShardName))
	if code, _, errs := runCLI("merge", prep); code != exitUsage || !strings.Contains(errs, "missing") {
		t.Errorf("unfinished shard: exit %d\n%s", code, errs)
	}
	code, out, errs := runCLI("merge", "--partial", prep)
	if code != exitOK || !strings.Contains(out, "PARTIAL") {
		t.Fatalf("--partial: exit %d\n%s\n%s", code, out, errs)
	}
	md, _ := os.ReadFile(filepath.Join(prep, "report.md"))
	set, err := noise.Load(filepath.Join(prep, "checkpoints", "step-3", "noise"))
	if !bytes.Contains(md, []byte("Partial audit")) || err != nil || !set.Partial || set.Batches != 5 {
		t.Errorf("partial merge: banner %v, set %v (batches %d), %v", bytes.Contains(md, []byte("Partial audit")), set != nil && set.Partial, set.Batches, err)
	}
	// The failed shard is rerun alone; the merge is then whole again.
	waitOK(t, runBin(t, bin, []string{"GNAUDIT_SHARD=1/3"}, "audit", "--shard", "env", "--from", prep))
	waitOK(t, runBin(t, bin, nil, "merge", prep))
	compareAudits(t, single, prep)

	t.Run("recipes", func(t *testing.T) { testRecipes(t, bin, dir, cfg, single) })
}

// compareAudits compares the noise sets of every checkpoint bit for bit and
// report.json up to the creation time, durations and the scheme notes.
func compareAudits(t *testing.T, single, sharded string) {
	t.Helper()
	for _, step := range []string{"step-0", "step-3"} {
		a, err := noise.Load(filepath.Join(single, "checkpoints", step, "noise"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := noise.Load(filepath.Join(sharded, "checkpoints", step, "noise"))
		if err != nil {
			t.Fatal(err)
		}
		if b.Partial || b.Collection.Scheme != "centred" || a.Collection.Scheme != "in-memory" {
			t.Errorf("%s: partial %v, schemes %q and %q", step, b.Partial, a.Collection.Scheme, b.Collection.Scheme)
		}
		b.Collection.Scheme = a.Collection.Scheme // the one field that differs
		if !setsBitEqual(a, b) {
			t.Errorf("%s: the merged noise set differs from the single-process one", step)
		}
	}
	ra, rb := readReport(t, single), readReport(t, sharded)
	if !reflect.DeepEqual(ra, rb) {
		ja, _ := json.MarshalIndent(ra, "", " ")
		jb, _ := json.MarshalIndent(rb, "", " ")
		t.Errorf("report.json differs beyond time, durations and scheme notes:\n%s", firstDiff(string(ja), string(jb)))
	}
}

// setsBitEqual compares every field and array of two sets, floats by bits.
func setsBitEqual(a, b *noise.Set) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) || len(a.Layers) != len(b.Layers) {
		return false
	}
	f64 := func(x, y []float64) bool {
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if math.Float64bits(x[i]) != math.Float64bits(y[i]) {
				return false
			}
		}
		return true
	}
	for i := range a.Layers {
		la, lb := &a.Layers[i], &b.Layers[i]
		if !f64(la.Mean, lb.Mean) || !f64(la.S2, lb.S2) || !f64(la.S3, lb.S3) || !f64(la.S4, lb.S4) || !f64(la.A3, lb.A3) ||
			math.Float64bits(la.TraceCov) != math.Float64bits(lb.TraceCov) || math.Float64bits(la.SumNormSq) != math.Float64bits(lb.SumNormSq) ||
			math.Float64bits(la.GradNormSq) != math.Float64bits(lb.GradNormSq) || len(la.MiniBatch) != len(lb.MiniBatch) {
			return false
		}
		for k := range la.MiniBatch {
			if len(la.MiniBatch[k]) != len(lb.MiniBatch[k]) {
				return false
			}
			for j := range la.MiniBatch[k] {
				if math.Float32bits(la.MiniBatch[k][j]) != math.Float32bits(lb.MiniBatch[k][j]) {
					return false
				}
			}
		}
	}
	return true
}

// readReport reads report.json without "created", durations ("seconds")
// and the notes that name the collection scheme.
func readReport(t *testing.T, dir string) any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	var strip func(any) any
	strip = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			delete(x, "created")
			delete(x, "seconds")
			for k, e := range x {
				x[k] = strip(e)
			}
		case []any:
			out := x[:0]
			for _, e := range x {
				if s, ok := e.(string); ok && (strings.Contains(s, ", scheme ") || strings.HasPrefix(s, "Collected in ")) {
					continue
				}
				out = append(out, strip(e))
			}
			return out
		}
		return v
	}
	return strip(v)
}

func firstDiff(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(la), len(lb)) {
		if la[i] != lb[i] {
			return "line " + la[i] + "\n  vs " + lb[i]
		}
	}
	return "lengths differ"
}

// copyDir copies a shard directory (as a duplicate shard would be).
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func editJSON(t *testing.T, path string, edit func(map[string]any)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, _ = json.Marshal(m)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
