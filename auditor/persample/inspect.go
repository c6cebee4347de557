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
// stops `grads` and `audit` altogether, grouped by cause), and, when it
// runs, the per-sample plan at a batch of 2: which parameters take the
// batch-1 fallback and why. The trainable set is the model's
// (ir.Model.Trainable), the one the engine differentiates.
func Inspect(m *ir.Model) onnx.Summary {
	return onnx.InspectWith(m, Verdict(m))
}

// Verdict is the executor's and the per-sample planner's judgement of m.
func Verdict(m *ir.Model) onnx.Verdict {
	v := onnx.Verdict{By: "executor (auditor/graph) and per-sample planner", Supports: graph.IsSupportedOp}
	for _, p := range graph.Check(m, 1) {
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
