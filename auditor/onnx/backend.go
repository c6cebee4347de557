package onnx

import (
	"fmt"
	"math"

	onnxgo "github.com/owulveryck/onnx-go"
	"gonum.org/v1/gonum/graph"
	"gonum.org/v1/gonum/graph/iterator"
	"gorgonia.org/tensor"
)

// recorder is gnaudit's implementation of onnx-go's Backend interface: a
// gonum DirectedWeightedBuilder whose nodes are the values of the ONNX graph
// (they implement onnx-go's Namer and DataCarrier, so initializers arrive as
// gorgonia tensors) and an OperationCarrier that records each operation.
//
// onnx-go's decoder calls ApplyOperation once per NodeProto, in file order,
// after adding one edge from each output value to each input value, weighted
// by the input's position. The recorder keeps every edge in insertion order
// (a multigraph: Mul(x, x) yields two edges from the same output to x, which a
// simple gonum graph would merge) and attributes the edges added since the
// previous ApplyOperation call to the current operation.
type recorder struct {
	nodes map[int64]*valueNode
	order []*valueNode
	edges []*valueEdge
	ops   []recordedOp
	mark  int // index in edges where the current operation's edges begin
}

// recordedOp is one ApplyOperation call.
type recordedOp struct {
	op      onnxgo.Operation
	outputs []*valueNode
	edges   []*valueEdge
}

// valueNode is a value of the ONNX graph, as onnx-go sees it.
type valueNode struct {
	id   int64
	name string
	t    tensor.Tensor
}

func (n *valueNode) ID() int64                       { return n.id }
func (n *valueNode) SetName(s string)                { n.name = s }
func (n *valueNode) GetName() string                 { return n.name }
func (n *valueNode) SetTensor(t tensor.Tensor) error { n.t = t; return nil }
func (n *valueNode) GetTensor() tensor.Tensor        { return n.t }

// valueEdge goes from an operation's output value to one of its inputs; the
// weight is the input's index.
type valueEdge struct {
	from, to *valueNode
	w        float64
}

func (e *valueEdge) From() graph.Node         { return e.from }
func (e *valueEdge) To() graph.Node           { return e.to }
func (e *valueEdge) Weight() float64          { return e.w }
func (e *valueEdge) ReversedEdge() graph.Edge { return &valueEdge{from: e.to, to: e.from, w: e.w} }

var (
	_ onnxgo.Backend     = (*recorder)(nil)
	_ onnxgo.Namer       = (*valueNode)(nil)
	_ onnxgo.DataCarrier = (*valueNode)(nil)
)

func newRecorder() *recorder { return &recorder{nodes: map[int64]*valueNode{}} }

// NewNode returns a new value node with a fresh ID.
func (r *recorder) NewNode() graph.Node { return &valueNode{id: int64(len(r.order))} }

// AddNode adds a node made by NewNode; a node that is not one is ignored,
// as is a second addition of an ID (gonum would panic).
func (r *recorder) AddNode(n graph.Node) {
	v, ok := n.(*valueNode)
	if !ok {
		return
	}
	if _, dup := r.nodes[v.id]; dup {
		return
	}
	r.nodes[v.id] = v
	r.order = append(r.order, v)
}

// NewWeightedEdge returns an edge between two value nodes.
func (r *recorder) NewWeightedEdge(from, to graph.Node, w float64) graph.WeightedEdge {
	f, _ := from.(*valueNode)
	t, _ := to.(*valueNode)
	return &valueEdge{from: f, to: t, w: w}
}

// SetWeightedEdge records an edge (duplicates and self-loops included).
func (r *recorder) SetWeightedEdge(e graph.WeightedEdge) {
	ve, ok := e.(*valueEdge)
	if !ok || ve.from == nil || ve.to == nil {
		return
	}
	r.AddNode(ve.from)
	r.AddNode(ve.to)
	r.edges = append(r.edges, ve)
}

// ApplyOperation records the operation with its output values and the edges
// added for it.
func (r *recorder) ApplyOperation(op onnxgo.Operation, outs ...graph.Node) error {
	rec := recordedOp{op: op, edges: r.edges[r.mark:len(r.edges):len(r.edges)]}
	for _, o := range outs {
		v, ok := o.(*valueNode)
		if !ok {
			return fmt.Errorf("operation %s: output node of type %T", op.Name, o)
		}
		rec.outputs = append(rec.outputs, v)
	}
	r.mark = len(r.edges)
	r.ops = append(r.ops, rec)
	return nil
}

// inputs returns the input value names of a recorded operation, from the
// edges of its first output ordered by weight; ok is false when the edges do
// not spell a complete input list (no outputs, or a gap in the indices).
func (op *recordedOp) inputs() (names []string, ok bool) {
	if len(op.outputs) == 0 {
		return nil, false
	}
	first := op.outputs[0]
	byIndex := map[int]string{}
	for _, e := range op.edges {
		if e.from != first {
			continue
		}
		i := int(e.w)
		if float64(i) != e.w || i < 0 || e.w > math.MaxInt32 {
			return nil, false
		}
		if _, seen := byIndex[i]; seen { // output listed twice: its edges repeat
			break
		}
		byIndex[i] = e.to.name
	}
	names = make([]string, len(byIndex))
	for i, n := range byIndex {
		if i >= len(names) {
			return nil, false
		}
		names[i] = n
	}
	return names, true
}

// The graph.Directed methods, so that the recorder is a full gonum graph.

// Node returns the node with the given ID, or nil.
func (r *recorder) Node(id int64) graph.Node {
	if n, ok := r.nodes[id]; ok {
		return n
	}
	return nil
}

// Nodes returns all value nodes in creation order.
func (r *recorder) Nodes() graph.Nodes {
	ns := make([]graph.Node, len(r.order))
	for i, n := range r.order {
		ns[i] = n
	}
	return iterator.NewOrderedNodes(ns)
}

func (r *recorder) neighbours(id int64, out bool) graph.Nodes {
	seen := map[int64]bool{}
	var ns []graph.Node
	for _, e := range r.edges {
		a, b := e.from, e.to
		if !out {
			a, b = b, a
		}
		if a.id == id && !seen[b.id] {
			seen[b.id] = true
			ns = append(ns, b)
		}
	}
	return iterator.NewOrderedNodes(ns)
}

// From returns the inputs of the operation(s) producing the value id.
func (r *recorder) From(id int64) graph.Nodes { return r.neighbours(id, true) }

// To returns the outputs of the operations that read the value id.
func (r *recorder) To(id int64) graph.Nodes { return r.neighbours(id, false) }

// Edge returns the first edge from uid to vid, or nil.
func (r *recorder) Edge(uid, vid int64) graph.Edge {
	for _, e := range r.edges {
		if e.from.id == uid && e.to.id == vid {
			return e
		}
	}
	return nil
}

// HasEdgeFromTo reports whether an edge goes from uid to vid.
func (r *recorder) HasEdgeFromTo(uid, vid int64) bool { return r.Edge(uid, vid) != nil }

// HasEdgeBetween reports whether an edge joins xid and yid either way.
func (r *recorder) HasEdgeBetween(xid, yid int64) bool {
	return r.HasEdgeFromTo(xid, yid) || r.HasEdgeFromTo(yid, xid)
}
