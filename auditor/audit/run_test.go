package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gnaudit/gnaudit/auditor/audit/audittest"
	"github.com/gnaudit/gnaudit/auditor/collect"
	"github.com/gnaudit/gnaudit/auditor/data"
	"github.com/gnaudit/gnaudit/auditor/graph"
	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/auditor/noise"
	"github.com/gnaudit/gnaudit/auditor/onnx"
	"github.com/gnaudit/gnaudit/auditor/progress"
	"github.com/gnaudit/gnaudit/cuda"
	"github.com/gnaudit/gnaudit/internal/approx"
	"github.com/gnaudit/gnaudit/plugins/builtin"
	"github.com/gnaudit/gnaudit/plugins/host"
	"github.com/gnaudit/gnaudit/reports"
)

// tinyFixture writes the tiny model and data set once per test.
type tinyFixture struct {
	dir, model, data string
}

func newTiny(t *testing.T) *tinyFixture {
	t.Helper()
	t.Setenv(host.EnvPluginDir, "")
	dir := t.TempDir()
	f := &tinyFixture{dir: dir, model: filepath.Join(dir, "tiny.onnx"), data: filepath.Join(dir, "tiny-digits")}
	if err := audittest.TinyModel(f.model, 1); err != nil {
		t.Fatal(err)
	}
	if err := audittest.WriteMNIST(f.data, 600, 100, 3); err != nil {
		t.Fatal(err)
	}
	return f
}

// config is a tiny audit: 4 fine-tuning steps, audits at 0 and 4, pool 80,
// batch sizes 4 and 8 with 12 mini-batches each (B = 8 overlaps: 12·8 > 80).
func (f *tinyFixture) config(out string) Config {
	c := Defaults()
	c.Model = f.model
	c.Data.Dir = f.data
	c.Data.EvalSamples = 50
	c.FineTune.Steps = 4
	c.FineTune.BatchSize = 16
	c.FineTune.LR = 0.05
	c.Collect.Pool = 80
	c.Collect.BatchSizes = []int{4, 8}
	c.Collect.Batches = 12
	c.Collect.CoordsPerLayer = 16
	c.Collect.EngineBatch = 8
	c.Analyses.Timeout = Duration(time.Minute)
	c.Out = out
	return c
}

