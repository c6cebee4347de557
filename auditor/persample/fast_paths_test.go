package persample

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/internal/simd"
	"github.com/gnaudit/gnaudit/internal/approx"
)

// TestSums checks the float32 sums (bnSums, sqNorm32), with the assembly
// kernels and with the Go loops, against dotShift4, sum4 and sqNorm: the
// same float64 products added in another order, so equal to 1e-12 of the
// sum of the terms' magnitudes.
func TestSums(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 31, 64, 100, 1024, 1027} {
		d, x := make([]float32, n), make([]float32, n)
		for k := range d {
			d[k], x[k] = float32(r.NormFloat64()), float32(2+r.NormFloat64())
		}
		const m = 1.75
		var absDot, absSum, absSq float64
		for k := range d {
			absDot += math.Abs(float64(d[k]) * (float64(x[k]) - m))
			absSum += math.Abs(float64(d[k]))
			absSq += float64(d[k]) * float64(d[k])
		}
		for _, kernels := range []bool{false, true} {
			t.Run(fmt.Sprintf("n=%d/kernels=%v", n, kernels), func(t *testing.T) {
				defer func(v bool) { simdSums = v }(simdSums)
				simdSums = kernels && simd.Has
				dot, sum := bnSums(d, x, m)
				approx.Abs(t, "Σ d(x−m)", dot, dotShift4(d, x, m), approx.Float64*math.Max(absDot, 1))
				approx.Abs(t, "Σ d", sum, sum4(d), approx.Float64*math.Max(absSum, 1))
				approx.Abs(t, "Σ d²", sqNorm32(d), sqNorm(d), approx.Float64*math.Max(absSq, 1))
			})
		}
	}
}

// TestFloat32FastPaths compares, in float32 mode, the collector's outputs
// (|g_i|², Σ_i g_i, coordinates) and the materialised gradients with the
// paths of this file's variables on (BatchNormalization sums by bnPair and
// the assembly kernels, products on sgemm.Serial, shiftConv.fullIm) against
// the same engine with all of them off (chanX's Go loops, the BLAS, fullT
// and im2colSample), with and without the executor's column matrix, to
// 1e-5 of each tensor's scale (float32 products summed in another order).
func TestFloat32FastPaths(t *testing.T) {
	cases := []convCase{
		{name: "3x3 pad 1 BN", c: 8, h: 9, w: 9, m: 16, kh: 3, kw: 3, attrs: at("pads", ais(1, 1, 1, 1)), bn: true},
		{name: "3x3 pad 1 bias, 64 positions", c: 4, h: 8, w: 8, m: 6, kh: 3, kw: 3, attrs: at("pads", ais(1, 1, 1, 1)), bias: true},
		{name: "groups 2 dilation 2 BN", c: 4, h: 9, w: 9, m: 6, kh: 3, kw: 3, attrs: at("group", ai(2), "dilations", ais(2, 2), "pads", ais(2, 2, 2, 2)), bn: true},
		{name: "stride 2 BN", c: 3, h: 12, w: 12, m: 8, kh: 3, kw: 3, attrs: at("strides", ais(2, 2), "pads", ais(1, 1, 1, 1)), bn: true},
		{name: "1x1 BN", c: 6, h: 7, w: 7, m: 5, kh: 1, kw: 1, bn: true},
	}
	const n = 7
	set := func(on bool) {
		pairedBatchNorm, serialProducts, shiftColumns = on, on, on
		simdSums = on && simd.Has
	}
	defer func(a, b, c, d, e bool) {
		pairedBatchNorm, serialProducts, shiftColumns, simdSums, convNoColumns = a, b, c, d, e
	}(pairedBatchNorm, serialProducts, shiftColumns, simdSums, convNoColumns)
	for _, c := range cases {
		for _, noCols := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/columns=%v", c.name, !noCols), func(t *testing.T) {
				convNoColumns = noCols
				e, err := New(convCaseModel(c), Options{Batch: 5})
				if err != nil {
					t.Fatal(err)
				}
				per := prod(e.InputShape())
				x, y := randInput(5, n*per), randLabels(6, n, e.Classes())
				r := rand.New(rand.NewSource(9))
				var coords [][]int
				for _, p := range e.Params() {
					coords = append(coords, randomCoords(r, p.Size, p.Size/3+2))
				}
				results := map[bool][2]*Result{}
				for _, on := range []bool{false, true} {
					set(on)
					results[on] = fullAndNorms(t, e, x, y, coords)
				}
				sameOutputs(t, e.Params(), n, results[true], results[false], 1e-5)
			})
		}
	}
}

// rowsOf returns the first n rows of a parameter's materialised gradients.
func rowsOf(pg ParamGrads, n, size int) []float64 {
	var r []float64
	for i := 0; i < n; i++ {
		r = append(r, rowOf(pg, i, size)...)
	}
	return r
}

// TestDotSegs checks dotSegs on float32 segments, with the simd.SegDots32
// kernel and with the Go loops, against the naive float64 sum of each
// segment's products (1e-12 of the sum of their magnitudes), and the kernel
// against the Go loops bit for bit (the same sums in the same order).
func TestDotSegs(t *testing.T) {
	r := rand.New(rand.NewSource(11))
	const stride, alpha = 3, 0.5
	for _, p := range []int{1, 4, 6, 8, 16, 36} {
		for _, n := range []int{1, 3, 4, 5, 8, 63, 64, 65, 130} {
			l, u := make([]float32, n*p), make([]float32, n*p)
			for k := range l {
				l[k], u[k] = float32(r.NormFloat64()), float32(r.NormFloat64())
			}
			got := map[bool][]float64{}
			for _, kernels := range []bool{false, true} {
				func() {
					defer func(v bool) { simdSums = v }(simdSums)
					simdSums = kernels && simd.Has
					out := make([]float64, n*stride)
					dotSegs(p, n, l, u, alpha, out, stride)
					got[kernels] = out
				}()
				for i := 0; i < n; i++ {
					want, mag := 0.0, 0.0
					for k := i * p; k < (i+1)*p; k++ {
						want += float64(l[k]) * float64(u[k])
						mag += math.Abs(float64(l[k]) * float64(u[k]))
					}
					approx.Abs(t, fmt.Sprintf("p %d n %d kernels %v segment %d", p, n, kernels, i), got[kernels][i*stride], alpha*want, approx.Float64*alpha*math.Max(mag, 1))
				}
			}
			for i, v := range got[true] {
				if v != got[false][i] {
					t.Errorf("p %d n %d: out[%d] = %v with the kernel, %v with the Go loops", p, n, i, v, got[false][i])
				}
			}
		}
	}
}
