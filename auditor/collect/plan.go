package collect

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Scheme is how the per-sample noise moments are computed. They must be
// centred exactly on ḡ, which is known only after every sample has been
// seen, and Σ|ξ|³ has no streaming update, so either the tested values of
// the whole pool are kept in memory (one pass of the source) or the source
// is asked twice (first for ḡ, then for the centred sums).
type Scheme string

// The schemes.
const (
	// SchemeAuto picks SchemeInMemory when it fits the memory budget
	// (Config.MaxMemory, or DefaultInMemoryBytes for the per-sample values
	// when there is no budget), else SchemeTwoPass; SchemeCentred when
	// Config.Centre is given.
	SchemeAuto Scheme = ""
	// SchemeInMemory: one pass of the source; the tested values of every
	// pool sample (N × T float64) are kept, then aggregated.
	SchemeInMemory Scheme = "in-memory"
	// SchemeTwoPass: a first pass computes ḡ (and |ḡ|², per-sample |g_i|²),
	// a second pass (tested coordinates only) the centred sums and the
	// mini-batch sums.
	SchemeTwoPass Scheme = "two-pass"
	// SchemeCentred: one pass around a given centre (Config.Centre), the
	// scheme of shards.
	SchemeCentred Scheme = "centred"
)

// DefaultInMemoryBytes bounds the per-sample value store (N·T·8 bytes) that
// SchemeAuto accepts when Config.MaxMemory is 0.
const DefaultInMemoryBytes = int64(2) << 30

// Shard selects part Index of Count of a collection (see docs/collection.md):
// the mini-batch rows [⌊Index·n/Count⌋, ⌊(Index+1)·n/Count⌋) of every batch
// size and the pool positions that those rows span. Count 0 or 1 is the
// whole collection.
type Shard struct {
	Index, Count int
}

// Progress reports the state of a run to Config.Progress.
type Progress struct {
	Phase   string        // "centre" (first pass), "gradients" (centred or only pass), "aggregate" (in-memory)
	Pass    int           // 1-based pass of the source (0 in "aggregate")
	Passes  int           // passes of the source in this run
	Done    int           // samples done in this phase
	Total   int           // samples of this phase
	Elapsed time.Duration // since the run started
	// ETA estimates the time left for the rest of the run at the rate seen
	// so far (0 until one block has been done).
	ETA time.Duration
}

// Config configures a collection. Pool, Batches, BatchSizes, DataSize and
// Seed define it; everything else is how it is run.
type Config struct {
	Model string // recorded in the set
	Step  int    // recorded in the set
	Data  string // data set description, recorded
	Seed  int64  // fixes pool, tested coordinates and batches

	DataSize   int   // samples in the data set the pool is drawn from (M)
	Pool       int   // N, samples in the pool (≤ DataSize)
	Batches    int   // n, mini-batches per batch size
	BatchSizes []int // ascending, each ≤ Pool
	// CoordsPerLayer is the number of tested coordinates of a layer larger
	// than it (a seeded uniform draw, sorted); smaller layers are tested in
	// full. 0 tests every coordinate.
	CoordsPerLayer int

	MaxMemory   int64  // bytes; 0 = no budget
	SourceBytes int64  // memory the source says it needs, added to the plan
	Scheme      Scheme // SchemeAuto by default
	Centre      *Centre
	Shard       Shard
	Workers     int // accumulation goroutines; 0 = GOMAXPROCS
	// BlockRows is the number of rows aggregated at once from memory in
	// the in-memory scheme (0: 256).
	BlockRows int
	// Progress, when set, is called after every block.
	Progress func(Progress)
}

