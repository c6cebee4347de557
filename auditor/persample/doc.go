// Package persample computes per-sample gradients g_i = ∇_θ ℓ_i of every
// trainable parameter of an ONNX model, ℓ_i = CrossEntropy(f(x_i; θ), y_i),
// from one batched forward/backward pass (METHOD.md §2).
//
// # Method
//
// The executor (auditor/graph) runs the batch with the summed loss
// L = Σ_i ℓ_i. In inference mode the samples of a batch do not interact,
// so the derivative of L with respect to a layer output y, read with
// graph.Net.Deriv, holds δ_i = ∂ℓ_i/∂y_i in its row i; with the layer's
// inputs (graph.Net.Value) each parameter's per-sample gradient follows
// from a per-layer expansion:
//
//   - Conv weight (1-D and 2-D, any stride, padding, auto_pad, dilation and
//     group): g_i[o, :] = Σ_p δ_i[o, p] U(x_i)[:, p] for each group, U the
//     im2col patch matrix of sample i (method "conv");
//   - Gemm B with the sample data as A (alpha, transB; transA on the data is
//     refused by the executor): g_i = α a_i δ_iᵀ or its transpose ("gemm");
//   - MatMul weight with sample data of any rank: A_iᵀ δ_i summed over the
//     inner rows (data first) or Σ δ_i X_iᵀ (weight first; the executor does
//     not yet batch that form), 1-D weights included ("matmul");
//   - Conv bias and Gemm C (times beta): δ_i summed over the dimensions the
//     bias is broadcast along ("bias");
//   - BatchNormalization scale and shift: Σ_p δ_i x̂_i and Σ_p δ_i, x̂
//     normalised with the running statistics ("batchnorm");
//   - Add, Sub, Mul, Div between sample data and a parameter, broadcast
//     both ways ("binary"): positional embeddings, layer scales;
//   - LayerNormalization scale and bias: Σ over the sample's rows of δ x̂
//     and δ ("layernorm", expand_ext.go);
//   - an embedding table read by Gather with per-sample token ids:
//     g_i[ids_i,t] += δ_i,t for every position t ("embedding");
//   - a parameter broadcast to the batch by Expand (a class token): δ_i of
//     the expanded value summed over the broadcast axes ("broadcast");
//   - an Einsum weight W with sample data X whose first letter, the batch,
//     starts the output: g[b, W…] = einsum("out, X -> b W", δ, X), every
//     sample in one equation ("einsum", expand_einsum.go);
//   - a parameter read through a Gather with constant indices (Swin's
//     relative-position bias): its elementwise use's expansion scattered
//     back to the gathered rows.
//
// MatMul and Gemm on 3-D (sequence) inputs use the matmul expansion,
// ∂ℓ_i/∂W = Σ_t x_i,tᵀ δ_i,t. Where the executor holds the batch off axis 0
// (PyTorch's sequence-first attention, graph.Net.BatchLayout), the
// expansions read plain [batch, …] copies of those values, and a Gemm on
// [T·B, K] rows uses "gemm-rows" (g_i = α Σ_t a_i,t δ_i,tᵀ); other layers on
// such values take the fallback.
//
// A parameter may reach its layer through Reshape, Flatten, Identity,
// Squeeze, Unsqueeze, Dropout and Transpose (CNTK's parameter → Reshape →
// Add, PyTorch's weight → Transpose → MatMul): the expansion is computed in
// the layout of the layer's input and mapped back element by element. A
// parameter used by several layers sums their expansions. A parameter with
// any use that has no expansion (e.g. a weight computed from two
// parameters) takes the fallback: one batch-1 backward pass per sample, on
// a second executor built once for batch 1 and sharing the weights — so
// every model that the executor runs can be audited. ParamInfo.Method and
// Reason say which way each parameter went; Engine.Fallbacks lists the
// fallback ones. A model that cannot run batched at all (the executor
// refuses to rebatch it) uses the fallback for everything.
//
// # What Compute returns
//
// A Request asks, per parameter, for the per-sample values at chosen flat
// coordinates (Coords), for |g_i|² over all coordinates and Σ_i g_i (Norms;
// what the noise collector needs for tr Σ and |ḡ|²), and optionally for the
// whole per-sample tensors (Full; samples × parameter size values). Only
// what is asked is computed, by operation count:
//
//   - |g_i|² of a matrix-product weight comes from two small Gram matrices,
//     |L R|² = Σ_pq (LᵀL)_pq (RRᵀ)_pq, when the inner dimension P (output
//     positions) is small against the weight — the usual case for the deep
//     layers of a CNN — and otherwise from the gradient computed into
//     scratch memory;
//   - coordinates come from dot products of one row of δ_i and one column of
//     U(x_i) each, or from the product of only the rows (e.g. output
//     channels) that hold requested coordinates;
//   - Σ_i g_i is the executor's batch gradient (graph.Net.GradView),
//     except for a convolution weight whose per-sample gradients the pass
//     forms in full anyway (|g_i|² not from Gram matrices): there the
//     pass leaves the executor's weight gradient out
//     (graph.Net.LossGradSkip) and Σ_i g_i is summed from the g_i in
//     float64, per span of consecutive samples and then span by span, so
//     that it does not depend on the scheduling (skip.go). The choice is
//     learnt on the first pass of a request shape; LossGrad itself (and
//     fine-tuning) is unchanged.
//
// Convolutions are expanded on the executor's own buffers, without copies:
// δ (graph.Net.DerivView) and the column matrix that the executor keeps
// from the forward pass for its weight gradient (graph.Net.ConvColumns),
// whose columns i·P … i·P+P−1 are U(x_i); coordinates are then computed for
// the whole batch along the matrix's rows, and the Gram matrices of small
// patches (P ≤ 8) batch-wide by loops. Where the executor does not keep the
// matrix (beyond its memory budget), U(x_i) is built per sample (im2row).
// A convolution on small maps (input and output at most 16 positions, as
// alexnet-cifar's conv2–5), asked for norms and coordinates only, needs no
// column matrix at all (tapConv, tap.go): U(x_i)ᵀU(x_i) follows from the
// Gram matrix of the input positions, x_i x_iᵀ, and each coordinate is a
// sum over the (output, input) position pairs its kernel tap joins.
//
// Per-sample products run in the engine's precision (float32 by default,
// float64 with Options.Float64) with OpenBLAS in builds with the openblas
// tag (the BLAS gorgonia uses, see auditor/graph), and in the pure-Go build
// with auditor/internal/sgemm's single-threaded Serial (float32; gonum's
// BLAS in float64); there a stride-1 convolution without the executor's
// column matrix multiplies δ_i by a column matrix of shifted rows of the
// padded input (shiftConv.fullIm), or, for kernel columns in threes, takes
// its dot products with the padded input at three shifts at once without
// any column matrix (sgemm.DotShift3). The two parameters of a
// BatchNormalization node share one sweep of δ and x per sample (bnPair,
// with an AVX2 kernel where the CPU has one, as for float32 |g_i|²); norms,
// coordinates, elementwise expansions and Gram matrices are accumulated in
// float64, except the patch Gram matrix U(x_i)ᵀU(x_i) of a convolution with
// P > 8 in float32 mode (BLAS ssyrk on the executor's float32 matrix). Samples are processed in passes of Options.Batch; the expansion
// of one pass is spread over Options.Workers goroutines. Memory beyond the
// executor's: the requested outputs plus, per worker, the patch matrix of
// one sample and one parameter's gradient.
//
// # Checks
//
// The tests compare every parameter's per-sample gradient with separate
// batch-1 backward passes of the executor (float64, relative error 1e-9 of
// the tensor's scale) on hand-built models covering every expansion, and
// with PyTorch functorch vmap(grad) fixtures (testdata/torch: alexnet,
// alexnet_bn, resnet at opsets 9, 11 and 13, and the fixed-batch-1
// alexnet rebatched to 8; float32, 1e-4).
//
// Subpackage collectsrc adapts an Engine to collect.Source; WriteGrads
// implements "gnaudit grads".
package persample
