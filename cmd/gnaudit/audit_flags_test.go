package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gnaudit/gnaudit/auditor/audit"
)

// The flags of gnaudit audit over audit.Defaults and a config file (moved
// here from auditor/audit with the flags).

func writeAuditFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAuditFlagsConfigAndOverrides(t *testing.T) {
	dir := t.TempDir()
	cfgFile := writeAuditFile(t, dir, "a.yaml", `
model: m.onnx
finetune: {steps: 40, lr: 0.05}
audit_at: [0, 20, last]
collect: {pool: 512, batch_sizes: [8, 16], batches: 50, max_memory: 2GiB, max_time: 5m}
analyses: {params: ["normality.alpha=0.01"], timeout: 30s}
seed: 7
`)
	cfg, err := parseAuditArgs([]string{"--config", cfgFile, "--batches", "60", "--param", "normality.alpha=0.1", "--param", "kurtosis-bound.threshold=0.2", "--audit-at", "0,last"}, io.Discard)
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
	if got := cfg.AuditAt; !reflect.DeepEqual(got, audit.StepList{0, audit.Last}) {
		t.Errorf("audit steps %v, want [0 last] (flag overrides the file)", got)
	}
	// --config=FILE form, and no config at all.
	if cfg, err := parseAuditArgs([]string{"--config=" + cfgFile}, io.Discard); err != nil || cfg.Collect.Batches != 50 {
		t.Errorf("--config=FILE: %v, batches %d", err, cfg.Collect.Batches)
	}
	if cfg, err := parseAuditArgs(nil, io.Discard); err != nil || !reflect.DeepEqual(cfg, audit.Defaults()) {
		t.Errorf("no arguments: %v, %+v", err, cfg)
	}
	if _, err := parseAuditArgs([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}

func TestAuditFlagsConfigErrors(t *testing.T) {
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
				args = append([]string{"--config", writeAuditFile(t, dir, "c.yaml", c.yaml)}, args...)
			}
			_, err := parseAuditArgs(args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

func TestAuditFlagsForce(t *testing.T) {
	c, err := parseAuditArgs([]string{"--force", "--out", "x"}, io.Discard)
	if err != nil || !c.Force {
		t.Fatalf("%v %+v", err, c.Force)
	}
}

// TestAuditFlagsTrainingAndEngineKeys: the training and engine flags set
// their keys; bad values name the key.
func TestAuditFlagsTrainingAndEngineKeys(t *testing.T) {
	cfg, err := parseAuditArgs([]string{"--bn", "eval", "--optimizer", "adamw", "--warmup-steps", "50", "--engine", "both"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.FineTune.BN != "eval" || cfg.FineTune.Optimizer != "adamw" || cfg.FineTune.WarmupSteps != 50 || cfg.Collect.Engine != audit.EngineBoth {
		t.Errorf("parsed %+v %+v", cfg.FineTune, cfg.Collect)
	}
	for _, c := range []struct {
		args []string
		key  string
	}{
		{[]string{"--bn", "frozen"}, "finetune.bn"},
		{[]string{"--optimizer", "adam"}, "finetune.optimizer"},
		{[]string{"--warmup-steps", "-1"}, "finetune.warmup_steps"},
		{[]string{"--engine", "gpu"}, "collect.engine"},
	} {
		_, err := parseAuditArgs(c.args, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.key) {
			t.Errorf("%v: %v, want an error naming %s", c.args, err, c.key)
		}
	}
}