// validate checks the configuration against the layers.
func (c *Config) validate(layers []LayerSpec) error {
	switch {
	case c.Pool < 1:
		return fmt.Errorf("collect: pool of %d samples", c.Pool)
	case c.DataSize < c.Pool:
		return fmt.Errorf("collect: pool of %d samples from a data set of %d", c.Pool, c.DataSize)
	case c.Batches < 1:
		return fmt.Errorf("collect: %d mini-batches per batch size", c.Batches)
	case len(c.BatchSizes) == 0:
		return fmt.Errorf("collect: no batch sizes")
	case c.CoordsPerLayer < 0:
		return fmt.Errorf("collect: %d coordinates per layer", c.CoordsPerLayer)
	case c.MaxMemory < 0 || c.SourceBytes < 0:
		return fmt.Errorf("collect: negative memory figures")
	}
	for i, b := range c.BatchSizes {
		if b < 1 || b > c.Pool || (i > 0 && b <= c.BatchSizes[i-1]) {
			return fmt.Errorf("collect: batch sizes %v must be ascending, in [1, pool = %d]", c.BatchSizes, c.Pool)
		}
	}
	switch c.Scheme {
	case SchemeAuto, SchemeInMemory, SchemeTwoPass, SchemeCentred:
	default:
		return fmt.Errorf("collect: unknown scheme %q", c.Scheme)
	}
	if c.Scheme == SchemeCentred && c.Centre == nil {
		return fmt.Errorf("collect: the centred scheme needs a centre (ComputeCentre)")
	}
	if c.Centre != nil && c.Scheme != SchemeAuto && c.Scheme != SchemeCentred {
		return fmt.Errorf("collect: a given centre runs the centred scheme, not %q", c.Scheme)
	}
	if k := c.Shard; k.Count > 1 {
		if k.Index < 0 || k.Index >= k.Count {
			return fmt.Errorf("collect: shard %d of %d", k.Index, k.Count)
		}
		if k.Count > c.Batches {
			return fmt.Errorf("collect: %d shards for %d mini-batches per batch size (each shard needs one)", k.Count, c.Batches)
		}
		if c.Centre == nil {
			return fmt.Errorf("collect: shard %d of %d needs the pool's centre (ComputeCentre), so that the shards can be merged", k.Index, k.Count)
		}
	} else if k.Count < 0 || k.Index != 0 {
		return fmt.Errorf("collect: shard %d of %d", k.Index, k.Count)
	}
	if len(layers) == 0 {
		return fmt.Errorf("collect: the source has no layers")
	}
	seen := map[string]bool{}
	for i, l := range layers {
		if l.Parameter == "" || seen[l.Parameter] {
			return fmt.Errorf("collect: layer %d (%q): parameter name %q empty or repeated", i, l.Name, l.Parameter)
		}
		seen[l.Parameter] = true
		if len(l.Shape) == 0 && l.Size() != 1 {
			return fmt.Errorf("collect: layer %q: bad shape %v", l.Parameter, l.Shape)
		}
		for _, d := range l.Shape {
			if d < 1 {
				return fmt.Errorf("collect: layer %q: shape %v has a non-positive dimension", l.Parameter, l.Shape)
			}
		}
	}
	return nil
}

// shardRows returns the mini-batch rows [r0, r1) of the configured shard.
func (c *Config) shardRows() (r0, r1 int) {
	if c.Shard.Count <= 1 {
		return 0, c.Batches
	}
	k, K, n := int64(c.Shard.Index), int64(c.Shard.Count), int64(c.Batches)
	return int(k * n / K), int((k + 1) * n / K)
}

// rowStart returns the first pool position of disjoint row r: ⌊r·N/n⌋.
func rowStart(r, pool, batches int) int { return int(int64(r) * int64(pool) / int64(batches)) }

// Estimate is what a run will cost, from Plan.
type Estimate struct {
	Scheme     Scheme
	Layers     int
	Tested     int   // T: tested coordinates, all layers
	Params     int64 // P: coordinates of all layers
	Pool       int   // N
	Batches    int   // n
	BatchSizes []int
	Overlap    []bool // per batch size: n·B > N
	// ShardRows is the number of mini-batch rows per batch size this run
	// computes (n unless sharded); ShardPool the pool positions whose
	// moments it sums (N unless sharded).
	ShardRows, ShardPool int
	Memory               Memory
	// Passes is the number of passes of the source; GradientSamples the
	// per-sample gradients it computes (for a shard with overlapping batch
	// sizes an upper bound); MomentOps the sample × tested-coordinate
	// moment updates; BatchOps the sample × coordinate additions into
	// mini-batch sums.
	Passes          int
	GradientSamples int64
	// CoordSamples is the part of GradientSamples whose request asks only
	// for the tested coordinates (Request.Full false: the two-pass
	// scheme's second pass), cheaper than those with norms and sums.
	CoordSamples int64
	MomentOps    int64
	BatchOps     int64
}

