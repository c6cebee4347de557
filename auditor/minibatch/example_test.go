package minibatch_test

import (
	"context"
	"fmt"

	"github.com/gnaudit/gnaudit/auditor/collect"
	"github.com/gnaudit/gnaudit/auditor/data"
	"github.com/gnaudit/gnaudit/auditor/internal/irtest"
	"github.com/gnaudit/gnaudit/auditor/minibatch"
)

// The mini-batch engine on a small Gemm → BatchNorm → Gemm model: plan
// (forward/backward samples), then the noise set of true mini-batch
// gradients.
func Example() {
	b := irtest.New(13, 1, -1, 4)
	h := b.Op("Gemm", irtest.Attrs("transB", irtest.Int(1)), "x", b.Param("w1", 0.5, true, 6, 4))
	h = b.Op("BatchNormalization", nil, h, b.Param("g", 0.2, true, 6), b.Param("beta", 0.1, true, 6),
		b.Param("mean", 0.1, false, 6), b.Positive("var", 0.5, 1.5, 6))
	h = b.Op("Gemm", irtest.Attrs("transB", irtest.Int(1)), h, b.Param("w2", 0.5, true, 3, 6))
	m := b.Output(h)

	pix := make([]float32, 100*4)
	lab := make([]int, 100)
	for i := range lab {
		lab[i] = i % 3
		for j := 0; j < 4; j++ {
			pix[4*i+j] = float32((i*7+j*3)%11)/5 - 1 + float32(lab[i])*0.3
		}
	}
	ds, _ := data.New("toy", data.Shape{C: 4, H: 1, W: 1}, pix, lab, 3)

	src, err := minibatch.New(m, ds, minibatch.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg := collect.Config{Seed: 1, DataSize: ds.Len(), Pool: 80, Batches: 10, BatchSizes: []int{4, 8}}
	est, _ := collect.PlanMiniBatch(cfg, src)
	fmt.Println("forward/backward samples:", est.Samples)
	set, err := collect.CollectMiniBatch(context.Background(), src, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(set.Collection.Scheme, len(set.Layers), "layers,", set.Batches, "rows per batch size", set.BatchSizes)
	// Output:
	// forward/backward samples: 200
	// mini-batch 4 layers, 10 rows per batch size [4 8]
}
