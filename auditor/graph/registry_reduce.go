package graph

// Registry entries of the reductions and of the comparison and mask logic
// (the latter on build-time constants: shape logic and fixed masks).
// Kernels: ops_ext.go (reduce, Where); constant forms: consteval_ext.go.

func init() {
	red := []string{"axes", "keepdims", "noop_with_empty_axes"}
	reduce := func(op string) OpSpec {
		return OpSpec{Op: op, Family: "reduce", Attrs: red, Shape: "the input's with the axes removed (kept as 1 with keepdims)",
			Fallback: "no per-sample expansion of a reduced parameter", Note: "axes: attribute before opset 18 (13 for ReduceSum), input after",
			build: with((*builder[float32]).reduce, (*builder[float64]).reduce)}
	}
	constOnly := func(op string, since int64, attrs ...string) OpSpec {
		return OpSpec{Op: op, Family: "logic", Since: since, Attrs: attrs, Shape: "numpy broadcast of the inputs", eval: evalExt,
			Fallback: "build-time constants only (shape logic, fixed masks)"}
	}
	rp := constOnly("ReduceProd", 1, red...)
	rp.Family, rp.Shape = "reduce", "the input's with the axes removed (kept as 1 with keepdims)"
	register(
		reduce("ReduceMean"), reduce("ReduceSum"), reduce("ReduceSumSquare"), reduce("ReduceL2"), reduce("ReduceL1"),
		reduce("ReduceLogSum"), reduce("ReduceLogSumExp"), reduce("ReduceMax"), reduce("ReduceMin"), rp,
		constOnly("Equal", 1), constOnly("Less", 1), constOnly("Greater", 1), constOnly("LessOrEqual", 12),
		constOnly("GreaterOrEqual", 12), constOnly("Not", 1), constOnly("And", 1), constOnly("Or", 1),
		constOnly("Max", 1), constOnly("Min", 1), constOnly("Floor", 1), constOnly("Ceil", 1), constOnly("Mod", 10, "fmod"),
		OpSpec{Op: "Where", Family: "logic", Since: 9, Shape: "numpy broadcast of the three inputs", eval: evalExt,
			Fallback: "no per-sample expansion of a selected parameter", Note: "on data: a constant condition (a fixed mask)",
			build: with((*builder[float32]).where, (*builder[float64]).where)},
	)
}
