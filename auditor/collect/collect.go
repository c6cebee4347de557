package collect

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gnaudit/gnaudit/auditor/data"
	"github.com/gnaudit/gnaudit/auditor/noise"
)

// Centre is ḡ of a collection's whole pool: its tested coordinates and the
// per-layer |ḡ|². Shards of a run are collected around one Centre so that
// their sums can be merged. It marshals to JSON exactly (float64 values
// round-trip).
type Centre struct {
	Seed     int64         `json:"seed"`
	DataSize int           `json:"data_size"`
	Pool     int           `json:"pool"` // N the mean was taken over
	Layers   []CentreLayer `json:"layers"`
}

// CentreLayer is the centre of one layer.
type CentreLayer struct {
	Parameter  string    `json:"parameter"`
	Coords     []int     `json:"coords"`
	Mean       []float64 `json:"mean"`         // ḡ at Coords
	GradNormSq float64   `json:"grad_norm_sq"` // |ḡ|² over all coordinates
	// SumNormSq is Σ_p |g_p|² over the whole pool (all coordinates), added
	// in pool order as a whole run adds it (ComputeCentre only; 0 when
	// unknown): merged shards take it as their exact total.
	SumNormSq float64 `json:"sum_norm_sq,omitempty"`
}

// run is the state of one collection.
type run struct {
	cfg    Config
	specs  []LayerSpec
	src    Source
	est    Estimate
	coords [][]int
	colOff []int // global column offset of each layer; colOff[L] = T
	T      int
	pool   []int // pool position → data index
	lay    layout
	start  time.Time
	passes int
	// aggStart is when the in-memory aggregation began (for its ETA).
	aggStart time.Time
	segs     *Segments // a finished shard's segment sums
}

// layout holds the batch membership of the run's rows.
type layout struct {
	r0, r1  int    // shard rows
	p0, p1  int    // pool positions summed into the moments
	overlap []bool // per batch size
	// CSR by pool position: the entries memb[off[p]:off[p+1]] encode
	// (k, row−r0) as k·(r1−r0) + row−r0.
	off  []int32
	memb []int32
	need []int // positions whose gradients the run needs, ascending
	// segEnd[p−p0] is r when pool position p is the last of row r's span
	// [⌊rN/n⌋, ⌊(r+1)N/n⌋), else −1: the moments are summed per span
	// (segment), then the segments in row order, so that shards, which
	// hold whole spans, can be merged exactly (Segments).
	segEnd []int32
}

// newRun validates the configuration, plans, and draws pool, coordinates
// and batches.
func newRun(src Source, cfg Config) (*run, error) {
	specs := slices.Clone(src.Layers())
	est, err := Plan(cfg, specs)
	if err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, specs: specs, src: src, est: est, start: time.Now()}
	if r.cfg.Workers <= 0 {
		r.cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if r.cfg.BlockRows <= 0 {
		r.cfg.BlockRows = 256
	}
	r.pool = PoolIndices(cfg)
	r.coords = TestedCoords(cfg, specs)
	r.colOff = make([]int, len(specs)+1)
	for l := range specs {
		r.colOff[l+1] = r.colOff[l] + len(r.coords[l])
	}
	r.T = r.colOff[len(specs)]
	if c := cfg.Centre; c != nil {
		if err := r.checkCentre(c); err != nil {
			return nil, err
		}
	}
	r.buildLayout()
	return r, nil
}

// checkCentre verifies that a given centre belongs to this configuration.
func (r *run) checkCentre(c *Centre) error {
	if c.Seed != r.cfg.Seed || c.Pool != r.cfg.Pool || c.DataSize != r.cfg.DataSize || len(c.Layers) != len(r.specs) {
		return fmt.Errorf("collect: the centre (seed %d, pool %d of %d, %d layers) is not this collection's (seed %d, pool %d of %d, %d layers)",
			c.Seed, c.Pool, c.DataSize, len(c.Layers), r.cfg.Seed, r.cfg.Pool, r.cfg.DataSize, len(r.specs))
	}
	for l, cl := range c.Layers {
		if cl.Parameter != r.specs[l].Parameter || !slices.Equal(cl.Coords, r.coords[l]) || len(cl.Mean) != len(cl.Coords) {
			return fmt.Errorf("collect: the centre's layer %d (%q, %d coordinates) does not match parameter %q (%d tested coordinates)",
				l, cl.Parameter, len(cl.Coords), r.specs[l].Parameter, len(r.coords[l]))
		}
	}
	return nil
}

