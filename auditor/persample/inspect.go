package persample

import (
	"fmt"
	"sort"
	"strings"

	"github.com/gnaudit/gnaudit/auditor/graph"
	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/auditor/onnx"
)

// Inspect summarises m for `gnaudit models inspect` with the verdict of
// the code that will run it: the executor's problems at batch 1 (what
// stops `grads` and `audit` altogether, one line per cause with the count
// of nodes and what to do), the output shapes the executor computes, and,
// when it runs, the per-sample plan at a batch of 2: which parameters take
// the batch-1 fallback and why. The trainable set is the model's
// (ir.Model.Trainable), the one the engine differentiates.
func Inspect(m *ir.Model) onnx.Summary {
	return onnx.InspectWith(m, Verdict(m))
}

// Verdict is the executor's and the per-sample planner's judgement of m;
// both read auditor/graph's operator registry.
func Verdict(m *ir.Model) onnx.Verdict {
	v := onnx.Verdict{By: "executor (auditor/graph) and per-sample planner", Supports: graph.IsSupportedOp}
	a := graph.Analyze(m, 1)
	// Batch tracking needs a batch of 2 (at 1 every axis could be it):
	// the shapes come from a build at 2, those it does not reach from 1.
	v.Shapes = formatShapes(m, a)
	for name, sh := range formatShapes(m, graph.Analyze(m, 2)) {
		v.Shapes[name] = sh
	}
	for _, p := range a.Problems {
		v.Problems = append(v.Problems, p.String())
	}
	if len(v.Problems) > 0 {
		return v
	}
	e, err := New(m, Options{Batch: 2, Workers: 1})
	if err != nil {
		v.Problems = append(v.Problems, err.Error())
		return v
	}
	for _, nt := range e.Notes() {
		if strings.HasPrefix(nt, "the model cannot run a batch") {
			v.Notes = append(v.Notes, nt)
		}
	}
	byReason := map[string][]string{}
	for _, p := range e.Params() {
		if p.Method == MethodFallback {
			byReason[p.Reason] = append(byReason[p.Reason], p.Name)
		}
	}
	reasons := make([]string, 0, len(byReason))
	for r := range byReason {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		names := byReason[r]
		list := strings.Join(names, ", ")
		if len(names) > 3 {
			list = strings.Join(names[:3], ", ") + fmt.Sprintf(", … (%d in all)", len(names))
		}
		v.Notes = append(v.Notes, fmt.Sprintf("per-sample gradients by batch-1 passes (exact, slower) for %s: %s", list, r))
	}
	return v
}

// formatShapes writes the executor's shapes with the batch axis named as the file names it: the symbolic batch's name (or the
// file's fixed batch), times the factor a moved batch is merged with.
func formatShapes(m *ir.Model, a graph.Analysis) map[string]string {
	batch := "batch"
	if len(m.Inputs) > 0 && len(m.Inputs[0].Shape) > 0 {
		switch d := m.Inputs[0].Shape[0]; {
		case d.Known():
			batch = fmt.Sprint(d.Value)
		case d.Param != "":
			batch = d.Param
		}
	}
	out := make(map[string]string, len(a.Shapes))
	for name, s := range a.Shapes {
		parts := make([]string, len(s.Dims))
		for k, d := range s.Dims {
			parts[k] = fmt.Sprint(d)
			if k == s.BatchAxis {
				// d = outer · batch · inner (batchlayout.go)
				in := max(s.BatchInner, 1)
				parts[k] = batch
				if in > 1 {
					parts[k] = fmt.Sprintf("%s·%d", batch, in)
				}
				if outer := d / (max(a.Batch, 1) * in); outer > 1 {
					parts[k] = fmt.Sprintf("%d·%s", outer, parts[k])
				}
			}
		}
		out[name] = "[" + strings.Join(parts, ", ") + "]"
	}
	return out
}
