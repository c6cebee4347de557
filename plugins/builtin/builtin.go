// Package builtin holds the analyses that ship with gnaudit: normality
// (Shapiro–Wilk Gaussianity percentage), kurtosis-bound (Berry–Esseen and
// √κ, with the predicted vs measured Gaussian share), alpha-stable (tail
// indices) and noise-scale (B_simple). They run in-process by default, or as
// plugin subprocesses through the same protocol (gnaudit --isolate). The
// formulas are those of docs METHOD.md §3–6.
package builtin

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"sync"

	"github.com/gnaudit/gnaudit/plugins"
)

// Version is the version of the built-in analyses.
const Version = "1.0.0"

// All returns fresh instances of every built-in analysis, in the order they
// run (normality before kurtosis-bound, which reads its result).
func All() []plugins.Analysis {
	return []plugins.Analysis{Normality{}, KurtosisBound{}, AlphaStable{}, NoiseScale{}}
}

// Names returns the names of the built-in analyses, sorted.
func Names() []string {
	var out []string
	for _, a := range All() {
		d, _ := a.Describe(context.Background())
		out = append(out, d.Name)
	}
	sort.Strings(out)
	return out
}

// Lookup returns the built-in analysis called name.
func Lookup(name string) (plugins.Analysis, error) {
	for _, a := range All() {
		d, _ := a.Describe(context.Background())
		if d.Name == name {
			return a, nil
		}
	}
	return nil, fmt.Errorf("no built-in analysis %q (have %v)", name, Names())
}

// workersParam is shared by the analyses that parallelise over coordinates.
var workersParam = plugins.Param{Name: "workers", Type: plugins.TypeInt, Default: "0",
	Doc: "goroutines over coordinates; 0 means GOMAXPROCS (results do not depend on it)"}

func workers(p plugins.Params) (int, error) {
	w, err := p.Int("workers")
	if err != nil {
		return 0, err
	}
	if w < 0 {
		return 0, fmt.Errorf("parameter workers: %d < 0", w)
	}
	if w == 0 {
		w = runtime.GOMAXPROCS(0)
	}
	return w, nil
}

// parallel calls fn(worker, c) for c in [0, n) on w goroutines, in
// contiguous blocks, and returns the first error (by coordinate). ctx
// cancellation stops it between coordinates.
func parallel(ctx context.Context, n, w int, fn func(worker, c int) error) error {
	if w > n {
		w = n
	}
	if w <= 1 {
		for c := 0; c < n; c++ {
			if c%256 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			if err := fn(0, c); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make([]error, w)
	errAt := make([]int, w)
	var wg sync.WaitGroup
	for i := 0; i < w; i++ {
		lo, hi := n*i/w, n*(i+1)/w
		wg.Add(1)
		go func(i, lo, hi int) {
			defer wg.Done()
			for c := lo; c < hi; c++ {
				if c%256 == 0 && ctx.Err() != nil {
					errs[i], errAt[i] = ctx.Err(), c
					return
				}
				if err := fn(i, c); err != nil {
					errs[i], errAt[i] = err, c
					return
				}
			}
		}(i, lo, hi)
	}
	wg.Wait()
	for i := range errs {
		if errs[i] != nil {
			return errs[i]
		}
	}
	return nil
}

// session adapts a per-layer function to plugins.Session.
type session struct {
	layer  func(ctx context.Context, in *plugins.LayerInput) (*plugins.LayerResult, error)
	finish func(ctx context.Context) ([]plugins.Value, error)
}

func (s *session) Layer(ctx context.Context, in *plugins.LayerInput) (*plugins.LayerResult, error) {
	return s.layer(ctx, in)
}

func (s *session) Finish(ctx context.Context) ([]plugins.Value, error) {
	if s.finish == nil {
		return nil, nil
	}
	return s.finish(ctx)
}

func percent(k, n int) float64 {
	if n == 0 {
		return 0
	}
	return 100 * float64(k) / float64(n)
}