// buildLayout places the mini-batches of the run's rows and builds the
// membership index. Disjoint batch sizes (n·B ≤ N) use row r = pool
// positions [⌊r·N/n⌋, ⌊r·N/n⌋ + B); overlapping ones draw each row
// uniformly without replacement from the pool (stream per batch size).
func (r *run) buildLayout() {
	cfg := r.cfg
	N, n := cfg.Pool, cfg.Batches
	lay := &r.lay
	lay.r0, lay.r1 = cfg.shardRows()
	if cfg.Shard.Count > 1 {
		lay.p0, lay.p1 = rowStart(lay.r0, N, n), rowStart(lay.r1, N, n)
	} else {
		lay.p0, lay.p1 = 0, N
	}
	nr := lay.r1 - lay.r0
	over := make([][]int32, len(cfg.BatchSizes))
	lay.overlap = make([]bool, len(cfg.BatchSizes))
	count := make([]int32, N+1)
	for k, b := range cfg.BatchSizes {
		if int64(n)*int64(b) <= int64(N) {
			for row := lay.r0; row < lay.r1; row++ {
				s := rowStart(row, N, n)
				for p := s; p < s+b; p++ {
					count[p]++
				}
			}
			continue
		}
		lay.overlap[k] = true
		smp := data.NewSampler(data.NewRand(cfg.Seed, "collect/batches/"+strconv.Itoa(b)), N)
		over[k] = make([]int32, 0, nr*b)
		for row := 0; row < lay.r1; row++ {
			d := smp.Draw(b)
			if row < lay.r0 {
				continue
			}
			m := make([]int32, b)
			for i, p := range d {
				m[i] = int32(p)
				count[p]++
			}
			slices.Sort(m)
			over[k] = append(over[k], m...)
		}
	}
	lay.off = make([]int32, N+1)
	for p := 0; p < N; p++ {
		lay.off[p+1] = lay.off[p] + count[p]
	}
	lay.memb = make([]int32, lay.off[N])
	fill := slices.Clone(lay.off[:N])
	for k, b := range cfg.BatchSizes {
		for row := lay.r0; row < lay.r1; row++ {
			code := int32(k*nr + row - lay.r0)
			if lay.overlap[k] {
				for _, p := range over[k][(row-lay.r0)*b : (row-lay.r0+1)*b] {
					lay.memb[fill[p]] = code
					fill[p]++
				}
				continue
			}
			s := rowStart(row, N, n)
			for p := s; p < s+b; p++ {
				lay.memb[fill[p]] = code
				fill[p]++
			}
		}
	}
	for p := 0; p < N; p++ {
		if (p >= lay.p0 && p < lay.p1) || lay.off[p+1] > lay.off[p] {
			lay.need = append(lay.need, p)
		}
	}
	lay.segEnd = make([]int32, lay.p1-lay.p0)
	for i := range lay.segEnd {
		lay.segEnd[i] = -1
	}
	for row := lay.r0; row < lay.r1; row++ {
		if a, b := rowStart(row, N, n), rowStart(row+1, N, n); b > a {
			lay.segEnd[b-1-lay.p0] = int32(row)
		}
	}
}

// ComputeCentre runs the first pass of a collection (every pool sample,
// Request.Full) and returns ḡ at the tested coordinates, |ḡ|² and Σ_p |g_p|²
// per layer: the centre shards are collected around. cfg.Shard and cfg.Centre are
// ignored. The means are the same, bit for bit, as those of an unsharded
// in-memory or two-pass run.
func ComputeCentre(ctx context.Context, src Source, cfg Config) (*Centre, error) {
	cfg.Shard, cfg.Centre, cfg.Scheme = Shard{}, nil, SchemeTwoPass
	r, err := newRun(src, cfg)
	if err != nil {
		return nil, err
	}
	r.passes = 1
	cp, err := r.centrePass(ctx, true, false)
	if err != nil {
		return nil, err
	}
	c := r.centreOf(cp, r.cfg.Pool)
	L := len(r.specs)
	for l := range c.Layers {
		s := 0.0
		for p := 0; p < r.cfg.Pool; p++ {
			s += cp.sumSq[p*L+l]
		}
		c.Layers[l].SumNormSq = s
	}
	return c, nil
}

// centreSums are the results of a first pass.
type centreSums struct {
	done    int         // samples done (a prefix of the pool)
	sum     []float64   // T: Σ_p g_pj, added in pool order
	gradSum [][]float64 // per layer, full: Σ_p g_p
	sumSq   []float64   // N·L: |g_p|² of layer l at p·L + l (when kept)
	store   [][]float64 // per layer, N × T_l tested values (in-memory scheme)
}

