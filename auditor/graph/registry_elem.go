package graph

// Registry entries of the elementwise operators: arithmetic with numpy
// broadcasting, activations and pointwise functions. Kernels: build.go
// (binary, unary), ops_ext.go (pointwise, Pow), kern_elem.go; constant
// forms: consteval*.go.

func init() {
	bin := func(op string) OpSpec {
		return OpSpec{Op: op, Family: "elementwise", Attrs: []string{"axis", "broadcast"}, Shape: "numpy broadcast of the inputs",
			PerSample: RuleBinary, MovedBatch: true, GPU: op == "Add", eval: evalCore,
			Note:  "axis/broadcast only before opset 7",
			build: with((*builder[float32]).binary, (*builder[float64]).binary)}
	}
	unary := func(op string, attrs ...string) OpSpec {
		return OpSpec{Op: op, Family: "elementwise", Attrs: attrs, Shape: "the input's", MovedBatch: true,
			Fallback: "no parameter operand", build: with((*builder[float32]).unary, (*builder[float64]).unary)}
	}
	pw := func(op string, since int64, eval constFn, attrs ...string) OpSpec {
		return OpSpec{Op: op, Family: "elementwise", Since: since, Attrs: attrs, Shape: "the input's", MovedBatch: true,
			Fallback: "no parameter operand", eval: eval,
			build: with((*builder[float32]).pointwiseNode, (*builder[float64]).pointwiseNode)}
	}
	add, sub, mul := bin("Add"), bin("Sub"), bin("Mul")
	// A bias or scale; a one-element constant there (x*0.5, x+eps) is fixed.
	add.Params, mul.Params = ParamSlots{Any: true, MinLen: 2}, ParamSlots{Any: true, MinLen: 2}
	add.Roles, sub.Roles = []string{"bias", "bias"}, []string{"bias", "bias"}
	relu := unary("Relu")
	relu.GPU = true
	register(
		add, sub, mul, bin("Div"),
		relu, unary("LeakyRelu", "alpha"), unary("Sigmoid"), unary("Tanh"),
		OpSpec{Op: "Clip", Family: "elementwise", Attrs: []string{"min", "max"}, Shape: "the input's",
			Fallback: "a parameter bound of Clip has no per-sample expansion",
			Note:     "bounds: attributes before opset 11, inputs from 11 (constants or graph values)",
			build:    with((*builder[float32]).clip, (*builder[float64]).clip)},
		pw("Sqrt", 1, evalExt), pw("Reciprocal", 1, nil), pw("Exp", 1, nil), pw("Log", 1, nil), pw("Erf", 9, nil),
		pw("Neg", 1, evalExt), pw("Abs", 1, evalExt), pw("Softplus", 1, nil), pw("HardSigmoid", 1, nil, "alpha", "beta"),
		pw("HardSwish", 14, nil), pw("Elu", 1, nil, "alpha"),
		OpSpec{Op: "Pow", Family: "elementwise", Shape: "numpy broadcast of the inputs", eval: evalExt,
			Fallback: "a parameter base or exponent of Pow has no per-sample expansion",
			build:    with((*builder[float32]).pow, (*builder[float64]).pow)},
	)
}
