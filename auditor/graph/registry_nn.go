package graph

// Registry entries of the layers with weights and the normalisations:
// convolution, pooling, Gemm/MatMul, BatchNormalization,
// LayerNormalization, InstanceNormalization, Softmax. Kernels: build.go,
// ops_ext.go, kern_*.go; per-sample rules: auditor/persample.

func init() {
	pool := []string{"auto_pad", "ceil_mode", "kernel_shape", "pads", "strides"}
	register(
		OpSpec{Op: "Conv", Family: "nn", Attrs: []string{"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"},
			Shape: "[N, M, spatial from kernel, stride, pads, dilations (auto_pad)]", PerSample: RuleConv, GPU: true,
			Roles: []string{"", "weight", "bias"}, Params: ParamSlots{Slots: []int{1, 2}},
			Note: "1-D and 2-D", build: with((*builder[float32]).conv, (*builder[float64]).conv)},
		OpSpec{Op: "MaxPool", Family: "nn", Attrs: append([]string{"dilations", "storage_order"}, pool...),
			Shape: "as Conv, channels kept", Fallback: "no parameter operand", GPU: true,
			Note: "the Indices output must be unused", build: with((*builder[float32]).pool, (*builder[float64]).pool)},
		OpSpec{Op: "AveragePool", Family: "nn", Attrs: append([]string{"count_include_pad"}, pool...),
			Shape: "as Conv, channels kept", Fallback: "no parameter operand", GPU: true,
			build: with((*builder[float32]).pool, (*builder[float64]).pool)},
		OpSpec{Op: "GlobalAveragePool", Family: "nn", Shape: "[N, C, 1, …]", Fallback: "no parameter operand", GPU: true,
			build: with((*builder[float32]).globalAvgPool, (*builder[float64]).globalAvgPool)},
		OpSpec{Op: "BatchNormalization", Family: "nn", Attrs: []string{"epsilon", "momentum", "spatial", "training_mode", "is_test"},
			Shape: "the input's", PerSample: RuleBatchNorm, GPU: true, Roles: []string{"", "bn_scale", "bn_shift"},
			Params: ParamSlots{Slots: []int{1, 2}}, // scale, shift; not the running mean and variance
			Note:   "eval mode in the audit (train mode only for mini-batch noise); running statistics are not differentiated",
			build:  with((*builder[float32]).batchNorm, (*builder[float64]).batchNorm)},
		OpSpec{Op: "Gemm", Family: "nn", Attrs: []string{"alpha", "beta", "transA", "transB", "broadcast"},
			Shape: "[M, N] from A (transA) and B (transB)", PerSample: RuleGemm, GPU: true, MovedBatch: true,
			Roles: []string{"weight", "weight", "bias"}, Params: ParamSlots{Slots: []int{0, 1, 2}},
			build: with((*builder[float32]).gemmNode, (*builder[float64]).gemmNode)},
		OpSpec{Op: "MatMul", Family: "nn", Shape: "numpy matmul (batch dimensions broadcast)", PerSample: RuleMatMul, GPU: true,
			MovedBatch: true, Roles: []string{"weight", "weight"}, Params: ParamSlots{Slots: []int{0, 1, 2}}, build: with((*builder[float32]).matmul, (*builder[float64]).matmul)},
		OpSpec{Op: "Softmax", Family: "nn", Attrs: []string{"axis"}, Shape: "the input's", MovedBatch: true,
			Fallback: "no parameter operand", Note: "a trailing Softmax over the classes is removed (the loss takes logits)",
			build: with((*builder[float32]).softmax, (*builder[float64]).softmax)},
		OpSpec{Op: "LogSoftmax", Family: "nn", Attrs: []string{"axis"}, Shape: "the input's", Fallback: "no parameter operand",
			build: with((*builder[float32]).softmax, (*builder[float64]).softmax)},
		OpSpec{Op: "LayerNormalization", Family: "nn", Since: 17, Attrs: []string{"axis", "epsilon", "stash_type"},
			Shape: "the input's (Mean, InvStdDev: reduced axes kept as 1)", PerSample: RuleLayerNorm, Params: ParamSlots{Slots: []int{1, 2}},
			build: with((*builder[float32]).layerNorm, (*builder[float64]).layerNorm)},
		OpSpec{Op: "InstanceNormalization", Family: "nn", Attrs: []string{"epsilon"}, Shape: "the input's",
			PerSample: RuleInstanceNorm, Params: ParamSlots{Slots: []int{1, 2}}, build: with((*builder[float32]).instanceNorm, (*builder[float64]).instanceNorm)},
	)
}