// centrePass asks the source for every pool sample (Full) and sums the
// tested values and the full gradients; keepSq keeps the per-sample norms,
// keepAll the tested values. On cancellation it returns the sums of the
// prefix done along with an error wrapping ctx.Err().
func (r *run) centrePass(ctx context.Context, keepSq, keepAll bool) (*centreSums, error) {
	N := r.cfg.Pool
	cs := r.newCentreSums(N, keepSq, keepAll)
	req := Request{Indices: r.pool, Tested: r.coords, Full: true}
	err := r.src.PerSample(ctx, req, func(b Block) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.checkBlock(b, req, cs.done); err != nil {
			return err
		}
		r.absorb(cs, b, keepSq, keepAll)
		cs.done += b.Rows
		r.progress("centre", 1, cs.done, N)
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return cs, fmt.Errorf("collect: stopped in the first pass after %d of %d samples: %w", cs.done, N, ctx.Err())
		}
		return nil, fmt.Errorf("collect: source: %w", err)
	}
	if cs.done != N {
		return nil, fmt.Errorf("collect: the source delivered %d of %d samples", cs.done, N)
	}
	return cs, nil
}

// newCentreSums allocates the sums of a first pass over n samples.
func (r *run) newCentreSums(n int, keepSq, keepAll bool) *centreSums {
	L := len(r.specs)
	cs := &centreSums{sum: make([]float64, r.T), gradSum: make([][]float64, L)}
	for l, s := range r.specs {
		cs.gradSum[l] = make([]float64, s.Size())
	}
	if keepSq {
		cs.sumSq = make([]float64, n*L)
	}
	if keepAll {
		cs.store = make([][]float64, L)
		for l := range r.specs {
			cs.store[l] = make([]float64, n*len(r.coords[l]))
		}
	}
	return cs
}

// absorb adds block b of a first pass into cs: the tested values into
// cs.sum, the full gradient sums into cs.gradSum (each element added in
// block order, so the split over workers does not change a bit), the norms
// when keepSq and the tested values into the store when keepAll. It is the
// collector's whole per-block work of a first pass, which MeasurePerSample
// times along with the source.
func (r *run) absorb(cs *centreSums, b Block, keepSq, keepAll bool) {
	L := len(r.specs)
	r.parallelCols(func(c0, c1 int) {
		for _, sg := range r.segments(c0, c1) {
			tl := len(r.coords[sg.l])
			t := b.Layers[sg.l].Tested
			dst := cs.sum[sg.g : sg.g+sg.b-sg.a]
			for row := 0; row < b.Rows; row++ {
				for i, v := range t[row*tl+sg.a : row*tl+sg.b] {
					dst[i] += v
				}
			}
		}
	})
	r.parallelFlat(func(l, a, e int) {
		dst := cs.gradSum[l][a:e]
		for j, v := range b.Layers[l].GradSum[a:e] {
			dst[j] += v
		}
	})
	for l := range r.specs {
		lb := b.Layers[l]
		if keepSq {
			for row, v := range lb.SumSq {
				cs.sumSq[(b.Offset+row)*L+l] = v
			}
		}
		if keepAll {
			tl := len(r.coords[l])
			copy(cs.store[l][b.Offset*tl:], lb.Tested)
		}
	}
}

// parallelFlat runs fn(l, a, e) over the coordinates [a, e) of layer l, on
// disjoint ranges of all layers' coordinates laid end to end, one per
// worker (at least 1 << 16 coordinates each).
func (r *run) parallelFlat(fn func(l, a, e int)) {
	P := int(r.est.Params)
	w := min(r.cfg.Workers, max(1, P>>16))
	part := func(f0, f1 int) {
		off := 0
		for l, s := range r.specs {
			n := s.Size()
			if a, e := max(f0, off), min(f1, off+n); a < e {
				fn(l, a-off, e-off)
			}
			off += n
		}
	}
	if w <= 1 {
		part(0, P)
		return
	}
	var wg sync.WaitGroup
	for i := 0; i < w; i++ {
		f0, f1 := i*P/w, (i+1)*P/w
		wg.Add(1)
		go func() {
			defer wg.Done()
			part(f0, f1)
		}()
	}
	wg.Wait()
}

