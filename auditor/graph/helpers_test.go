package graph

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

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
// symbolic (the batch). Its random initializers come from seed 1.
func newModel(opset int64, in ...int64) *mb {
	b := irtest.New(opset, 1, in...)
	return &mb{b, b.Model, b.Rand}
}

func (b *mb) param(name string, scale float64, trainable bool, dims ...int64) string {
	return b.Param(name, scale, trainable, dims...)
}

func (b *mb) paramVals(name string, vals []float32, trainable bool, dims ...int64) string {
	return b.ParamVals(name, vals, trainable, dims...)
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
	if !approx.RelFloor(t, "loss against the reference CE of the logits", loss, refLoss(z, labels, net.Classes()), approx.Reference, 1) {
		t.FailNow()
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
			// within 1e-6 of the gradient's scale or 1e-4 of the difference
			approx.Abs(t, fmt.Sprintf("%s[%d]: analytic against finite difference", tg.name, c), tg.grad[c], fd, math.Max(1e-6*math.Max(1, gmax), 1e-4*math.Abs(fd)))
		}
	}
}

// f32s rounds v to float32.
func f32s(v []float64) []float32 {
	r := make([]float32, len(v))
	for i, e := range v {
		r[i] = float32(e)
	}
	return r
}

// f64s widens v to float64.
func f64s(v []float32) []float64 {
	r := make([]float64, len(v))
	for i, e := range v {
		r[i] = float64(e)
	}
	return r
}
