package graph

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// Tests of the element-wise fast paths (kern_elem_bin.go, kern_nn.go's
// BatchNormalization kernels) against straightforward references: the
// definitions, written element by element with multi-indices.

// specials are values every kernel must pass through as the reference does.
var specials = []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(), 1e-40, -1e-310, math.MaxFloat32, 3}

// fillVals fills n values, normal random with a special value every 7th.
func fillVals(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		if i%7 == 3 {
			v[i] = specials[rng.IntN(len(specials))]
		} else {
			v[i] = rng.NormFloat64()
		}
	}
	return v
}

// refBcastIndex returns the flat index into an operand of shape s read at the
// multi-index idx of the broadcast output.
func refBcastIndex(idx, s []int) int {
	off := len(idx) - len(s)
	k := 0
	for d, n := range s {
		i := idx[off+d]
		if n == 1 {
			i = 0
		}
		k = k*n + i
	}
	return k
}

// unflat writes the multi-index of flat index f in shape into idx.
func unflat(f int, shape, idx []int) {
	for d := len(shape) - 1; d >= 0; d-- {
		idx[d] = f % shape[d]
		f /= shape[d]
	}
}

func refBin(kind int, a, b float64) float64 {
	switch kind {
	case binAdd:
		return a + b
	case binSub:
		return a - b
	case binMul:
		return a * b
	}
	return a / b
}

// refBinGrad is d(a op b)/d(side)·g, the expression binGrad's general
// loop evaluates.
func refBinGrad(kind, side int, g, a, b float64) float64 {
	switch kind {
	case binAdd:
		return g
	case binSub:
		if side == 0 {
			return g
		}
		return -g
	case binMul:
		if side == 0 {
			return g * b
		}
		return g * a
	}
	if side == 0 {
		return g / b
	}
	return -g * a / (b * b)
}

// sameBits reports whether two values are equal, or both NaN (the NaN's
// payload and sign are not compared for the forward pass).
func sameBits(x, y float64) bool {
	return x == y && math.Signbit(x) == math.Signbit(y) || math.IsNaN(x) && math.IsNaN(y)
}

var binShapes = [][2][]int{
	{{7}, {7}},
	{{3, 5, 13}, {3, 5, 13}},
	{{2, 3, 4, 5}, {3, 1, 1}},
	{{2, 3, 4, 5}, {5}},
	{{2, 1, 4, 5}, {2, 3, 1, 1}},
	{{1}, {4, 3}},
	{{4, 3}, {1}},
	{{1}, {1}},
	{{3, 1}, {1, 5}},
	{{2, 3, 4, 5}, {2, 3, 4, 5}},
	{{2, 3, 9}, {3, 9}},
	// large enough for the contiguous paths to be shared out to the
	// workers (binFwd, binGradFlat), one of them not a multiple of 64
	{{3, 40000}, {3, 40000}},
	{{70001}, {70001}},
}

func testBinKernels[T float](t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sh := range binShapes {
		xs, ys := sh[0], sh[1]
		out, err := broadcastShape(xs, ys)
		if err != nil {
			t.Fatal(err)
		}
		a64, b64, g64 := fillVals(rng, prod(xs)), fillVals(rng, prod(ys)), fillVals(rng, prod(out))
		a, b, g := toT[T](a64), toT[T](b64), toT[T](g64)
		for kind := binAdd; kind <= binDiv; kind++ {
			name := fmt.Sprintf("%s%v%v", binNames[kind], xs, ys)
			fit := newIter(out, contiguous(out), bcastStrides(xs, out), bcastStrides(ys, out))
			got := make([]T, prod(out))
			binFwd(kind, got, a, b, fit)
			idx := make([]int, len(out))
			for f := range got {
				unflat(f, out, idx)
				// In float64 rounded to T: for + − × ÷ that is the T
				// operation (binary64 has more than 2·24+2 bits).
				w := T(refBin(kind, float64(a[refBcastIndex(idx, xs)]), float64(b[refBcastIndex(idx, ys)])))
				if !sameBits(float64(got[f]), float64(w)) {
					t.Fatalf("%s fwd [%d]: %v, want %v", name, f, got[f], w)
				}
			}
			for side, ss := range [][]int{xs, ys} {
				it := newIter(out, contiguous(out), bcastStrides(xs, out), bcastStrides(ys, out), bcastStrides(ss, out))
				reduce := prod(ss) != prod(out)
				var acc []float64
				if reduce {
					acc = make([]float64, prod(ss))
				}
				dst := make([]T, prod(ss))
				binGrad(kind, side, dst, g, a, b, it, reduce, acc)
				want := make([]float64, prod(ss))
				for f := 0; f < prod(out); f++ {
					unflat(f, out, idx)
					v := refBinGrad(kind, side, float64(g[f]), float64(a[refBcastIndex(idx, xs)]), float64(b[refBcastIndex(idx, ys)]))
					if !reduce { // one term: keep its sign (−0)
						want[refBcastIndex(idx, ss)] = v
						continue
					}
					want[refBcastIndex(idx, ss)] += refBinGrad(kind, side, float64(g[f]), float64(a[refBcastIndex(idx, xs)]), float64(b[refBcastIndex(idx, ys)]))
				}
				for k, w := range want {
					if !sameBits(float64(dst[k]), float64(T(w))) {
						t.Fatalf("%s grad side %d [%d]: %v, want %v", name, side, k, dst[k], T(w))
					}
				}
			}
		}
	}
}

// TestBinaryKernels checks binFwd and binGrad (fast contiguous paths and
// the general strided loop) against the element-by-element definition with
// numpy broadcasting, on odd sizes, broadcast operands, NaN, ±Inf, ±0 and
// subnormals, bit for bit (NaNs: as NaNs).
func TestBinaryKernels(t *testing.T) {
	t.Run("float32", testBinKernels[float32])
	t.Run("float64", testBinKernels[float64])
}

// TestMeanLast checks GlobalAveragePool's kernels (meanLast, meanLastGrad)
// against the definition, summed in float64 in index order, bit for bit:
// small and large enough to be shared out to the workers.
func TestMeanLast(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct{ rows, p int }{{1, 1}, {3, 7}, {8192, 64}, {1001, 97}} {
		t.Run(fmt.Sprint(tc.rows, "x", tc.p), func(t *testing.T) {
			x := toT[float32](fillVals(rng, tc.rows*tc.p))
			gy := toT[float32](fillVals(rng, tc.rows))
			out := make([]float32, tc.rows)
			dx := make([]float32, tc.rows*tc.p)
			meanLast(out, x, tc.p)
			meanLastGrad(dx, gy, tc.p)
			for i := 0; i < tc.rows; i++ {
				s := 0.0
				for k := 0; k < tc.p; k++ {
					s += float64(x[i*tc.p+k])
				}
				if w := float32(s / float64(tc.p)); !sameBits(float64(out[i]), float64(w)) {
					t.Fatalf("mean row %d: %v, want %v", i, out[i], w)
				}
				w := gy[i] / float32(tc.p)
				for k := 0; k < tc.p; k++ {
					if !sameBits(float64(dx[i*tc.p+k]), float64(w)) {
						t.Fatalf("grad [%d, %d]: %v, want %v", i, k, dx[i*tc.p+k], w)
					}
				}
			}
		})
	}
}
