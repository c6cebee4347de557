package graph

import (
	"fmt"
	"slices"

	"github.com/gnaudit/gnaudit/auditor/ir"
)

// Shape inference is the build itself: every registered operator computes
// its output shapes when the graph is built for a batch, so the shapes
// below are the ones the executor runs with (no second set of shape rules).

// ValueShape is the shape of a value as the executor computes it for a
// batch, with the axis that holds the batch.
type ValueShape struct {
	Dims []int
	// BatchAxis is the axis holding the batch (−1: the value does not
	// depend on the sample, e.g. a parameter or a constant).
	BatchAxis int
	// BatchInner is the factor the batch is merged with on its axis
	// (batchlayout.go): the batch index of position p is (p / BatchInner)
	// mod the batch; 1 for a leading batch.
	BatchInner int
}

// Analysis is the executor's verdict on a model at a batch size: what
// stops it from running, and the shape of every value it computes (also
// when some nodes fail: the values before and beside them).
type Analysis struct {
	Batch    int
	Problems []Problem
	Shapes   map[string]ValueShape
}

// Analyze builds m at batch in the executor, collecting every problem
// (grouped as Check groups them) and the shapes of the values.
func Analyze(m *ir.Model, batch int) Analysis {
	a := Analysis{Batch: batch, Shapes: map[string]ValueShape{}}
	if m == nil {
		a.Problems = []Problem{{Cause: "nil model"}}
		return a
	}
	// An input of a dtype the executor does not run is a problem of its
	// own; the rest of the model is checked as if the input were float32,
	// so that every problem class shows at once.
	var pre []Problem
	if bad := badInputs(m); len(bad) > 0 {
		c := *m
		c.Inputs = slices.Clone(m.Inputs)
		for _, k := range bad {
			in := m.Inputs[k]
			pre = append(pre, Problem{Cause: fmt.Sprintf("input %q has dtype %v; the executor runs float32/float64 inputs and int64/int32 token ids", in.Name, in.Type),
				Hint: "re-export with a float32 input (model.float() before torch.onnx.export), or ids as int64"})
			c.Inputs[k].Type = ir.Float
		}
		m = &c
	}
	col := &collector{bad: map[string]bool{}, index: map[string]int{}}
	_, err := build(m, Options{Batch: batch}, buildConfig{collect: col})
	a.Problems = append(pre, col.problems(m, err)...)
	for name, t := range m.Initializers {
		s := make([]int, len(t.Dims))
		for k, d := range t.Dims {
			s[k] = int(d)
		}
		a.Shapes[name] = ValueShape{Dims: s, BatchAxis: -1}
	}
	for name, c := range col.consts {
		a.Shapes[name] = ValueShape{Dims: slices.Clone(c.shape), BatchAxis: -1}
	}
	for name, v := range col.vals {
		vs := ValueShape{Dims: slices.Clone(v.shape), BatchAxis: batchAxis(v)}
		if vs.BatchAxis >= 0 {
			vs.BatchInner = 1
			if v.bx != nil {
				vs.BatchInner = v.bx.inner
			}
		}
		a.Shapes[name] = vs
	}
	return a
}

// badInputs returns the indices of the graph inputs whose dtype the
// executor cannot feed.
func badInputs(m *ir.Model) []int {
	var r []int
	for k, in := range m.Inputs {
		switch in.Type {
		case ir.Float, ir.Double, ir.Int64, ir.Int32:
		default:
			r = append(r, k)
		}
	}
	return r
}

func batchAxis(v *gval) int {
	switch {
	case v.bx != nil:
		return v.bx.axis
	case v.bl:
		return 0
	}
	return -1
}

// Shape returns the shape of a value of the built graph (a data input, a
// value computed by the graph, a build-time constant or a parameter).
func (n *Net) Shape(name string) ([]int, bool) {
	if v, ok := n.vals[name]; ok {
		return slices.Clone(v.shape), true
	}
	if c, ok := n.consts[name]; ok {
		return slices.Clone(c.shape), true
	}
	if p, ok := n.byName[name]; ok {
		return slices.Clone(p.shape), true
	}
	return nil, false
}
