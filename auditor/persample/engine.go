package persample

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/gnaudit/gnaudit/auditor/graph"
	"github.com/gnaudit/gnaudit/auditor/internal/simd"
	"github.com/gnaudit/gnaudit/auditor/ir"
)

// DefaultBatch is the number of samples of one batched pass when
// Options.Batch is 0.
const DefaultBatch = 32

// Options configure an Engine.
type Options struct {
	// Float64 runs the executor and the expansion in float64 (for checks);
	// the default is float32.
	Float64 bool
	// Batch is the number of samples of one batched forward/backward pass
	// (default DefaultBatch); longer inputs are processed in chunks.
	Batch int
	// Workers is the number of goroutines of the per-sample expansion
	// (0: GOMAXPROCS).
	Workers int
	// ForceFallback computes every parameter with batch-1 passes (to check
	// the expansion against them).
	ForceFallback bool
	// MaxMemory bounds the tensors of each executor the engine builds
	// (graph.Options.MaxMemory; 0: the machine's memory).
	MaxMemory int64
}

// ParamInfo describes one trainable parameter and how its per-sample
// gradients are computed.
type ParamInfo struct {
	Name  string // ONNX initializer name
	Shape []int
	Size  int    // number of elements
	Layer string // the consuming node, e.g. "conv1" (PyTorch's "/conv1/Conv")
	Kind  string // "weight", "bias", "bn_scale", "bn_shift" or "other"
	// Method is how the gradients are computed: the Method* constant of
	// each use of the parameter joined by "+" (e.g. "conv", "bias"), or
	// MethodZero, or MethodFallback.
	Method string
	// Reason says why the parameter uses the fallback or is zero.
	Reason string
}

// Fallback reports whether the parameter is computed by batch-1 passes.
func (p ParamInfo) Fallback() bool { return p.Method == MethodFallback }

// Request says what Compute returns for every parameter.
type Request struct {
	// Coords lists, per parameter in Params order, the flat (row-major)
	// indices whose per-sample values are returned in ParamGrads.Coords;
	// nil (or a shorter slice) asks for none.
	Coords [][]int
	// Norms asks for ParamGrads.SqNorm (|g_i|² over all coordinates) and
	// ParamGrads.Sum (Σ_i g_i).
	Norms bool
	// Full asks for the whole per-sample gradients (ParamGrads.Full32 or
	// Full64): samples × parameter size values per parameter.
	Full bool
}

// Result holds the per-sample gradients of the samples of one Compute call.
// All gradients are of the per-sample loss ℓ_i = CrossEntropy(f(x_i), y_i).
type Result struct {
	Rows   int       // samples
	Loss   float64   // Σ_i ℓ_i
	Logits []float64 // [Rows × classes]
	Params []ParamGrads
}

// ParamGrads holds one parameter's per-sample gradients.
type ParamGrads struct {
	Coords []float64 // [Rows × len(Request.Coords[k])]: g_i at the requested coordinates
	SqNorm []float64 // [Rows]: |g_i|² (Request.Norms)
	Sum    []float64 // [Size]: Σ_i g_i (Request.Norms)
	// Full32 (float32 mode) or Full64 (Options.Float64) is [Rows × Size]:
	// g_i laid out like the parameter (Request.Full).
	Full32 []float32
	Full64 []float64
}

// Engine computes per-sample gradients of a model from batched backward
// passes (METHOD.md §2). It is not safe for concurrent use.
type Engine struct {
	m         *ir.Model
	opt       Options
	plans     []*paramPlan
	shapes    map[string][]int
	main      *graph.Net // batch opt.Batch; nil when the model cannot be batched
	other     *graph.Net // the last odd-sized chunk's net
	one       *graph.Net // batch 1 (fallback)
	overrides map[string][]float64
	notes     []string
	inShape   []int
	classes   int
	logits    string
	workers   int
	moved     map[string]bool           // values whose batch the executor tracks off axis 0 (expand_ext.go)
	skips     map[*graph.Net]*skipState // skip.go
	sumBuf    []float64                 // the skipped parameters' span sums (runExpansions)
	dyTBuf    any                       // []T: mmExp.dyT of the pass (runExpansions)
	noSkip    bool
}

