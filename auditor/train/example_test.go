package train_test

import (
	"context"
	"fmt"
	"log"

	"github.com/gnaudit/gnaudit/auditor/data"
	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/auditor/train"
)

// Fine-tune a model with the paper's optimizer settings, audit at fixed
// steps and evaluate on a held-out split. A real run loads the model with
// onnx.Load("model.onnx") and a data set with data.LoadFashionMNIST, and
// writes the result with train.SaveONNX("model.onnx", "tuned.onnx",
// res.Saved()).
func Example() {
	m := linearModel() // logits = x·Wᵀ + b, 2 features, 2 classes
	ds := twoBlobs(400)

	opt := train.Defaults() // μ 0.9, λ 5e-4, η 0.1 → 0.01 → 0.001, B 128
	opt.Steps = 60
	opt.BatchSize = 16
	opt.HeldOut = 100
	opt.AuditAt = []int{0, 30, 60}
	opt.OnAudit = func(ctx context.Context, c *train.Checkpoint) error {
		// Here the audit collects per-sample gradients at fixed θ.
		fmt.Printf("audit at step %d: %d trainable tensors, next lr %g\n", c.Step, len(c.Params), c.LR)
		return nil
	}
	// opt.Progress = os.Stderr draws a progress bar.
	res, err := train.Train(context.Background(), m, ds, opt)
	if err != nil {
		log.Fatal(err)
	}
	last := res.Evals[len(res.Evals)-1]
	fmt.Printf("%d updates, held-out accuracy %.0f%%\n", res.Steps, 100*last.Acc)
	// Output:
	// audit at step 0: 2 trainable tensors, next lr 0.1
	// audit at step 30: 2 trainable tensors, next lr 0.01
	// audit at step 60: 2 trainable tensors, next lr 0.001
	// 60 updates, held-out accuracy 100%
}

// linearModel is a Gemm classifier built directly in the IR.
func linearModel() *ir.Model {
	dim := func(v int64) ir.Dim { return ir.Dim{Value: v} }
	batch := ir.Dim{Param: "batch"}
	w := &ir.Tensor{Name: "W", Type: ir.Float, Dims: []int64{2, 2}, F32: []float32{0.1, -0.2, 0.05, 0.3}}
	b := &ir.Tensor{Name: "b", Type: ir.Float, Dims: []int64{2}, F32: []float32{0, 0}}
	return &ir.Model{
		Opset:   13,
		Inputs:  []ir.Value{{Name: "x", Type: ir.Float, Shape: []ir.Dim{batch, dim(2)}}},
		Outputs: []ir.Value{{Name: "logits", Type: ir.Float, Shape: []ir.Dim{batch, dim(2)}}},
		Nodes: []*ir.Node{{Name: "fc", OpType: "Gemm", Inputs: []string{"x", "W", "b"}, Outputs: []string{"logits"},
			Attrs: map[string]ir.Attr{"transB": {Kind: ir.AttrInt, Int: 1}}}},
		Initializers: map[string]*ir.Tensor{"W": w, "b": b},
		InitOrder:    []string{"W", "b"},
		Trainable:    []string{"W", "b"},
		ValueInfo:    map[string]ir.Value{},
	}
}

// twoBlobs is n points around (−1, −1) (class 0) and (1, 1) (class 1).
func twoBlobs(n int) data.Dataset {
	r := data.NewRand(1, "example")
	pix := make([]float32, 2*n)
	labels := make([]int, n)
	for i := range labels {
		labels[i] = i % 2
		c := float64(2*labels[i] - 1)
		pix[2*i] = float32(c + 0.3*(r.Float64()-0.5))
		pix[2*i+1] = float32(c + 0.3*(r.Float64()-0.5))
	}
	ds, err := data.New("two blobs", data.Shape{C: 2, H: 1, W: 1}, pix, labels, 2)
	if err != nil {
		log.Fatal(err)
	}
	return ds
}

// AdamW as torch.optim.AdamW: the first update moves every coordinate by
// about η (m̂/√v̂ = ±1), after the decoupled decay θ(1 − ηλ).
func ExampleAdamW() {
	o := train.NewAdamW(0.01) // β₁ 0.9, β₂ 0.999, ε 1e-8, λ 0.01
	theta := []float64{1, -1}
	_ = o.Update("w", theta, []float64{0.3, -2}, 0.001, true)
	fmt.Printf("%.6f %.6f\n", theta[0], theta[1])
	// Output:
	// 0.998990 -0.998990
}
