package persample

import (
	"slices"

	"github.com/gnaudit/gnaudit/auditor/graph"
)

// Σ_i g_i from the per-sample gradients (graph.Net.LossGradSkip).
//
// Where a pass forms the whole per-sample gradient of a convolution weight
// anyway (the direct path: |g_i|² not by Gram matrices; resnet20's
// convolutions and alexnet-cifar's conv1 under the collector's request),
// the executor's batch weight gradient dW = Σ_i g_i is the same products
// once more. For such parameters the engine runs the pass with
// LossGradSkip, which leaves those ConvGradW kernels out, and sums the g_i
// itself in float64 (runExpansions). Only the per-sample collection does
// this: LossGrad, and so fine-tuning and every other caller of the
// executor, is unchanged.
//
// Which parameters go direct is decided by runExpansions from operation
// counts, after the pass; so the first pass of a request shape on a net
// runs in full, already sums those parameters itself (so that a sum does
// not depend on whether its pass skipped) and records them (learnSkip);
// the later passes of the same shape skip them and force them direct
// (paramRun.single).

// skipMaxBytes bounds the float64 span sums of the skipped parameters of a
// pass.
const skipMaxBytes = 64 << 20

// skipState is what learnSkip recorded for one net and request shape.
type skipState struct {
	sig   []int        // requestSig
	ks    map[int]bool // plan indices of the skipped parameters
	convs []string     // their Conv nodes
}

// noSkip makes New's engines never skip (tests: the reference path).
var noSkip = false

// requestSig is the shape of a request: Norms, Full and the number of
// coordinates of every parameter.
func (e *Engine) requestSig(req Request) []int {
	s := make([]int, 0, len(e.plans)+2)
	b2i := func(b bool) int {
		if b {
			return 1
		}
		return 0
	}
	s = append(s, b2i(req.Norms), b2i(req.Full))
	for k := range e.plans {
		s = append(s, e.ncoords(req, k))
	}
	return s
}

// skipFor returns the recorded skip state of net for req's shape, or nil.
func (e *Engine) skipFor(net *graph.Net, req Request) *skipState {
	if e.noSkip || !req.Norms {
		return nil
	}
	st := e.skips[net]
	if st == nil || len(st.ks) == 0 || !slices.Equal(st.sig, e.requestSig(req)) {
		return nil
	}
	return st
}

// learnSkip records, after a pass of net without skipped gradients, the
// parameters own whose Σ_i g_i runExpansions formed itself: the next passes
// of req's shape leave out their batch weight gradient.
func (e *Engine) learnSkip(net *graph.Net, req Request, own []int) {
	if e.noSkip || !req.Norms {
		return
	}
	if e.skips == nil {
		e.skips = map[*graph.Net]*skipState{}
	}
	for n := range e.skips {
		if n != e.main && n != e.other {
			delete(e.skips, n) // a replaced odd-chunk net: let it go
		}
	}
	st := &skipState{sig: e.requestSig(req), ks: map[int]bool{}}
	for _, k := range own {
		st.ks[k] = true
		st.convs = append(st.convs, e.plans[k].uses[0].node.Name)
	}
	e.skips[net] = st
}

// skipCandidate reports whether p's batch gradient is a single Conv's
// weight gradient read straight from the parameter (LossGradSkip's
// condition as far as the plan knows it).
func skipCandidate(p *paramPlan) bool {
	if len(p.uses) != 1 {
		return false
	}
	u := p.uses[0]
	return u.method == MethodConv && u.slot == 1 && u.vidx == nil && u.scatter == nil && u.input == p.info.Name
}

// skipSpan is the number of consecutive samples of a pass that one worker
// takes at a time when parameters are summed: about four spans per worker.
func skipSpan(B, workers int) int {
	return max(1, (B+4*workers-1)/(4*workers))
}
