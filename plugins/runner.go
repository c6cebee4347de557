package plugins

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/gnaudit/gnaudit/auditor/noise"
)

// Candidate is one analysis offered to the Runner.
type Candidate struct {
	// Analysis is nil when it could not be loaded (Err says why).
	Analysis Analysis
	// Name is used to report a failure before Describe has given the name
	// (e.g. the plugin file name).
	Name string
	// Origin, Path and SHA256 are copied into the Result.
	Origin string
	Path   string
	SHA256 string
	// Err is a load error: the candidate is reported as failed at "load".
	Err error
}

// Runner drives analyses over a noise set. A failing analysis (an error, a
// panic, a timeout, a malformed result) is reported in its Result's Failure
// and its results are dropped; the other analyses go on.
type Runner struct {
	// Timeout bounds every call into an analysis (Describe, Start, each
	// Layer, Finish); 0 means no limit. A call past it fails the analysis.
	// For a subprocess the context deadline also ends the gRPC stream; an
	// in-process analysis that ignores its context is abandoned.
	Timeout time.Duration
	// Params holds the given parameter values per analysis name.
	Params map[string]map[string]string
}

// call runs fn with the per-call timeout, turning a panic into an error. On a
// timeout it returns without waiting for fn (which must not touch shared
// state after its context ends).
func (r *Runner) call(ctx context.Context, fn func(ctx context.Context) error) error {
	cctx := ctx
	var cancel context.CancelFunc = func() {}
	if r.Timeout > 0 {
		cctx, cancel = context.WithTimeout(ctx, r.Timeout)
	}
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("panic: %v\n%s", p, firstLines(string(debug.Stack()), 12))
			}
		}()
		done <- fn(cctx)
	}()
	select {
	case err := <-done:
		if err != nil && ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("timed out after %v (--plugin-timeout): %w", r.Timeout, err)
		}
		return err
	case <-cctx.Done():
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("timed out after %v (--plugin-timeout)", r.Timeout)
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

type entry struct {
	cand  Candidate
	res   *Result
	sess  Session
	order int
}

func (e *entry) fail(stage string, err error) {
	if e.res.Failure != nil {
		return
	}
	e.res.Failure = &Failure{Analysis: e.res.Description.Name, Stage: stage, Reason: err.Error()}
	e.res.Layers = nil
	e.res.Model = nil
	e.sess = nil
	if c, ok := e.cand.Analysis.(io.Closer); ok {
		_ = c.Close() // stop a hung or crashed subprocess now
	}
}

// Run runs the candidates over set and returns one Result per candidate, in
// the order the analyses ran (needs first, otherwise as given). The error is
// non-nil only for a bad input (an invalid set, parameters for an analysis
// that is not there or of the wrong type) or a cancelled ctx.
func (r *Runner) Run(ctx context.Context, set *noise.Set, cands []Candidate) ([]*Result, error) {
	if err := ValidateSet(set); err != nil {
		return nil, err
	}
	info := InfoOf(set)
	var entries []*entry
	byName := map[string]*entry{}
	for i, c := range cands {
		e := &entry{cand: c, order: i, res: &Result{Origin: c.Origin, Path: c.Path, SHA256: c.SHA256}}
		e.res.Description.Name = c.Name
		entries = append(entries, e)
		if c.Err != nil || c.Analysis == nil {
			err := c.Err
			if err == nil {
				err = errors.New("no analysis")
			}
			e.fail("load", err)
			continue
		}
		start := time.Now()
		var d Description
		a := c.Analysis
		err := r.call(ctx, func(ctx context.Context) error {
			var err error
			d, err = a.Describe(ctx)
			return err
		})
		e.res.Duration += time.Since(start)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err == nil {
			err = d.Validate()
			if d.Name != "" {
				e.res.Description = d
			}
		}
		if err != nil {
			e.fail("describe", err)
			continue
		}
		if prev, dup := byName[d.Name]; dup {
			e.res.Description = d
			e.fail("describe", fmt.Errorf("another analysis is already named %q (%s %s)", d.Name, prev.res.Origin, prev.res.Path))
			continue
		}
		e.res.Description = d
		byName[d.Name] = e
	}
	// Parameters: unknown analyses and bad values are the user's error.
	for name, given := range r.Params {
		e, ok := byName[name]
		if !ok {
			if failedNamed(entries, name) {
				continue
			}
			return nil, fmt.Errorf("parameters given for analysis %q, which is not loaded", name)
		}
		if _, err := e.res.Description.Resolve(given); err != nil {
			return nil, err
		}
	}
	entries = orderByNeeds(entries, byName)

	// Start.
	for _, e := range entries {
		if e.res.Failed() {
			continue
		}
		p, _ := e.res.Description.Resolve(r.Params[e.res.Description.Name])
		e.res.Params = p
		for _, n := range e.res.Description.Needs {
			if _, ok := byName[n]; !ok {
				e.res.Warnings = append(e.res.Warnings, fmt.Sprintf("needs analysis %q, which is not loaded: its prior results are missing", n))
			}
		}
		req := &StartRequest{Set: info, Params: p}
		start := time.Now()
		var sess Session
		a := e.cand.Analysis
		err := r.call(ctx, func(ctx context.Context) error {
			s, err := a.Start(ctx, req)
			if err == nil && s == nil {
				err = errors.New("Start returned no session")
			}
			sess = s
			return err
		})
		e.res.Duration += time.Since(start)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			e.fail("start", err)
			continue
		}
		e.sess = sess
	}

	// Layers, layer-major so that needs see this layer's results.
	for li := range set.Layers {
		l := &set.Layers[li]
		for _, e := range entries {
			if e.res.Failed() {
				continue
			}
			in := &LayerInput{Index: li, Layer: l, Prior: map[string]*LayerResult{}}
			for _, n := range e.res.Description.Needs {
				if ne, ok := byName[n]; ok && !ne.res.Failed() && len(ne.res.Layers) > li {
					in.Prior[n] = ne.res.Layers[li]
				}
			}
			var lr *LayerResult
			sess := e.sess
			start := time.Now()
			err := r.call(ctx, func(ctx context.Context) error {
				var err error
				lr, err = sess.Layer(ctx, in)
				return err
			})
			e.res.Duration += time.Since(start)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if err == nil {
				if verr := lr.Validate(l.Parameter, len(l.Coords), set.BatchSizes); verr != nil {
					err = fmt.Errorf("malformed result: %w", verr)
				}
			}
			if err != nil {
				e.fail(fmt.Sprintf("layer %s", l.Parameter), err)
				continue
			}
			e.res.Layers = append(e.res.Layers, lr)
		}
	}

	// Finish.
	for _, e := range entries {
		if e.res.Failed() {
			continue
		}
		var model []Value
		sess := e.sess
		start := time.Now()
		err := r.call(ctx, func(ctx context.Context) error {
			var err error
			model, err = sess.Finish(ctx)
			return err
		})
		e.res.Duration += time.Since(start)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err == nil {
			if verr := ValidateValues(model, set.BatchSizes, -1); verr != nil {
				err = fmt.Errorf("malformed model values: %w", verr)
			}
		}
		if err != nil {
			e.fail("finish", err)
			continue
		}
		e.res.Model = model
		e.sess = nil
	}
	out := make([]*Result, len(entries))
	for i, e := range entries {
		out[i] = e.res
	}
	return out, nil
}

