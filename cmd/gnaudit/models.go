package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/gnaudit/gnaudit/models"
)

func init() {
	register("models", "list, export and inspect the model zoo (ONNX)", runModels)
}

const modelsUsage = `Usage:
  gnaudit models list
  gnaudit models export NAME -o FILE.onnx [--input 3x32x32] [--classes 10] [--seed 1]
  gnaudit models inspect [-json] [-report] FILE.onnx

'list' prints each zoo model with its trainable parameter count for the default
input (3x32x32, 10 classes). 'export' writes a freshly He-initialised model as
ONNX (opset 13, input "input" [batch, C, H, W], output "logits" [batch, classes]).
'inspect' decodes any ONNX file and says what it holds and whether gnaudit
supports it ('gnaudit models inspect -h' for details).
`

// runModels dispatches the models subcommands.
func runModels(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, modelsUsage)
		return usagef("models: missing subcommand (list, export, inspect)")
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, modelsUsage)
		return nil
	case "list":
		return runModelsList(args[1:], stdout, stderr)
	case "export":
		return runModelsExport(args[1:], stdout, stderr)
	case "inspect":
		return runModelsInspect(args[1:], stdout, stderr)
	}
	fmt.Fprint(stderr, modelsUsage)
	return usagef("models: unknown subcommand %q (list, export, inspect)", args[0])
}

func runModelsList(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("models list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pos, err := modelsParseArgs(fs, args)
	if err != nil {
		return modelsFlagError(err)
	}
	if len(pos) > 0 {
		return usagef("models list: unexpected argument %q", pos[0])
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

func runModelsExport(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("models export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "output ONNX file (required)")
	input := fs.String("input", models.FormatInput(models.DefaultInput), "input shape CxHxW of one sample")
	classes := fs.Int("classes", models.DefaultClasses, "number of classes")
	seed := fs.Int64("seed", 1, "seed of the He initialisation")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: gnaudit models export NAME -o FILE.onnx [flags]\n\nModels: "+
			strings.Join(models.Names(), ", ")+"\n\nFlags:")
		fs.PrintDefaults()
	}
	pos, err := modelsParseArgs(fs, args)
	if err != nil {
		return modelsFlagError(err)
	}
	switch {
	case len(pos) == 0:
		return usagef("models export: missing model name (one of %s)", strings.Join(models.Names(), ", "))
	case len(pos) > 1:
		return usagef("models export: unexpected argument %q", pos[1])
	case *out == "":
		return usagef("models export: -o FILE.onnx is required")
	}
	shape, err := models.ParseInput(*input)
	if err != nil {
		return usagef("models export: --input: %v", err)
	}
	if *classes < 1 {
		return usagef("models export: --classes must be at least 1, got %d", *classes)
	}
	m, err := models.Build(pos[0], models.Options{Input: shape, Classes: *classes, Seed: *seed})
	if err != nil {
		return usageError{err}
	}
	if err := models.Write(*out, m); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %s, input %s, %d classes, seed %d, %d parameters\n",
		*out, pos[0], models.FormatInput(shape), *classes, *seed, models.ParamCount(m))
	return nil
}

// modelsFlagError maps the flag package's errors: -h is not a failure.
func modelsFlagError(err error) error {
	if err == flag.ErrHelp {
		return nil
	}
	return usageError{err}
}

// modelsParseArgs parses flags that may come before, between or after the
// positional arguments (Go's flag package stops at the first positional one)
// and returns the positional arguments in order. Everything after "--" is
// positional.
func modelsParseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