// centreOf turns the sums of the first m pool samples into a Centre.
func (r *run) centreOf(cs *centreSums, m int) *Centre {
	c := &Centre{Seed: r.cfg.Seed, DataSize: r.cfg.DataSize, Pool: m, Layers: make([]CentreLayer, len(r.specs))}
	for l, s := range r.specs {
		mean := make([]float64, len(r.coords[l]))
		for i := range mean {
			mean[i] = cs.sum[r.colOff[l]+i] / float64(m)
		}
		g := 0.0
		for _, v := range cs.gradSum[l] {
			x := v / float64(m)
			g += x * x
		}
		c.Layers[l] = CentreLayer{Parameter: s.Parameter, Coords: slices.Clone(r.coords[l]), Mean: mean, GradNormSq: g}
	}
	return c
}

// checkBlock validates a block from the source.
func (r *run) checkBlock(b Block, req Request, want int) error {
	if b.Offset != want || b.Rows < 1 || b.Offset+b.Rows > len(req.Indices) {
		return fmt.Errorf("collect: the source delivered a block of %d rows at offset %d, expected offset %d of %d samples", b.Rows, b.Offset, want, len(req.Indices))
	}
	if len(b.Layers) != len(r.specs) {
		return fmt.Errorf("collect: the source delivered %d layers, expected %d", len(b.Layers), len(r.specs))
	}
	for l, lb := range b.Layers {
		p := r.specs[l].Parameter
		if len(lb.Tested) != b.Rows*len(r.coords[l]) {
			return fmt.Errorf("collect: layer %q: %d tested values for %d rows × %d coordinates", p, len(lb.Tested), b.Rows, len(r.coords[l]))
		}
		if req.Full && (len(lb.SumSq) != b.Rows || len(lb.GradSum) != r.specs[l].Size()) {
			return fmt.Errorf("collect: layer %q: full request answered with %d squared norms (want %d) and %d gradient sums (want %d)",
				p, len(lb.SumSq), b.Rows, len(lb.GradSum), r.specs[l].Size())
		}
	}
	return nil
}

// segment is the part of a global column range [c0, c1) in layer l: local
// columns [a, b), global offset g.
type segment struct{ l, a, b, g int }

// segments splits the global column range [c0, c1) by layer.
func (r *run) segments(c0, c1 int) []segment {
	var out []segment
	for l := range r.specs {
		lo, hi := max(c0, r.colOff[l]), min(c1, r.colOff[l+1])
		if lo < hi {
			out = append(out, segment{l: l, a: lo - r.colOff[l], b: hi - r.colOff[l], g: lo})
		}
	}
	return out
}

// parallelCols runs fn on disjoint column ranges covering [0, T).
func (r *run) parallelCols(fn func(c0, c1 int)) {
	w := min(r.cfg.Workers, max(1, r.T/512))
	if w <= 1 {
		fn(0, r.T)
		return
	}
	var wg sync.WaitGroup
	for i := 0; i < w; i++ {
		c0, c1 := i*r.T/w, (i+1)*r.T/w
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(c0, c1)
		}()
	}
	wg.Wait()
}

// progress reports to cfg.Progress.
func (r *run) progress(phase string, pass, done, total int) {
	if r.cfg.Progress == nil {
		return
	}
	el := time.Since(r.start)
	p := Progress{Phase: phase, Pass: pass, Passes: r.passes, Done: done, Total: total, Elapsed: el}
	// Work units: samples over all source passes; the aggregate phase has
	// its own estimate.
	var units, doneUnits float64
	if phase == "aggregate" {
		units, doneUnits = float64(total), float64(done)
		el = time.Since(r.aggStart)
	} else {
		units = float64(r.passes * total)
		doneUnits = float64((pass-1)*total + done)
	}
	if doneUnits > 0 {
		p.ETA = time.Duration(float64(el) * (units - doneUnits) / doneUnits)
	}
	r.cfg.Progress(p)
}

// acc accumulates centred moments and mini-batch sums.
type acc struct {
	centre         []float64 // T
	s2, s3, s4, a3 []float64 // T
	bsum           [][]float64
	bcount         [][]int32
	moments        int       // samples summed into the moments
	sumNormSq      []float64 // per layer
	q              int       // moment prefix end: positions [p0, q) summed

	// The current segment's moment sums (T each), added into s2… at its
	// end; open is true while a segment has rows not yet added.
	g2, g3, g4, ga3 []float64
	open            bool
	// seg, when kept (shards), records every finished segment's sums.
	seg *Segments
}

func (r *run) newAcc(centre []float64) *acc {
	a := &acc{centre: centre, s2: make([]float64, r.T), s3: make([]float64, r.T), s4: make([]float64, r.T), a3: make([]float64, r.T),
		g2: make([]float64, r.T), g3: make([]float64, r.T), g4: make([]float64, r.T), ga3: make([]float64, r.T),
		sumNormSq: make([]float64, len(r.specs)), q: r.lay.p0}
	if r.cfg.Shard.Count > 1 {
		a.seg = r.newSegments()
	}
	nr := r.lay.r1 - r.lay.r0
	for range r.cfg.BatchSizes {
		a.bsum = append(a.bsum, make([]float64, nr*r.T))
		a.bcount = append(a.bcount, make([]int32, nr))
	}
	return a
}

