package collect

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/gnaudit/gnaudit/auditor/noise"
)

// SchemeMiniBatch is the Collection.Scheme of a set made by CollectMiniBatch.
const SchemeMiniBatch Scheme = "mini-batch"

// BatchSource yields true mini-batch gradients of a model at a fixed θ: the
// gradient of the MEAN loss of a batch computed in one forward/backward pass
// of all its samples, as SGD computes it (with train-mode BatchNorm, the
// samples of the batch interact through its statistics). The mini-batch
// engine (auditor/minibatch) implements it.
type BatchSource interface {
	// Layers lists the learnable parameters, as Source.Layers.
	Layers() []LayerSpec
	// BatchGrad writes into grads[l] (length Layers()[l].Size()) the
	// gradient of (1/|idx|) Σ_{i∈idx} ℓ_i of the data-set samples idx,
	// computed in one pass. It must be deterministic and stop soon after
	// ctx is cancelled.
	BatchGrad(ctx context.Context, idx []int, grads [][]float64) error
	// ExecutorBytes is the memory the source needs for a batch of the
	// given size (0 when it cannot say).
	ExecutorBytes(batch int) int64
}

// MiniBatchEstimate is what CollectMiniBatch will cost, from PlanMiniBatch.
type MiniBatchEstimate struct {
	Layers     int
	Tested     int   // T
	Params     int64 // P
	Pool       int   // N
	Batches    int   // n
	BatchSizes []int
	Overlap    []bool
	// Chunks are the batch sizes of the centre pass: the pool split into
	// ⌈N/B_max⌉ consecutive chunks of near-equal size.
	Chunks []int
	// CentreSamples is N (the centre pass); BatchSamples[k] is n·B_k, the
	// forward/backward samples of batch size B_k; Samples their total.
	CentreSamples int64
	BatchSamples  []int64
	Samples       int64
	// Memory: the set (mini-batch matrices n·T·4 per batch size, moments
	// 6·T·8), the full-gradient buffers (3·P·8: centre, one batch, the
	// squared-norm scratch), the batch membership (4·Σ_k n·B_k) and the
	// source's executor at the largest batch (ExecutorBytes).
	SetBytes, GradBytes, LayoutBytes, SourceBytes, TotalBytes int64
}

// chunks splits N into ⌈N/b⌉ near-equal parts (sizes differ by at most 1).
func chunks(N, b int) []int {
	k := (N + b - 1) / b
	out := make([]int, k)
	for i := range out {
		out[i] = N/k + btoi(i < N%k)
	}
	return out
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// PlanMiniBatch checks cfg against the layers for the mini-batch engine and
// estimates its work and memory; it fails when the run needs more than
// cfg.MaxMemory. Sharding and a given centre are not supported by this
// engine.
func PlanMiniBatch(cfg Config, src BatchSource) (MiniBatchEstimate, error) {
	layers := src.Layers()
	if err := cfg.validate(layers); err != nil {
		return MiniBatchEstimate{}, err
	}
	if cfg.Shard.Count > 1 || cfg.Centre != nil {
		return MiniBatchEstimate{}, fmt.Errorf("collect: the mini-batch engine does not shard or take a given centre")
	}
	e := MiniBatchEstimate{Layers: len(layers), Pool: cfg.Pool, Batches: cfg.Batches, BatchSizes: append([]int(nil), cfg.BatchSizes...)}
	for _, l := range layers {
		n := l.Size()
		e.Params += int64(n)
		if cfg.CoordsPerLayer > 0 && n > cfg.CoordsPerLayer {
			n = cfg.CoordsPerLayer
		}
		e.Tested += n
	}
	bmax := cfg.BatchSizes[len(cfg.BatchSizes)-1]
	e.Chunks = chunks(cfg.Pool, bmax)
	e.CentreSamples = int64(cfg.Pool)
	e.Samples = e.CentreSamples
	n, T := int64(cfg.Batches), int64(e.Tested)
	var members int64
	for _, b := range cfg.BatchSizes {
		e.Overlap = append(e.Overlap, n*int64(b) > int64(cfg.Pool))
		e.BatchSamples = append(e.BatchSamples, n*int64(b))
		e.Samples += n * int64(b)
		members += n * int64(b)
	}
	e.SetBytes = int64(len(cfg.BatchSizes))*n*T*4 + 6*T*8
	e.GradBytes = 3 * e.Params * 8
	e.LayoutBytes = 4*members + 8*int64(cfg.DataSize)
	e.SourceBytes = src.ExecutorBytes(max(bmax, e.Chunks[0]))
	e.TotalBytes = e.SetBytes + e.GradBytes + e.LayoutBytes + e.SourceBytes
	if cfg.MaxMemory > 0 && e.TotalBytes > cfg.MaxMemory {
		return e, fmt.Errorf("collect: the mini-batch engine needs about %s, over the memory budget of %s (executor at batch %d: %s; lower the largest batch size, the mini-batches or the tested coordinates)",
			bytesString(e.TotalBytes), bytesString(cfg.MaxMemory), bmax, bytesString(e.SourceBytes))
	}
	return e, nil
}

// Seconds estimates the run time from the time of one sample's share of a
// batched forward/backward pass.
func (e MiniBatchEstimate) Seconds(perSample float64) float64 {
	return float64(e.Samples) * perSample
}

// String is a few lines for the user, shown before a run.
func (e MiniBatchEstimate) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mini-batch engine plan: %d layers, %d tested coordinates of %d, pool %d, %d mini-batches × batch sizes %v",
		e.Layers, e.Tested, e.Params, e.Pool, e.Batches, e.BatchSizes)
	fmt.Fprintf(&b, "\n  work: %d forward/backward samples = centre %d (the pool in %d chunks of ~%d)", e.Samples, e.CentreSamples, len(e.Chunks), e.Chunks[0])
	for _, bs := range e.BatchSizes {
		fmt.Fprintf(&b, " + %d·%d", e.Batches, bs)
	}
	for k, o := range e.Overlap {
		if o {
			fmt.Fprintf(&b, "\n  batch size %d: n·B > N, batches overlap (each a uniform draw from the pool)", e.BatchSizes[k])
		}
	}
	fmt.Fprintf(&b, "\n  memory about %s: noise set %s, gradient buffers %s, layout %s, executor %s",
		bytesString(e.TotalBytes), bytesString(e.SetBytes), bytesString(e.GradBytes), bytesString(e.LayoutBytes), bytesString(e.SourceBytes))
	return b.String()
}

