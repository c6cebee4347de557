// Package graph is gnaudit's CPU executor: it builds a differentiable
// gorgonia (gorgonia.org/gorgonia v0.9.18, patched so that building and
// compiling take time linear in the graph: third_party/README.md)
// expression graph from an *ir.Model for a batch size chosen at run time,
// and runs the forward pass, the summed cross-entropy loss on the logits
// with integer labels, and the backward pass.
//
// # Use
//
//	net, err := graph.Build(model, graph.Options{Batch: 128})
//	logits, err := net.Forward(x)             // x row-major [128, InputShape()...]
//	loss, err := net.LossGrad(x, labels)      // Σ_i CE(logits_i, labels_i)
//	g := net.Grad("conv1.weight")             // dLoss/dparam
//	shape, v, ok := net.Value("/conv1/Conv_output_0") // any ONNX value of the last pass
//	shape, d, ok := net.Deriv("/conv1/Conv_output_0") // dLoss/d(value) of the last LossGrad
//
// The graph and its two tape machines (forward only; forward + loss +
// backward) are built once; every call binds new data into the input
// tensors and reruns the tape. Every operator owns its output buffer, so
// memory does not grow with the number of calls. A Net is not safe for
// concurrent use; separate Nets may run in parallel.
//
// Value and Deriv address values by their ONNX names: for a Conv, Gemm,
// MatMul, Add or BatchNormalization node, Value(input) and Deriv(output)
// are the layer input and δ = dL/d(layer output) that the per-sample
// gradient expansion needs (METHOD.md §2). Deriv exists for every value on a
// path from a differentiated input (trainable parameters; the data input
// too with Options.InputGrad) to the loss.
//
// # Operators
//
// Every ONNX operator is described once, by an OpSpec in the operator
// registry (registry*.go; Ops, Lookup): opsets, attributes, shape rule,
// build-time evaluation, graph builder, per-sample rule or fallback reason,
// whether the GPU path runs it. The build dispatches through it; Analyze
// and Check report what does not run and the shapes the build computes;
// auditor/persample and cuda read the same entries.
//
// Every ONNX operator is a gorgonia Op of this package with its own forward
// kernel and symbolic derivative (kop): gorgonia's BatchNorm (wrong
// eval-mode backward, resets running statistics), its two-axis reductions
// and its pooling (no ceil_mode, count_include_pad or asymmetric padding)
// are not used. Convolutions are im2col + one matrix product per group over
// the whole batch, through the BLAS gorgonia is configured with
// (gorgonia.WhichBLAS): gonum's pure-Go BLAS by default, OpenBLAS when built
// with -tags openblas (cgo, libopenblas-dev). A convolution keeps its
// column matrix from the forward pass for its weight gradient (up to 2^25
// elements per graph; Net.ConvColumns exposes it). With OpenBLAS the
// executor sets OpenBLAS to one thread (overriding OPENBLAS_NUM_THREADS for
// the process) and splits matrix products, im2col/col2im, pooling and
// elementwise kernels over GOMAXPROCS goroutines itself, so that no
// OpenBLAS thread spins idle while Go kernels run on one core.
//
// Graph operators (SupportedOps), with ONNX semantics of opsets 7–17 (and
// earlier opsets where the operator is unchanged or its legacy attributes
// are handled; models of opset 1–18 are accepted):
// Conv (1-D and 2-D; pads, strides, dilations, group, auto_pad
// SAME_UPPER/SAME_LOWER/VALID), Gemm (alpha, beta, transA, transB, C
// broadcast), MatMul (numpy batching and broadcasting, 1-D operands),
// Add/Sub/Mul/Div (numpy broadcasting; opset < 7 broadcast/axis), Relu,
// LeakyRelu, Sigmoid, Tanh, Clip (attributes, constant or run-time bounds),
// MaxPool and AveragePool (1-D and 2-D; pads, strides, dilations for
// MaxPool, ceil_mode, count_include_pad, auto_pad), GlobalAveragePool,
// BatchNormalization (inference, any rank ≥ 2), Flatten, Reshape (0, −1,
// allowzero), Squeeze/Unsqueeze (axes attribute before opset 13, input from
// 13), Transpose, Concat, Slice (constant starts/ends/axes/steps), Pad
// (constant mode), Dropout and Identity (copies), Softmax/LogSoftmax (the
// coerced 2-D form before opset 13); and, for modern CNNs and transformers
// (ops_ext.go), Sqrt, Reciprocal, Exp, Log, Erf, Neg, Abs, Softplus, Elu,
// HardSigmoid, HardSwish, Pow (constant or computed exponent),
// ReduceMean/ReduceSum/ReduceSumSquare/ReduceL2 (any axes, keepdims,
// noop_with_empty_axes; axes attribute or input), LayerNormalization
// (opset 17; the Mean/InvStdDev outputs unused), Expand (a parameter expanded
// to the batch, e.g. a class token, becomes per-sample), Split, Gather on
// data (constant indices, or integer ids into a table: an embedding), Cast
// to float, and MatMul of two per-sample operands (attention scores);
// Einsum with one or two operands (ops_einsum.go: batched matrix products,
// sums, transposes, diagonals, ellipsis without broadcasting; lowered to
// index maps and one gemm per batch letter combination), ReduceProd on data
// (ops_reduceprod.go: any axes, exact gradients with zeros), and
// data-dependent masks (ops_mask.go): Equal, Less, Greater, LessOrEqual,
// GreaterOrEqual, Not, And, Or and Xor on run-time values give 0/1 tensors
// that are never differentiated, Where takes such a mask (the gradient goes
// to the branch each element was taken from), Cast to bool or integer types
// gives non-differentiated integer values.
// The data input may be int64/int32 token ids read only by Gather, Cast and
// the comparisons (checked to be in range before every pass where Gather
// reads them), e.g. a padding mask ids == 0 feeding Where(mask, −inf, 0). Constant subgraphs (Constant, Shape,
// Size, Gather, Unsqueeze, Squeeze, Concat, Reshape, Flatten, Cast, Slice,
// Add/Sub/Mul/Div, ConstantOfShape, Identity, and Equal, Less, Greater, Not,
// And, Or, Where, Expand, Range, Max, Min, Neg, Abs, Sqrt, Pow, Floor, Ceil,
// Transpose, ReduceProd on constants) are evaluated when
// the graph is built, with the shapes of the requested batch. Any other
// operator, attribute, data type (graph values are float32, or float64 with
// Options.Float64) or training-mode variant is an error naming the node, the
// operator and the opset; a panic inside gorgonia is returned as an error.
//
// # Logits, loss and batch
//
// The model's first output must be the logits [batch, classes]; a trailing
// Softmax or LogSoftmax over the classes is removed and the loss computed on
// its input (Notes says so). Models with a symbolic batch are built for
// Options.Batch. Models whose batch is fixed in the file (e.g. PyTorch
// exports with a Reshape to the constant [1, 256]) are rebatched where this
// is safe: the leading dimension of a Reshape target that equals the file's
// batch, applied to a value whose leading dimension is the batch, becomes
// the new batch (noted in Notes). For batch > 1 the builder tracks which
// values carry the batch as leading dimension and refuses, with an error
// saying why, any construct that would mix samples (a Reshape, Transpose,
// Flatten(axis 0), Concat, Pad, Slice or Softmax involving the batch axis,
// or a fixed operand lined up with the batch axis): the per-sample
// gradients of METHOD.md §2 require samples not to interact.
//
// PyTorch's sequence-first attention moves the batch off axis 0 and back;
// such values carry a batch layout (axis and inner factor, batchlayout.go)
// through Transpose, Reshape, MatMul, Gemm, elementwise operators, Softmax
// and Slice, every other operator refuses them, and Net.BatchLayout /
// Net.BatchLeading tell the per-sample expansion where the batch is.
//
// Check(m, batch) is the same build run to the end of the graph, collecting
// every failing node into Problems grouped by operator and cause; it is the
// verdict `gnaudit models inspect` prints, so inspect and the executor
// cannot disagree.
package graph
