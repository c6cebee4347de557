package persample

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/graph"
	"github.com/gnaudit/gnaudit/auditor/ir"
)

// mb builds ir.Models by hand for tests.
type mb struct {
	m   *ir.Model
	rng *rand.Rand
	k   int
}

// newModel starts a model with one float input "x"; a negative dim is
// symbolic (the batch).
func newModel(opset int64, in ...int64) *mb {
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
	return &mb{m: m, rng: rand.New(rand.NewSource(7))}
}

// param adds a random float initializer (normal, scaled by scale).
func (b *mb) param(name string, scale float64, trainable bool, dims ...int64) string {
	t := &ir.Tensor{Name: name, Type: ir.Float, Dims: dims}
	for i := 0; i < t.Len(); i++ {
		t.F32 = append(t.F32, float32(b.rng.NormFloat64()*scale))
	}
	b.init(t, trainable)
	return name
}

// positive adds a float initializer with values in [lo, hi) (not trainable).
func (b *mb) positive(name string, lo, hi float64, dims ...int64) string {
	t := &ir.Tensor{Name: name, Type: ir.Float, Dims: dims}
	for i := 0; i < t.Len(); i++ {
		t.F32 = append(t.F32, float32(lo+(hi-lo)*b.rng.Float64()))
	}
	b.init(t, false)
	return name
}

func (b *mb) ints(name string, vals ...int64) string {
	b.init(&ir.Tensor{Name: name, Type: ir.Int64, Dims: []int64{int64(len(vals))}, I64: vals}, false)
	return name
}

func (b *mb) init(t *ir.Tensor, trainable bool) {
	b.m.Initializers[t.Name] = t
	b.m.InitOrder = append(b.m.InitOrder, t.Name)
	if trainable {
		b.m.Trainable = append(b.m.Trainable, t.Name)
	}
}

// op appends a node with one output and returns the output's name.
func (b *mb) op(opType string, attrs map[string]ir.Attr, ins ...string) string {
	b.k++
	out := fmt.Sprintf("%s_%d_out", opType, b.k)
	b.m.Nodes = append(b.m.Nodes, &ir.Node{Name: fmt.Sprintf("%s_%d", opType, b.k), OpType: opType, Inputs: ins, Outputs: []string{out}, Attrs: attrs})
	return out
}

func (b *mb) output(name string) *ir.Model {
	b.m.Outputs = []ir.Value{{Name: name, Type: ir.Float}}
	return b.m
}

func ai(v int64) ir.Attr     { return ir.Attr{Kind: ir.AttrInt, Int: v} }
func af(v float32) ir.Attr   { return ir.Attr{Kind: ir.AttrFloat, Float: v} }
func ais(v ...int64) ir.Attr { return ir.Attr{Kind: ir.AttrInts, Ints: v} }
func astr(s string) ir.Attr  { return ir.Attr{Kind: ir.AttrString, String: s} }
func at(kv ...any) map[string]ir.Attr {
	m := map[string]ir.Attr{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1].(ir.Attr)
	}
	return m
}

// bn adds an inference BatchNormalization over c channels.
func (b *mb) bn(x, name string, c int64) string {
	s := b.param(name+".scale", 0.5, true, c)
	for k := range b.m.Initializers[s].F32 {
		b.m.Initializers[s].F32[k] += 1
	}
	sh := b.param(name+".shift", 0.2, true, c)
	mean := b.param(name+".mean", 0.5, false, c)
	vr := b.positive(name+".var", 0.5, 2, c)
	return b.op("BatchNormalization", at("epsilon", af(1e-5)), x, s, sh, mean, vr)
}

// reference computes every trainable parameter's per-sample gradient with
// one batch-1 executor pass per sample (float64), independently of the
// engine: ref[param][i] is sample i's gradient.
func reference(t *testing.T, m *ir.Model, x []float64, labels []int) map[string][][]float64 {
	t.Helper()
	net, err := graph.Build(m, graph.Options{Batch: 1, Float64: true})
	if err != nil {
		t.Fatalf("reference net: %v", err)
	}
	per := len(x) / len(labels)
	ref := map[string][][]float64{}
	for i := range labels {
		if _, err := net.LossGrad(x[i*per:(i+1)*per], labels[i:i+1]); err != nil {
			t.Fatalf("reference sample %d: %v", i, err)
		}
		for _, p := range net.Params() {
			if p.Trainable {
				ref[p.Name] = append(ref[p.Name], net.Grad(p.Name))
			}
		}
	}
	return ref
}

// relErr is max|a−b| / max(max|b|, tiny): an error relative to the tensor's
// scale.
func relErr(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d, s := 0.0, 0.0
	for k := range a {
		d = max(d, math.Abs(a[k]-b[k]))
		s = max(s, math.Abs(b[k]))
	}
	if s == 0 {
		return d
	}
	return d / s
}

func randInput(seed int64, n int) []float64 {
	r := rand.New(rand.NewSource(seed))
	x := make([]float64, n)
	for i := range x {
		x[i] = r.NormFloat64()
	}
	return x
}

func randLabels(seed int64, n, classes int) []int {
	r := rand.New(rand.NewSource(seed))
	y := make([]int, n)
	for i := range y {
		y[i] = r.Intn(classes)
	}
	return y
}

// rows returns row i of a [rows × size] float32 or float64 slice as float64.
func rowOf(pg ParamGrads, i, size int) []float64 {
	r := make([]float64, size)
	if pg.Full64 != nil && len(pg.Full64) > 0 {
		copy(r, pg.Full64[i*size:(i+1)*size])
		return r
	}
	for j := range r {
		r[j] = float64(pg.Full32[i*size+j])
	}
	return r
}
