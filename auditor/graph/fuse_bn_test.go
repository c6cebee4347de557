package graph

import (
	"math"
	"testing"
)

// TestBatchNormBackFused compares the fused BatchNormalization backward
// pass (fuse_bn.go: taken when dx is wanted, here with the input's
// gradient) with the separate kernels (taken when it is not: the input
// is not differentiated), on a BatchNormalization of the data input
// with 17-element planes (an odd length for the 8-lane kernels), in float32
// and float64: dscale and dbias must agree (float64: 1e-12 relative;
// float32: 1e-6). The fused pass itself is checked by finite differences.
func TestBatchNormBackFused(t *testing.T) {
	b := newModel(13, -1, 3, 17)
	bn := b.op("BatchNormalization", at("epsilon", af(1e-3)), "x", b.param("s", 0.5, true, 3), b.param("bb", 0.3, true, 3),
		b.param("mean", 0.3, false, 3), b.positive("var", 0.5, 2, 3))
	m := b.output(b.op("Flatten", nil, b.op("Tanh", nil, bn)))
	fdCheck(t, m, 3, 20)
	x := randVec(newModel(13).rng, 3*3*17)
	for _, f64 := range []bool{false, true} {
		grads := map[bool]map[string][]float64{}
		for _, in := range []bool{false, true} {
			net, err := Build(m, Options{Batch: 3, Float64: f64, InputGrad: in})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := net.LossGrad(x, []int{0, 9, 17}); err != nil {
				t.Fatal(err)
			}
			grads[in] = map[string][]float64{"s": net.Grad("s"), "bb": net.Grad("bb")}
		}
		tol := 1e-6
		if f64 {
			tol = 1e-12
		}
		for _, p := range []string{"s", "bb"} {
			for c, want := range grads[false][p] {
				got := grads[true][p][c]
				if math.Abs(got-want) > tol*math.Abs(want) || want == 0 {
					t.Errorf("float64=%v: d%s[%d] fused %v, separate %v", f64, p, c, got, want)
				}
			}
		}
	}
}
