package graph

// Registry entries of the reductions and of Max, Min, Floor, Ceil, Mod on
// build-time constants. Kernels: ops_ext.go (reduce); constant forms:
// consteval_ext.go. Masks and Where: ops_mask.go; ReduceProd:
// ops_reduceprod.go.

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
	register(
		reduce("ReduceMean"), reduce("ReduceSum"), reduce("ReduceSumSquare"), reduce("ReduceL2"), reduce("ReduceL1"),
		reduce("ReduceLogSum"), reduce("ReduceLogSumExp"), reduce("ReduceMax"), reduce("ReduceMin"),
		constOnly("Max", 1), constOnly("Min", 1), constOnly("Floor", 1), constOnly("Ceil", 1), constOnly("Mod", 10, "fmod"),
	)
}
