package graph

import (
	"fmt"
	"math/rand"
	"slices"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/internal/approx"
)

// TestFDReduceProd: ReduceProd over several axis sets, with and without
// keepdims, input and parameter gradients against finite differences.
func TestFDReduceProd(t *testing.T) {
	mk := func(opset int64, attrs map[string]ir.Attr, axesIn []int64) func() *ir.Model {
		return func() *ir.Model {
			b := newModel(opset, -1, 2, 3, 4)
			h := b.op("Add", nil, b.op("Mul", nil, "x", b.param("p", 0.8, true, 2, 3, 4)), b.param("c", 0.5, true, 4))
			ins := []string{h}
			if axesIn != nil {
				ins = append(ins, b.ints("axes", axesIn...))
			}
			r := b.op("ReduceProd", attrs, ins...)
			f := b.op("Flatten", nil, r)
			return b.output(b.op("Mul", nil, f, b.param("q", 1, true, 1)))
		}
	}
	for _, c := range []fdCase{
		{"axes2_keep", 3, mk(13, at("axes", ais(2)), nil)},
		{"axes12_nokeep", 2, mk(13, at("axes", ais(1, -1), "keepdims", ai(0)), nil)},
		{"axes1", 2, mk(13, at("axes", ais(1)), nil)},
		{"opset18_axes_input", 2, mk(18, at("keepdims", ai(0)), []int64{2})},
	} {
		t.Run(c.name, func(t *testing.T) { fdCheck(t, c.build(), c.batch, 12) })
	}
	// over the batch axis: refused
	b := newModel(13, -1, 4)
	if _, err := Build(b.output(b.op("ReduceProd", at("axes", ais(0)), "x")), Options{Batch: 2}); err == nil {
		t.Errorf("ReduceProd over the batch axis built")
	}
}

// TestReduceProdGradZeros: the gradient with zeros in a group (one zero:
// only it gets the product of the others; two: none) against central
// differences, which are exact for a product (linear in each element).
func TestReduceProdGradZeros(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	xs := []int{3, 4}
	g := prodShape(xs, []int{1}, false)
	for _, zeros := range [][]int{nil, {1}, {0, 2}, {4, 5, 6, 7}, {9}} {
		x := randVec(rng, 12)
		for _, z := range zeros {
			x[z] = 0
		}
		gy := []float64{0.7, -1.3, 2.1}
		dx := make([]float64, 12)
		prodGrad(dx, x, gy, g)
		f := func(v []float64) float64 {
			r := make([]float64, 3)
			prodFwd(r, v, g)
			return r[0]*gy[0] + r[1]*gy[1] + r[2]*gy[2]
		}
		for k := range x {
			const h = 1e-3
			v := slices.Clone(x)
			v[k] = x[k] + h
			fp := f(v)
			v[k] = x[k] - h
			fd := (fp - f(v)) / (2 * h)
			approx.Within(t, fmt.Sprintf("zeros %v: dx[%d] against the finite difference", zeros, k), dx[k], fd, 1e-9, 1e-9)
		}
	}
}

// TestReduceProdConst: the build-time evaluation on any axes against a
// direct product.
func TestReduceProdConst(t *testing.T) {
	x := &cval{typ: ir.Int64, shape: []int{2, 3}, i: []int64{1, 2, 3, 4, 5, 6}}
	for _, c := range []struct {
		attrs map[string]ir.Attr
		shape []int
		want  []int64
	}{
		{nil, []int{1, 1}, []int64{720}},
		{at("keepdims", ai(0)), []int{}, []int64{720}},
		{at("axes", ais(0)), []int{1, 3}, []int64{4, 10, 18}},
		{at("axes", ais(-1), "keepdims", ai(0)), []int{2}, []int64{6, 120}},
	} {
		r, err := reduceProdConst(&ir.Node{OpType: "ReduceProd", Attrs: c.attrs}, []*cval{x})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(r.shape, c.shape) || !slices.Equal(r.i, c.want) {
			t.Errorf("%v: %v, want %v %v", c.attrs, r, c.shape, c.want)
		}
	}
}