// Memory is the byte breakdown of an Estimate (formulas in
// docs/collection.md). The source's own memory is Source, as declared.
type Memory struct {
	PerSample int64 `json:"per_sample"` // in-memory tested values: N·T·8
	SumSq     int64 `json:"sum_sq"`     // per-sample |g_i|² per layer: N·L·8
	GradSums  int64 `json:"grad_sums"`  // full-layer gradient sums: P·8
	Moments   int64 `json:"moments"`    // centre, its sums, S2, S3, S4, A3 and their segment sums: 10·T·8
	Segments  int64 `json:"segments"`   // a shard's kept segment sums: 4·rows·T·8
	BatchSums int64 `json:"batch_sums"` // Σ_k rows·(T·(8+4) + 4): sums, float32 output, counts
	Layout    int64 `json:"layout"`     // pool draw, batch membership, segment ends: 8·M + 8·N + 4·(N+1) + 4·Σ_k rows·B_k + 4·Σ_overlap rows·B_k + 4·N_shard
	Source    int64 `json:"source"`
	Total     int64 `json:"total"`
}

// Plan checks cfg against the layers and estimates the run's memory and
// work, choosing the scheme for SchemeAuto. It fails when the run would need
// more than cfg.MaxMemory.
func Plan(cfg Config, layers []LayerSpec) (Estimate, error) {
	if err := cfg.validate(layers); err != nil {
		return Estimate{}, err
	}
	e := Estimate{Layers: len(layers), Pool: cfg.Pool, Batches: cfg.Batches, BatchSizes: slices.Clone(cfg.BatchSizes)}
	for _, l := range layers {
		n := l.Size()
		e.Params += int64(n)
		if cfg.CoordsPerLayer > 0 && n > cfg.CoordsPerLayer {
			n = cfg.CoordsPerLayer
		}
		e.Tested += n
	}
	r0, r1 := cfg.shardRows()
	e.ShardRows = r1 - r0
	if cfg.Shard.Count > 1 {
		e.ShardPool = rowStart(r1, cfg.Pool, cfg.Batches) - rowStart(r0, cfg.Pool, cfg.Batches)
	} else {
		e.ShardPool = cfg.Pool
	}
	N, T, L, P := int64(cfg.Pool), int64(e.Tested), int64(len(layers)), e.Params
	rows := int64(e.ShardRows)
	var members, overMembers int64
	for _, b := range cfg.BatchSizes {
		over := int64(cfg.Batches)*int64(b) > N
		e.Overlap = append(e.Overlap, over)
		members += rows * int64(b)
		if over {
			overMembers += rows * int64(b)
		}
	}
	base := Memory{
		Moments:   10 * T * 8,
		BatchSums: int64(len(cfg.BatchSizes)) * rows * (T*12 + 4),
		Layout:    8*int64(cfg.DataSize) + 8*N + 4*(N+1) + 4*members + 4*overMembers + 4*int64(e.ShardPool),
		Source:    cfg.SourceBytes,
	}
	inMem, twoPass, centred := base, base, base
	inMem.PerSample = N * T * 8
	inMem.SumSq, twoPass.SumSq = N*L*8, N*L*8
	inMem.GradSums, twoPass.GradSums = P*8, P*8
	if cfg.Shard.Count > 1 {
		centred.Segments = 4 * rows * T * 8
	}
	for _, m := range []*Memory{&inMem, &twoPass, &centred} {
		m.Total = m.PerSample + m.SumSq + m.GradSums + m.Moments + m.Segments + m.BatchSums + m.Layout + m.Source
	}
	e.Scheme = cfg.Scheme
	if cfg.Centre != nil {
		e.Scheme = SchemeCentred
	}
	if e.Scheme == SchemeAuto {
		fits := inMem.PerSample <= DefaultInMemoryBytes
		if cfg.MaxMemory > 0 {
			fits = inMem.Total <= cfg.MaxMemory
		}
		e.Scheme = SchemeTwoPass
		if fits {
			e.Scheme = SchemeInMemory
		}
	}
	e.BatchOps = members * T
	switch e.Scheme {
	case SchemeInMemory:
		e.Memory, e.Passes, e.GradientSamples = inMem, 1, N
		e.MomentOps = N * T
	case SchemeTwoPass:
		e.Memory, e.Passes, e.GradientSamples, e.CoordSamples = twoPass, 2, 2*N, N
		e.MomentOps = N * T
	default:
		e.Memory, e.Passes = centred, 1
		e.GradientSamples = min(N, int64(e.ShardPool)+overMembers)
		e.MomentOps = int64(e.ShardPool) * T
	}
	if cfg.MaxMemory > 0 && e.Memory.Total > cfg.MaxMemory {
		return e, fmt.Errorf("collect: the %s scheme needs about %s, over the memory budget of %s\n%s\n(reduce the tested coordinates per layer, the pool, the mini-batches or batch sizes, or shard the run)",
			e.Scheme, bytesString(e.Memory.Total), bytesString(cfg.MaxMemory), e.memoryLines())
	}
	return e, nil
}