// feed adds a block of rows whose pool positions are pos(row), in
// ascending order. sq(row, l) gives |g|² of the row's sample in layer l.
func (r *run) feed(a *acc, b Block, pos func(int) int, sq func(row, l int) float64) {
	lay := &r.lay
	nr := lay.r1 - lay.r0
	T := r.T
	r.parallelCols(func(c0, c1 int) {
		segs := r.segments(c0, c1)
		for row := 0; row < b.Rows; row++ {
			p := pos(row)
			inRange := p >= lay.p0 && p < lay.p1
			memb := lay.memb[lay.off[p]:lay.off[p+1]]
			for _, sg := range segs {
				tl := len(r.coords[sg.l])
				src := b.Layers[sg.l].Tested[row*tl+sg.a : row*tl+sg.b]
				if inRange {
					c := a.centre[sg.g : sg.g+len(src)]
					s2, s3, s4, a3 := a.g2[sg.g:sg.g+len(src)], a.g3[sg.g:sg.g+len(src)], a.g4[sg.g:sg.g+len(src)], a.ga3[sg.g:sg.g+len(src)]
					for i, v := range src {
						x := v - c[i]
						x2 := x * x
						s2[i] += x2
						s3[i] += x2 * x
						s4[i] += x2 * x2
						a3[i] += x2 * math.Abs(x)
					}
				}
				for _, code := range memb {
					k, rr := int(code)/nr, int(code)%nr
					dst := a.bsum[k][rr*T+sg.g : rr*T+sg.g+len(src)]
					for i, v := range src {
						dst[i] += v
					}
				}
			}
			if inRange {
				if sr := lay.segEnd[p-lay.p0]; sr >= 0 {
					a.endSegment(c0, c1, int(sr))
				}
			}
		}
	})
	for row := 0; row < b.Rows; row++ {
		p := pos(row)
		for _, code := range lay.memb[lay.off[p]:lay.off[p+1]] {
			a.bcount[int(code)/nr][int(code)%nr]++
		}
		if p >= lay.p0 && p < lay.p1 {
			a.moments++
			a.q = p + 1
			a.open = lay.segEnd[p-lay.p0] < 0
			for l := range r.specs {
				a.sumNormSq[l] += sq(row, l)
			}
		}
	}
}

// endSegment adds the current segment's sums of columns [c0, c1) into the
// totals (and records them as row sr's segment when kept), then clears them.
func (a *acc) endSegment(c0, c1, sr int) {
	if a.seg != nil {
		a.seg.record(sr, c0, c1, a.g2, a.g3, a.g4, a.ga3)
	}
	for _, m := range [][2][]float64{{a.s2, a.g2}, {a.s3, a.g3}, {a.s4, a.g4}, {a.a3, a.ga3}} {
		tot, g := m[0][c0:c1], m[1][c0:c1]
		for i, v := range g {
			tot[i] += v
			g[i] = 0
		}
	}
}

// Collect runs a collection and returns its noise set.
//
// Scheme (Plan): in-memory — one pass of the source, tested values kept;
// two-pass — ḡ first, then the centred sums; centred — one pass around
// cfg.Centre (required for a shard). The set's moments are sums over the
// pool samples of powers of ξ = g − ḡ, with ḡ the exact mean of the pool.
//
// When ctx is cancelled, Collect returns what it has as a partial set
// (Set.Partial, Collection.Reason) together with an error wrapping
// ctx.Err(): the moments of the samples done, the mini-batches whose every
// sample was done (the same number for each batch size kept; see
// docs/collection.md), centred on the mean of the samples done when the
// first pass was not finished (in-memory scheme; Collection.OwnCentre). A
// two-pass run stopped in its first pass has nothing to keep and returns a
// nil set.
func Collect(ctx context.Context, src Source, cfg Config) (*noise.Set, error) {
	set, _, err := CollectSegments(ctx, src, cfg)
	return set, err
}