func TestRunTinyEndToEnd(t *testing.T) {
	f := newTiny(t)
	out := filepath.Join(f.dir, "out")
	cfg := f.config(out)
	var stdout, stderr bytes.Buffer
	// Redrawn bars: plain lines are quiet for phases under a second.
	res, err := Run(context.Background(), cfg, &Env{Stdout: &stdout, Stderr: &stderr, ToolVersion: "test", ProgressMode: progress.Redraw})
	if err != nil {
		t.Fatalf("Run: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	if res.Status != StatusComplete || res.Rendered == nil || res.Rendered.Partial {
		t.Fatalf("outcome %+v", res)
	}
	for _, want := range []string{"collection plan: scheme in-memory", "machine: ", "time estimate:", "report: " + filepath.Join(out, ReportMD)} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
		}
	}
	// The plan: a timed fine-tuning update, one collection per checkpoint,
	// and the loading and planning already spent in its total.
	if p := res.Plan; p == nil || !(p.StepSecs > 0) || !(p.PerSampleSecs > 0) ||
		!(p.TotalSecs > 4*p.StepSecs+2*p.CollectSecs) || !strings.Contains(stdout.String(), "of it loading and planning, done)") {
		t.Errorf("plan %+v", res.Plan)
	}
	for _, want := range []string{"step 4/4", "step 0 collect", "step 4 analyses", "evaluation at step 4"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("progress lacks %q", want)
		}
	}

	// report.json validates against the schema (ReadFile validates).
	rep, err := reports.ReadFile(filepath.Join(out, ReportJSON))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Checkpoints) != 2 || rep.Checkpoints[0].Step != 0 || rep.Checkpoints[1].Step != 4 {
		t.Fatalf("checkpoints %+v", rep.Checkpoints)
	}
	if rep.Training == nil || rep.Training.Steps != 4 || len(rep.Training.Loss) != 4 || rep.Training.BatchSize != 16 {
		t.Errorf("training section %+v", rep.Training)
	}
	if want := []reports.LRStep{{Step: 0, LR: 0.05}, {Step: 2, LR: 0.005}, {Step: 3, LR: 0.0005}}; !lrClose(rep.Training.Schedule, want) {
		t.Errorf("lr schedule %v, want %v", rep.Training.Schedule, want)
	}
	if rep.Status != "complete" {
		t.Errorf("report status %q, want complete", rep.Status)
	}
	if m := rep.Machine; m == nil || m.CPU == "" || (m.BLAS == "openblas") != (m.BLASCore != "") {
		t.Errorf("report machine %+v", m)
	}
	if rep.Model.Parameters != 4*9+4+10*64+10 || len(rep.Model.SHA256) != 64 || rep.Model.Opset != 13 {
		t.Errorf("model section %+v", rep.Model)
	}
	if rep.Data.Samples != 600 || len(rep.Data.Preprocessing) != 2 {
		t.Errorf("data section %+v", rep.Data)
	}
	for _, cp := range rep.Checkpoints {
		if cp.Pool != 80 || cp.Batches != 12 || !reflect.DeepEqual(cp.BatchSizes, []int{4, 8}) {
			t.Errorf("step %d: pool %d batches %d sizes %v", cp.Step, cp.Pool, cp.Batches, cp.BatchSizes)
		}
		var names []string
		for _, l := range cp.Layers {
			names = append(names, l.Parameter)
			wantTested := min(16, map[string]int{"conv.weight": 36, "conv.bias": 4, "fc.weight": 640, "fc.bias": 10}[l.Parameter])
			if l.TestedCoordinates != wantTested {
				t.Errorf("step %d %s: %d tested coordinates, want %d", cp.Step, l.Parameter, l.TestedCoordinates, wantTested)
			}
			if len(l.Gaussianity) != 2 || l.Gaussianity[0].BatchSize != 4 || l.Gaussianity[1].BatchSize != 8 {
				t.Errorf("step %d %s: gaussianity %+v", cp.Step, l.Parameter, l.Gaussianity)
			}
			for _, g := range l.Gaussianity {
				if !g.Percent.Defined() || g.Tested != wantTested || g.Gaussian > g.Tested {
					t.Errorf("step %d %s B=%d: %+v", cp.Step, l.Parameter, g.BatchSize, g)
				} else {
					approx.Abs(t, fmt.Sprintf("step %d %s B=%d: percent Gaussian against 100 Gaussian/Tested", cp.Step, l.Parameter, g.BatchSize), float64(g.Percent), 100*float64(g.Gaussian)/float64(g.Tested), approx.Reference)
				}
			}
			if l.KurtosisBound == nil || l.TailIndex == nil || l.NoiseScale == nil {
				t.Errorf("step %d %s: missing analyses", cp.Step, l.Parameter)
			}
			if !reflect.DeepEqual(l.Overlap, []int{8}) {
				t.Errorf("step %d %s: overlap %v, want [8] (12·8 > 80 ≥ 12·4)", cp.Step, l.Parameter, l.Overlap)
			}
		}
		if !reflect.DeepEqual(names, audittest.TinyParams) {
			t.Errorf("step %d layers %v, want %v", cp.Step, names, audittest.TinyParams)
		}
		if len(cp.Analyses) != 4 {
			t.Errorf("step %d: %d analyses", cp.Step, len(cp.Analyses))
		}
		for _, a := range cp.Analyses {
			if a.Status != "ok" || a.Origin != "builtin" {
				t.Errorf("step %d analysis %+v", cp.Step, a)
			}
		}
	}

	// The noise sets are saved, reload, and their ḡ is the pool's mean
	// gradient computed independently: one batched backward pass of the
	// executor over the pool, on the data preprocessed by hand, with the
	// weights of the checkpoint's saved ONNX file.
	meta, err := ReadMeta(out)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Status != StatusComplete || len(meta.Checks) != 2 {
		t.Fatalf("meta %+v", meta)
	}
	ds := handPreprocessed(t, f.data)
	for _, cm := range meta.Checks {
		set, err := noise.Load(filepath.Join(out, cm.Noise))
		if err != nil {
			t.Fatal(err)
		}
		if set.Partial || set.Step != cm.Step || set.Pool != 80 {
			t.Errorf("set of step %d: partial %v step %d pool %d", cm.Step, set.Partial, set.Step, set.Pool)
		}
		m, err := onnx.Load(filepath.Join(out, cm.Model))
		if err != nil {
			t.Fatal(err)
		}
		checkMeanGradient(t, m, ds, set, cfg)
	}
	if a, b := meta.Checks[0].SHA256, meta.Checks[1].SHA256; a == b || len(a) != 64 {
		t.Errorf("checkpoint models %q and %q: fine-tuning changed nothing?", a, b)
	}

	// gnaudit report DIR: rendering again gives the same bytes.
	before := snapshot(t, out)
	rd, err := Render(context.Background(), out, RenderOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rd.Partial || rd.Gate != nil {
		t.Errorf("re-render %+v", rd)
	}
	after := snapshot(t, out)
	if !reflect.DeepEqual(before, after) {
		for k := range before {
			if !bytes.Equal(before[k], after[k]) {
				t.Errorf("%s changed on re-render", k)
			}
		}
		if len(before) != len(after) {
			t.Errorf("%d files before, %d after", len(before), len(after))
		}
	}

	// --reanalyze recomputes the analyses from the noise sets: the same
	// layers (only the run times differ).
	rd2, err := Render(context.Background(), out, RenderOptions{Reanalyze: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rep.Checkpoints {
		a, _ := json.Marshal(rep.Checkpoints[i].Layers)
		b, _ := json.Marshal(rd2.Report.Checkpoints[i].Layers)
		if !bytes.Equal(a, b) {
			t.Errorf("step %d: re-analysed layers differ", rep.Checkpoints[i].Step)
		}
	}

	// A second audit into the same directory replaces the first one (with
	// --force: it is refused without, see TestFaultsOutputDirectory).
	cfg.FineTune.Steps = 0
	cfg.AuditAt = nil
	cfg.Force = true
	if _, err := Run(context.Background(), cfg, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, CheckpointDir, "step-4")); !os.IsNotExist(err) {
		t.Errorf("the earlier audit's step-4 checkpoint survived: %v", err)
	}
	rep, err = reports.ReadFile(filepath.Join(out, ReportJSON))
	if err != nil || len(rep.Checkpoints) != 1 || rep.Training != nil {
		t.Errorf("audit without fine-tuning: %v, %+v", err, rep)
	}
}

func lrClose(a, b []reports.LRStep) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Step != b[i].Step || approx.Diff(a[i].LR, b[i].LR) > approx.Float64 {
			return false
		}
	}
	return true
}