func failedNamed(entries []*entry, name string) bool {
	for _, e := range entries {
		if e.res.Failed() && (e.res.Description.Name == name || e.cand.Name == name) {
			return true
		}
	}
	return false
}

// orderByNeeds sorts entries so that every analysis comes after those it
// needs (stable otherwise); analyses in a dependency cycle fail.
func orderByNeeds(entries []*entry, byName map[string]*entry) []*entry {
	var out []*entry
	state := map[*entry]int{} // 0 new, 1 visiting, 2 done
	var visit func(e *entry) bool
	visit = func(e *entry) bool {
		switch state[e] {
		case 1:
			return false
		case 2:
			return true
		}
		state[e] = 1
		ok := true
		if !e.res.Failed() {
			for _, n := range e.res.Description.Needs {
				if ne, found := byName[n]; found && !visit(ne) {
					ok = false
				}
			}
		}
		state[e] = 2
		if !ok {
			e.fail("start", fmt.Errorf("dependency cycle through needs %v", e.res.Description.Needs))
		}
		out = append(out, e)
		return ok
	}
	sorted := append([]*entry(nil), entries...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].order < sorted[j].order })
	for _, e := range sorted {
		visit(e)
	}
	return out
}

// ValidateSet checks the internal consistency of a noise set: the lengths of
// the per-coordinate arrays and mini-batch matrices against Coords, Batches
// and BatchSizes.
func ValidateSet(set *noise.Set) error {
	if set == nil {
		return errors.New("no noise set")
	}
	if set.Batches < 1 {
		return fmt.Errorf("noise set: %d mini-batches", set.Batches)
	}
	if set.Pool < 1 {
		return fmt.Errorf("noise set: pool of %d samples", set.Pool)
	}
	for i, b := range set.BatchSizes {
		if b < 1 || (i > 0 && b <= set.BatchSizes[i-1]) {
			return fmt.Errorf("noise set: batch sizes %v are not positive and ascending", set.BatchSizes)
		}
	}
	seen := map[string]bool{}
	for li := range set.Layers {
		l := &set.Layers[li]
		if l.Parameter == "" {
			return fmt.Errorf("noise set: layer %d (%q) has no parameter name", li, l.Name)
		}
		if seen[l.Parameter] {
			return fmt.Errorf("noise set: parameter %q appears twice", l.Parameter)
		}
		seen[l.Parameter] = true
		nc := len(l.Coords)
		for name, a := range map[string][]float64{"mean": l.Mean, "s2": l.S2, "s3": l.S3, "s4": l.S4, "a3": l.A3} {
			if len(a) != nc {
				return fmt.Errorf("noise set: layer %q: %s has %d entries for %d tested coordinates", l.Parameter, name, len(a), nc)
			}
		}
		for i, c := range l.Coords {
			if c < 0 || (l.Size > 0 && c >= l.Size) || (i > 0 && c <= l.Coords[i-1]) {
				return fmt.Errorf("noise set: layer %q: coordinate %d (index %d) out of range or not ascending (size %d)", l.Parameter, c, i, l.Size)
			}
		}
		if len(l.MiniBatch) != len(set.BatchSizes) {
			return fmt.Errorf("noise set: layer %q: %d mini-batch matrices for %d batch sizes", l.Parameter, len(l.MiniBatch), len(set.BatchSizes))
		}
		for k, m := range l.MiniBatch {
			if len(m) != set.Batches*nc {
				return fmt.Errorf("noise set: layer %q, batch size %d: mini-batch matrix has %d values, want %d×%d", l.Parameter, set.BatchSizes[k], len(m), set.Batches, nc)
			}
		}
		if len(l.Overlap) != 0 && len(l.Overlap) != len(set.BatchSizes) {
			return fmt.Errorf("noise set: layer %q: %d overlap flags for %d batch sizes", l.Parameter, len(l.Overlap), len(set.BatchSizes))
		}
	}
	return nil
}
