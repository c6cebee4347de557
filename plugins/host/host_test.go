package host_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gnaudit/gnaudit/auditor/noise"
	"github.com/gnaudit/gnaudit/internal/approx"
	"github.com/gnaudit/gnaudit/plugins"
	"github.com/gnaudit/gnaudit/plugins/builtin"
	"github.com/gnaudit/gnaudit/plugins/grpcplugin"
	"github.com/gnaudit/gnaudit/plugins/host"
	"github.com/gnaudit/gnaudit/plugins/synth"
)

// Binaries built once for the package: the misbehaving test plugin (which
// also serves built-ins, like gnaudit plugins serve) and the example.
var testPlugin, jarqueBera string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gnaudit-host-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testPlugin = filepath.Join(dir, "testplugin")
	jarqueBera = filepath.Join(dir, "jarquebera")
	for _, b := range []struct{ out, pkg string }{
		{testPlugin, "./testdata/testplugin"},
		{jarqueBera, "../examples/jarquebera"},
	} {
		cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n", b.pkg, err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func testSet(t testing.TB) *noise.Set {
	t.Helper()
	set, err := synth.Set(synth.Spec{
		Seed: 3, Pool: 3000, Batches: 30, BatchSizes: []int{8, 64},
		Layers: []synth.LayerSpec{
			{Name: "a", Parameter: "a.weight", Laws: synth.Repeat(50, synth.Gaussian)},
			{Name: "b", Parameter: "b.weight", Laws: append(synth.Repeat(30, synth.Cauchy), synth.Repeat(4, synth.Zero)...)},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// A pool of 3000 drawn from a data set of 5000: the noise scale's
	// finite-population factor needs M, which must cross the protocol.
	set.Collection = &noise.Collection{DataSize: testDataSize, PoolSize: set.Pool, BatchesPerSize: set.Batches}
	return set
}

const testDataSize = 5000

func opts() *host.Options {
	return &host.Options{SelfExe: testPlugin, SelfArgs: []string{"builtin"}, Timeout: 20 * time.Second, PluginDir: "-none-"}
}

func init() { os.Unsetenv(host.EnvPluginDir) }

// noDir clears the plugin directory of o.
func noDir(o *host.Options) *host.Options { o.PluginDir = ""; return o }

func analyze(t *testing.T, o *host.Options) []*plugins.Result {
	t.Helper()
	res, err := host.Analyze(context.Background(), testSet(t), noDir(o))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestIsolatedEqualsInProcess: every built-in gives identical results as a
// plugin subprocess (--isolate), with small chunks.
func TestIsolatedEqualsInProcess(t *testing.T) {
	local := analyze(t, opts())
	o := opts()
	o.Isolate = true
	o.ChunkBytes = 512
	iso := analyze(t, o)
	if len(local) != 4 || len(iso) != 4 {
		t.Fatalf("%d and %d results", len(local), len(iso))
	}
	for i := range local {
		if iso[i].Failed() || local[i].Failed() {
			t.Fatalf("failure: %v %v", local[i].Failure, iso[i].Failure)
		}
		if iso[i].Origin != "builtin (isolated)" || local[i].Origin != "builtin" {
			t.Errorf("origins %q %q", local[i].Origin, iso[i].Origin)
		}
		if !sameValues(local[i], iso[i]) {
			t.Errorf("%s: isolated results differ from in-process", local[i].Description.Name)
		}
		if local[i].Description.Name == builtin.NoiseScaleName {
			for _, r := range []*plugins.Result{local[i], iso[i]} {
				if got := r.Layers[0].Number(builtin.KeyDataSize, 0); got != testDataSize {
					t.Errorf("%s: noise-scale used data_size %v, want %d", r.Origin, got, testDataSize)
				}
			}
		}
	}
}

func sameValues(a, b *plugins.Result) bool {
	if len(a.Layers) != len(b.Layers) || !sameList(a.Model, b.Model) || !reflect.DeepEqual(a.Description, b.Description) || !reflect.DeepEqual(a.Params, b.Params) {
		return false
	}
	for i := range a.Layers {
		if a.Layers[i].Parameter != b.Layers[i].Parameter || !sameList(a.Layers[i].PerCoordinate, b.Layers[i].PerCoordinate) || !sameList(a.Layers[i].Summary, b.Layers[i].Summary) {
			return false
		}
	}
	return true
}

func sameList(a, b []plugins.Value) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Key != y.Key || x.BatchSize != y.BatchSize || x.Kind != y.Kind || !approx.SameNumber(x.Number, y.Number) || len(x.Array) != len(y.Array) {
			return false
		}
		for j := range x.Array {
			if !approx.SameNumber(x.Array[j], y.Array[j]) {
				return false
			}
		}
		if (x.Hist == nil) != (y.Hist == nil) || (x.Hist != nil && !reflect.DeepEqual(x.Hist, y.Hist)) {
			return false
		}
	}
	return true
}

func sha(t *testing.T, path string) string {
	s, err := grpcplugin.FileSHA256(path)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(s)
}

// TestExternalPluginAndFailures runs the example plugin (pinned) next to
// plugins that crash, hang, return malformed results, start too slowly,
// speak another protocol version, or do not match their pin: each is
// reported as failed with a reason, and the others' results survive.
func TestExternalPluginAndFailures(t *testing.T) {
	o := opts()
	o.Builtins = []string{"noise-scale", "normality"}
	o.Timeout = 3 * time.Second
	var stderr bytes.Buffer
	o.Stderr = &stderr
	wrongPin := strings.Repeat("ab", 32)
	o.Plugins = []string{
		jarqueBera + "@sha256:" + sha(t, jarqueBera),
		testPlugin + "@sha256:" + wrongPin,
	}
	// The misbehaving modes go through a wrapper script each (the test
	// plugin takes its mode as an argument).
	dir := t.TempDir()
	for _, mode := range []string{"crash", "hang", "malformed", "slow-start", "bad-version"} {
		p := filepath.Join(dir, mode)
		if err := os.WriteFile(p, []byte("#!/bin/sh\nexec "+testPlugin+" "+mode+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		o.Plugins = append(o.Plugins, p)
	}
	o.Params = []string{"jarque-bera.alpha=0.01"}
	start := time.Now()
	res := analyze(t, o)
	t.Logf("ran in %v", time.Since(start))
	byName := map[string]*plugins.Result{}
	for _, r := range res {
		byName[r.Description.Name] = r
	}
	for _, name := range []string{"noise-scale", "normality", "jarque-bera"} {
		r := byName[name]
		if r == nil || r.Failed() || len(r.Layers) != 2 {
			t.Fatalf("%s did not survive: %+v", name, r)
		}
	}
	jb := byName["jarque-bera"]
	if jb.Origin != "plugin" || jb.SHA256 != sha(t, jarqueBera) || jb.Params["alpha"] != "0.01" {
		t.Errorf("jarque-bera: origin %q sha %q params %v", jb.Origin, jb.SHA256, jb.Params)
	}
	// Jarque–Bera agrees with Shapiro–Wilk on the clear cases: Gaussian
	// columns mostly normal, Cauchy columns (B=64) mostly not.
	if g := jb.Layers[0].Number("normal_percent", 64); g < 80 {
		t.Errorf("JB normal %% on Gaussian columns: %v", g)
	}
	if c := jb.Layers[1].Number("normal_percent", 64); c > 30 {
		t.Errorf("JB normal %% on Cauchy columns: %v", c)
	}
	for _, tc := range []struct{ name, stage, reason string }{
		{"testplugin", "load", "SHA-256 does not match the pin: file has " + sha(t, testPlugin) + ", pinned " + wrongPin + "; refusing to run it"},
		{"crash", "layer a.weight", "simulated crash in layer a.weight"},
		{"hang", "layer a.weight", "timed out after 3s"},
		{"malformed", "layer a.weight", "malformed result: per-coordinate array \"x\" (batch size 0) has 51 entries for 50"},
		{"slow-start", "load", "timeout while waiting for plugin to start"},
		{"bad-version", "load", "incompatible API version with plugin. Plugin version: 99, Client versions: [1]"},
	} {
		r := byName[tc.name]
		if r == nil || r.Failure == nil {
			t.Errorf("%s: not reported as failed: %+v", tc.name, r)
			continue
		}
		if r.Failure.Stage != tc.stage || !strings.Contains(r.Failure.Reason, tc.reason) {
			t.Errorf("%s: failed at %q: %q\nwant at %q containing %q", tc.name, r.Failure.Stage, r.Failure.Reason, tc.stage, tc.reason)
		}
	}
	if !strings.Contains(byName["crash"].Failure.Reason, "plugin process exited") {
		t.Errorf("crash reason does not say the process exited: %q", byName["crash"].Failure.Reason)
	}
}

func TestPluginDirAndPinFile(t *testing.T) {
	dir := t.TempDir()
	copyExe(t, jarqueBera, filepath.Join(dir, "jb"))
	copyExe(t, jarqueBera, filepath.Join(dir, "jb-unlisted"))
	os.WriteFile(filepath.Join(dir, "README"), []byte("not a plugin"), 0o644)
	o := opts()
	o.PluginDir = dir
	o.Builtins = []string{"none"}
	// Without a pin file both run (only one can keep the name).
	specs, err := host.Discover(o)
	if err != nil || len(specs) != 2 || specs[0].Pin != nil || specs[1].Err != nil {
		t.Fatalf("specs %+v, %v", specs, err)
	}
	// With one: the listed plugin is pinned, the other refused.
	pins := sha(t, jarqueBera) + "  jb\n"
	os.WriteFile(filepath.Join(dir, host.PinFile), []byte(pins), 0o644)
	t.Setenv(host.EnvPluginDir, dir)
	o.PluginDir = ""
	entries, err := host.List(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("entries %+v", entries)
	}
	if e := entries[0]; e.Description.Name != "jarque-bera" || !e.Pinned || e.Error != "" || e.Description.Params[0].Name != "alpha" {
		t.Errorf("jb entry %+v", e)
	}
	if e := entries[1]; !strings.Contains(e.Error, "not listed in") {
		t.Errorf("unlisted entry %+v", e)
	}
	// A pin file entry that does not match refuses to run the file.
	os.WriteFile(filepath.Join(dir, host.PinFile), []byte(strings.Repeat("0", 64)+"  jb\n"+sha(t, jarqueBera)+" *jb-unlisted\n"), 0o644)
	entries, err = host.List(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(entries[0].Error, "does not match the pin") || entries[1].Error != "" {
		t.Errorf("entries %+v", entries)
	}
}

func copyExe(t *testing.T, from, to string) {
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestBadOptions(t *testing.T) {
	for _, tc := range []struct {
		o    host.Options
		want string
	}{
		{host.Options{Plugins: []string{"/nonexistent/plugin"}}, "no such file"},
		{host.Options{Plugins: []string{jarqueBera + "@sha256:12"}}, "not 64 hex digits"},
		{host.Options{Builtins: []string{"normality", "gaussian"}}, `no built-in analysis "gaussian"`},
		{host.Options{Params: []string{"alpha=1"}}, "want analysis.param=value"},
		{host.Options{Params: []string{"normality.alpha=x"}}, "not a float"},
		{host.Options{PluginDir: "/nonexistent/dir"}, "plugin directory"},
	} {
		_, err := host.Analyze(context.Background(), testSet(t), &tc.o)
		var ue host.UsageError
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errorsAs(err, &ue) {
			t.Errorf("%+v: error %v, want a UsageError containing %q", tc.o, err, tc.want)
		}
	}
}

func errorsAs(err error, ue *host.UsageError) bool {
	u, ok := err.(host.UsageError)
	if ok {
		*ue = u
	}
	return ok
}
