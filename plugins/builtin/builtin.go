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

	"github.com/gnaudit/gnaudit/auditor/noise"
	"github.com/gnaudit/gnaudit/plugins"
)

// Version is the version of the built-in analyses.
const Version = "1.1.0"

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

// blockSize is the number of columns gathered at once from a row-major
// mini-batch matrix (a cache-friendly transpose).
const blockSize = 64

// parallel calls fn(worker, lo, hi) over blocks [lo, hi) of at most
// blockSize coordinates covering [0, n), on w goroutines that each take a
// contiguous range, and returns the error of the lowest failing range. ctx
// cancellation stops it between blocks.
func parallel(ctx context.Context, n, w int, fn func(worker, lo, hi int) error) error {
	w = max(1, min(w, (n+blockSize-1)/blockSize))
	errs := make([]error, w)
	var wg sync.WaitGroup
	for i := 0; i < w; i++ {
		lo, hi := n*i/w, n*(i+1)/w
		wg.Add(1)
		go func(i, lo, hi int) {
			defer wg.Done()
			for b := lo; b < hi; b += blockSize {
				if err := ctx.Err(); err != nil {
					errs[i] = err
					return
				}
				if err := fn(i, b, min(hi, b+blockSize)); err != nil {
					errs[i] = err
					return
				}
			}
		}(i, lo, hi)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// columns copies columns [lo, hi) of the mini-batch matrix k of l into dst,
// column after column (n values each, as float64), and returns dst and n.
func columns(l *noise.Layer, k, lo, hi int, dst []float64) ([]float64, int) {
	m := l.MiniBatch[k]
	nc := len(l.Coords)
	n := len(m) / nc
	need := (hi - lo) * n
	if cap(dst) < need {
		dst = make([]float64, need)
	}
	dst = dst[:need]
	for r := 0; r < n; r++ {
		row := m[r*nc+lo : r*nc+hi]
		for j, v := range row {
			dst[j*n+r] = float64(v)
		}
	}
	return dst, n
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