// New plans the per-sample gradients of m: it builds the executor for a
// batch of opt.Batch and finds, for every trainable parameter, the
// expansion of each of its uses, or else the batch-1 fallback.
func New(m *ir.Model, opt Options) (*Engine, error) {
	if m == nil {
		return nil, errors.New("persample: nil model")
	}
	if opt.Batch <= 0 {
		opt.Batch = DefaultBatch
	}
	e := &Engine{m: m, opt: opt, overrides: map[string][]float64{}, workers: opt.Workers, noSkip: noSkip}
	if e.workers <= 0 {
		e.workers = runtime.GOMAXPROCS(0)
	}
	ref, err := graph.Build(m, graph.Options{Batch: opt.Batch, Float64: opt.Float64, MaxMemory: opt.MaxMemory})
	if err == nil {
		e.main = ref
	} else {
		one, err1 := graph.Build(m, graph.Options{Batch: 1, Float64: opt.Float64, MaxMemory: opt.MaxMemory})
		if err1 != nil {
			return nil, fmt.Errorf("persample: %w", err)
		}
		e.one, ref = one, one
		e.note("the model cannot run a batch of %d (%v): every parameter uses batch-1 passes", opt.Batch, err)
	}
	e.notes = append(e.notes, ref.Notes()...)
	e.inShape, e.classes, e.logits = ref.InputShape(), ref.Classes(), ref.LogitsName()
	e.shapes = map[string][]int{}
	var trainable []graph.Param
	for _, p := range ref.Params() {
		e.shapes[p.Name] = p.Shape
		if p.Trainable {
			trainable = append(trainable, p)
		}
	}
	a := newAnalysis(m, ref, e.logits)
	for _, p := range trainable {
		pl := a.plan(p.Name, p.Shape)
		if pl.info.Method != MethodZero && pl.info.Method != MethodFallback {
			switch {
			case opt.ForceFallback:
				pl.info.Method, pl.info.Reason, pl.uses = MethodFallback, "Options.ForceFallback", nil
			case e.main == nil:
				pl.info.Method, pl.info.Reason, pl.uses = MethodFallback, "the model cannot be batched", nil
			default:
				if why := e.movedBatch(a, pl); why != "" {
					pl.info.Method, pl.info.Reason, pl.uses = MethodFallback, why, nil
				}
			}
		}
		e.plans = append(e.plans, pl)
	}
	return e, nil
}

func (e *Engine) note(format string, args ...any) {
	e.notes = append(e.notes, fmt.Sprintf(format, args...))
}

// Params lists the trainable parameters in file order.
func (e *Engine) Params() []ParamInfo {
	r := make([]ParamInfo, len(e.plans))
	for k, p := range e.plans {
		r[k] = p.info
		r[k].Shape = slices.Clone(p.info.Shape)
	}
	return r
}

// Fallbacks lists the parameters computed by batch-1 passes.
func (e *Engine) Fallbacks() []string {
	var r []string
	for _, p := range e.plans {
		if p.info.Fallback() {
			r = append(r, p.info.Name)
		}
	}
	return r
}

// Notes lists what the executor and the planner changed or assumed.
func (e *Engine) Notes() []string { return slices.Clone(e.notes) }

// InputShape is the shape of one sample.
func (e *Engine) InputShape() []int { return slices.Clone(e.inShape) }

// Classes is the number of logits per sample.
func (e *Engine) Classes() int { return e.classes }

// Batch is the number of samples of one batched pass.
func (e *Engine) Batch() int { return e.opt.Batch }

// Float64 reports whether the engine computes in float64.
func (e *Engine) Float64() bool { return e.opt.Float64 }

// Param returns a copy of a parameter's current value (nil if unknown).
func (e *Engine) Param(name string) []float64 {
	if v, ok := e.overrides[name]; ok {
		return slices.Clone(v)
	}
	for _, n := range []*graph.Net{e.main, e.one, e.other} {
		if n != nil {
			return n.Param(name)
		}
	}
	return nil
}

// SetParam changes a parameter's value (every later pass uses it).
func (e *Engine) SetParam(name string, v []float64) error {
	s, ok := e.shapes[name]
	if !ok {
		return fmt.Errorf("persample: SetParam: unknown parameter %q", name)
	}
	if len(v) != prod(s) {
		return fmt.Errorf("persample: SetParam %q: %d values for shape %v", name, len(v), s)
	}
	for _, n := range []*graph.Net{e.main, e.one, e.other} {
		if n != nil {
			if err := n.SetParam(name, v); err != nil {
				return fmt.Errorf("persample: %w", err)
			}
		}
	}
	e.overrides[name] = slices.Clone(v)
	return nil
}

func (e *Engine) build(batch int) (*graph.Net, error) {
	n, err := graph.Build(e.m, graph.Options{Batch: batch, Float64: e.opt.Float64, MaxMemory: e.opt.MaxMemory})
	if err != nil {
		return nil, fmt.Errorf("persample: %w", err)
	}
	for name, v := range e.overrides {
		if err := n.SetParam(name, v); err != nil {
			return nil, fmt.Errorf("persample: %w", err)
		}
	}
	return n, nil
}

func (e *Engine) oneNet() (*graph.Net, error) {
	if e.one == nil {
		n, err := e.build(1)
		if err != nil {
			return nil, err
		}
		e.one = n
	}
	return e.one, nil
}

func (e *Engine) netFor(b int) (*graph.Net, error) {
	switch {
	case b == 1:
		return e.oneNet()
	case e.main != nil && e.main.Batch() == b:
		return e.main, nil
	case e.other != nil && e.other.Batch() == b:
		return e.other, nil
	}
	n, err := e.build(b)
	if err != nil {
		return nil, err
	}
	e.other = n
	return n, nil
}

