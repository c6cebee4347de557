package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

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

Flags:
`

// runGrads implements "gnaudit grads".
func runGrads(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("grads", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg persample.GradsConfig
	fs.StringVar(&cfg.Model, "model", "", "ONNX model `file`")
	fs.StringVar(&cfg.Input, "input", "", "input samples, .npy `file` [N, input shape…]")
	fs.StringVar(&cfg.Labels, "labels", "", "labels, .npy `file` [N] of class indices")
	fs.StringVar(&cfg.Out, "out", "", "output `directory` (created if needed)")
	fs.IntVar(&cfg.Batch, "batch", persample.DefaultBatch, "samples per batched pass")
	fs.BoolVar(&cfg.Float64, "float64", false, "compute in float64 (the files are float32)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), gradsUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return usagef("grads: unexpected argument %q", fs.Arg(0))
	}
	if cfg.Model == "" || cfg.Input == "" || cfg.Labels == "" || cfg.Out == "" {
		fs.Usage()
		return usagef("grads: --model, --input, --labels and --out are required")
	}
	if cfg.Batch < 1 {
		return usagef("grads: --batch %d: must be at least 1", cfg.Batch)
	}
	cfg.Log = stderr
	man, err := persample.WriteGrads(cfg)
	if err != nil {
		if errors.Is(err, persample.ErrBadInput) {
			return usageError{err}
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
