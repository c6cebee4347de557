// Package collect gathers the gradient noise of one checkpoint θ into a
// noise.Set (METHOD.md §1): it draws a pool of N samples, chooses the tested
// coordinates of every layer, asks a Source for per-sample gradients, and
// computes ḡ, the per-sample noise moments of the tested coordinates, the
// per-layer noise trace tr Σ and |ḡ|², and, for every batch size B, the
// noise ξ_S = g_S − ḡ of n mini-batches.
//
// The package does not compute gradients: a Source does (the per-sample
// engine). Everything random (pool, coordinates, batches) is fixed by the
// seed. Plan estimates memory and work before a run and refuses a run over
// the memory budget. See docs/collection.md for the schemes, the formulas
// and what sharding and merging mean.
package collect

import "context"

// LayerSpec describes one learnable parameter tensor of the model.
type LayerSpec struct {
	Name      string // the consuming node (layer), e.g. "conv1"
	Parameter string // the parameter (ONNX initializer) name, unique
	Kind      string // "weight", "bias", "bn_scale", "bn_shift", "other"
	Shape     []int  // parameter shape; coordinates are flat row-major indices
}

// Size returns the number of elements of the parameter.
func (l LayerSpec) Size() int {
	n := 1
	for _, d := range l.Shape {
		n *= d
	}
	return n
}

// Request asks a Source for the per-sample gradients of a list of samples.
type Request struct {
	// Indices are the samples (indices into the source's data set), in the
	// order in which blocks must deliver them.
	Indices []int
	// Tested lists, per layer in Layers() order, the tested coordinates
	// (flat row-major indices into the parameter, ascending).
	Tested [][]int
	// Full asks for LayerBlock.SumSq and LayerBlock.GradSum too (they need
	// every coordinate of the per-sample gradient, not only the tested ones).
	Full bool
}

// Block carries the gradients of consecutive samples of a Request.
type Block struct {
	// Offset is the position in Request.Indices of the block's first sample;
	// Rows is the number of samples in the block.
	Offset, Rows int
	// Layers holds one entry per layer, in Layers() order.
	Layers []LayerBlock
}

// LayerBlock holds one layer's gradients for the samples of a Block. All
// gradients are of the per-sample loss ℓ_i = CrossEntropy(f(x_i; θ), y_i),
// not divided by any batch size.
type LayerBlock struct {
	// Tested is row-major [Rows × len(Request.Tested[l])]: row r holds
	// g_{i,j} of sample Indices[Offset+r] at the tested coordinates j.
	Tested []float64
	// SumSq (Request.Full only) holds, per row, |g_i|² = Σ_j g_{i,j}² over
	// ALL coordinates of the parameter.
	SumSq []float64
	// GradSum (Request.Full only) is Σ_i g_i over the block's samples, for
	// ALL coordinates of the parameter (length LayerSpec.Size()): the plain
	// gradient of the summed loss of the block.
	GradSum []float64
}

// Source yields per-sample gradients of a model at a fixed θ.
//
// PerSample must compute the gradients of the samples req.Indices and call
// fn with consecutive blocks that cover them in order, each sample exactly
// once: the first block has Offset 0, each next one starts where the
// previous one ended; the block size is the source's choice and may vary.
// The slices of a Block may be reused by the source once fn returns. If fn
// returns an error, PerSample must stop and return it (wrapped or not).
// PerSample should stop soon after ctx is cancelled and return an error
// wrapping ctx.Err(); the collector also stops by returning ctx.Err() from
// fn. Gradients must be deterministic: the collector may ask for the same
// samples twice (two-pass scheme) and expects the same values.
type Source interface {
	// Layers lists the learnable parameters; the collector chooses the
	// tested coordinates of each.
	Layers() []LayerSpec
	// PerSample computes per-sample gradients as described above.
	PerSample(ctx context.Context, req Request, fn func(Block) error) error
}