// check validates the inputs of Compute.
func (e *Engine) check(x []float64, labels []int, req Request) error {
	per := prod(e.inShape)
	if len(labels) == 0 {
		return errors.New("persample: no samples")
	}
	if len(x) != len(labels)*per {
		return fmt.Errorf("persample: %d input values for %d samples of shape %v (want %d)", len(x), len(labels), e.inShape, len(labels)*per)
	}
	for i, y := range labels {
		if y < 0 || y >= e.classes {
			return fmt.Errorf("persample: label %d of sample %d outside [0, %d)", y, i, e.classes)
		}
	}
	if len(req.Coords) > len(e.plans) {
		return fmt.Errorf("persample: coordinates for %d parameters, the model has %d", len(req.Coords), len(e.plans))
	}
	for k, cs := range req.Coords {
		n := e.plans[k].info.Size
		for _, j := range cs {
			if j < 0 || j >= n {
				return fmt.Errorf("persample: parameter %q: coordinate %d outside [0, %d)", e.plans[k].info.Name, j, n)
			}
		}
	}
	return nil
}

func (e *Engine) ncoords(req Request, k int) int {
	if k < len(req.Coords) {
		return len(req.Coords[k])
	}
	return 0
}

// prepare sizes res for rows samples (reusing its slices when possible).
func (e *Engine) prepare(res *Result, rows int, req Request) {
	res.Rows, res.Loss = rows, 0
	res.Logits = grow(res.Logits, rows*e.classes)
	if len(res.Params) != len(e.plans) {
		res.Params = make([]ParamGrads, len(e.plans))
	}
	for k, p := range e.plans {
		pg := &res.Params[k]
		pg.Coords = grow(pg.Coords, rows*e.ncoords(req, k))
		pg.SqNorm, pg.Sum = pg.SqNorm[:0], pg.Sum[:0]
		if req.Norms {
			pg.SqNorm = grow(pg.SqNorm, rows)
			pg.Sum = grow(pg.Sum, p.info.Size)
			clear(pg.Sum)
		}
		pg.Full32, pg.Full64 = pg.Full32[:0], pg.Full64[:0]
		if req.Full {
			if e.opt.Float64 {
				pg.Full64 = grow(pg.Full64, rows*p.info.Size)
			} else {
				pg.Full32 = grow(pg.Full32, rows*p.info.Size)
			}
		}
	}
}

// Compute returns the per-sample gradients of the samples x (row-major
// [n, InputShape…]) with labels (n class indices), processed in chunks of
// Batch samples.
func (e *Engine) Compute(x []float64, labels []int, req Request) (*Result, error) {
	res := &Result{}
	if err := e.ComputeInto(x, labels, req, res); err != nil {
		return nil, err
	}
	return res, nil
}

// ComputeInto is Compute writing into res, whose slices are reused when
// they are large enough.
func (e *Engine) ComputeInto(x []float64, labels []int, req Request, res *Result) error {
	if err := e.check(x, labels, req); err != nil {
		return err
	}
	n := len(labels)
	per := prod(e.inShape)
	e.prepare(res, n, req)
	for off := 0; off < n; off += e.opt.Batch {
		b := min(e.opt.Batch, n-off)
		if err := e.chunk(x[off*per:(off+b)*per], labels[off:off+b], req, res, off); err != nil {
			return err
		}
	}
	return nil
}

// Stream processes the samples in chunks of Batch and calls fn with each
// chunk's result (off: index of its first sample). The result's slices are
// reused by the next chunk.
func (e *Engine) Stream(x []float64, labels []int, req Request, fn func(off int, r *Result) error) error {
	if err := e.check(x, labels, req); err != nil {
		return err
	}
	n := len(labels)
	per := prod(e.inShape)
	res := &Result{}
	for off := 0; off < n; off += e.opt.Batch {
		b := min(e.opt.Batch, n-off)
		e.prepare(res, b, req)
		if err := e.chunk(x[off*per:(off+b)*per], labels[off:off+b], req, res, 0); err != nil {
			return err
		}
		if err := fn(off, res); err != nil {
			return err
		}
	}
	return nil
}

