// Package noise defines the NoiseSet: the gradient noise collected at one audit
// checkpoint, the contract between the expensive part of an audit (per-sample
// gradients) and the cheap, repeatable part (the analyses). A Set is saved to
// disk in a versioned format, re-analysed, and merged across shards.
//
// Notation follows METHOD.md §1: a pool of N samples with per-sample gradients
// g_i, full gradient ḡ = mean of g_i, per-sample noise ξ_i = g_i − ḡ, and, for
// each batch size B, n mini-batch noises ξ_S = g_S − ḡ.
package noise

// Version is the current version of the on-disk format.
const Version = 1

// Set is the collected noise of one checkpoint.
type Set struct {
	Version int    `json:"version"`
	Model   string `json:"model"`   // model file
	Step    int    `json:"step"`    // fine-tuning step of the checkpoint
	Seed    int64  `json:"seed"`    // seed of pool, batches and coordinate sampling
	Pool    int    `json:"pool"`    // N, samples in the pool
	Batches int    `json:"batches"` // n, mini-batches per batch size
	// BatchSizes lists the audited B, ascending.
	BatchSizes []int   `json:"batch_sizes"`
	Layers     []Layer `json:"layers"`
}

// Layer holds the noise of one learnable parameter tensor.
type Layer struct {
	Name      string `json:"name"`      // the consuming node (layer), e.g. "conv1"
	Parameter string `json:"parameter"` // ONNX initializer name
	Kind      string `json:"kind"`      // "weight", "bias", "bn_scale", "bn_shift", "other"
	Shape     []int  `json:"shape"`     // parameter shape
	Size      int    `json:"size"`      // number of elements
	// Coords are the tested coordinates (flat, row-major indices into the
	// parameter), ascending. All of them when the layer is small enough.
	Coords []int `json:"coords"`
	// Per-sample noise moments over the pool, one entry per tested coordinate:
	// Mean is ḡ_j; S2, S3, S4 and A3 are the sums over the pool of ξ², ξ³, ξ⁴
	// and |ξ|³ (ξ centred exactly on ḡ_j). Population moments are S/N.
	Mean []float64 `json:"-"`
	S2   []float64 `json:"-"`
	S3   []float64 `json:"-"`
	S4   []float64 `json:"-"`
	A3   []float64 `json:"-"`
	// Over ALL coordinates of the parameter (not only the tested ones):
	// TraceCov = Σ_j Var(ξ_j) (population) and GradNormSq = |ḡ|², for the
	// gradient noise scale B_simple = TraceCov / GradNormSq.
	TraceCov   float64 `json:"trace_cov"`
	GradNormSq float64 `json:"grad_norm_sq"`
	// MiniBatch[k] is the mini-batch noise for BatchSizes[k]: a row-major
	// matrix of Batches rows (mini-batches) × len(Coords) columns.
	MiniBatch [][]float32 `json:"-"`
	// Overlap[k] is true when the batches of BatchSizes[k] were drawn with
	// overlap between batches (n·B > N).
	Overlap []bool `json:"overlap"`
}

// Column returns the n mini-batch noise values of tested coordinate c
// (an index into Coords) for batch-size index k, as float64.
func (l *Layer) Column(k, c int, dst []float64) []float64 {
	m := l.MiniBatch[k]
	nc := len(l.Coords)
	rows := len(m) / nc
	dst = dst[:0]
	for r := 0; r < rows; r++ {
		dst = append(dst, float64(m[r*nc+c]))
	}
	return dst
}
