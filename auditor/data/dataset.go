// Package data loads image classification data sets (IDX as used by MNIST
// and Fashion-MNIST, the CIFAR-10 binary format, and NumPy .npy pairs),
// checks them against a model's input, and serves them as batches.
//
// A [Dataset] is a value: the loaded pixels (float32, as stored in the files,
// e.g. 0..255 for IDX and CIFAR) and integer labels are shared and never
// modified; a Dataset adds a selection of samples (subset, shuffle, split)
// and a pipeline of transforms (scaling, per-channel normalisation, padding,
// cropping, resizing, channel replication). Every operation returns a new
// Dataset and is recorded, so that [Dataset.Describe] states exactly what the
// model saw. Transforms are applied when samples are read (per sample, into
// float64), so a 28×28 grey data set adapted to 3×32×32 costs no extra
// memory.
//
// Randomness (shuffles, splits) comes from [Rand]: the same seed gives the
// same samples everywhere.
package data

import (
	"encoding/json"
	"fmt"
	"iter"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Shape is the shape of one sample: channels, height, width.
type Shape struct{ C, H, W int }

// Size returns C·H·W.
func (s Shape) Size() int { return s.C * s.H * s.W }

// String formats the shape as [C,H,W].
func (s Shape) String() string { return fmt.Sprintf("[%d,%d,%d]", s.C, s.H, s.W) }

// valid reports whether every dimension is positive.
func (s Shape) valid() bool { return s.C > 0 && s.H > 0 && s.W > 0 }

// MarshalJSON writes the shape as [C,H,W].
func (s Shape) MarshalJSON() ([]byte, error) { return json.Marshal([3]int{s.C, s.H, s.W}) }

// UnmarshalJSON reads a shape written as [C,H,W].
func (s *Shape) UnmarshalJSON(b []byte) error {
	var a [3]int
	if err := json.Unmarshal(b, &a); err != nil {
		return fmt.Errorf("shape: %w", err)
	}
	*s = Shape{a[0], a[1], a[2]}
	return nil
}

// store is the loaded, immutable content of a data set.
type store struct {
	shape      Shape
	pix        []float32 // N × shape.Size(), row-major [N, C, H, W]
	labels     []int
	files      []string // files loaded, images first
	imageFile  string   // for error messages
	labelFile  string
	classNames []string
}

// Dataset is a selection of samples of a loaded data set seen through a
// pipeline of transforms. The zero value is an empty data set. Datasets are
// values: every method returns a new one and none modifies its receiver.
type Dataset struct {
	name      string
	st        *store
	idx       []int // positions → stored sample; nil means the identity
	steps     []step
	shape     Shape // per-sample shape after the steps
	classes   int
	selection []string // subset/shuffle/split history, for Describe
}

// New builds a Dataset from pixels in memory, row-major [N, C, H, W]
// (float32, any range) and labels in [0, classes). name is used in
// descriptions and error messages. The slices are retained, not copied.
func New(name string, shape Shape, pixels []float32, labels []int, classes int) (Dataset, error) {
	if !shape.valid() {
		return Dataset{}, fmt.Errorf("data set %s: invalid sample shape %v", name, shape)
	}
	if len(pixels) != len(labels)*shape.Size() {
		return Dataset{}, fmt.Errorf("data set %s: %d pixel values for %d labels of shape %v (want %d)",
			name, len(pixels), len(labels), shape, len(labels)*shape.Size())
	}
	if classes <= 0 {
		return Dataset{}, fmt.Errorf("data set %s: class count %d must be positive", name, classes)
	}
	for i, y := range labels {
		if y < 0 || y >= classes {
			return Dataset{}, fmt.Errorf("data set %s: label %d of sample %d outside [0,%d)", name, y, i, classes)
		}
	}
	st := &store{shape: shape, pix: pixels, labels: labels, imageFile: "(in memory)", labelFile: "(in memory)"}
	return Dataset{name: name, st: st, shape: shape, classes: classes}, nil
}

// newFromStore wraps a freshly loaded store.
func newFromStore(name string, st *store, classes int) Dataset {
	return Dataset{name: name, st: st, shape: st.shape, classes: classes}
}

// Name returns the data set's name (e.g. "fashion-mnist train").
func (d Dataset) Name() string { return d.name }

// WithName returns d renamed.
func (d Dataset) WithName(name string) Dataset { d.name = name; return d }

// Files returns the files the data set was loaded from (images first).
func (d Dataset) Files() []string {
	if d.st == nil {
		return nil
	}
	return slices.Clone(d.st.files)
}

// Len returns the number of samples.
func (d Dataset) Len() int {
	if d.idx != nil {
		return len(d.idx)
	}
	if d.st == nil {
		return 0
	}
	return len(d.st.labels)
}

// Shape returns the per-sample shape after the transforms.
func (d Dataset) Shape() Shape { return d.shape }

// RawShape returns the per-sample shape as loaded.
func (d Dataset) RawShape() Shape {
	if d.st == nil {
		return Shape{}
	}
	return d.st.shape
}

// Classes returns the number of classes (labels lie in [0, Classes)).
func (d Dataset) Classes() int { return d.classes }

// ClassNames returns the class names when the format provides them, else nil.
func (d Dataset) ClassNames() []string {
	if d.st == nil {
		return nil
	}
	return d.st.classNames
}

// Index returns the stored (as loaded) index of sample i.
func (d Dataset) Index(i int) int {
	if d.idx != nil {
		return d.idx[i]
	}
	return i
}

// Label returns the label of sample i.
func (d Dataset) Label(i int) int { return d.st.labels[d.Index(i)] }

// Labels returns the labels of all samples, in order (a new slice).
func (d Dataset) Labels() []int {
	out := make([]int, d.Len())
	for i := range out {
		out[i] = d.Label(i)
	}
	return out
}

// Raw returns the stored pixels of sample i, before any transform. The slice
// aliases the data set's storage and must not be modified.
func (d Dataset) Raw(i int) []float32 {
	n := d.st.shape.Size()
	j := d.Index(i)
	return d.st.pix[j*n : (j+1)*n : (j+1)*n]
}

// Sample returns sample i after the transforms, row-major [C, H, W], in dst
// (grown when too small).
func (d Dataset) Sample(i int, dst []float64) []float64 {
	var s sampler
	return s.sample(d, i, dst)
}

// sampler holds the scratch buffers of the transform pipeline.
type sampler struct{ a, b []float64 }

// sample writes the transformed sample i into dst[:d.shape.Size()],
// ping-ponging between the two scratch buffers.
func (s *sampler) sample(d Dataset, i int, dst []float64) []float64 {
	dst = grow(dst, d.shape.Size())
	raw := d.Raw(i)
	if len(d.steps) == 0 {
		for k, v := range raw {
			dst[k] = float64(v)
		}
		return dst
	}
	s.a = grow(s.a, len(raw))
	for k, v := range raw {
		s.a[k] = float64(v)
	}
	cur, inA := s.a, true
	for k, st := range d.steps {
		var out []float64
		switch {
		case k == len(d.steps)-1:
			out = dst
		case inA:
			s.b = grow(s.b, st.outShape().Size())
			out = s.b
		default:
			s.a = grow(s.a, st.outShape().Size())
			out = s.a
		}
		st.apply(out, cur)
		cur, inA = out, !inA
	}
	return dst
}

// grow returns s resized to n, reallocating when needed.
func grow(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}

// Batch writes the samples at positions pos into x, row-major [B, C, H, W]
// with B = len(pos), and their labels into y (both grown as needed).
func (d Dataset) Batch(pos []int, x []float64, y []int) ([]float64, []int, error) {
	n := d.Len()
	size := d.shape.Size()
	x = grow(x, len(pos)*size)
	if cap(y) < len(pos) {
		y = make([]int, len(pos))
	}
	y = y[:len(pos)]
	var s sampler
	for r, p := range pos {
		if p < 0 || p >= n {
			return nil, nil, fmt.Errorf("data set %s: sample %d out of range [0,%d)", d.name, p, n)
		}
		s.sample(d, p, x[r*size:(r+1)*size])
		y[r] = d.Label(p)
	}
	return x, y, nil
}

// Batch is one batch of [Dataset.Batches].
type Batch struct {
	Start int       // position of the first sample
	Rows  int       // B, samples in the batch
	X     []float64 // row-major [B, C, H, W]
	Y     []int     // labels
}

// Batches iterates over the data set in order, in batches of size samples
// (the last one may be smaller; size <= 0 means one batch of everything).
// The batch buffers are reused from one iteration to the next.
func (d Dataset) Batches(size int) iter.Seq[Batch] {
	return func(yield func(Batch) bool) {
		n := d.Len()
		if size <= 0 {
			size = max(n, 1)
		}
		var b Batch
		var s sampler
		sz := d.shape.Size()
		for start := 0; start < n; start += size {
			rows := min(size, n-start)
			b.Start, b.Rows = start, rows
			b.X = grow(b.X, rows*sz)
			if cap(b.Y) < rows {
				b.Y = make([]int, rows)
			}
			b.Y = b.Y[:rows]
			for r := 0; r < rows; r++ {
				s.sample(d, start+r, b.X[r*sz:(r+1)*sz])
				b.Y[r] = d.Label(start + r)
			}
			if !yield(b) {
				return
			}
		}
	}
}

// Subset returns the samples at positions pos (in that order).
func (d Dataset) Subset(pos []int) (Dataset, error) {
	n := d.Len()
	idx := make([]int, len(pos))
	for k, p := range pos {
		if p < 0 || p >= n {
			return Dataset{}, fmt.Errorf("data set %s: subset position %d out of range [0,%d)", d.name, p, n)
		}
		idx[k] = d.Index(p)
	}
	out := d
	out.idx = idx
	out.selection = append(slices.Clip(d.selection), fmt.Sprintf("subset of %d of %d samples", len(pos), n))
	return out, nil
}

// Head returns the first n samples (all when n >= Len).
func (d Dataset) Head(n int) Dataset {
	total := d.Len()
	n = min(max(n, 0), total)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = d.Index(i)
	}
	out := d
	out.idx = idx
	out.selection = append(slices.Clip(d.selection), fmt.Sprintf("first %d of %d samples", n, total))
	return out
}