// chunk computes the samples of one pass into res at row offset off.
func (e *Engine) chunk(x []float64, labels []int, req Request, res *Result, off int) error {
	B := len(labels)
	if B == 1 || e.main == nil {
		return e.singles(x, labels, req, res, off, nil, true)
	}
	net, err := e.netFor(B)
	if err != nil {
		return err
	}
	st := e.skipFor(net, req)
	var loss float64
	if st != nil {
		loss, err = net.LossGradSkip(x, labels, st.convs)
	} else {
		loss, err = net.LossGrad(x, labels)
	}
	if err != nil {
		return fmt.Errorf("persample: %w", err)
	}
	res.Loss += loss
	if err := e.logitsInto(net, res, off, B); err != nil {
		return err
	}
	ps := newPass(net, e.shapes)
	if err := e.plainViews(ps); err != nil {
		return err
	}
	var skip map[int]bool
	if st != nil {
		skip = st.ks
	}
	var own []int
	if e.opt.Float64 {
		own, err = runExpansions[float64](e, ps, req, res, off, skip)
	} else {
		own, err = runExpansions[float32](e, ps, req, res, off, skip)
	}
	if err != nil {
		return err
	}
	if st == nil {
		e.learnSkip(net, req, own)
	}
	owned := map[int]bool{}
	for _, k := range own {
		owned[k] = true
	}
	var fb, sums []int
	for k, p := range e.plans {
		switch p.info.Method {
		case MethodFallback:
			fb = append(fb, k)
		case MethodZero:
			e.zeroRows(res, req, k, off, B)
		default:
			if req.Norms && !owned[k] {
				sums = append(sums, k)
			}
		}
	}
	if err := e.addSums(net, res, sums); err != nil {
		return err
	}
	if len(fb) > 0 {
		return e.singles(x, labels, req, res, off, fb, false)
	}
	return nil
}

// addSums adds the batch gradient of the parameters ks (Σ_i g_i of the
// pass) to their Result.Sum, reading the executor's buffers in parallel.
func (e *Engine) addSums(net *graph.Net, res *Result, ks []int) error {
	views := make([]any, len(ks))
	for q, k := range ks {
		name := e.plans[k].info.Name
		v := net.GradView(name)
		if v == nil && len(net.Grad(name)) == e.plans[k].info.Size {
			continue // no gradient node: the executor's gradient is zero
		}
		n := -1
		switch v := v.(type) {
		case []float32:
			n = len(v)
		case []float64:
			n = len(v)
		}
		if n != e.plans[k].info.Size {
			return fmt.Errorf("persample: no gradient for parameter %q", name)
		}
		views[q] = v
	}
	// Split every parameter into pieces of at most piece elements and hand
	// them out to the workers.
	const piece = 1 << 16
	type span struct{ q, lo, hi int }
	var spans []span
	for q, k := range ks {
		if views[q] == nil {
			continue
		}
		for lo := 0; lo < e.plans[k].info.Size; lo += piece {
			spans = append(spans, span{q, lo, min(lo+piece, e.plans[k].info.Size)})
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < min(e.workers, len(spans)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				t := int(next.Add(1) - 1)
				if t >= len(spans) {
					return
				}
				sp := spans[t]
				dst := res.Params[ks[sp.q]].Sum[sp.lo:sp.hi]
				switch v := views[sp.q].(type) {
				case []float32:
					for j, x := range v[sp.lo:sp.hi] {
						dst[j] += float64(x)
					}
				case []float64:
					for j, x := range v[sp.lo:sp.hi] {
						dst[j] += x
					}
				}
			}
		}()
	}
	wg.Wait()
	return nil
}

func (e *Engine) logitsInto(net *graph.Net, res *Result, off, B int) error {
	_, z, ok := net.Value(e.logits)
	if !ok || len(z) != B*e.classes {
		return fmt.Errorf("persample: logits %q not computed", e.logits)
	}
	copy(res.Logits[off*e.classes:], z)
	return nil
}

func (e *Engine) zeroRows(res *Result, req Request, k, off, B int) {
	pg := &res.Params[k]
	nc := e.ncoords(req, k)
	clear(pg.Coords[off*nc : (off+B)*nc])
	if req.Norms {
		clear(pg.SqNorm[off : off+B])
	}
	size := e.plans[k].info.Size
	if req.Full {
		if e.opt.Float64 {
			clear(pg.Full64[off*size : (off+B)*size])
		} else {
			clear(pg.Full32[off*size : (off+B)*size])
		}
	}
}

// singles runs one batch-1 pass per sample and takes the parameters in
// which (all when nil) from its gradient; with record it also records loss
// and logits.
func (e *Engine) singles(x []float64, labels []int, req Request, res *Result, off int, which []int, record bool) error {
	net, err := e.oneNet()
	if err != nil {
		return err
	}
	if which == nil {
		which = make([]int, len(e.plans))
		for k := range which {
			which[k] = k
		}
	}
	per := prod(e.inShape)
	for i := range labels {
		loss, err := net.LossGrad(x[i*per:(i+1)*per], labels[i:i+1])
		if err != nil {
			return fmt.Errorf("persample: sample %d: %w", off+i, err)
		}
		row := off + i
		if record {
			res.Loss += loss
			if err := e.logitsInto(net, res, row, 1); err != nil {
				return err
			}
		}
		for _, k := range which {
			p := e.plans[k]
			g := net.Grad(p.info.Name)
			if len(g) != p.info.Size {
				return fmt.Errorf("persample: no gradient for parameter %q", p.info.Name)
			}
			pg := &res.Params[k]
			if nc := e.ncoords(req, k); nc > 0 {
				dst := pg.Coords[row*nc : (row+1)*nc]
				for q, j := range req.Coords[k] {
					dst[q] = g[j]
				}
			}
			if req.Norms {
				s := 0.0
				for j, v := range g {
					s += v * v
					pg.Sum[j] += v
				}
				pg.SqNorm[row] = s
			}
			if req.Full {
				size := p.info.Size
				if e.opt.Float64 {
					copy(pg.Full64[row*size:(row+1)*size], g)
				} else {
					dst := pg.Full32[row*size : (row+1)*size]
					for j, v := range g {
						dst[j] = float32(v)
					}
				}
			}
		}
	}
	return nil
}

