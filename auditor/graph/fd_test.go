package graph

import "testing"

func TestFDSmallCNN(t *testing.T) {
	b := newModel(13, -1, 2, 6, 6)
	w := b.param("w", 0.5, true, 3, 2, 3, 3)
	bias := b.param("b", 0.1, true, 3)
	c := b.op("Conv", at("pads", ais(1, 1, 1, 1)), "x", w, bias)
	r := b.op("Relu", nil, c)
	p := b.op("MaxPool", at("kernel_shape", ais(2, 2), "strides", ais(2, 2)), r)
	f := b.op("Flatten", nil, p)
	fw := b.param("fw", 0.3, true, 4, 27)
	fb := b.param("fb", 0.1, true, 4)
	out := b.op("Gemm", at("transB", ai(1)), f, fw, fb)
	fdCheck(t, b.output(out), 3, 30)
}
