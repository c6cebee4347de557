// Package irtest builds small ir.Models by hand for the tests of the
// auditor packages (graph, persample): a model with one float input, float
// initializers drawn from a seeded generator, single-output nodes with
// generated names, and short constructors of node attributes. It is test
// support only: no non-test code imports it.
package irtest

import (
	"fmt"
	"math/rand"

	"github.com/gnaudit/gnaudit/auditor/ir"
)

// Builder accumulates an ir.Model. Its fields are exported so that tests
// can adjust the model directly (extra inputs, trainable lists).
type Builder struct {
	// Model is the model being built.
	Model *ir.Model
	// Rand draws the values of Param and Positive.
	Rand *rand.Rand
	// k numbers the nodes added by Op.
	k int
}

// New starts a model of the given opset with one float input "x" of
// dimensions in; a negative dimension is symbolic ("batch"). Random
// initializer values come from a generator seeded with seed.
func New(opset, seed int64, in ...int64) *Builder {
	m := &ir.Model{Opset: opset, Initializers: map[string]*ir.Tensor{}, ValueInfo: map[string]ir.Value{}}
	v := ir.Value{Name: "x", Type: ir.Float}
	for _, d := range in {
		if d < 0 {
			v.Shape = append(v.Shape, ir.Dim{Param: "batch"})
		} else {
			v.Shape = append(v.Shape, ir.Dim{Value: d})
		}
	}
	m.Inputs = []ir.Value{v}
	return &Builder{Model: m, Rand: rand.New(rand.NewSource(seed))}
}

// Param adds a float initializer of standard normal values times scale and
// returns its name.
func (b *Builder) Param(name string, scale float64, trainable bool, dims ...int64) string {
	t := &ir.Tensor{Name: name, Type: ir.Float, Dims: dims}
	for i := 0; i < t.Len(); i++ {
		t.F32 = append(t.F32, float32(b.Rand.NormFloat64()*scale))
	}
	b.Init(t, trainable)
	return name
}

// ParamVals adds a float initializer holding vals and returns its name.
func (b *Builder) ParamVals(name string, vals []float32, trainable bool, dims ...int64) string {
	b.Init(&ir.Tensor{Name: name, Type: ir.Float, Dims: dims, F32: vals}, trainable)
	return name
}

// Positive adds a non-trainable float initializer of values uniform in
// [lo, hi) and returns its name.
func (b *Builder) Positive(name string, lo, hi float64, dims ...int64) string {
	t := &ir.Tensor{Name: name, Type: ir.Float, Dims: dims}
	for i := 0; i < t.Len(); i++ {
		t.F32 = append(t.F32, float32(lo+(hi-lo)*b.Rand.Float64()))
	}
	b.Init(t, false)
	return name
}

// Ints adds a non-trainable int64 vector initializer and returns its name.
func (b *Builder) Ints(name string, vals ...int64) string {
	b.Init(&ir.Tensor{Name: name, Type: ir.Int64, Dims: []int64{int64(len(vals))}, I64: vals}, false)
	return name
}

// Init adds the initializer t, listed as trainable if trainable is set.
func (b *Builder) Init(t *ir.Tensor, trainable bool) {
	b.Model.Initializers[t.Name] = t
	b.Model.InitOrder = append(b.Model.InitOrder, t.Name)
	if trainable {
		b.Model.Trainable = append(b.Model.Trainable, t.Name)
	}
}

// Op appends a node of type opType with one output and returns the output's
// name ("<opType>_<k>_out" for the k-th node).
func (b *Builder) Op(opType string, attrs map[string]ir.Attr, ins ...string) string {
	b.k++
	out := fmt.Sprintf("%s_%d_out", opType, b.k)
	b.Model.Nodes = append(b.Model.Nodes, &ir.Node{Name: fmt.Sprintf("%s_%d", opType, b.k), OpType: opType, Inputs: ins, Outputs: []string{out}, Attrs: attrs})
	return out
}

// Output makes name the model's float output and returns the model.
func (b *Builder) Output(name string) *ir.Model {
	b.Model.Outputs = []ir.Value{{Name: name, Type: ir.Float}}
	return b.Model
}

// Int is an int attribute.
func Int(v int64) ir.Attr { return ir.Attr{Kind: ir.AttrInt, Int: v} }

// Float is a float attribute.
func Float(v float32) ir.Attr { return ir.Attr{Kind: ir.AttrFloat, Float: v} }

// Ints is an ints attribute.
func Ints(v ...int64) ir.Attr { return ir.Attr{Kind: ir.AttrInts, Ints: v} }

// String is a string attribute.
func String(s string) ir.Attr { return ir.Attr{Kind: ir.AttrString, String: s} }

// Attrs makes an attribute map from name, ir.Attr pairs. It panics on a
// malformed list (a test's own mistake).
func Attrs(kv ...any) map[string]ir.Attr {
	m := map[string]ir.Attr{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1].(ir.Attr)
	}
	return m
}