// Shuffle returns the samples in a uniformly random order fixed by seed.
func (d Dataset) Shuffle(seed int64) Dataset {
	perm := NewRand(seed, "data/shuffle").Perm(d.Len())
	idx := make([]int, len(perm))
	for k, p := range perm {
		idx[k] = d.Index(p)
	}
	out := d
	out.idx = idx
	out.selection = append(slices.Clip(d.selection), fmt.Sprintf("shuffled (seed %d)", seed))
	return out
}

// Split divides the samples at random (fixed by seed) into a training part
// and a held-out part of heldOut samples. Both parts keep the original order
// of their samples.
func (d Dataset) Split(heldOut int, seed int64) (train, held Dataset, err error) {
	n := d.Len()
	if heldOut < 0 || heldOut > n {
		return Dataset{}, Dataset{}, fmt.Errorf("data set %s: cannot hold out %d of %d samples", d.name, heldOut, n)
	}
	perm := NewRand(seed, "data/split").Perm(n)
	hp := slices.Clone(perm[:heldOut])
	tp := slices.Clone(perm[heldOut:])
	slices.Sort(hp)
	slices.Sort(tp)
	mk := func(pos []int, what string) Dataset {
		idx := make([]int, len(pos))
		for k, p := range pos {
			idx[k] = d.Index(p)
		}
		out := d
		out.idx = idx
		out.selection = append(slices.Clip(d.selection),
			fmt.Sprintf("%s part of a split (held out %d of %d, seed %d)", what, heldOut, n, seed))
		return out
	}
	return mk(tp, "training"), mk(hp, "held-out"), nil
}

