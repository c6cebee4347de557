package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/gnaudit/gnaudit/auditor/onnx"
	"github.com/gnaudit/gnaudit/auditor/persample"
)

const modelsInspectUsage = `Usage: gnaudit models inspect [--json] [--report] FILE.onnx

Decodes an ONNX model and prints its producer, IR version and opset, inputs and
outputs (symbolic dimensions by name), operator counts, the layers that hold
parameters with each parameter's shape, element count and whether it is
trainable, and whether gnaudit supports every operator and attribute (with the
problems if not). --json prints the same as JSON; --report also says which
parts onnx-go decoded and which were read from the protobuf directly.

Exit status: 0 when the model is supported, 2 when it is not, cannot be read
or on bad usage (as gnaudit audit and gnaudit grads exit on such a model).
`

// runModelsInspect implements `gnaudit models inspect`; the models verb
// dispatches to it.
func runModelsInspect(args []string, stdout, _ io.Writer) error {
	f := newFlags("models inspect", modelsInspectUsage, stdout)
	asJSON := f.Bool("json", false, "print the summary as JSON")
	report := f.Bool("report", false, "also list what onnx-go decoded and what came from the protobuf")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 0:
		return cmdUsagef(f.cmd, "missing FILE.onnx")
	case len(pos) > 1:
		return cmdUsagef(f.cmd, "unexpected argument %q", pos[1])
	}
	path := pos[0]
	data, err := os.ReadFile(path)
	if err != nil {
		return usageError{err}
	}
	m, rep, err := onnx.DecodeWithReport(data, path)
	if err != nil {
		return usageError{err}
	}
	s := persample.Inspect(m)
	if *asJSON {
		out := struct {
			onnx.Summary
			Decoding *onnx.Report `json:"decoding,omitempty"`
		}{Summary: s}
		if *report {
			out.Decoding = rep
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		if err := s.WriteText(stdout); err != nil {
			return err
		}
		if *report {
			fmt.Fprintf(stdout, "\ndecoding: onnx-go decoded %d of %d nodes and %d of %d initializers (ran to completion: %v)\n",
				rep.OnnxGoNodes, len(m.Nodes), rep.OnnxGoTensors, len(m.InitOrder), rep.OnnxGo)
			for _, f := range rep.Fallbacks {
				fmt.Fprintf(stdout, "  - %s\n", f)
			}
		}
	}
	if !s.Supported {
		return exitError{code: exitUsage, err: fmt.Errorf("%s: not supported by gnaudit (%d problem(s) listed above)", path, len(s.Problems))}
	}
	return nil
}
