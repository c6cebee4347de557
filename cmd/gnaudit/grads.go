package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gnaudit/gnaudit/auditor/persample"
)

func init() {
	register("grads", "per-sample gradients of every trainable parameter, written as .npy files", runGrads)
}

const gradsUsage = `Usage: gnaudit grads --model M.onnx --input X.npy --labels Y.npy --out DIR [--batch 32]

Computes, for each sample i of X.npy (shape [N, input shape…], used as given:
no normalisation) with its label (Y.npy, [N] integer class indices), the
gradient of its own cross-entropy loss with respect to every trainable
parameter, from batched backward passes (per-layer expansion; parameters
without one use a batch-1 pass per sample, listed on stderr). Writes

  DIR/logits.npy      float32 [N, classes]
  DIR/<param>.npy     float32 [N, parameter shape…], one per parameter
  DIR/manifest.json   {"loss": Σ_i CE_i, "parameters": [{"name", "file", "shape", …}]}

--batch only bounds memory (samples per pass); the output does not depend on it.
Exit status: 0 done, 1 failed, 2 bad usage or input (a missing or unsupported
model, samples or labels that do not fit it).
`

// runGrads implements "gnaudit grads".
func runGrads(args []string, stdout, stderr io.Writer) error {
	f := newFlags("grads", gradsUsage, stdout)
	var cfg persample.GradsConfig
	f.StringVar(&cfg.Model, "model", "", "ONNX model `file`")
	f.StringVar(&cfg.Input, "input", "", "input samples, .npy `file` [N, input shape…]")
	f.StringVar(&cfg.Labels, "labels", "", "labels, .npy `file` [N] of class indices")
	f.StringVar(&cfg.Out, "out", "", "output `directory` (created if needed)")
	f.IntVar(&cfg.Batch, "batch", persample.DefaultBatch, "samples per batched pass")
	f.BoolVar(&cfg.Float64, "float64", false, "compute in float64 (the files are float32)")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return cmdUsagef(f.cmd, "unexpected argument %q", pos[0])
	}
	if cfg.Model == "" || cfg.Input == "" || cfg.Labels == "" || cfg.Out == "" {
		return cmdUsagef(f.cmd, "--model, --input, --labels and --out are required")
	}
	if cfg.Batch < 1 {
		return cmdUsagef(f.cmd, "--batch %d: must be at least 1", cfg.Batch)
	}
	for _, p := range []string{cfg.Model, cfg.Input, cfg.Labels} {
		if _, err := os.Stat(p); err != nil {
			return usageError{err}
		}
	}
	cfg.Log = stderr
	man, err := persample.WriteGrads(cfg)
	if err != nil {
		if errors.Is(err, persample.ErrBadInput) {
			// The message names the file; the sentinel's "bad input: " adds nothing.
			return usageError{errors.New(strings.TrimPrefix(err.Error(), persample.ErrBadInput.Error()+": "))}
		}
		return err
	}
	fb := 0
	for _, p := range man.Parameters {
		if p.Fallback {
			fb++
		}
	}
	fmt.Fprintf(stdout, "wrote %d samples × %d parameters (%d by batch-1 passes) to %s; loss %.6g\n", man.Samples, len(man.Parameters), fb, cfg.Out, man.Loss)
	return nil
}
