package graph

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/internal/simd"
)

// simdVals returns n float32 values with, at random places, ±0, ±Inf,
// subnormals, NaNs of both signs and several payloads, and huge values.
func simdVals(rng *rand.Rand, n int) []float32 {
	sp := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), 1e-40, -1e-40,
		math.Float32frombits(0x7fc00000), math.Float32frombits(0xffc00001), math.Float32frombits(0x7f800001), math.MaxFloat32, -math.MaxFloat32}
	v := make([]float32, n)
	for i := range v {
		if rng.IntN(4) == 0 {
			v[i] = sp[rng.IntN(len(sp))]
		} else {
			v[i] = float32(rng.NormFloat64())
		}
	}
	return v
}

// sameF32 compares bit for bit (exact: also NaN payloads), or, where
// loose, NaN as NaN (an arithmetic NaN's payload depends on operand order).
func sameF32(x, y float32, loose bool) bool {
	if loose && x != x && y != y {
		return true
	}
	return math.Float32bits(x) == math.Float32bits(y)
}

// TestElemAsm runs the float32 kernels that have AVX2 assembly (ReLU and
// its gradient, Add, BatchNormalization's affine map, dx and plane sums in
// float64) with the
// assembly and with the Go loops alone, on lengths 0–67 and two long ones,
// at every alignment, with special values, and compares the results bit
// for bit (NaN payloads too for ReLU, which only masks bits). It is
// skipped where the assembly does not run.
func TestElemAsm(t *testing.T) {
	if !simd.Has {
		t.Skip("no AVX2 kernels on this CPU/build")
	}
	defer func(u bool) { useElemAsm = u }(useElemAsm)
	rng := rand.New(rand.NewPCG(9, 10))
	var lens []int
	for n := 0; n < 68; n++ {
		lens = append(lens, n)
	}
	lens = append(lens, 1031, 4099)
	for _, n := range lens {
		for off := 0; off < 8; off += 1 + 6*(n/100) {
			x, v, w := simdVals(rng, n+off)[off:], simdVals(rng, n+off)[off:], simdVals(rng, n+off)[off:]
			s, c := float32(rng.NormFloat64()), float32(rng.NormFloat64())
			type result struct {
				relu, drelu, add, axpb, scale []float32
				sx, sg                        float64
			}
			run := func(asm bool) result {
				useElemAsm = asm
				r := result{relu: make([]float32, n), drelu: make([]float32, n), add: make([]float32, n), axpb: make([]float32, n), scale: make([]float32, n)}
				reluFast(r.relu, x, x)
				reluFast(r.drelu, x, v)
				binFwdRow(binAdd, r.add, x, w, 1, 1)
				if n > 0 {
					g := &bnGeom{n: 1, c: 1, p: n, eps: 0.25}
					// s, c as scale and bias with mean 0, var 1−eps.
					one := []float32{1 - 0.25}
					bnFwd(r.axpb, x, []float32{s}, []float32{c}, []float32{0}, one, g)
					bnGradX(r.scale, []float32{s}, one, v, g)
				}
				r.sx, r.sg = bnPlaneSums(x, v, float64(c))
				return r
			}
			a, b := run(true), run(false)
			for _, p := range [][2]float64{{a.sx, b.sx}, {a.sg, b.sg}} {
				if math.Float64bits(p[0]) != math.Float64bits(p[1]) && !(p[0] != p[0] && p[1] != p[1]) {
					t.Fatalf("n=%d off=%d plane sums: asm %v, Go %v", n, off, p[0], p[1])
				}
			}
			for i := 0; i < n; i++ {
				for _, cmp := range []struct {
					name  string
					p, q  []float32
					loose bool
				}{{"relu", a.relu, b.relu, false}, {"relu grad", a.drelu, b.drelu, false}, {"add", a.add, b.add, true},
					{"x·s+t", a.axpb, b.axpb, true}, {"x·s", a.scale, b.scale, true}} {
					if !sameF32(cmp.p[i], cmp.q[i], cmp.loose) {
						t.Fatalf("n=%d off=%d %s [%d]: asm %v (%#x), Go %v (%#x)", n, off, cmp.name, i,
							cmp.p[i], math.Float32bits(cmp.p[i]), cmp.q[i], math.Float32bits(cmp.q[i]))
					}
				}
			}
		}
	}
}