// PerOpSeconds is the time of one coordinate update of the collector
// (moments and mini-batch sums), measured by go test -bench Aggregate
// ./auditor/collect on the 2-core development machine (docs/collection.md):
// the perOp of Seconds when it is not measured on the machine at hand.
const PerOpSeconds = 0.82e-9

// Seconds estimates the run time from a per-sample gradient time and a time
// per coordinate update (moment or mini-batch addition; PerOpSeconds unless
// measured), see docs/collection.md.
func (e Estimate) Seconds(perSample, perOp float64) float64 {
	return e.SecondsSplit(perSample, perSample, perOp)
}

// SecondsSplit is Seconds with the per-sample time of the requests with
// norms and sums (Request.Full), perFull, apart from that of the requests
// for the tested coordinates only, perCoords (the CoordSamples).
func (e Estimate) SecondsSplit(perFull, perCoords, perOp float64) float64 {
	full := e.GradientSamples - e.CoordSamples
	return float64(full)*perFull + float64(e.CoordSamples)*perCoords + float64(e.MomentOps+e.BatchOps)*perOp
}

// memoryLines formats the memory breakdown.
func (e Estimate) memoryLines() string {
	m := e.Memory
	seg := ""
	if m.Segments > 0 {
		seg = ", shard segment sums " + bytesString(m.Segments)
	}
	return fmt.Sprintf("  per-sample values %s, per-sample norms %s, gradient sums %s, moments %s%s, mini-batch sums %s, layout %s, source %s",
		bytesString(m.PerSample), bytesString(m.SumSq), bytesString(m.GradSums), bytesString(m.Moments), seg,
		bytesString(m.BatchSums), bytesString(m.Layout), bytesString(m.Source))
}

// String is a few lines for the user, shown before a run.
func (e Estimate) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "collection plan: scheme %s, %d layers, %d tested coordinates of %d, pool %d, %d mini-batches × batch sizes %v",
		e.Scheme, e.Layers, e.Tested, e.Params, e.Pool, e.Batches, e.BatchSizes)
	if e.ShardRows != e.Batches {
		fmt.Fprintf(&b, " (this shard: %d rows, %d pool samples)", e.ShardRows, e.ShardPool)
	}
	for k, o := range e.Overlap {
		if o {
			fmt.Fprintf(&b, "\n  batch size %d: n·B > N, batches overlap (each a uniform draw from the pool)", e.BatchSizes[k])
		}
	}
	fmt.Fprintf(&b, "\n  memory about %s:\n%s", bytesString(e.Memory.Total), e.memoryLines())
	fmt.Fprintf(&b, "\n  work: %d source pass(es), %d per-sample gradients, %.3g moment and %.3g mini-batch coordinate updates",
		e.Passes, e.GradientSamples, float64(e.MomentOps), float64(e.BatchOps))
	return b.String()
}

// bytesString formats a byte count with a binary unit.
func bytesString(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, u := float64(n), 0
	for v >= unit && u < 4 {
		v /= unit
		u++
	}
	return fmt.Sprintf("%.1f %s", v, []string{"B", "KiB", "MiB", "GiB", "TiB"}[u])
}
