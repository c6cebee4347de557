package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/gnaudit/gnaudit/cmd/gnaudit/internal/cliflag"
	"github.com/gnaudit/gnaudit/models"
)

func init() {
	register("models", "list, export and inspect the model zoo (ONNX)", runModels)
}

const modelsUsage = `Usage:
  gnaudit models list
  gnaudit models export NAME --out FILE.onnx [--input 3x32x32] [--classes 10] [--seed 1]
  gnaudit models inspect [--json] [--report] FILE.onnx

'list' prints each zoo model with its trainable parameter count for the default
input (3x32x32, 10 classes). 'export' writes a freshly He-initialised model as
ONNX (opset 13, input "input" [batch, C, H, W], output "logits" [batch, classes]).
'inspect' decodes any ONNX file and says what it holds and whether gnaudit
supports it ('gnaudit models inspect --help' for details).
`

// runModels dispatches the models subcommands.
func runModels(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return cmdUsagef("models", "missing subcommand (list, export, inspect)")
	}
	switch args[0] {
	case "-h", "--help", "-help", "help":
		fmt.Fprint(stdout, modelsUsage)
		return nil
	case "list":
		return inCmd("models list", runModelsList(args[1:], stdout, stderr))
	case "export":
		return inCmd("models export", runModelsExport(args[1:], stdout, stderr))
	case "inspect":
		return inCmd("models inspect", runModelsInspect(args[1:], stdout, stderr))
	}
	return cmdUsagef("models", "unknown subcommand %q (list, export, inspect)", args[0])
}

const modelsListUsage = `Usage: gnaudit models list

Prints each zoo model with its trainable parameter count for the default
input (3x32x32, 10 classes) and a description.
`

func runModelsList(args []string, stdout, _ io.Writer) error {
	f := newFlags("models list", modelsListUsage, stdout)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return cmdUsagef(f.cmd, "unexpected argument %q", pos[0])
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPARAMS\tDESCRIPTION")
	for _, s := range models.List() {
		m, err := models.Build(s.Name, models.Options{})
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\n", s.Name, models.ParamCount(m), s.Description)
	}
	return tw.Flush()
}

func runModelsExport(args []string, stdout, _ io.Writer) error {
	f := newFlags("models export", "Usage: gnaudit models export NAME --out FILE.onnx [flags]\n\nWrites a freshly He-initialised zoo model as ONNX.\nModels: "+
		strings.Join(models.Names(), ", ")+"\n", stdout)
	out := f.String("out", "", "output ONNX `file` (required)")
	cliflag.Alias(f.FlagSet, "o", "out")
	input := f.String("input", models.FormatInput(models.DefaultInput), "input shape CxHxW of one sample")
	classes := f.Int("classes", models.DefaultClasses, "number of classes")
	seed := f.Int64("seed", 1, "seed of the He initialisation")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 0:
		return cmdUsagef(f.cmd, "missing model name (one of %s)", strings.Join(models.Names(), ", "))
	case len(pos) > 1:
		return cmdUsagef(f.cmd, "unexpected argument %q", pos[1])
	case *out == "":
		return cmdUsagef(f.cmd, "--out FILE.onnx is required")
	}
	shape, err := models.ParseInput(*input)
	if err != nil {
		return usagef("--input: %v", err)
	}
	if *classes < 1 {
		return usagef("--classes must be at least 1, got %d", *classes)
	}
	m, err := models.Build(pos[0], models.Options{Input: shape, Classes: *classes, Seed: *seed})
	if err != nil {
		return usageError{err}
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil { // as stats and grads do
		return err
	}
	if err := models.Write(*out, m); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %s, input %s, %d classes, seed %d, %d parameters\n",
		*out, pos[0], models.FormatInput(shape), *classes, *seed, models.ParamCount(m))
	return nil
}
