package graph

import (
	"fmt"
	"slices"
)

// skipRec is the switch of one Conv node's weight-gradient kernel.
type skipRec struct {
	on    bool   // set only during a LossGradSkip pass
	param string // the initializer the node reads as its weight ("" if computed)
}

// LossGradSkip is LossGrad without the batch weight gradient of the Conv
// nodes convs (node names): their ConvGradW kernels do nothing in this
// pass. It is for a caller that forms Σ_i g_i of those weights itself from
// per-sample gradients (auditor/persample); every other derivative is that
// of LossGrad. Until the next pass, Grad, GradInto, GradView and Deriv
// return nil (not ok) for the weights of those nodes. Each node must read
// a parameter directly as its weight and must be that parameter's only
// reader (else the parameter's gradient would be a partial sum); LossGrad
// and every other pass compute all gradients as before.
func (n *Net) LossGradSkip(x []float64, labels []int, convs []string) (float64, error) {
	if len(convs) == 0 {
		return n.LossGrad(x, labels)
	}
	skipped := make(map[string]bool, len(convs))
	var recs []*skipRec
	for _, c := range convs {
		r, ok := n.skipW[c]
		switch {
		case !ok:
			return 0, fmt.Errorf("graph: LossGradSkip: node %q is not a Conv whose weight gradient is computed", c)
		case r.param == "":
			return 0, fmt.Errorf("graph: LossGradSkip: the weight of Conv %q is not a parameter", c)
		case !n.CanSkipWeightGrad(c):
			return 0, fmt.Errorf("graph: LossGradSkip: parameter %q of Conv %q has other readers", r.param, c)
		}
		skipped[r.param] = true
		recs = append(recs, r)
	}
	for _, r := range recs {
		r.on = true
	}
	loss, err := n.LossGrad(x, labels)
	for _, r := range recs {
		r.on = false
	}
	n.skipped = skipped
	return loss, err
}

// readers counts the model's nodes that read param.
func (n *Net) readers(param string) int { return n.paramReaders[param] }

// SkippedGrads lists the parameters whose gradient the last pass left out
// (LossGradSkip), sorted.
func (n *Net) SkippedGrads() []string {
	var r []string
	for p := range n.skipped {
		r = append(r, p)
	}
	slices.Sort(r)
	return r
}

// CanSkipWeightGrad reports whether LossGradSkip accepts Conv node conv:
// its weight gradient is computed, and its weight is a parameter that no
// other node reads.
func (n *Net) CanSkipWeightGrad(conv string) bool {
	r, ok := n.skipW[conv]
	return ok && r.param != "" && n.readers(r.param) == 1
}
