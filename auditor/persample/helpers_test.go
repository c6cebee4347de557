package persample

import (
	"math/rand"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/graph"
	"github.com/gnaudit/gnaudit/auditor/internal/irtest"
	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/internal/approx"
)

// mb is an irtest.Builder under the short names these tests use; m and rng
// are its Model and Rand.
type mb struct {
	*irtest.Builder
	m   *ir.Model
	rng *rand.Rand
}

// newModel starts a model with one float input "x"; a negative dim is
// symbolic (the batch). Its random initializers come from seed 7.
func newModel(opset int64, in ...int64) *mb {
	b := irtest.New(opset, 7, in...)
	return &mb{b, b.Model, b.Rand}
}

func (b *mb) param(name string, scale float64, trainable bool, dims ...int64) string {
	return b.Param(name, scale, trainable, dims...)
}

func (b *mb) positive(name string, lo, hi float64, dims ...int64) string {
	return b.Positive(name, lo, hi, dims...)
}

func (b *mb) ints(name string, vals ...int64) string { return b.Ints(name, vals...) }

func (b *mb) op(opType string, attrs map[string]ir.Attr, ins ...string) string {
	return b.Op(opType, attrs, ins...)
}

func (b *mb) output(name string) *ir.Model { return b.Output(name) }

// Attribute constructors.
var (
	ai   = irtest.Int
	af   = irtest.Float
	ais  = irtest.Ints
	astr = irtest.String
	at   = irtest.Attrs
)

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

// scaled is tol·max|want|: the absolute tolerance, for approx.Slice, of a
// comparison relative to the tensor's scale (tol itself when want is all
// zero, an absolute match).
func scaled(want []float64, tol float64) float64 {
	if s := maxAbs(want); s > 0 {
		return tol * s
	}
	return tol
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
	if len(pg.Full64) > 0 {
		copy(r, pg.Full64[i*size:(i+1)*size])
		return r
	}
	for j := range r {
		r[j] = float64(pg.Full32[i*size+j])
	}
	return r
}

// sameOutputs checks, parameter by parameter, an engine's outputs got
// against ref's, to tol of each reference tensor's scale: [0] the first n
// rows of the materialised gradients (Request.Full), [1] the squared norms,
// sums and coordinates (Request.Norms and Coords).
func sameOutputs(t *testing.T, params []ParamInfo, n int, got, ref [2]*Result, tol float64) {
	t.Helper()
	for k, p := range params {
		want := rowsOf(ref[0].Params[k], n, p.Size)
		approx.Slice(t, p.Name+" full", rowsOf(got[0].Params[k], n, p.Size), want, scaled(want, tol), 0)
		approx.Slice(t, p.Name+" squared norms", got[1].Params[k].SqNorm, ref[1].Params[k].SqNorm, scaled(ref[1].Params[k].SqNorm, tol), 0)
		approx.Slice(t, p.Name+" sums", got[1].Params[k].Sum, ref[1].Params[k].Sum, scaled(ref[1].Params[k].Sum, tol), 0)
		approx.Slice(t, p.Name+" coordinates", got[1].Params[k].Coords, ref[1].Params[k].Coords, scaled(ref[1].Params[k].Coords, tol), 0)
	}
}

// fullAndNorms computes, on e, the materialised gradients of x, y
// (Request.Full) and their squared norms, sums and coords (Request.Norms
// and Coords): sameOutputs's [2]*Result.
func fullAndNorms(t *testing.T, e *Engine, x []float64, y []int, coords [][]int) [2]*Result {
	t.Helper()
	full, err := e.Compute(x, y, Request{Full: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.Compute(x, y, Request{Norms: true, Coords: coords})
	if err != nil {
		t.Fatal(err)
	}
	return [2]*Result{full, got}
}