// SplitFraction is Split with the held-out part a fraction (0 ≤ frac ≤ 1) of
// the samples, rounded to the nearest integer.
func (d Dataset) SplitFraction(frac float64, seed int64) (train, held Dataset, err error) {
	if !(frac >= 0 && frac <= 1) {
		return Dataset{}, Dataset{}, fmt.Errorf("data set %s: held-out fraction %v outside [0,1]", d.name, frac)
	}
	return d.Split(int(math.Round(frac*float64(d.Len()))), seed)
}

// ChannelStats returns the per-channel mean and population standard
// deviation of the samples after the current transforms (Chan et al.'s
// pairwise update of per-sample sums, stable for any range of values).
func (d Dataset) ChannelStats() (mean, std []float64) {
	c := d.shape.C
	hw := d.shape.H * d.shape.W
	mean = make([]float64, c)
	m2 := make([]float64, c)
	count := 0.0
	var s sampler
	var buf []float64
	for i := 0; i < d.Len(); i++ {
		buf = s.sample(d, i, buf)
		for ch := 0; ch < c; ch++ {
			px := buf[ch*hw : (ch+1)*hw]
			sm := 0.0
			for _, v := range px {
				sm += v
			}
			mb := sm / float64(hw)
			q := 0.0
			for _, v := range px {
				q += (v - mb) * (v - mb)
			}
			na, nb := count, float64(hw)
			delta := mb - mean[ch]
			mean[ch] += delta * nb / (na + nb)
			m2[ch] += q + delta*delta*na*nb/(na+nb)
		}
		count += float64(hw)
	}
	std = make([]float64, c)
	for ch := range std {
		if count > 0 {
			std[ch] = math.Sqrt(m2[ch] / count)
		}
	}
	return mean, std
}

