package graph

// Registry entries of the shape and layout operators: they move or copy
// elements (Reshape, Transpose, Concat, Slice, Pad, Split, Expand, Gather)
// or compute shapes at build time (Shape, Size, ConstantOfShape, Range,
// Constant). Kernels: build.go, ops_ext.go; constant forms: consteval*.go.

func init() {
	copyOp := func(op string, attrs ...string) OpSpec {
		return OpSpec{Op: op, Family: "shape", Attrs: attrs, eval: evalCore, Copy: true, MovedBatch: op == "Reshape" || op == "Identity" || op == "Dropout",
			Params:   ParamSlots{Through: op != "Dropout"},
			Fallback: "a copy: the planner follows a parameter through it to its layer",
			build:    with((*builder[float32]).reshape, (*builder[float64]).reshape)}
	}
	reshape := copyOp("Reshape", "allowzero", "shape")
	reshape.Shape, reshape.GPU = "the constant target (0 copies a dimension, −1 inferred)", true
	reshape.Note = "the target must be a build-time constant (shape chains are evaluated for the chosen batch)"
	flatten := copyOp("Flatten", "axis")
	flatten.Shape, flatten.GPU = "[d0·…·d(axis−1), rest]", true
	squeeze, unsqueeze := copyOp("Squeeze", "axes"), copyOp("Unsqueeze", "axes")
	squeeze.Shape, unsqueeze.Shape = "the input's without the given size-1 axes", "the input's with size-1 axes inserted"
	squeeze.Note = "axes: attribute before opset 13, constant input from 13"
	unsqueeze.Note = squeeze.Note
	identity := copyOp("Identity")
	identity.Shape, identity.GPU = "the input's", true
	dropout := copyOp("Dropout", "ratio", "seed", "is_test")
	dropout.eval = nil
	dropout.Shape, dropout.GPU = "the input's", true
	dropout.Note = "identity at inference; training_mode must be a constant false and the mask output unused"
	register(reshape, flatten, squeeze, unsqueeze, identity, dropout,
		OpSpec{Op: "Transpose", Family: "shape", Attrs: []string{"perm"}, Copy: true, Shape: "the input's permuted", eval: evalExt, MovedBatch: true,
			Params:   ParamSlots{Through: true},
			Fallback: "a copy: the planner follows a parameter through it to its layer",
			build:    with((*builder[float32]).transpose, (*builder[float64]).transpose)},
		OpSpec{Op: "Concat", Family: "shape", Attrs: []string{"axis"}, Shape: "the inputs' with the axis summed", eval: evalCore,
			Params:   ParamSlots{Any: true}, // a learned token concatenated to the sequence (ViT's class token)
			Fallback: "no per-sample expansion of a concatenated parameter (ViT's class token is read through Expand)",
			build:    with((*builder[float32]).concat, (*builder[float64]).concat)},
		OpSpec{Op: "Pad", Family: "shape", Attrs: []string{"mode", "pads", "value"}, Shape: "the input's plus the pads",
			Fallback: "no per-sample expansion of a padded parameter", Note: "constant mode; pads and value must be constants",
			build: with((*builder[float32]).pad, (*builder[float64]).pad)},
		OpSpec{Op: "Slice", Family: "shape", Attrs: []string{"starts", "ends", "axes"}, Shape: "the clamped slice", eval: evalCore,
			MovedBatch: true, Fallback: "no per-sample expansion of a sliced parameter",
			build: with((*builder[float32]).slice, (*builder[float64]).slice)},
		OpSpec{Op: "Split", Family: "shape", Attrs: []string{"axis", "split", "num_outputs"}, Shape: "the input's cut along the axis",
			Fallback: "no per-sample expansion of a split parameter",
			build:    with((*builder[float32]).split, (*builder[float64]).split)},
		OpSpec{Op: "Expand", Family: "shape", Since: 8, Shape: "numpy broadcast of the input and the constant shape", eval: evalExt,
			PerSample: RuleExpand, Params: ParamSlots{Through: true}, build: with((*builder[float32]).expand, (*builder[float64]).expand)},
		OpSpec{Op: "Gather", Family: "shape", Attrs: []string{"axis"}, Shape: "data's with the axis replaced by the indices' shape",
			eval: evalCore, MovedBatch: true, PerSample: RuleEmbedding, Params: ParamSlots{Slots: []int{0}}, // an embedding table
			Note:  "on data: embeddings (integer ids checked against the table) and constant indices",
			build: with((*builder[float32]).gatherData, (*builder[float64]).gatherData)},
		OpSpec{Op: "Cast", Family: "shape", Attrs: []string{"to", "saturate"}, Shape: "the input's", eval: evalCore, MovedBatch: true,
			Params: ParamSlots{Through: true}, Fallback: "no per-sample expansion of a parameter read through Cast", Note: "on data: float to float, integer ids to float, to bool or integers as masks (ops_mask.go)",
			build: with((*builder[float32]).castMask, (*builder[float64]).castMask)},
		OpSpec{Op: "Constant", Family: "shape", Attrs: []string{"value", "value_float", "value_floats", "value_int", "value_ints"},
			Shape: "the value's", eval: evalCore, Fallback: "a constant is not a parameter", Note: "numeric values only"},
		OpSpec{Op: "Shape", Family: "shape", Attrs: []string{"start", "end"}, Shape: "[rank] (int64)", eval: evalCore,
			Fallback: "shapes are not differentiated"},
		OpSpec{Op: "Size", Family: "shape", Shape: "scalar (int64)", eval: evalCore, Fallback: "shapes are not differentiated"},
		OpSpec{Op: "ConstantOfShape", Family: "shape", Since: 9, Attrs: []string{"value"}, Shape: "the constant shape input",
			eval: evalCore, Fallback: "shapes are not differentiated"},
		OpSpec{Op: "Range", Family: "shape", Since: 11, Shape: "[⌈(limit−start)/delta⌉]", eval: evalExt,
			Fallback: "shapes are not differentiated"},
		OpSpec{Op: "ScatterND", Family: "shape", Since: 11, Attrs: []string{"reduction"}, Shape: "data's", eval: evalExt,
			Fallback: "build-time constants only"},
	)
}