// worker holds one goroutine's scratch memory.
type worker[T float] struct {
	L, R, sel, out, S []T
	lv, rt            []T // a view's L_i and Rᵀ_i (read-only executor buffers, or rtb)
	rtb               []T // Rᵀ_i built by a view (newConvIm2row)
	xp, dp            []T // a shiftConv's padded input and δ
	gt                []T // a Gram matrix in T
	i                 int // the loaded sample
	g1, g2, r64       []float64
	acc, e            []float64
	dots              []float64 // dotsAll's sample-major block
	span              int       // the span of samples being processed
	first             bool      // the sample is its span's first
}

// paramRun is the chunk-level plan of one expanded parameter.
type paramRun[T float] struct {
	k    int
	info *ParamInfo
	// single matrix-product use (the fast path)
	mm       *mmExp[T]
	vidx     []int32
	coordsIn []int     // requested coordinates in the use's input layout
	direct   bool      // compute the whole gradient (then norms/coords from it)
	skip     bool      // the pass left out the batch gradient: computed directly
	own      bool      // Σ_i g_i from the per-sample gradients (sums), not the executor's
	sums     []float64 // skip: Σ g_i per span of samples [span, Size]
	trans    bool      // direct, in mmExp.fullT's transposed layout (coordsT)
	coordsT  []int     // coordsIn in fullT's layout
	gram     bool      // |g_i|² from Gram matrices
	dotsAll  bool      // coordinates by mm.dotsAll for the whole batch
	rsel     *rowSel
	dotOffs  []int   // coordinates by mm.dotsAt: mm.dotOffsets(coordsIn)
	tapOffs  []int32 // coordinates by mm.tap.coords: mm.tap.offsets(coordsIn)
	// general path: every use into a float64 accumulator
	mms    []*mmExp[T]
	mmVidx [][]int32
	els    []elemExp
	elVidx [][]int32
	elScat [][]int32 // per elementwise use: input index → parameter index (a gathered parameter), or nil
}

