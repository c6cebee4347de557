package graph

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"
)

// TestAddEngine checks tensor.Add on kop-style buffers (addEngine) against
// gorgonia's standard engine, bit for bit (NaNs as NaNs), for float32 and
// float64, small and large enough for parallel ranges, into a reused
// tensor, unsafe into a, safe (a new tensor) and incrementing; and that the
// reused tensor or a is what it returns.
func TestAddEngine(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{7, 70001} {
		for _, mode := range []string{"reuse", "unsafe", "safe", "incr"} {
			t.Run(fmt.Sprint(n, mode), func(t *testing.T) {
				testAddEngine[float32](t, rng, n, mode)
				testAddEngine[float64](t, rng, n, mode)
			})
		}
	}
}

func testAddEngine[T float](t *testing.T, rng *rand.Rand, n int, mode string) {
	mk := func(e tensor.Engine, v []T) *tensor.Dense {
		return tensor.New(tensor.WithShape(n), tensor.WithBacking(append([]T(nil), v...)), tensor.WithEngine(e))
	}
	av, bv, rv := toT[T](fillVals(rng, n)), toT[T](fillVals(rng, n)), toT[T](fillVals(rng, n))
	var res [2][]T
	for k, e := range []tensor.Engine{tensor.StdEng{}, addEngine{}} {
		a, b, r := mk(e, av), mk(e, bv), mk(e, rv)
		var opts []tensor.FuncOpt
		want := tensor.Tensor(nil)
		switch mode {
		case "reuse":
			opts, want = []tensor.FuncOpt{tensor.WithReuse(r)}, r
		case "unsafe":
			opts, want = []tensor.FuncOpt{tensor.UseUnsafe()}, a
		case "incr":
			opts, want = []tensor.FuncOpt{tensor.WithIncr(r)}, r
		}
		got, err := tensor.Add(a, b, opts...)
		if err != nil {
			t.Fatal(err)
		}
		if want != nil && got != want {
			t.Errorf("engine %d: Add returned another tensor than the %s one", k, mode)
		}
		res[k] = got.Data().([]T)
	}
	for i := range res[0] {
		if !sameBits(float64(res[0][i]), float64(res[1][i])) {
			t.Fatalf("[%d]: %v, standard engine %v", i, res[1][i], res[0][i])
		}
	}
}
