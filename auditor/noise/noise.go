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

	// Partial is true when the set is not a whole collection: a run stopped
	// early (Ctrl-C), or one shard of a sharded run. Pool and Batches then
	// count what the set holds (the per-sample moments are sums over Pool
	// samples, every MiniBatch matrix has Batches rows), so the analyses
	// work on it as on any set; Collection says what was configured and
	// which part this is.
	Partial bool `json:"partial,omitempty"`
	// Collection records how the set was collected (nil for sets made
	// elsewhere, e.g. synthetic ones).
	Collection *Collection `json:"collection,omitempty"`
}

// Collection records the configuration of a collection and which part of it
// a set holds (see docs/collection.md).
type Collection struct {
	Data     string `json:"data,omitempty"` // the data set (description)
	DataSize int    `json:"data_size"`      // samples in the data set the pool is drawn from
	// PoolSize and BatchesPerSize are the configured N and n; in a partial
	// set Pool and Batches may be smaller.
	PoolSize       int `json:"pool_size"`
	BatchesPerSize int `json:"batches_per_size"`
	// CoordsPerLayer is the limit on tested coordinates per layer (0: all).
	CoordsPerLayer int `json:"coords_per_layer"`
	// Scheme is how the moments were computed: "in-memory", "two-pass" or
	// "centred" (one pass around a given centre, e.g. a shard).
	Scheme string `json:"scheme"`
	// Reason says why the set is partial ("" when complete).
	Reason string `json:"reason,omitempty"`
	// OwnCentre is true when Mean is the mean of the set's own Pool samples
	// (a run stopped in its first pass), false when it is ḡ of the whole
	// configured pool. Only sets with the same centre can be merged.
	OwnCentre bool `json:"own_centre,omitempty"`
	// PoolRanges lists the pool positions (0 … PoolSize−1, in draw order)
	// whose per-sample noise is summed into the moments, as half-open
	// [from, to) intervals, ascending; nil means all of them.
	PoolRanges [][2]int `json:"pool_ranges,omitempty"`
	// Rows lists, per batch size, which of the BatchesPerSize configured
	// mini-batches the MiniBatch rows are, in row order; nil means all, in
	// order.
	Rows [][]int `json:"rows,omitempty"`
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
	// and |ξ|³ (ξ centred exactly on ḡ_j). Population moments are S/N
	// (N = Set.Pool; in a partial shard the centre is ḡ of the whole
	// configured pool, see Collection.OwnCentre).
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
	// SumNormSq is Σ_i |g_i|² over the Pool samples and all coordinates of
	// the parameter, so that TraceCov = SumNormSq/Pool − GradNormSq (clamped
	// at 0) can be recomputed when sets are merged.
	SumNormSq float64 `json:"sum_norm_sq"`
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