// runExpansions computes the expanded parameters of one pass. The
// parameters skip (whose batch gradient the pass left out, skip.go) are
// computed directly; own lists them, or in a pass without skip those that
// could be: the parameters whose Σ_i g_i runExpansions adds to Result.Sum
// from the per-sample gradients (so that a sum is the same number whether
// or not the pass skipped).
func runExpansions[T float](e *Engine, ps *pass, req Request, res *Result, off int, skip map[int]bool) (own []int, err error) {
	var runs []*paramRun[T]
	for k, p := range e.plans {
		if len(p.uses) == 0 {
			continue
		}
		nc := e.ncoords(req, k)
		if nc == 0 && !req.Norms && !req.Full {
			continue
		}
		r := &paramRun[T]{k: k, info: &p.info, skip: skip[k]}
		for _, u := range p.uses {
			var err error
			var mm *mmExp[T]
			var el elemExp
			switch u.method {
			case MethodConv:
				if !req.Full && len(p.uses) == 1 {
					mm, err = newConvTap[T](ps, u)
				} else {
					mm, err = newConv[T](ps, u)
				}
			case MethodGemm:
				mm, err = newGemm[T](ps, u)
			case MethodGemmRows:
				mm, err = newGemmRows[T](ps, u)
			case MethodMatMul:
				mm, err = newMatMul[T](ps, u)
			case MethodBias:
				if u.node.OpType == "Gemm" {
					el, err = newGemmBias(ps, u)
				} else {
					el, err = newConvBias[T](ps, u)
				}
			case MethodBatchNorm:
				el, err = newBatchNorm(ps, u)
			case MethodBinary:
				el, err = newBinary(ps, u)
			default:
				el, err = newExt(ps, u)
			}
			if err != nil {
				return nil, fmt.Errorf("persample: parameter %q: %w", p.info.Name, err)
			}
			if mm != nil {
				if mm.size() != p.info.Size {
					return nil, fmt.Errorf("persample: parameter %q: expansion of %s %q has %d elements, the parameter %d", p.info.Name, u.node.OpType, u.node.Name, mm.size(), p.info.Size)
				}
				r.mms, r.mmVidx = append(r.mms, mm), append(r.mmVidx, u.vidx)
			} else {
				r.els, r.elVidx, r.elScat = append(r.els, el), append(r.elVidx, u.vidx), append(r.elScat, u.scatter)
			}
		}
		if len(r.mms) == 1 && len(r.els) == 0 {
			r.single(req, nc)
		}
		if r.skip && !r.direct {
			return nil, fmt.Errorf("persample: parameter %q: internal error: its batch gradient was skipped, but it is not computed directly", p.info.Name)
		}
		runs = append(runs, r)
	}
	B := ps.batch
	span, nspan := 1, B
	if req.Norms && !e.noSkip {
		span = skipSpan(B, e.workers)
		nspan = (B + span - 1) / span
	}
	// The parameters whose Σ_i g_i the pass sums itself: those skipped, or
	// (in a pass without skipped gradients) those that could be.
	bytes := 0
	for _, r := range runs {
		if skip == nil && req.Norms && !e.noSkip && r.direct && r.vidx == nil && skipCandidate(e.plans[r.k]) &&
			ps.net.CanSkipWeightGrad(e.plans[r.k].uses[0].node.Name) && bytes+8*nspan*r.info.Size <= skipMaxBytes {
			r.own = true
		}
		if r.skip || r.own {
			r.own = true
			bytes += 8 * nspan * r.info.Size
			own = append(own, r.k)
		}
	}
	if len(runs) == 0 {
		return own, nil
	}
	// Samples are handed out in spans of span consecutive ones (one
	// without parameters to sum); a parameter whose sum the pass forms
	// sums its gradients per span in sample order, and the spans are added
	// in order below, so that Σ_i g_i does not depend on the scheduling.
	var sumRuns []*paramRun[T]
	for _, r := range runs {
		if r.own {
			sumRuns = append(sumRuns, r)
		}
	}
	if len(sumRuns) == 0 {
		span, nspan = 1, B
	} else {
		n := 0
		for _, r := range sumRuns {
			n += nspan * r.info.Size
		}
		// reused from pass to pass: addSum sets before it adds
		e.sumBuf = grow(e.sumBuf, n)
		n = 0
		for _, r := range sumRuns {
			r.sums = e.sumBuf[n : n+nspan*r.info.Size]
			n += nspan * r.info.Size
		}
	}
	// Work items: the samples, then blocks of batch-wide coordinates.
	type dotBlock struct {
		r      *paramRun[T]
		q0, q1 int
	}
	var dots []dotBlock
	for _, r := range runs {
		if r.dotsAll {
			for q := 0; q < len(r.coordsIn); q += 64 {
				dots = append(dots, dotBlock{r, q, min(q+64, len(r.coordsIn))})
			}
		}
	}
	nw := min(e.workers, B)
	// Batch-wide Gram matrices of small convolution patches, before the
	// samples that use them.
	var grams []*mmExp[T]
	for _, r := range runs {
		if r.gram && r.mm.colm != nil && r.mm.p <= smallGramP {
			r.mm.g2 = grow(r.mm.g2, B*r.mm.groups*r.mm.p*r.mm.p)
			grams = append(grams, r.mm)
		}
	}
	// δ of the batch-wide coordinates' convolutions, transposed.
	var trs []*mmExp[T]
	n := 0
	for _, r := range runs {
		if r.dotsAll && r.mm.dy != nil {
			trs = append(trs, r.mm)
			n += len(r.mm.dy)
		}
	}
	if len(trs) > 0 {
		buf, _ := e.dyTBuf.([]T)
		buf = grow(buf, n)
		e.dyTBuf = buf
		n = 0
		for _, mm := range trs {
			mm.dyT = buf[n : n+len(mm.dy)]
			n += len(mm.dy)
		}
	}
	if len(grams) > 0 || len(trs) > 0 {
		var wg sync.WaitGroup
		step := (B + nw - 1) / nw
		for i0 := 0; i0 < B; i0 += step {
			wg.Add(1)
			go func(i0, i1 int) {
				defer wg.Done()
				for _, mm := range trs {
					mm.transposeDy(i0, i1, B)
				}
				for _, mm := range grams {
					mm.gramsAll(i0, i1)
				}
			}(i0, min(i0+step, B))
		}
		wg.Wait()
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	for w := 0; w < nw; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var cur *paramRun[T]
			defer func() {
				if r := recover(); r != nil {
					name := "?"
					if cur != nil {
						name = cur.info.Name
					}
					err := fmt.Errorf("persample: parameter %q: internal error: %v", name, r)
					failed.CompareAndSwap(nil, &err)
				}
			}()
			ws := &worker[T]{}
			for failed.Load() == nil {
				t := int(next.Add(1) - 1)
				if t >= nspan+len(dots) {
					return
				}
				if t >= nspan {
					d := dots[t-nspan]
					cur = d.r
					d.r.mm.dotsAll(d.r.coordsIn, d.q0, d.q1, B, res.Params[d.r.k].Coords, off, len(d.r.coordsIn), &ws.sel, &ws.dots)
					continue
				}
				ws.span = t
				for i := t * span; i < min(t*span+span, B); i++ {
					ws.first = i == t*span
					for _, r := range runs {
						cur = r
						r.sample(ws, i, req, res, off, e.ncoords(req, r.k))
					}
				}
			}
		}()
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		return nil, *err
	}
	for _, r := range sumRuns {
		r.addSums(res.Params[r.k].Sum, nspan)
	}
	return own, nil
}