// CollectMiniBatch collects the noise set of one checkpoint from true
// mini-batch gradients (see docs/collection.md, "The mini-batch engine"):
// the same pool, tested coordinates and mini-batch rows as Collect (same
// seed streams), the centre ḡ = (1/N) Σ_chunks |c|·g_c over the pool split
// into consecutive chunks of ~B_max samples, and, for every batch size B
// and row S, ξ_S = float32(g_S − ḡ) with g_S the source's gradient of the
// batch. Without BatchNorm (samples that do not interact) ḡ is the pool's
// mean gradient and ξ_S the per-sample engine's value up to rounding.
//
// The per-sample fields of the set (S2, S3, S4, A3, TraceCov, SumNormSq)
// are effective per-sample moments inferred from the smallest batch size
// B₀ by the relations of a mean of B₀ i.i.d. terms (variance ×B₀ with the
// finite-pool factor (N−1)/(N−B₀), third cumulant ×B₀², fourth ×B₀³, E|ξ|³
// by its Cauchy–Schwarz bound √(m₂m₄)), so that every analysis runs on
// the set; Collection.Scheme is "mini-batch". A run cancelled after the
// first batch size returns a partial set of the batch sizes done (all n
// rows each) with an error wrapping ctx.Err(); cancelled earlier, nil.
func CollectMiniBatch(ctx context.Context, src BatchSource, cfg Config) (*noise.Set, error) {
	est, err := PlanMiniBatch(cfg, src)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	specs := src.Layers()
	coords := TestedCoords(cfg, specs)
	pool := PoolIndices(cfg)
	N := cfg.Pool
	grads := make([][]float64, len(specs))
	centre := make([][]float64, len(specs))
	for l, s := range specs {
		grads[l] = make([]float64, s.Size())
		centre[l] = make([]float64, s.Size())
	}
	done, total := int64(0), est.Samples
	report := func(phase string) {
		if cfg.Progress == nil {
			return
		}
		el := time.Since(start)
		var eta time.Duration
		if done > 0 {
			eta = time.Duration(float64(el) * float64(total-done) / float64(done))
		}
		cfg.Progress(Progress{Phase: phase, Pass: 1, Passes: 1, Done: int(done), Total: int(total), Elapsed: el, ETA: eta})
	}
	batch := func(pos []int) error {
		idx := make([]int, len(pos))
		for i, p := range pos {
			idx[i] = pool[p]
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := src.BatchGrad(ctx, idx, grads); err != nil {
			return err
		}
		for l, g := range grads {
			if len(g) != specs[l].Size() {
				return fmt.Errorf("collect: mini-batch source: layer %q: %d gradient values, want %d", specs[l].Parameter, len(g), specs[l].Size())
			}
			for j, v := range g {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return fmt.Errorf("collect: mini-batch source: layer %q, coordinate %d: gradient %v", specs[l].Parameter, j, v)
				}
			}
		}
		done += int64(len(pos))
		return nil
	}
	// Centre: the pool in consecutive chunks.
	p0 := 0
	for _, c := range est.Chunks {
		pos := make([]int, c)
		for i := range pos {
			pos[i] = p0 + i
		}
		if err := batch(pos); err != nil {
			return nil, fmt.Errorf("collect: mini-batch engine, centre pass: %w", err)
		}
		for l, g := range grads {
			for j, v := range g {
				centre[l][j] += float64(c) * v
			}
		}
		p0 += c
		report("centre")
	}
	set := &noise.Set{Version: noise.Version, Model: cfg.Model, Step: cfg.Step, Seed: cfg.Seed, Pool: N, Batches: cfg.Batches,
		BatchSizes: append([]int(nil), cfg.BatchSizes...),
		Collection: &noise.Collection{Data: cfg.Data, DataSize: cfg.DataSize, PoolSize: N, BatchesPerSize: cfg.Batches,
			CoordsPerLayer: cfg.CoordsPerLayer, Scheme: string(SchemeMiniBatch)}}
	K, n := len(cfg.BatchSizes), cfg.Batches
	for l, s := range specs {
		for j := range centre[l] {
			centre[l][j] /= float64(N)
		}
		nc := len(coords[l])
		ly := noise.Layer{Name: s.Name, Parameter: s.Parameter, Kind: s.Kind, Shape: append([]int(nil), s.Shape...), Size: s.Size(),
			Coords: coords[l], Mean: make([]float64, nc), S2: make([]float64, nc), S3: make([]float64, nc), S4: make([]float64, nc),
			A3: make([]float64, nc), MiniBatch: make([][]float32, K), Overlap: append([]bool(nil), est.Overlap...)}
		for c, j := range coords[l] {
			ly.Mean[c] = centre[l][j]
		}
		for _, v := range centre[l] {
			ly.GradNormSq += v * v
		}
		for k := range ly.MiniBatch {
			ly.MiniBatch[k] = make([]float32, n*nc)
		}
		set.Layers = append(set.Layers, ly)
	}
	// Mini-batches, smallest batch size first; the smallest one's rows also
	// give the effective per-sample moments.
	var m2, m3, m4 [][]float64 // per layer, per tested coordinate: Σ_rows ξ^k of B₀
	sq := make([]float64, len(specs))
	for l := range specs {
		k := len(coords[l])
		m2, m3, m4 = append(m2, make([]float64, k)), append(m3, make([]float64, k)), append(m4, make([]float64, k))
	}
	var stopped error // cancellation after the first batch size
	kept := K
sizes:
	for k := range cfg.BatchSizes {
		rows, err := BatchRows(cfg, k)
		if err != nil {
			return nil, err
		}
		for r, pos := range rows {
			if err := batch(pos); err != nil {
				if k > 0 && ctx.Err() != nil {
					stopped, kept = err, k
					break sizes
				}
				return nil, fmt.Errorf("collect: mini-batch engine, batch size %d, row %d: %w", cfg.BatchSizes[k], r, err)
			}
			for l := range specs {
				ly := &set.Layers[l]
				nc := len(coords[l])
				row := ly.MiniBatch[k][r*nc : (r+1)*nc]
				for c, j := range coords[l] {
					xi := grads[l][j] - centre[l][j]
					row[c] = float32(xi)
					if k == 0 {
						x2 := xi * xi
						m2[l][c] += x2
						m3[l][c] += x2 * xi
						m4[l][c] += x2 * x2
					}
				}
				if k == 0 {
					for j, g := range grads[l] {
						d := g - centre[l][j]
						sq[l] += d * d
					}
				}
			}
			report("mini-batches")
		}
	}
	// Effective per-sample moments from B₀.
	b0 := float64(cfg.BatchSizes[0])
	fpc := 1.0
	if N > cfg.BatchSizes[0] {
		fpc = float64(N-1) / float64(N-cfg.BatchSizes[0])
	}
	fn, rn := float64(N), float64(n)
	for l := range specs {
		ly := &set.Layers[l]
		for c := range ly.Coords {
			v2, v3, v4 := m2[l][c]/rn, m3[l][c]/rn, m4[l][c]/rn
			s2 := b0 * fpc * v2
			k3 := b0 * b0 * v3
			mm4 := b0*b0*b0*(v4-3*v2*v2) + 3*s2*s2
			mm4 = math.Max(mm4, s2*s2)
			ly.S2[c] = fn * s2
			ly.S3[c] = fn * k3
			ly.S4[c] = fn * mm4
			ly.A3[c] = fn * math.Max(math.Abs(k3), math.Sqrt(s2*mm4))
		}
		ly.TraceCov = b0 * fpc * sq[l] / rn
		ly.SumNormSq = fn * (ly.TraceCov + ly.GradNormSq)
	}
	if stopped != nil {
		// Keep the batch sizes done (every matrix must have n rows).
		set.Partial = true
		set.BatchSizes = set.BatchSizes[:kept]
		set.Collection.Reason = fmt.Sprintf("stopped (%v) after batch sizes %v of %v", stopped, set.BatchSizes, cfg.BatchSizes)
		for l := range set.Layers {
			set.Layers[l].MiniBatch = set.Layers[l].MiniBatch[:kept]
			set.Layers[l].Overlap = set.Layers[l].Overlap[:kept]
		}
	}
	if err := set.Validate(); err != nil {
		return nil, fmt.Errorf("collect: mini-batch engine: %w", err)
	}
	if stopped != nil {
		return set, fmt.Errorf("collect: mini-batch engine: %w", stopped)
	}
	return set, nil
}
