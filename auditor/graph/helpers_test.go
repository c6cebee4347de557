package graph

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/ir"
)

// mb builds ir.Models by hand for tests.
type mb struct {
	m   *ir.Model
	rng *rand.Rand
	k   int
}

// newModel starts a model with one float input; a negative dim is symbolic.
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
	return &mb{m: m, rng: rand.New(rand.NewSource(1))}
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

// paramVals adds a float initializer with given values.
func (b *mb) paramVals(name string, vals []float32, trainable bool, dims ...int64) string {
	b.init(&ir.Tensor{Name: name, Type: ir.Float, Dims: dims, F32: vals}, trainable)
	return name
}

// positive adds a float initializer with values in [lo, hi).
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

// refLoss is an independent summed cross-entropy of logits [b, c].
func refLoss(z []float64, labels []int, c int) float64 {
	s := 0.0
	for i, y := range labels {
		row := z[i*c : (i+1)*c]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, v)
		}
		e := 0.0
		for _, v := range row {
			e += math.Exp(v - mx)
		}
		s += mx + math.Log(e) - row[y]
	}
	return s
}

func randVec(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return v
}

// fdCheck compares the analytic gradients of the summed loss (every
// trainable parameter, and the input) with central finite differences in
// float64, on up to maxCoords random coordinates per tensor.
func fdCheck(t *testing.T, m *ir.Model, batch int, maxCoords int) {
	t.Helper()
	net, err := Build(m, Options{Batch: batch, Float64: true, InputGrad: true})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	rng := rand.New(rand.NewSource(7))
	x := randVec(rng, batch*prod(net.InputShape()))
	labels := make([]int, batch)
	for i := range labels {
		labels[i] = rng.Intn(net.Classes())
	}
	loss, err := net.LossGrad(x, labels)
	if err != nil {
		t.Fatalf("LossGrad: %v", err)
	}
	z, err := net.Forward(x)
	if err != nil {
		t.Fatalf("Forward: %v", err)
	}
	if want := refLoss(z, labels, net.Classes()); math.Abs(loss-want) > 1e-9*math.Max(1, math.Abs(want)) {
		t.Fatalf("loss %v, reference CE of the logits %v", loss, want)
	}
	// The analytic gradients must be read before the finite-difference
	// passes (Forward passes keep them, but read them now regardless).
	type target struct {
		name string
		grad []float64
		get  func() []float64
		set  func([]float64)
	}
	var targets []target
	for _, p := range net.Params() {
		if !p.Trainable {
			continue
		}
		name := p.Name
		targets = append(targets, target{name, net.Grad(name), func() []float64 { return net.Param(name) },
			func(v []float64) {
				if err := net.SetParam(name, v); err != nil {
					t.Fatal(err)
				}
			}})
	}
	_, dx, ok := net.Deriv(net.InputName())
	if !ok {
		t.Fatalf("no input derivative")
	}
	xc := append([]float64(nil), x...)
	targets = append(targets, target{"input", dx, func() []float64 { return append([]float64(nil), xc...) }, func(v []float64) { copy(xc, v) }})
	lossAt := func() float64 {
		z, err := net.Forward(xc)
		if err != nil {
			t.Fatalf("Forward: %v", err)
		}
		return refLoss(z, labels, net.Classes())
	}
	const h = 1e-6
	for _, tg := range targets {
		v := tg.get()
		if len(tg.grad) != len(v) {
			t.Fatalf("%s: gradient has %d values, want %d", tg.name, len(tg.grad), len(v))
		}
		coords := rng.Perm(len(v))
		if len(coords) > maxCoords {
			coords = coords[:maxCoords]
		}
		gmax := 0.0
		for _, g := range tg.grad {
			gmax = math.Max(gmax, math.Abs(g))
		}
		for _, c := range coords {
			orig := v[c]
			v[c] = orig + h
			tg.set(v)
			lp := lossAt()
			v[c] = orig - h
			tg.set(v)
			lm := lossAt()
			v[c] = orig
			tg.set(v)
			fd := (lp - lm) / (2 * h)
			if d := math.Abs(fd - tg.grad[c]); d > 1e-6*math.Max(1, gmax) && d > 1e-4*math.Abs(fd) {
				t.Errorf("%s[%d]: analytic %.9g, finite difference %.9g", tg.name, c, tg.grad[c], fd)
			}
		}
	}
}