// sqNorm returns Σ v² in float64, with four partial sums (one running sum
// would make every addition wait for the previous one).
func sqNorm[T float](v []T) float64 {
	var s0, s1, s2, s3 float64
	n := len(v) &^ 3
	for k := 0; k < n; k += 4 {
		x := v[k : k+4 : k+4]
		a, b, c, d := float64(x[0]), float64(x[1]), float64(x[2]), float64(x[3])
		s0 += a * a
		s1 += b * b
		s2 += c * c
		s3 += d * d
	}
	for _, x := range v[n:] {
		s0 += float64(x) * float64(x)
	}
	return (s0 + s1) + (s2 + s3)
}

// sqNormT is sqNorm, with the assembly kernel for float32 values.
func sqNormT[T float](v []T) float64 {
	if v32, ok := any(v).([]float32); ok {
		return sqNorm32(v32)
	}
	return sqNorm(v)
}

// single chooses how a parameter with one matrix-product use computes its
// outputs, by operation counts.
func (r *paramRun[T]) single(req Request, nc int) {
	mm := r.mms[0]
	r.mm, r.vidx = mm, r.mmVidx[0]
	if nc > 0 {
		r.coordsIn = req.Coords[r.k]
		if r.vidx != nil {
			r.coordsIn = make([]int, nc)
			for q, j := range req.Coords[r.k] {
				r.coordsIn[q] = int(r.vidx[j])
			}
		}
	}
	if mm.tap != nil {
		// newConvTap: never with Full, never direct
		r.gram = req.Norms
		if nc > 0 {
			r.tapOffs = mm.tap.offsets(r.coordsIn)
		}
		return
	}
	G, rows, cols, P := float64(mm.groups), float64(mm.rows), float64(mm.cols), float64(mm.p)
	direct := G * rows * cols * P
	if req.Full {
		r.direct = true
		return
	}
	coordCost := 0.0
	if nc > 0 {
		r.rsel = mm.newRowSel(r.coordsIn)
		dots := 3 * float64(nc) * P
		coordCost = min(dots, r.rsel.cost(mm.cols, mm.p))
		if dots <= r.rsel.cost(mm.cols, mm.p) {
			r.rsel = nil
		}
	}
	if req.Norms {
		gram := G * P * P * (rows + cols)
		if gram+coordCost < direct && !r.skip {
			r.gram = true
		} else {
			r.direct = true
		}
	}
	if r.direct && mm.transposedFull() {
		r.trans = true
		r.coordsT = make([]int, len(r.coordsIn))
		for q, j := range r.coordsIn {
			r.coordsT[q] = mm.tIndex(j)
		}
	}
	r.dotsAll = nc > 0 && !r.direct && r.rsel == nil && mm.colm != nil
	if nc > 0 && !r.direct && r.rsel == nil && !r.dotsAll {
		r.dotOffs = mm.dotOffsets(r.coordsIn)
	}
}

// addSum adds the loaded sample's gradient g to the sum of its span of
// samples (the first sample of the span sets it).
func (r *paramRun[T]) addSum(w *worker[T], g []T) {
	size := r.info.Size
	acc := r.sums[w.span*size : (w.span+1)*size][:len(g)]
	if w.first {
		for j, v := range g {
			acc[j] = float64(v)
		}
		return
	}
	for j, v := range g {
		acc[j] += float64(v)
	}
}

// sqOf returns where |g_i|² of row goes (nil without Norms).
func sqOf(pg *ParamGrads, row int, req Request) *float64 {
	if !req.Norms {
		return nil
	}
	return &pg.SqNorm[row]
}

// normSum writes |g|² of the loaded sample's gradient g to *sq (non-nil)
// and adds g to its span's sum (where the pass forms Σ_i g_i): for float32
// gradients in one sweep by simd.AccSq32 where the CPU has the kernels (the
// values of sqNorm32 and addSum, bit for bit).
func (r *paramRun[T]) normSum(w *worker[T], g []T, sq *float64) {
	g32, ok := any(g).([]float32)
	if !ok || sq == nil || r.sums == nil || !simdSums || !accSqKernel || len(g32) < 16 {
		if sq != nil {
			*sq = sqNormT(g)
		}
		if r.sums != nil {
			r.addSum(w, g)
		}
		return
	}
	size := r.info.Size
	acc := r.sums[w.span*size : (w.span+1)*size][:len(g32)]
	n16 := len(g32) / 16
	var out [16]float64
	simd.AccSq32(n16, &acc[0], &g32[0], w.first, &out)
	s := 0.0
	for _, x := range out {
		s += x
	}
	for j := n16 * 16; j < len(g32); j++ {
		x := float64(g32[j])
		s += x * x
		if w.first {
			acc[j] = x
		} else {
			acc[j] += x
		}
	}
	*sq = s
}

