package audit

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gnaudit/gnaudit/gate"
)

// nilEmpty replaces empty slices by nil, recursively in structs, so that a
// config decoded from "key: []" compares equal to one that never set it.
func nilEmpty(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			nilEmpty(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Field(i).CanSet() {
				nilEmpty(v.Field(i))
			}
		}
	case reflect.Slice:
		if v.Len() == 0 && !v.IsNil() {
			v.Set(reflect.Zero(v.Type()))
		}
	}
}

// TestExampleConfigIsTheDefault: docs/examples/audit.yaml lists every key
// at its default value, so that the example cannot drift from the code.
func TestExampleConfigIsTheDefault(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "examples", "audit.yaml")
	cfg, err := LoadConfig(path, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("example config does not validate: %v", err)
	}
	def := Defaults()
	if got, want := cfg.auditSteps(), def.auditSteps(); !reflect.DeepEqual(got, want) {
		t.Errorf("audit steps %v, defaults %v", got, want)
	}
	cfg.AuditAt, def.AuditAt = nil, nil
	nilEmpty(reflect.ValueOf(&cfg))
	nilEmpty(reflect.ValueOf(&def))
	if !reflect.DeepEqual(cfg, def) {
		t.Errorf("example config differs from Defaults():\n got %+v\nwant %+v", cfg, def)
	}
	// Every key of the example is a key of Config: the file was decoded
	// over an empty Config with unknown keys rejected, so a key missing
	// from the file would have left a zero value that differs from the
	// defaults above.
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseArgsConfigAndOverrides(t *testing.T) {
	dir := t.TempDir()
	cfgFile := writeFile(t, dir, "a.yaml", `
model: m.onnx
finetune: {steps: 40, lr: 0.05}
audit_at: [0, 20, last]
collect: {pool: 512, batch_sizes: [8, 16], batches: 50, max_memory: 2GiB, max_time: 5m}
analyses: {params: ["normality.alpha=0.01"], timeout: 30s}
seed: 7
`)
	cfg, err := ParseArgs([]string{"--config", cfgFile, "--batches", "60", "--param", "normality.alpha=0.1", "--param", "kurtosis-bound.threshold=0.2", "--audit-at", "0,last"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Model != "m.onnx" || cfg.FineTune.Steps != 40 || cfg.FineTune.LR != 0.05 || cfg.Seed != 7 {
		t.Errorf("config file values not applied: %+v", cfg)
	}
	if cfg.FineTune.BatchSize != 128 || cfg.FineTune.Momentum != 0.9 {
		t.Errorf("defaults lost under a partial finetune section: %+v", cfg.FineTune)
	}
	if cfg.Collect.Batches != 60 || cfg.Collect.Pool != 512 || !reflect.DeepEqual(cfg.Collect.BatchSizes, []int{8, 16}) {
		t.Errorf("collect: %+v", cfg.Collect)
	}
	if cfg.Collect.MaxMemory != 2<<30 || time.Duration(cfg.Collect.MaxTime) != 5*time.Minute || time.Duration(cfg.Analyses.Timeout) != 30*time.Second {
		t.Errorf("sizes/durations: %v %v %v", cfg.Collect.MaxMemory, cfg.Collect.MaxTime, cfg.Analyses.Timeout)
	}
	// A repeated flag replaces the file's list, then appends.
	if want := []string{"normality.alpha=0.1", "kurtosis-bound.threshold=0.2"}; !reflect.DeepEqual(cfg.Analyses.Params, want) {
		t.Errorf("params %v, want %v", cfg.Analyses.Params, want)
	}
	if got := cfg.auditSteps(); !reflect.DeepEqual(got, []int{0, 40}) {
		t.Errorf("audit steps %v, want [0 40] (flag overrides the file)", got)
	}
	// --config=FILE form, and no config at all.
	if cfg, err := ParseArgs([]string{"--config=" + cfgFile}, io.Discard); err != nil || cfg.Collect.Batches != 50 {
		t.Errorf("--config=FILE: %v, batches %d", err, cfg.Collect.Batches)
	}
	if cfg, err := ParseArgs(nil, io.Discard); err != nil || !reflect.DeepEqual(cfg, Defaults()) {
		t.Errorf("no arguments: %v, %+v", err, cfg)
	}
	if _, err := ParseArgs([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		yaml string
		args []string
		want string
	}{
		{"unknown key", "colect: {pool: 3}", nil, "colect"},
		{"unknown nested key", "finetune: {step: 3}", nil, "step"},
		{"bad step", "audit_at: [0, soon]", nil, "soon"},
		{"bad size", "collect: {max_memory: lots}", nil, "lots"},
		{"bad duration", "analyses: {timeout: forever}", nil, "forever"},
		{"batch sizes not increasing", "", []string{"--batch-sizes", "64,32"}, "strictly increasing"},
		{"too few batches", "", []string{"--batches", "2"}, "3 to 5000"},
		{"pool below largest batch", "", []string{"--pool", "64"}, "smaller than the largest batch size"},
		{"audit after the end", "", []string{"--finetune-steps", "10", "--audit-at", "0,11"}, "after the last fine-tuning step"},
		{"bad device", "", []string{"--device", "tpu"}, "device"},
		{"bad lr", "", []string{"--lr", "0"}, "finetune.lr"},
		{"bad momentum", "", []string{"--momentum", "1"}, "momentum"},
		{"bad spatial", "", []string{"--spatial", "stretch"}, "preprocess.spatial"},
		{"bad normalize", "", []string{"--normalize", "zscore"}, "preprocess.normalize"},
		{"given without values", "preprocess: {normalize: given}", nil, "mean and std"},
		{"bad scale", "", []string{"--scale", "-1"}, "preprocess.scale"},
		{"bad format", "", []string{"--data-format", "parquet"}, "data.format"},
		{"bad param", "", []string{"--param", "alpha"}, "--param"},
		{"junit without gate", "", []string{"--junit", "x.xml"}, "--gate"},
		{"stray argument", "", []string{"model.onnx"}, "unexpected argument"},
		{"missing config", "", []string{"--config", filepath.Join(dir, "nope.yaml")}, "nope.yaml"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := c.args
			if c.yaml != "" {
				args = append([]string{"--config", writeFile(t, dir, "c.yaml", c.yaml)}, args...)
			}
			_, err := ParseArgs(args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

func TestValueParsers(t *testing.T) {
	for s, want := range map[string]ByteSize{"0": 0, "4GiB": 4 << 30, "512MiB": 512 << 20, "1.5KiB": 1536, "2GB": 2e9, "123": 123, " 3 MB ": 3e6} {
		if got, err := ParseByteSize(s); err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "GiB", "-1GiB", "4 PiB", "x"} {
		if _, err := ParseByteSize(s); err == nil {
			t.Errorf("ParseByteSize(%q) accepted", s)
		}
	}
	if s := ByteSize(4 << 30).String(); s != "4GiB" {
		t.Errorf("String %q", s)
	}
	if s := ByteSize(3 << 29).String(); s != "1.5GiB" {
		t.Errorf("String %q", s)
	}
	l, err := ParseStepList("0, 50,last")
	if err != nil || !reflect.DeepEqual(l, StepList{0, 50, Last}) || l.String() != "0,50,last" {
		t.Errorf("ParseStepList: %v %v %q", l, err, l.String())
	}
	b, _ := l.MarshalJSON()
	var back StepList
	if err := back.UnmarshalJSON(b); err != nil || !reflect.DeepEqual(back, l) {
		t.Errorf("StepList JSON round trip %s → %v, %v", b, back, err)
	}
	for _, s := range []string{"-1", "x", "1.5"} {
		if _, err := ParseStepList(s); err == nil {
			t.Errorf("ParseStepList(%q) accepted", s)
		}
	}
	var d Duration
	if err := d.UnmarshalJSON([]byte(`"1m30s"`)); err != nil || time.Duration(d) != 90*time.Second {
		t.Errorf("Duration: %v %v", d, err)
	}
	c := Defaults()
	c.FineTune.Steps = 30
	c.AuditAt = StepList{Last, 10, 0, 10}
	if got := c.auditSteps(); !reflect.DeepEqual(got, []int{0, 10, 30}) {
		t.Errorf("auditSteps %v", got)
	}
}

// TestExampleGatePolicyParses: docs/examples/gates.yaml is a valid policy.
func TestExampleGatePolicyParses(t *testing.T) {
	p, err := gate.ReadPolicy(filepath.Join("..", "..", "docs", "examples", "gates.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.MinGaussianity) != 1 || len(p.MinTailIndexMedian) != 1 || len(p.MaxNoiseScale) != 1 {
		t.Errorf("policy %+v", p)
	}
}
