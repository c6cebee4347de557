package graph_test

import (
	"fmt"
	"math"

	"github.com/gnaudit/gnaudit/auditor/graph"
	"github.com/gnaudit/gnaudit/auditor/onnx"
)

// Build a model exported from PyTorch (Conv, BatchNorm, MaxPool, Gemm), run
// the forward pass, the summed cross-entropy loss and its backward pass, and
// check one gradient entry against a central difference of the loss.
func ExampleBuild() {
	m, err := onnx.Load("../onnx/testdata/tinycnn_opset9.onnx")
	if err != nil {
		fmt.Println(err)
		return
	}
	net, err := graph.Build(m, graph.Options{Batch: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("input", net.InputName(), net.InputShape(), "classes", net.Classes())
	x := make([]float64, 2*1*8*8) // row-major [2, 1, 8, 8]
	for i := range x {
		x[i] = math.Sin(float64(i))
	}
	labels := []int{0, 2}
	loss, err := net.LossGrad(x, labels)
	if err != nil {
		fmt.Println(err)
		return
	}
	analytic := net.Grad("fc.bias")[1]

	// Central difference of the loss in fc.bias[1].
	b := append([]float64(nil), net.Param("fc.bias")...)
	lossAt := func(db float64) float64 {
		p := append([]float64(nil), b...)
		p[1] += db
		if err := net.SetParam("fc.bias", p); err != nil {
			panic(err)
		}
		l, err := net.LossGrad(x, labels)
		if err != nil {
			panic(err)
		}
		return l
	}
	// h = 1e-2: the network computes in float32, so a smaller step would
	// show float32 rounding (about 1e-7/h) and differ between BLAS kernels.
	const h = 1e-2
	numeric := (lossAt(h) - lossAt(-h)) / (2 * h)
	fmt.Printf("loss %.3f\n", loss)
	fmt.Printf("dloss/dfc.bias[1]: backward %.3f, central difference %.3f\n", analytic, numeric)
	// Output:
	// input input [1 8 8] classes 3
	// loss 2.180
	// dloss/dfc.bias[1]: backward 0.588, central difference 0.588
}
