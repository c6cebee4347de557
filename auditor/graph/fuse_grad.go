package graph

import "gorgonia.org/gorgonia"

// Gradient pass-through (no copy) for Add and Sub.
//
// The gradient of out = a + b with respect to an operand of out's shape is
// the incoming gradient itself. binary's backward returns that gradient
// node as the operand's gradient instead of a copy of it, when doing so
// cannot break kop's ownership rule (op.go): gorgonia's gradient
// accumulation (ReduceAdd) may overwrite its first operand, so a node
// shared by two values must never become an operand of that sum. That
// holds when the operand receives exactly one gradient contribution (it has
// one differentiated use in the whole graph): its gradient is then that
// contribution, never summed. resnet's residual Add is the case: the main
// branch (BatchNormalization's output) has the Add as only use; the
// shortcut, read also by the next block, gets a copy.

// gradUses counts the differentiated uses of nd in the forward graph (each
// input slot of each op through which the loss is differentiated counts
// once, so Add(x, x) counts 2). Every forward op is recorded in b.edges by
// mk; the count is an upper bound of the gradient contributions gorgonia
// sums (uses that do not reach the loss contribute nothing).
func (b *builderBase) gradUses(nd *gorgonia.Node) int {
	c := 0
	for _, e := range b.edges {
		for k, f := range e.from {
			if f == nd && e.wrt[k] {
				c++
			}
		}
	}
	return c
}

// passGrad reports whether the gradient of side (0 = a, 1 = b) of the
// binary op kind is the incoming gradient unchanged (the operand has the
// output's shape: same is true) and may be given as that very node (see
// above).
func (b *builderBase) passGrad(kind, side int, ins gorgonia.Nodes, same bool) bool {
	if !same || !(kind == binAdd || (kind == binSub && side == 0)) {
		return false
	}
	return b.gradUses(ins[side]) == 1
}
