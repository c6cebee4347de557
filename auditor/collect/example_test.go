package collect_test

import (
	"context"
	"fmt"

	"github.com/gnaudit/gnaudit/auditor/collect"
)

// lineSource is a Source with known per-sample gradients: one parameter
// "w" of 3 coordinates, g_ij = (j+1)·u_i with u_i = (i mod 10)/10, so that
// ḡ_j = 0.45·(j+1), Var(ξ_j) = 0.0825·(j+1)² over the 100 samples, tr Σ =
// 0.0825·(1+4+9) and |ḡ|² = 0.2025·14.
type lineSource struct{}

func (lineSource) Layers() []collect.LayerSpec {
	return []collect.LayerSpec{{Name: "fc", Parameter: "w", Kind: "weight", Shape: []int{3}}}
}

func (lineSource) PerSample(ctx context.Context, req collect.Request, fn func(collect.Block) error) error {
	const block = 16 // the source's choice
	for off := 0; off < len(req.Indices); off += block {
		if err := ctx.Err(); err != nil {
			return err
		}
		rows := min(block, len(req.Indices)-off)
		tested := req.Tested[0]
		lb := collect.LayerBlock{Tested: make([]float64, rows*len(tested))}
		if req.Full {
			lb.SumSq, lb.GradSum = make([]float64, rows), make([]float64, 3)
		}
		for r := 0; r < rows; r++ {
			u := float64(req.Indices[off+r]%10) / 10
			for c, j := range tested {
				lb.Tested[r*len(tested)+c] = float64(j+1) * u
			}
			for j := 0; j < 3 && req.Full; j++ {
				g := float64(j+1) * u
				lb.SumSq[r] += g * g
				lb.GradSum[j] += g
			}
		}
		if err := fn(collect.Block{Offset: off, Rows: rows, Layers: []collect.LayerBlock{lb}}); err != nil {
			return err
		}
	}
	return nil
}

// Collect the noise of a source over a pool of all its 100 samples, with 10
// disjoint mini-batches at each of B = 5 and 10: the per-sample moments and
// tr Σ are exact, the mini-batch matrices have one row per mini-batch.
func ExampleCollect() {
	set, err := collect.Collect(context.Background(), lineSource{}, collect.Config{
		Model: "line", Seed: 1, DataSize: 100, Pool: 100, Batches: 10, BatchSizes: []int{5, 10},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	l := set.Layers[0]
	fmt.Println("layer", l.Parameter, "coords", l.Coords, "pool", set.Pool, "batch sizes", set.BatchSizes)
	for c := range l.Coords {
		fmt.Printf("coord %d: mean %.2f, variance %.4f\n", l.Coords[c], l.Mean[c], l.S2[c]/float64(set.Pool))
	}
	fmt.Printf("tr Σ %.4f (0.0825·14 = %.4f), |ḡ|² %.4f\n", l.TraceCov, 0.0825*14, l.GradNormSq)
	fmt.Println("mini-batch noise:", len(l.MiniBatch[0])/len(l.Coords), "rows at B=5,", len(l.MiniBatch[1])/len(l.Coords), "at B=10")
	// Output:
	// layer w coords [0 1 2] pool 100 batch sizes [5 10]
	// coord 0: mean 0.45, variance 0.0825
	// coord 1: mean 0.90, variance 0.3300
	// coord 2: mean 1.35, variance 0.7425
	// tr Σ 1.1550 (0.0825·14 = 1.1550), |ḡ|² 2.8350
	// mini-batch noise: 10 rows at B=5, 10 at B=10
}
