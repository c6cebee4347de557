package plugins

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
)

// Kind is the kind of a Value.
type Kind int

// Value kinds.
const (
	KindNumber Kind = iota
	KindArray
	KindHistogram
)

func (k Kind) String() string {
	switch k {
	case KindNumber:
		return "number"
	case KindArray:
		return "array"
	case KindHistogram:
		return "histogram"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Value is one named result: a number, an array or a histogram, optionally
// tied to one audited batch size. NaN stands for "not defined" (e.g. a ratio
// with a zero denominator) and is written as null in JSON.
type Value struct {
	Key string
	// BatchSize is the audited batch size the value belongs to, 0 when it
	// does not depend on the batch size.
	BatchSize int
	Kind      Kind
	Number    float64
	Array     []float64
	Hist      *Histogram
}

// Num returns a number value.
func Num(key string, batchSize int, x float64) Value {
	return Value{Key: key, BatchSize: batchSize, Kind: KindNumber, Number: x}
}

// Arr returns an array value (xs is not copied).
func Arr(key string, batchSize int, xs []float64) Value {
	return Value{Key: key, BatchSize: batchSize, Kind: KindArray, Array: xs}
}

// Hist returns a histogram value.
func Hist(key string, batchSize int, h *Histogram) Value {
	return Value{Key: key, BatchSize: batchSize, Kind: KindHistogram, Hist: h}
}

// Histogram counts values in bins [Edges[i], Edges[i+1]); the last bin is
// closed on the right. Values below the first edge, above the last, and NaN
// are counted apart.
type Histogram struct {
	Edges     []float64 `json:"edges"`
	Counts    []int64   `json:"counts"`
	Underflow int64     `json:"underflow"`
	Overflow  int64     `json:"overflow"`
	NaN       int64     `json:"nan"`
}

// NewHistogram counts xs into bins of the given edges (strictly increasing,
// at least two).
func NewHistogram(edges []float64, xs []float64) (*Histogram, error) {
	h := &Histogram{Edges: append([]float64(nil), edges...)}
	if len(edges) < 2 {
		return nil, fmt.Errorf("histogram needs at least 2 edges, got %d", len(edges))
	}
	h.Counts = make([]int64, len(edges)-1)
	if err := h.Validate(); err != nil {
		return nil, err
	}
	for _, x := range xs {
		h.Add(x)
	}
	return h, nil
}

// Add counts one value.
func (h *Histogram) Add(x float64) {
	n := len(h.Edges)
	switch {
	case math.IsNaN(x):
		h.NaN++
	case x < h.Edges[0]:
		h.Underflow++
	case x > h.Edges[n-1]:
		h.Overflow++
	case x == h.Edges[n-1]:
		h.Counts[n-2]++
	default:
		i := sort.SearchFloat64s(h.Edges, x) // first edge >= x
		if i < n && h.Edges[i] == x {
			h.Counts[i]++
		} else {
			h.Counts[i-1]++
		}
	}
}

// Total returns the number of values counted, NaN included.
func (h *Histogram) Total() int64 {
	t := h.Underflow + h.Overflow + h.NaN
	for _, c := range h.Counts {
		t += c
	}
	return t
}

// Validate checks the structure of h.
func (h *Histogram) Validate() error {
	if len(h.Edges) < 2 {
		return fmt.Errorf("histogram has %d edges, want at least 2", len(h.Edges))
	}
	if len(h.Counts) != len(h.Edges)-1 {
		return fmt.Errorf("histogram has %d counts for %d edges", len(h.Counts), len(h.Edges))
	}
	for i, e := range h.Edges {
		if math.IsNaN(e) || math.IsInf(e, 0) {
			return fmt.Errorf("histogram edge %d is %v", i, e)
		}
		if i > 0 && !(e > h.Edges[i-1]) {
			return fmt.Errorf("histogram edges not strictly increasing at %d", i)
		}
	}
	for i, c := range h.Counts {
		if c < 0 {
			return fmt.Errorf("histogram count %d is negative", i)
		}
	}
	if h.Underflow < 0 || h.Overflow < 0 || h.NaN < 0 {
		return fmt.Errorf("histogram has negative under/overflow or NaN count")
	}
	return nil
}

// AutoHistogram bins the finite values of xs into bins equal bins spanning
// [lo, hi], where lo and hi default (NaN) to the minimum and maximum finite
// value. It returns nil when xs has no finite value.
func AutoHistogram(xs []float64, bins int, lo, hi float64) *Histogram {
	if bins < 1 {
		bins = 1
	}
	mn, mx := math.Inf(1), math.Inf(-1)
	for _, x := range xs {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			mn = math.Min(mn, x)
			mx = math.Max(mx, x)
		}
	}
	if math.IsInf(mn, 1) {
		if math.IsNaN(lo) || math.IsNaN(hi) {
			return nil
		}
	}
	if math.IsNaN(lo) {
		lo = mn
	}
	if math.IsNaN(hi) {
		hi = mx
	}
	if !(hi > lo) {
		// A single value (or a range collapsed by the caller's bounds):
		// one bin of unit width around it.
		lo, hi = lo-0.5, lo+0.5
	}
	edges := make([]float64, bins+1)
	for i := range edges {
		edges[i] = lo + (hi-lo)*float64(i)/float64(bins)
	}
	edges[bins] = hi
	h, err := NewHistogram(edges, xs)
	if err != nil {
		return nil
	}
	return h
}

// Quantiles returns the type-7 sample quantiles (linear interpolation, the
// default of R and numpy) of the non-NaN values of xs at the given
// probabilities, and the number of values used. With no value they are NaN.
func Quantiles(xs []float64, probs ...float64) ([]float64, int) {
	s := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			s = append(s, x)
		}
	}
	sort.Float64s(s)
	out := make([]float64, len(probs))
	for i, p := range probs {
		out[i] = quantileSorted(s, p)
	}
	return out, len(s)
}