// CollectSegments is Collect that also returns, for a shard that finished
// (cfg.Shard.Count > 1, not stopped), its segment sums: what MergeSegments
// needs to make merged shards equal to the whole run bit for bit. It
// returns nil Segments otherwise.
func CollectSegments(ctx context.Context, src Source, cfg Config) (*noise.Set, *Segments, error) {
	r, err := newRun(src, cfg)
	if err != nil {
		return nil, nil, err
	}
	var set *noise.Set
	switch r.est.Scheme {
	case SchemeInMemory:
		set, err = r.inMemory(ctx)
	case SchemeTwoPass:
		set, err = r.twoPass(ctx)
	default:
		set, err = r.centred(ctx)
	}
	if set == nil || set.Collection == nil || err != nil {
		return set, nil, err
	}
	return set, r.segs, err
}

// inMemory runs the in-memory scheme.
func (r *run) inMemory(ctx context.Context) (*noise.Set, error) {
	r.passes = 1
	cs, err := r.centrePass(ctx, true, true)
	if cs == nil {
		return nil, err
	}
	m := cs.done
	reason := ""
	if err != nil {
		if m == 0 {
			return nil, err
		}
		// Keep the prefix: an exact collection of the first m samples.
		r.lay.p1 = m
		reason = fmt.Sprintf("stopped (%v) after %d of %d pool samples; centred on their own mean", ctx.Err(), m, r.cfg.Pool)
	}
	if e := r.checkFinite(cs.sum, "the gradient sums"); e != nil {
		return nil, e
	}
	centre := r.centreOf(cs, m)
	a := r.newAcc(flatMeans(centre))
	L := len(r.specs)
	r.aggStart = time.Now()
	blk := Block{Layers: make([]LayerBlock, L)}
	for p0 := 0; p0 < m; p0 += r.cfg.BlockRows {
		rows := min(r.cfg.BlockRows, m-p0)
		blk.Offset, blk.Rows = p0, rows
		for l := range r.specs {
			tl := len(r.coords[l])
			blk.Layers[l].Tested = cs.store[l][p0*tl : (p0+rows)*tl]
		}
		r.feed(a, blk, func(row int) int { return p0 + row }, func(row, l int) float64 { return cs.sumSq[(p0+row)*L+l] })
		r.progress("aggregate", 0, p0+rows, m)
	}
	return r.finish(a, centre, SchemeInMemory, reason, err != nil, err)
}

// twoPass runs the two-pass scheme.
func (r *run) twoPass(ctx context.Context) (*noise.Set, error) {
	r.passes = 2
	cs, err := r.centrePass(ctx, true, false)
	if err != nil {
		if cs != nil {
			err = fmt.Errorf("%w (the two-pass scheme keeps nothing from its first pass)", err)
		}
		return nil, err
	}
	if e := r.checkFinite(cs.sum, "the gradient sums"); e != nil {
		return nil, e
	}
	centre := r.centreOf(cs, r.cfg.Pool)
	L := len(r.specs)
	return r.centredPass(ctx, centre, 2, func(p, l int) float64 { return cs.sumSq[p*L+l] }, SchemeTwoPass)
}

// centred runs one pass around the configured centre.
func (r *run) centred(ctx context.Context) (*noise.Set, error) {
	r.passes = 1
	return r.centredPass(ctx, r.cfg.Centre, 1, nil, SchemeCentred)
}

// centredPass asks the source for the needed positions and accumulates
// around centre. sumSq(p, l), when given, supplies the per-sample norms
// (else the request is Full and the blocks supply them).
func (r *run) centredPass(ctx context.Context, centre *Centre, pass int, sumSq func(p, l int) float64, scheme Scheme) (*noise.Set, error) {
	need := r.lay.need
	idx := make([]int, len(need))
	for i, p := range need {
		idx[i] = r.pool[p]
	}
	req := Request{Indices: idx, Tested: r.coords, Full: sumSq == nil}
	a := r.newAcc(flatMeans(centre))
	done := 0
	err := r.src.PerSample(ctx, req, func(b Block) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.checkBlock(b, req, done); err != nil {
			return err
		}
		pos := func(row int) int { return need[b.Offset+row] }
		sq := func(row, l int) float64 { return b.Layers[l].SumSq[row] }
		if sumSq != nil {
			sq = func(row, l int) float64 { return sumSq(need[b.Offset+row], l) }
		}
		r.feed(a, b, pos, sq)
		done += b.Rows
		r.progress("gradients", pass, done, len(need))
		return nil
	})
	reason := ""
	stopped := false
	if err != nil {
		if ctx.Err() == nil {
			return nil, fmt.Errorf("collect: source: %w", err)
		}
		err = fmt.Errorf("collect: stopped after %d of %d samples: %w", done, len(need), ctx.Err())
		if a.moments == 0 {
			return nil, err
		}
		stopped = true
		reason = fmt.Sprintf("stopped (%v) after %d of %d samples", ctx.Err(), done, len(need))
	} else if done != len(need) {
		return nil, fmt.Errorf("collect: the source delivered %d of %d samples", done, len(need))
	}
	if stopped {
		r.lay.p1 = a.q
	}
	if r.cfg.Shard.Count > 1 {
		sh := fmt.Sprintf("shard %d of %d", r.cfg.Shard.Index, r.cfg.Shard.Count)
		if reason == "" {
			reason = sh
		} else {
			reason = sh + ", " + reason
		}
	}
	return r.finish(a, centre, scheme, reason, stopped, err)
}