// handPreprocessed loads the tiny training set and applies, step by step,
// what the audit does by default: ÷255, then the per-channel mean and
// standard deviation.
func handPreprocessed(t *testing.T, dir string) data.Dataset {
	t.Helper()
	ds, err := data.LoadMNIST(dir, "train")
	if err != nil {
		t.Fatal(err)
	}
	ds = ds.Scale01()
	var sum, sq float64
	n := 0
	for i := range ds.Len() {
		for _, v := range ds.Sample(i, nil) {
			sum += v
			sq += v * v
			n++
		}
	}
	mean := sum / float64(n)
	std := math.Sqrt(sq/float64(n) - mean*mean)
	ds, err = ds.Normalize([]float64{mean}, []float64{std})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// checkMeanGradient compares the set's ḡ with (1/N)·∇ Σ_pool ℓ_i from one
// batched backward pass.
func checkMeanGradient(t *testing.T, m *ir.Model, ds data.Dataset, set *noise.Set, cfg Config) {
	t.Helper()
	cc := collect.Config{Seed: cfg.Seed, DataSize: ds.Len(), Pool: set.Pool, Batches: set.Batches, BatchSizes: set.BatchSizes}
	pool := collect.PoolIndices(cc)
	net, err := graph.Build(m, graph.Options{Batch: len(pool)})
	if err != nil {
		t.Fatal(err)
	}
	x, y, err := ds.Batch(pool, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := net.LossGrad(x, y); err != nil {
		t.Fatal(err)
	}
	for _, l := range set.Layers {
		g := net.Grad(l.Parameter)
		maxAbs := 0.0
		for _, v := range g {
			maxAbs = math.Max(maxAbs, math.Abs(v)/float64(len(pool)))
		}
		for j, c := range l.Coords {
			want := g[c] / float64(len(pool))
			if !approx.Abs(t, fmt.Sprintf("step %d %s coord %d: ḡ against the batched backward", set.Step, l.Parameter, c), l.Mean[j], want, 1e-4*maxAbs+1e-7) {
				break
			}
		}
	}
}

// snapshot reads the report files of an audit directory.
func snapshot(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	files, _ := filepath.Glob(filepath.Join(dir, "plots", "*"))
	files = append(files, filepath.Join(dir, ReportJSON), filepath.Join(dir, ReportMD))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}

// cancelEngine wraps the CPU engine; its source cancels the run after a
// number of blocks of the collection of step 4: the first whole-pool request
// made after step 0's noise set is on disk (the plan's timing runs, which
// also ask for the whole pool, come before step 0).
type cancelEngine struct {
	Engine
	cancel context.CancelFunc
	pool   int
	step0  string // step 0's saved noise set
	armed  atomic.Bool
}

func (e *cancelEngine) Source(ds data.Dataset) (collect.Source, error) {
	src, err := e.Engine.Source(ds)
	return &cancelSource{Source: src, e: e}, err
}

type cancelSource struct {
	collect.Source
	e *cancelEngine
}

func (s *cancelSource) PerSample(ctx context.Context, req collect.Request, fn func(collect.Block) error) error {
	target := false
	if len(req.Indices) == s.e.pool {
		if _, err := os.Stat(s.e.step0); err == nil {
			target = s.e.armed.CompareAndSwap(false, true)
		}
	}
	blocks := 0
	return s.Source.PerSample(ctx, req, func(b collect.Block) error {
		blocks++
		err := fn(b)
		if target && blocks == 6 {
			s.e.cancel() // after the collector took the 6th block
		}
		return err
	})
}

func TestRunCancelledKeepsPartial(t *testing.T) {
	f := newTiny(t)
	out := filepath.Join(f.dir, "out")
	cfg := f.config(out)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ce *cancelEngine
	RegisterEngine("cpu-cancel-test", func(m *ir.Model, o EngineOptions) (Engine, error) {
		e, err := OpenCPUEngine(m, o)
		if err != nil {
			return nil, err
		}
		ce = &cancelEngine{Engine: e, cancel: cancel, pool: cfg.Collect.Pool,
			step0: filepath.Join(out, "checkpoints", "step-0", "noise")}
		return ce, nil
	})
	cfg.Device = "cpu-cancel-test"
	var stderr bytes.Buffer
	res, err := Run(ctx, cfg, &Env{Stderr: &stderr})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run error %v, want context.Canceled\n%s", err, stderr.String())
	}
	if res == nil || res.Status != StatusPartial || res.Rendered == nil || !res.Rendered.Partial {
		t.Fatalf("outcome %+v", res)
	}
	meta, err := ReadMeta(out)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Status != StatusPartial || len(meta.Checks) != 2 || meta.Checks[0].Partial || !meta.Checks[1].Partial {
		t.Fatalf("meta status %s checks %+v", meta.Status, meta.Checks)
	}
	set, err := noise.Load(filepath.Join(out, meta.Checks[1].Noise))
	if err != nil {
		t.Fatal(err)
	}
	// Cancelled after 6 blocks of 8 samples: the moments of 48 pool
	// samples, and the mini-batch rows of B = 4 that lie inside them; B = 8
	// overlaps (its rows are drawn from the whole pool), has no complete
	// row, and is dropped.
	rows, err := collect.BatchRows(collect.Config{Seed: cfg.Seed, DataSize: 600, Pool: 80, Batches: 12, BatchSizes: []int{4, 8}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	complete := 0
	for _, r := range rows {
		if r[len(r)-1] < 48 {
			complete++
		}
	}
	if complete < 3 {
		t.Fatalf("the test expects at least 3 complete rows, has %d", complete)
	}
	if !set.Partial || set.Pool != 48 || set.Batches != complete || !reflect.DeepEqual(set.BatchSizes, []int{4}) {
		t.Errorf("partial set: partial %v pool %d batches %d (want %d) sizes %v", set.Partial, set.Pool, set.Batches, complete, set.BatchSizes)
	}
	rep, err := reports.ReadFile(filepath.Join(out, ReportJSON))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Checkpoints) != 2 || rep.Checkpoints[1].Pool != 48 || len(rep.Checkpoints[1].Layers[0].Gaussianity) != 1 {
		t.Errorf("report checkpoints %+v", rep.Checkpoints)
	}
	if rep.Status != "partial" {
		t.Errorf("report status %q, want partial", rep.Status)
	}
	if !strings.HasPrefix(rep.Method.Notes[0], "PARTIAL AUDIT") {
		t.Errorf("first method note %q", rep.Method.Notes[0])
	}
	md, _ := os.ReadFile(filepath.Join(out, ReportMD))
	if !strings.Contains(string(md), "Partial audit") {
		t.Errorf("report.md is not marked partial")
	}
	if rep.Training == nil || rep.Training.Extra["completed"] != false {
		t.Errorf("training section %+v", rep.Training)
	}
	// Re-rendering a partial audit keeps it partial and identical.
	before := snapshot(t, out)
	if rd, err := Render(context.Background(), out, RenderOptions{}, nil); err != nil || !rd.Partial {
		t.Fatalf("re-render: %v %+v", err, rd)
	}
	if after := snapshot(t, out); !reflect.DeepEqual(before, after) {
		t.Errorf("partial report changed on re-render")
	}
}

// TestCrashingPluginIsRecorded: a plugin that crashes in its first layer is
// reported as failed; the built-ins' results and the report survive.
func TestCrashingPluginIsRecorded(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("shell wrapper")
	}
	f := newTiny(t)
	bin := filepath.Join(f.dir, "testplugin")
	cmd := exec.Command("go", "build", "-o", bin, "../../plugins/host/testdata/testplugin")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("cannot build the test plugin: %v\n%s", err, b)
	}
	crash := writeFile(t, f.dir, "crash-plugin", "#!/bin/sh\nexec "+bin+" crash\n")
	if err := os.Chmod(crash, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := f.config(filepath.Join(f.dir, "out"))
	cfg.FineTune.Steps = 0
	cfg.Analyses.Plugins = []string{crash}
	cfg.Analyses.Builtins = []string{builtin.NormalityName}
	res, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	cp := res.Rendered.Report.Checkpoints[0]
	status := map[string]string{}
	for _, a := range cp.Analyses {
		status[a.Name] = a.Status
		if a.Name == "crash" && (a.Failure == nil || a.Origin != "plugin") {
			t.Errorf("crash analysis %+v", a)
		}
	}
	if status["normality"] != "ok" || status["crash"] != "failed" {
		t.Errorf("analysis statuses %v", status)
	}
	if len(cp.Layers[0].Gaussianity) != 2 {
		t.Errorf("normality results lost: %+v", cp.Layers[0])
	}
}

func TestRunRefusals(t *testing.T) {
	f := newTiny(t)
	base := f.config(filepath.Join(f.dir, "out"))
	for _, c := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"memory budget", func(c *Config) { c.Collect.MaxMemory = 1024 }, "--max-memory"}, // the executor refuses first (graph counts its operations)
		{"time budget", func(c *Config) { c.Collect.MaxTime = Duration(time.Nanosecond) }, "over --max-time"},
		{"cuda on a CPU build", func(c *Config) { c.Device = "cuda" }, "built without CUDA"},
		{"missing model", func(c *Config) { c.Model = filepath.Join(f.dir, "none.onnx") }, "no such file, and not a zoo model"},
		{"missing data", func(c *Config) { c.Data.Dir = filepath.Join(f.dir, "none") }, "none"},
		{"bad gate policy", func(c *Config) { c.Gate = writeFile(t, f.dir, "bad.yaml", "min_gausianity: []\n") }, "min_gausianity"},
		{"pool over the data", func(c *Config) { c.Collect.Pool = 0; c.Collect.BatchSizes = []int{4, 1000} }, "exceeds the pool"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := base
			c.mod(&cfg)
			if c.name == "cuda on a CPU build" && cuda.Built() {
				t.Skip("a CUDA build")
			}
			_, err := Run(context.Background(), cfg, nil)
			var ie *InputError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v (input error %v), want one mentioning %q", err, errors.As(err, &ie), c.want)
			}
		})
	}
}

// TestRunMismatchedInput: a model whose input the data cannot be adapted
// to under the strict policy is refused with both shapes named.
func TestRunMismatchedInput(t *testing.T) {
	f := newTiny(t)
	cfg := f.config(filepath.Join(f.dir, "out"))
	cfg.Model = "alexnet-cifar" // built for the data: 1×32×32
	cfg.Preprocess.Spatial = data.SpatialStrict
	_, err := Run(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "[1,8,8]") || !strings.Contains(err.Error(), "[1,32,32]") {
		t.Errorf("error %v, want the data and model shapes", err)
	}
}