func quantileSorted(s []float64, p float64) float64 {
	n := len(s)
	if n == 0 || math.IsNaN(p) {
		return math.NaN()
	}
	h := float64(n-1) * p
	lo := int(math.Floor(h))
	if lo < 0 {
		return s[0]
	}
	if lo >= n-1 {
		return s[n-1]
	}
	a, b := s[lo], s[lo+1]
	if math.IsInf(a, 0) || math.IsInf(b, 0) {
		if h == float64(lo) {
			return a
		}
		return b
	}
	return a + (h-float64(lo))*(b-a)
}

// SpineProbs are the probabilities of the quantile summaries ("quantile
// spines"): 5, 25, 50, 75 and 95 %.
var SpineProbs = []float64{0.05, 0.25, 0.5, 0.75, 0.95}

// MarshalJSON writes {"key", "batch_size", and one of "number", "array",
// "histogram"}, with NaN and infinities as null.
func (v Value) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"key":`)
	k, _ := json.Marshal(v.Key)
	b.Write(k)
	if v.BatchSize != 0 {
		b.WriteString(`,"batch_size":`)
		b.WriteString(strconv.Itoa(v.BatchSize))
	}
	switch v.Kind {
	case KindNumber:
		b.WriteString(`,"number":`)
		writeFloat(&b, v.Number)
	case KindArray:
		b.WriteString(`,"array":`)
		writeFloats(&b, v.Array)
	case KindHistogram:
		if v.Hist == nil {
			return nil, fmt.Errorf("value %q: nil histogram", v.Key)
		}
		b.WriteString(`,"histogram":{"edges":`)
		writeFloats(&b, v.Hist.Edges)
		c, _ := json.Marshal(v.Hist.Counts)
		if v.Hist.Counts == nil {
			c = []byte("[]")
		}
		fmt.Fprintf(&b, `,"counts":%s,"underflow":%d,"overflow":%d,"nan":%d}`, c, v.Hist.Underflow, v.Hist.Overflow, v.Hist.NaN)
	default:
		return nil, fmt.Errorf("value %q: unknown kind %v", v.Key, v.Kind)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads what MarshalJSON writes (null reads as NaN).
func (v *Value) UnmarshalJSON(data []byte) error {
	var raw struct {
		Key       string          `json:"key"`
		BatchSize int             `json:"batch_size"`
		Number    json.RawMessage `json:"number"`
		Array     []*float64      `json:"array"`
		Histogram *struct {
			Edges     []*float64 `json:"edges"`
			Counts    []int64    `json:"counts"`
			Underflow int64      `json:"underflow"`
			Overflow  int64      `json:"overflow"`
			NaN       int64      `json:"nan"`
		} `json:"histogram"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	*v = Value{Key: raw.Key, BatchSize: raw.BatchSize}
	switch {
	case raw.Histogram != nil:
		v.Kind = KindHistogram
		v.Hist = &Histogram{Edges: derefs(raw.Histogram.Edges), Counts: raw.Histogram.Counts,
			Underflow: raw.Histogram.Underflow, Overflow: raw.Histogram.Overflow, NaN: raw.Histogram.NaN}
	case raw.Array != nil:
		v.Kind = KindArray
		v.Array = derefs(raw.Array)
	case raw.Number != nil:
		v.Kind = KindNumber
		var p *float64
		if err := json.Unmarshal(raw.Number, &p); err != nil {
			return fmt.Errorf("value %q: %w", raw.Key, err)
		}
		v.Number = deref(p)
	default:
		return fmt.Errorf("value %q has none of number, array, histogram", raw.Key)
	}
	return nil
}

func deref(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

func derefs(ps []*float64) []float64 {
	out := make([]float64, len(ps))
	for i, p := range ps {
		out[i] = deref(p)
	}
	return out
}

func writeFloat(b *bytes.Buffer, x float64) {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		b.WriteString("null")
		return
	}
	b.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
}

func writeFloats(b *bytes.Buffer, xs []float64) {
	b.WriteByte('[')
	for i, x := range xs {
		if i > 0 {
			b.WriteByte(',')
		}
		writeFloat(b, x)
	}
	b.WriteByte(']')
}