// flatMeans concatenates the centre's means in column order.
func flatMeans(c *Centre) []float64 {
	var out []float64
	for _, l := range c.Layers {
		out = append(out, l.Mean...)
	}
	return out
}

// checkFinite reports the first non-finite value of v, naming its layer and
// coordinate.
func (r *run) checkFinite(v []float64, what string) error {
	for j, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			l := 0
			for r.colOff[l+1] <= j {
				l++
			}
			return fmt.Errorf("collect: layer %q, coordinate %d: %s are %v (non-finite per-sample gradients)",
				r.specs[l].Parameter, r.coords[l][j-r.colOff[l]], what, x)
		}
	}
	return nil
}

// finish assembles the set. stopped marks a run cut short (rows are then
// truncated to a common count); cause is returned along with the set.
func (r *run) finish(a *acc, centre *Centre, scheme Scheme, reason string, stopped bool, cause error) (*noise.Set, error) {
	if a.open {
		// A stopped run: its last segment is incomplete (and not kept).
		a.seg = nil
		a.endSegment(0, r.T, -1)
	}
	if !stopped {
		r.segs = a.seg
	}
	if e := r.checkFinite(a.s4, "the fourth-moment sums"); e != nil {
		return nil, e
	}
	lay := &r.lay
	nr := lay.r1 - lay.r0
	// Complete rows per batch size.
	complete := make([][]int, len(r.cfg.BatchSizes))
	for k, b := range r.cfg.BatchSizes {
		for rr := 0; rr < nr; rr++ {
			if int(a.bcount[k][rr]) == b {
				complete[k] = append(complete[k], rr)
			}
		}
	}
	keep := make([]int, 0, len(complete)) // batch-size indices kept
	rows := nr
	if stopped {
		rows, keep = commonRows(complete)
	} else {
		for k := range complete {
			if len(complete[k]) != nr {
				return nil, fmt.Errorf("collect: internal error: batch size %d has %d of %d rows complete", r.cfg.BatchSizes[k], len(complete[k]), nr)
			}
			keep = append(keep, k)
		}
	}
	partial := stopped || r.cfg.Shard.Count > 1
	set := &noise.Set{Version: noise.Version, Model: r.cfg.Model, Step: r.cfg.Step, Seed: r.cfg.Seed,
		Pool: a.moments, Batches: rows, Partial: partial}
	col := &noise.Collection{Data: r.cfg.Data, DataSize: r.cfg.DataSize, PoolSize: r.cfg.Pool, BatchesPerSize: r.cfg.Batches,
		CoordsPerLayer: r.cfg.CoordsPerLayer, Scheme: string(scheme), Reason: reason, OwnCentre: stopped && scheme == SchemeInMemory}
	if partial {
		if a.moments > 0 {
			col.PoolRanges = [][2]int{{lay.p0, lay.p1}}
		}
		col.Rows = make([][]int, len(keep))
	}
	for i, k := range keep {
		set.BatchSizes = append(set.BatchSizes, r.cfg.BatchSizes[k])
		if partial {
			col.Rows[i] = make([]int, rows)
			for j := range rows {
				col.Rows[i][j] = complete[k][j] + lay.r0
			}
		}
	}
	set.Collection = col
	T := r.T
	for l, s := range r.specs {
		g0, g1 := r.colOff[l], r.colOff[l+1]
		nc := g1 - g0
		ly := noise.Layer{Name: s.Name, Parameter: s.Parameter, Kind: s.Kind, Shape: slices.Clone(s.Shape), Size: s.Size(),
			Coords: r.coords[l], Mean: slices.Clone(centre.Layers[l].Mean),
			S2: a.s2[g0:g1:g1], S3: a.s3[g0:g1:g1], S4: a.s4[g0:g1:g1], A3: a.a3[g0:g1:g1],
			GradNormSq: centre.Layers[l].GradNormSq, SumNormSq: a.sumNormSq[l]}
		if a.moments > 0 {
			ly.TraceCov = max(0, ly.SumNormSq/float64(a.moments)-ly.GradNormSq)
		}
		for _, k := range keep {
			b := float64(r.cfg.BatchSizes[k])
			m := make([]float32, rows*nc)
			for j := range rows {
				rr := complete[k][j]
				sum := a.bsum[k][rr*T+g0 : rr*T+g1]
				for c := range nc {
					m[j*nc+c] = float32(sum[c]/b - ly.Mean[c])
				}
			}
			ly.MiniBatch = append(ly.MiniBatch, m)
			ly.Overlap = append(ly.Overlap, lay.overlap[k])
		}
		if ly.MiniBatch == nil {
			ly.MiniBatch, ly.Overlap = [][]float32{}, []bool{}
		}
		set.Layers = append(set.Layers, ly)
	}
	if set.BatchSizes == nil {
		set.BatchSizes = []int{}
	}
	return set, cause
}

