package plugins

import (
	"fmt"
	"math"
	"time"
)

// LayerResult is what an analysis returns for one layer.
type LayerResult struct {
	// Parameter names the layer: the noise.Layer's Parameter.
	Parameter string `json:"parameter"`
	// PerCoordinate holds arrays with one entry per tested coordinate, in
	// the order of the layer's Coords (compact: one array per key and batch
	// size, not one record per coordinate).
	PerCoordinate []Value `json:"per_coordinate,omitempty"`
	// Summary holds the per-layer values: numbers, arrays, histograms.
	Summary []Value `json:"summary"`
}

// Get returns the summary value with key and batch size b.
func (r *LayerResult) Get(key string, b int) (Value, bool) {
	if r == nil {
		return Value{}, false
	}
	return find(r.Summary, key, b)
}

// Coord returns the per-coordinate array with key and batch size b.
func (r *LayerResult) Coord(key string, b int) ([]float64, bool) {
	if r == nil {
		return nil, false
	}
	v, ok := find(r.PerCoordinate, key, b)
	return v.Array, ok && v.Kind == KindArray
}

// Number returns the summary number with key and batch size b, NaN when
// absent.
func (r *LayerResult) Number(key string, b int) float64 {
	v, ok := r.Get(key, b)
	if !ok || v.Kind != KindNumber {
		return math.NaN()
	}
	return v.Number
}

func find(vs []Value, key string, b int) (Value, bool) {
	for _, v := range vs {
		if v.Key == key && v.BatchSize == b {
			return v, true
		}
	}
	return Value{}, false
}

// FindValue returns the value with key and batch size b in vs.
func FindValue(vs []Value, key string, b int) (Value, bool) { return find(vs, key, b) }

// MaxValues bounds the number of values in one layer result or model
// summary, so that a runaway plugin cannot exhaust memory unnoticed.
const MaxValues = 100000

// ValidateValues checks a list of values: non-empty unique (key, batch size),
// batch sizes among the audited ones, well-formed histograms, and, when
// coords ≥ 0, arrays of exactly coords entries.
func ValidateValues(vs []Value, batchSizes []int, coords int) error {
	if len(vs) > MaxValues {
		return fmt.Errorf("%d values, more than the limit %d", len(vs), MaxValues)
	}
	okB := map[int]bool{0: true}
	for _, b := range batchSizes {
		okB[b] = true
	}
	type kb struct {
		k string
		b int
	}
	seen := map[kb]bool{}
	for i, v := range vs {
		if v.Key == "" || len(v.Key) > 128 {
			return fmt.Errorf("value %d: invalid key %q", i, v.Key)
		}
		if !okB[v.BatchSize] {
			return fmt.Errorf("value %q: batch size %d was not audited (audited: %v)", v.Key, v.BatchSize, batchSizes)
		}
		if seen[kb{v.Key, v.BatchSize}] {
			return fmt.Errorf("value %q (batch size %d) given twice", v.Key, v.BatchSize)
		}
		seen[kb{v.Key, v.BatchSize}] = true
		switch v.Kind {
		case KindNumber:
		case KindArray:
			if coords >= 0 && len(v.Array) != coords {
				return fmt.Errorf("per-coordinate array %q (batch size %d) has %d entries for %d tested coordinates", v.Key, v.BatchSize, len(v.Array), coords)
			}
		case KindHistogram:
			if v.Hist == nil {
				return fmt.Errorf("value %q: nil histogram", v.Key)
			}
			if err := v.Hist.Validate(); err != nil {
				return fmt.Errorf("value %q: %w", v.Key, err)
			}
		default:
			return fmt.Errorf("value %q: unknown kind %d", v.Key, int(v.Kind))
		}
		if coords >= 0 && v.Kind != KindArray {
			return fmt.Errorf("per-coordinate value %q is a %v, want an array", v.Key, v.Kind)
		}
	}
	return nil
}

// Validate checks r as the result for layer parameter with coords tested
// coordinates, in a set with the given batch sizes.
func (r *LayerResult) Validate(parameter string, coords int, batchSizes []int) error {
	if r == nil {
		return fmt.Errorf("no result")
	}
	if r.Parameter != parameter {
		return fmt.Errorf("result names layer %q, want %q", r.Parameter, parameter)
	}
	if err := ValidateValues(r.PerCoordinate, batchSizes, coords); err != nil {
		return err
	}
	return ValidateValues(r.Summary, batchSizes, -1)
}

// Result is the outcome of one analysis over one noise set.
type Result struct {
	Description Description `json:"description"`
	// Origin says where the analysis ran: "builtin", "builtin (isolated)"
	// or "plugin".
	Origin string `json:"origin"`
	// Path and SHA256 identify the executable of a plugin subprocess.
	Path   string `json:"path,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	Params Params `json:"params,omitempty"`
	// Layers holds one result per layer of the set, in order; nil when the
	// analysis failed.
	Layers []*LayerResult `json:"layers,omitempty"`
	// Model holds model-level values.
	Model []Value `json:"model,omitempty"`
	// Warnings are non-fatal remarks of the runner (e.g. a need not run).
	Warnings []string      `json:"warnings,omitempty"`
	Failure  *Failure      `json:"failure,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// Failed reports whether the analysis failed.
func (r *Result) Failed() bool { return r.Failure != nil }

// Layer returns the result for the layer with the given parameter name.
func (r *Result) Layer(parameter string) *LayerResult {
	for _, l := range r.Layers {
		if l != nil && l.Parameter == parameter {
			return l
		}
	}
	return nil
}

// Failure records why an analysis failed: its results are dropped, the
// other analyses' results survive.
type Failure struct {
	Analysis string `json:"analysis"`
	// Stage is where it failed: "load", "describe", "start",
	// "layer <parameter>" or "finish".
	Stage  string `json:"stage"`
	Reason string `json:"reason"`
}

func (f *Failure) Error() string {
	return fmt.Sprintf("analysis %s failed at %s: %s", f.Analysis, f.Stage, f.Reason)
}
