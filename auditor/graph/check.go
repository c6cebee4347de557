package graph

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gnaudit/gnaudit/auditor/ir"
)

// Problem is one cause that stops the executor from running a model, with
// the nodes it affects.
type Problem struct {
	OpType string   // the operator ("" for a model-level problem)
	Cause  string   // the message, without the node's name
	Nodes  []string // the affected nodes, in graph order
	Hint   string   // what the user can do
}

// String writes the problem on one line: the cause, the count of nodes
// and the first node, and the hint.
func (p Problem) String() string {
	var b strings.Builder
	if p.OpType != "" {
		fmt.Fprintf(&b, "%s: ", p.OpType)
	}
	b.WriteString(p.Cause)
	switch len(p.Nodes) {
	case 0:
	case 1:
		fmt.Fprintf(&b, " (node %q)", p.Nodes[0])
	default:
		fmt.Fprintf(&b, " (%d nodes, first %q)", len(p.Nodes), p.Nodes[0])
	}
	if p.Hint != "" {
		b.WriteString("; " + p.Hint)
	}
	return b.String()
}

// errCollected ends a collecting build that found problems.
var errCollected = errors.New("problems collected")

// collector gathers the node errors of a build that goes on after them;
// nodes that read a value of a failed node are skipped (their problem is
// the earlier one).
type collector struct {
	bad   map[string]bool // values not computed because of a problem
	probs []Problem
	index map[string]int // OpType + cause → probs index
	// vals and consts are the build's values (Analyze reads their shapes).
	vals   map[string]*gval
	consts map[string]*cval
}

func (c *collector) skip(n *ir.Node) bool {
	for _, in := range n.Inputs {
		if c.bad[in] {
			for _, o := range n.Outputs {
				c.bad[o] = true
			}
			return true
		}
	}
	return false
}

func (c *collector) fail(n *ir.Node, opset int64, err error) {
	for _, o := range n.Outputs {
		c.bad[o] = true
	}
	msg := strings.TrimPrefix(err.Error(), fmt.Sprintf("node %q (%s, opset %d): ", n.Name, n.OpType, opset))
	key := n.OpType + "\x00" + msg
	k, ok := c.index[key]
	if !ok {
		k = len(c.probs)
		c.index[key] = k
		c.probs = append(c.probs, Problem{OpType: n.OpType, Cause: msg, Hint: hintFor(msg)})
	}
	c.probs[k].Nodes = append(c.probs[k].Nodes, n.Name)
}

// hintFor says what a user can do about a problem, by its class.
func hintFor(msg string) string {
	switch {
	case strings.Contains(msg, "operator not supported"), strings.Contains(msg, "domain"):
		return "the executor has no kernel for this operator (docs/onnx-coverage.md lists the supported ones); re-export the model without it or open an issue"
	case strings.Contains(msg, "only supported on build-time constants"), strings.Contains(msg, "must be a build-time constant"):
		return "this value depends on the input data, not only on shapes (shape chains on a symbolic batch are evaluated for the chosen batch); re-export with do_constant_folding=True, or compute it outside the model"
	case strings.Contains(msg, "is accepted at opsets"), strings.Contains(msg, "opset"):
		return "re-export with an opset in the accepted range (torch.onnx.export(..., opset_version=17))"
	case strings.Contains(msg, "attribute"):
		return "re-export the model without this attribute or mode (e.g. in eval mode)"
	case strings.Contains(msg, "is not supported"), strings.Contains(msg, "are not supported"):
		return "re-export the model without this form or mode (e.g. in eval mode: model.eval() before export)"
	case strings.Contains(msg, "cannot run with batch"):
		return "the per-sample engine then computes every parameter by batch-1 passes (exact, slower)"
	case strings.Contains(msg, "integer ids"):
		return "an integer input can only feed an embedding (Gather) or a Cast"
	case strings.Contains(msg, "data inputs"):
		return "gnaudit feeds one data input; fold the others into the model as constants or export a single-input wrapper"
	case strings.Contains(msg, "is not fixed"), strings.Contains(msg, "no declared shape"):
		return "only the batch dimension may be symbolic: export with dynamic_axes on the batch only"
	case strings.Contains(msg, "logits"), strings.Contains(msg, "output"):
		return "the model's first output must be the logits [batch, classes]"
	}
	return ""
}

// Check reports what stops the executor from running model m with batch
// batch (forward, loss and backward): every node that fails, grouped by
// cause (one Problem per operator and message, with the nodes it affects),
// and model-level problems (inputs, outputs, opset). It is the executor's
// own verdict: an empty result means Build succeeds with that batch.
func Check(m *ir.Model, batch int) []Problem {
	return Analyze(m, batch).Problems
}

// problems returns the collected problems, or the build's own error as a
// model-level problem.
func (c *collector) problems(m *ir.Model, err error) []Problem {
	if len(c.probs) > 0 {
		return slices.Clone(c.probs)
	}
	if err == nil {
		return nil
	}
	msg := strings.TrimPrefix(err.Error(), "graph: "+describeModel(m)+": ")
	return []Problem{{Cause: msg, Hint: hintFor(msg)}}
}