// commonRows chooses, for a stopped run, how many complete rows to keep per
// batch size: the count m maximising m × (number of batch sizes with at
// least m complete rows), m ≥ 3 (the smallest sample Shapiro–Wilk accepts);
// batch sizes with fewer rows are dropped and the others truncated to their
// first m complete rows. Ties keep more batch sizes.
func commonRows(complete [][]int) (rows int, keep []int) {
	best, bestValue := 0, 0
	for _, c := range complete {
		m := len(c)
		if m < 3 {
			continue
		}
		n := 0
		for _, d := range complete {
			if len(d) >= m {
				n++
			}
		}
		if v := m * n; v > bestValue || (v == bestValue && m < best) {
			best, bestValue = m, v
		}
	}
	keep = []int{}
	if best == 0 {
		return 0, keep
	}
	for k, c := range complete {
		if len(c) >= best {
			keep = append(keep, k)
		}
	}
	return best, keep
}

// IsPartial reports whether err is the error of a run that was stopped and
// returned a partial set.
func IsPartial(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// PoolIndices returns the data indices of cfg's pool, in pool order
// (position 0 first): a uniform draw without replacement of cfg.Pool of
// cfg.DataSize samples, stream "collect/pool" of cfg.Seed.
func PoolIndices(cfg Config) []int {
	return data.NewRand(cfg.Seed, "collect/pool").Sample(cfg.DataSize, cfg.Pool)
}

// TestedCoords returns the tested coordinates of every layer (stream
// collect/coords/<parameter>, see docs/collection.md): a seeded uniform
// draw of cfg.CoordsPerLayer, sorted, for a layer larger than that, else
// all of them.
func TestedCoords(cfg Config, specs []LayerSpec) [][]int {
	coords := make([][]int, len(specs))
	for l, s := range specs {
		n := s.Size()
		if cfg.CoordsPerLayer > 0 && n > cfg.CoordsPerLayer {
			c := data.NewRand(cfg.Seed, "collect/coords/"+s.Parameter).Sample(n, cfg.CoordsPerLayer)
			slices.Sort(c)
			coords[l] = c
		} else {
			coords[l] = make([]int, n)
			for i := range n {
				coords[l][i] = i
			}
		}
	}
	return coords
}

// BatchRows returns the n mini-batches of batch size cfg.BatchSizes[k] as
// ascending pool positions: row r = [⌊r·N/n⌋, ⌊r·N/n⌋ + B) when n·B ≤ N
// (disjoint), else a uniform draw of B distinct positions per row (stream
// "collect/batches/<B>" of cfg.Seed). It describes what Collect computes and
// lets a user see which samples formed a mini-batch.
func BatchRows(cfg Config, k int) ([][]int, error) {
	if k < 0 || k >= len(cfg.BatchSizes) || cfg.Pool < 1 || cfg.Batches < 1 || cfg.BatchSizes[k] < 1 || cfg.BatchSizes[k] > cfg.Pool {
		return nil, fmt.Errorf("collect: batch size index %d of %v (pool %d, %d batches)", k, cfg.BatchSizes, cfg.Pool, cfg.Batches)
	}
	N, n, b := cfg.Pool, cfg.Batches, cfg.BatchSizes[k]
	out := make([][]int, n)
	if int64(n)*int64(b) <= int64(N) {
		for r := range out {
			s := rowStart(r, N, n)
			out[r] = make([]int, b)
			for i := range b {
				out[r][i] = s + i
			}
		}
		return out, nil
	}
	smp := data.NewSampler(data.NewRand(cfg.Seed, "collect/batches/"+strconv.Itoa(b)), N)
	for r := range out {
		out[r] = slices.Clone(smp.Draw(b))
		slices.Sort(out[r])
	}
	return out, nil
}