// Check verifies that the data set fits a model: modelInput is the model's
// input shape, [N, C, H, W] (N may be dynamic: any value), [C, H, W], or a
// flat [N, D] with D = C·H·W; classes is the number of model outputs (0
// skips the label check). Errors name the files and the expected and actual
// shapes.
func (d Dataset) Check(modelInput []int, classes int) error {
	files := d.filesString()
	want, flat, err := ModelShape(modelInput)
	if err != nil {
		return fmt.Errorf("data set %s (%s): %w", d.name, files, err)
	}
	if flat > 0 {
		if d.shape.Size() != flat {
			return fmt.Errorf("data set %s (%s): sample shape %v has %d values, the model's flat input %s expects %d",
				d.name, files, d.shape, d.shape.Size(), dimsString(modelInput), flat)
		}
	} else if d.shape != want {
		hint := ""
		if d.shape.C != want.C || d.shape.H != want.H || d.shape.W != want.W {
			hint = " (adapt it: pad, crop or resize the image, replicate grey channels)"
		}
		return fmt.Errorf("data set %s (%s): sample shape %v, but the model input %s expects %v%s",
			d.name, files, d.shape, dimsString(modelInput), want, hint)
	}
	if classes > 0 {
		for i := 0; i < d.Len(); i++ {
			if y := d.Label(i); y >= classes {
				return fmt.Errorf("data set %s (labels %s): sample %d (stored index %d) has label %d, but the model has %d outputs (labels must lie in [0,%d))",
					d.name, d.st.labelFile, i, d.Index(i), y, classes, classes)
			}
		}
	}
	return nil
}

// filesString lists the files for messages.
func (d Dataset) filesString() string {
	if f := d.Files(); len(f) > 0 {
		return strings.Join(f, ", ")
	}
	return "in memory"
}

// ModelShape interprets a model input shape: [N, C, H, W] or [C, H, W]
// give a sample shape; [N, D] gives a flat input of D values (flat > 0).
func ModelShape(dims []int) (s Shape, flat int, err error) {
	switch len(dims) {
	case 4:
		s = Shape{dims[1], dims[2], dims[3]}
	case 3:
		s = Shape{dims[0], dims[1], dims[2]}
	case 2:
		if dims[1] <= 0 {
			return Shape{}, 0, fmt.Errorf("model input %s: flat size %d is not fixed", dimsString(dims), dims[1])
		}
		return Shape{}, dims[1], nil
	default:
		return Shape{}, 0, fmt.Errorf("model input %s: want [N,C,H,W], [C,H,W] or [N,D]", dimsString(dims))
	}
	if !s.valid() {
		return Shape{}, 0, fmt.Errorf("model input %s: sample dimensions must be fixed and positive", dimsString(dims))
	}
	return s, 0, nil
}

// dimsString formats dims as [a,b,c].
func dimsString(dims []int) string {
	parts := make([]string, len(dims))
	for i, v := range dims {
		parts[i] = strconv.Itoa(v)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// Description says what a Dataset is: where it came from, which samples it
// holds and which transforms it applies, for reports.
type Description struct {
	Name       string   `json:"name"`
	Files      []string `json:"files"`
	Samples    int      `json:"samples"`   // samples in this selection
	Loaded     int      `json:"loaded"`    // samples in the loaded files
	RawShape   Shape    `json:"raw_shape"` // per-sample shape in the files
	Shape      Shape    `json:"shape"`     // per-sample shape after transforms
	Classes    int      `json:"classes"`   // labels lie in [0, Classes)
	ClassNames []string `json:"class_names,omitempty"`
	Selection  []string `json:"selection,omitempty"` // subsets, shuffles and splits, in order
	Transforms []Step   `json:"transforms"`          // in the order applied
}

// Describe returns the description of the data set.
func (d Dataset) Describe() Description {
	desc := Description{
		Name:       d.name,
		Files:      d.Files(),
		Samples:    d.Len(),
		RawShape:   d.RawShape(),
		Shape:      d.shape,
		Classes:    d.classes,
		ClassNames: d.ClassNames(),
		Selection:  slices.Clone(d.selection),
		Transforms: []Step{},
	}
	if d.st != nil {
		desc.Loaded = len(d.st.labels)
	}
	for _, s := range d.steps {
		desc.Transforms = append(desc.Transforms, s.record())
	}
	return desc
}

// String renders the description as a few lines of text.
func (desc Description) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "data set %s: %d samples (of %d loaded) from %s\n", desc.Name, desc.Samples, desc.Loaded, strings.Join(desc.Files, ", "))
	fmt.Fprintf(&b, "  sample shape %v as loaded, %v after transforms; %d classes\n", desc.RawShape, desc.Shape, desc.Classes)
	for _, s := range desc.Selection {
		fmt.Fprintf(&b, "  selection: %s\n", s)
	}
	if len(desc.Transforms) == 0 {
		b.WriteString("  transforms: none (values as stored)\n")
	}
	for i, s := range desc.Transforms {
		fmt.Fprintf(&b, "  transform %d: %s\n", i+1, s.Detail)
	}
	return b.String()
}

// String is a one-line summary of the data set.
func (d Dataset) String() string {
	return fmt.Sprintf("%s: %d samples %v, %d classes, %d transforms", d.name, d.Len(), d.shape, d.classes, len(d.steps))
}