// accSqKernel enables simd.AccSq32 in normSum (a variable so that tests compare
// it with sqNorm32 and addSum).
var accSqKernel = true

// addSums adds the spans' sums, in span order, to dst (Result.Sum), from
// fullT's layout where the pass computed in it.
func (r *paramRun[T]) addSums(dst []float64, nspan int) {
	size := r.info.Size
	acc := r.sums[:size]
	for s := 1; s < nspan; s++ {
		for j, v := range r.sums[s*size : (s+1)*size] {
			acc[j] += v
		}
	}
	if !r.trans {
		for j, v := range acc {
			dst[j] += v
		}
		return
	}
	// block g of fullT holds g_i[g]ᵀ: (row, col) at g·rows·cols + col·rows + row
	mm := r.mm
	rc := mm.rows * mm.cols
	for g := 0; g < mm.groups; g++ {
		d, a := dst[g*rc:(g+1)*rc], acc[g*rc:(g+1)*rc]
		for row := 0; row < mm.rows; row++ {
			for col := 0; col < mm.cols; col++ {
				d[row*mm.cols+col] += a[col*mm.rows+row]
			}
		}
	}
}

// sample computes parameter r's outputs for sample i of the pass.
func (r *paramRun[T]) sample(w *worker[T], i int, req Request, res *Result, off, nc int) {
	pg := &res.Params[r.k]
	row := off + i
	size := r.info.Size
	var coords []float64
	if nc > 0 {
		coords = pg.Coords[row*nc : (row+1)*nc]
	}
	var full []T
	if req.Full {
		if f, ok := any(pg.Full32).([]T); ok && len(f) > 0 {
			full = f[row*size : (row+1)*size]
		} else if f, ok := any(pg.Full64).([]T); ok && len(f) > 0 {
			full = f[row*size : (row+1)*size]
		}
	}
	if r.mm != nil {
		if t := r.mm.tap; t != nil {
			if r.gram {
				pg.SqNorm[row] = t.norm(w, i)
			}
			if nc > 0 {
				t.coords(i, r.tapOffs, coords)
			}
			return
		}
		if r.trans {
			// norms and coordinates only: the layout does not matter
			w.S = grow(w.S, size)
			if r.mm.shift != nil {
				r.mm.shift.fullT(w, i, r.mm.alpha, w.S)
			} else {
				r.mm.load(w, i)
				r.mm.fullT(w, w.S)
			}
			for q, j := range r.coordsT {
				coords[q] = float64(w.S[j])
			}
			r.normSum(w, w.S, sqOf(pg, row, req)) // sums in fullT's layout
			return
		}
		if r.direct {
			g := full
			if g == nil || r.vidx != nil {
				w.S = grow(w.S, size)
				g = w.S
			}
			if r.mm.shiftIm() {
				r.mm.shift.fullIm(w, i, r.mm.alpha, g)
			} else {
				r.mm.load(w, i)
				r.mm.full(w, g)
			}
			if full != nil && r.vidx != nil {
				for j, v := range r.vidx {
					full[j] = g[v]
				}
			}
			for q, j := range r.coordsIn {
				coords[q] = float64(g[j])
			}
			r.normSum(w, g, sqOf(pg, row, req))
			return
		}
		r.mm.load(w, i)
		if r.gram {
			pg.SqNorm[row] = r.mm.gramNorm(w)
		}
		if nc > 0 && !r.dotsAll {
			if r.rsel != nil {
				r.mm.selRows(w, r.rsel, coords)
			} else {
				r.mm.dotsAt(w, r.dotOffs, coords)
			}
		}
		return
	}
	// General path: sum every use into the float64 accumulator.
	w.acc = grow(w.acc, size)
	acc := w.acc
	clear(acc)
	for u, mm := range r.mms {
		mm.load(w, i)
		w.S = grow(w.S, size)
		mm.full(w, w.S)
		if vi := r.mmVidx[u]; vi != nil {
			for j, v := range vi {
				acc[j] += float64(w.S[v])
			}
		} else {
			for j, v := range w.S {
				acc[j] += float64(v)
			}
		}
	}
	for u, el := range r.els {
		if sc := r.elScat[u]; sc != nil {
			w.e = grow(w.e, len(sc))
			clear(w.e)
			el.add(i, w.e)
			for k, j := range sc {
				acc[j] += w.e[k]
			}
			continue
		}
		vi := r.elVidx[u]
		if vi == nil {
			el.add(i, acc)
			continue
		}
		w.e = grow(w.e, size)
		clear(w.e)
		el.add(i, w.e)
		for j, v := range vi {
			acc[j] += w.e[v]
		}
	}
	if req.Norms {
		s := 0.0
		for _, v := range acc {
			s += v * v
		}
		pg.SqNorm[row] = s
	}
	if nc > 0 {
		for q, j := range req.Coords[r.k] {
			coords[q] = acc[j]
		}
	}
	for j := range full {
		full[j] = T(acc[j])
	}
}
