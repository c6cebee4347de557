package graph

import (
	"reflect"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/ir"
)

// passModel has Add and Sub operands of every kind for the gradient
// pass-through (fuse_grad.go): single-use operands (passed through, also
// along a chain Tanh → Sub → Add), a value used by both operands of one
// Add, values used several times (copied, then summed by gorgonia), a
// parameter of the output's shape and a broadcast one (reduced). It returns
// the model and the names of its values.
func passModel() (*ir.Model, map[string]string) {
	b := newModel(13, -1, 3, 4)
	n := map[string]string{}
	n["a"] = b.op("Mul", nil, "x", b.param("p1", 0.8, true, 3, 4))
	n["h"] = b.op("Add", nil, n["a"], n["a"]) // a used twice by one op
	n["r"] = b.op("Tanh", nil, n["h"])
	n["q"] = b.op("Mul", nil, "x", b.param("p2", 0.8, true, 3, 4))
	n["s"] = b.op("Sub", nil, n["r"], n["q"]) // r: single use; q: Sub's b (negated)
	n["t"] = b.op("Add", nil, n["s"], "x")    // s single; x used three times
	n["u"] = b.op("Add", nil, b.op("Add", nil, n["t"], b.op("Mul", nil, n["t"], b.param("p3", 0.8, true, 3, 4))), b.op("Sigmoid", nil, n["t"]))
	n["v"] = b.op("Add", nil, n["u"], b.param("p4", 0.5, true, 4)) // p4 broadcast: reduced
	return b.output(b.op("Flatten", nil, n["v"])), n
}

// TestAddGradPassThrough checks the gradients of passModel by finite
// differences; that the pass-through is in effect (a single-use operand's
// gradient is the very buffer of the Add's output gradient, an operand used
// twice has its own); and that no buffer was overwritten by gorgonia's
// in-place gradient sums: after the pass, the derivatives of the values
// still satisfy dL/dr = dL/ds = dL/dt, dL/dq = −dL/ds, dL/da = 2·dL/dh,
// dL/du = dL/dv and dL/dp4 = Σ dL/dv over the broadcast dimensions.
func TestAddGradPassThrough(t *testing.T) {
	m, n := passModel()
	fdCheck(t, m, 2, 24)
	for _, f64 := range []bool{false, true} {
		net, err := Build(m, Options{Batch: 2, Float64: f64, InputGrad: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := net.LossGrad(randVec(newModel(13).rng, 24), []int{3, 7}); err != nil {
			t.Fatal(err)
		}
		d := map[string][]float64{}
		ptr := map[string]uintptr{}
		for k, name := range n {
			_, v, ok := net.Deriv(name)
			_, view, ok2 := net.DerivView(name)
			if !ok || !ok2 {
				t.Fatalf("no derivative of %q", name)
			}
			d[k], ptr[k] = v, reflect.ValueOf(view).Pointer()
		}
		for _, pair := range [][2]string{{"r", "s"}, {"s", "t"}, {"u", "v"}} {
			if ptr[pair[0]] != ptr[pair[1]] {
				t.Errorf("float64=%v: dL/d%s is a copy of dL/d%s (single use: want the same buffer)", f64, pair[0], pair[1])
			}
		}
		for _, pair := range [][2]string{{"a", "h"}, {"q", "s"}} {
			if ptr[pair[0]] == ptr[pair[1]] {
				t.Errorf("float64=%v: dL/d%s and dL/d%s share a buffer", f64, pair[0], pair[1])
			}
		}
		p4 := make([]float64, 4)
		for i := range d["v"] {
			eq := func(what string, got, want float64) {
				if got != want {
					t.Errorf("float64=%v: %s [%d] = %v, want %v", f64, what, i, got, want)
				}
			}
			eq("dL/dr", d["r"][i], d["t"][i])
			eq("dL/dq", d["q"][i], -d["s"][i])
			eq("dL/du", d["u"][i], d["v"][i])
			if f64 {
				eq("dL/da", d["a"][i], 2*d["h"][i])
			}
			p4[i%4] += d["v"][i]
		}
		for i, g := range net.Grad("p4") {
			if r := (g - p4[i]) / p4[i]; r > 1e-6 || r < -1e-6 {
				t.Errorf("float64=%v: dL/dp4[%d] = %v, want Σ dL/dv = %v", f64, i, g, p4[i])
			}
		}
	}
}
