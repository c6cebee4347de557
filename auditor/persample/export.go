package persample

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gnaudit/gnaudit/auditor/atomicfile"
	"github.com/gnaudit/gnaudit/auditor/npy"
	"github.com/gnaudit/gnaudit/auditor/onnx"
)

// ErrBadInput marks WriteGrads errors caused by the input files (shapes,
// dtypes, labels), as opposed to failures of the computation.
var ErrBadInput = errors.New("bad input")

// GradsConfig configures WriteGrads ("gnaudit grads").
type GradsConfig struct {
	Model  string // ONNX file
	Input  string // .npy [N, InputShape…], used as given (no normalisation)
	Labels string // .npy [N] integer class indices
	Out    string // output directory (created if needed)
	// Batch is the number of samples per batched pass (0: DefaultBatch);
	// it bounds memory and does not change the output.
	Batch   int
	Float64 bool      // compute in float64 (the files are float32 anyway)
	Log     io.Writer // notes and fallbacks (nil: none)
}

// Manifest is DIR/manifest.json of WriteGrads.
type Manifest struct {
	Samples    int              `json:"-"`    // N
	Loss       float64          `json:"loss"` // Σ_i CE(logits_i, label_i)
	Parameters []ManifestParams `json:"parameters"`
}

// ManifestParams describes one parameter's file of per-sample gradients.
type ManifestParams struct {
	Name     string `json:"name"`  // ONNX initializer name
	File     string `json:"file"`  // file name in the output directory
	Shape    []int  `json:"shape"` // [N, parameter shape…]
	Layer    string `json:"layer"`
	Kind     string `json:"kind"`
	Method   string `json:"method"`
	Fallback bool   `json:"fallback,omitempty"` // computed by batch-1 passes
}

// WriteGrads computes the per-sample gradients of every trainable parameter
// of a model for the samples of cfg.Input with cfg.Labels and writes
// cfg.Out/logits.npy (float32 [N, classes]), one float32 file
// [N, parameter shape…] per parameter (named after the initializer, made
// safe and unique) and cfg.Out/manifest.json. Samples are processed in
// chunks of cfg.Batch; every file is streamed and renamed into place at the
// end, so a failed run leaves no partial file behind.
func WriteGrads(cfg GradsConfig) (*Manifest, error) {
	logf := func(format string, a ...any) {
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, format+"\n", a...)
		}
	}
	if cfg.Model == "" || cfg.Input == "" || cfg.Labels == "" || cfg.Out == "" {
		return nil, fmt.Errorf("%w: model, input, labels and output directory are required", ErrBadInput)
	}
	m, err := onnx.Load(cfg.Model)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadInput, err) // unreadable: exit 2, as audit and models inspect
	}
	e, err := New(m, Options{Batch: cfg.Batch, Float64: cfg.Float64})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadInput, err) // unsupported
	}
	x, labels, err := readSamples(cfg.Input, cfg.Labels, e.InputShape(), e.Classes())
	if err != nil {
		return nil, err
	}
	N := len(labels)
	for _, n := range e.Notes() {
		logf("note: %s", n)
	}
	params := e.Params()
	for _, p := range params {
		if p.Fallback() {
			logf("parameter %q: batch-1 passes (%s)", p.Name, p.Reason)
		}
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, err
	}

	man := &Manifest{Samples: N}
	names := fileNames(params)
	files := make([]*streamFile, 0, len(params)+1)
	defer func() {
		for _, f := range files {
			f.abort()
		}
	}()
	logits, err := createStream(filepath.Join(cfg.Out, "logits.npy"), []int{N, e.Classes()})
	if err != nil {
		return nil, err
	}
	files = append(files, logits)
	for k, p := range params {
		shape := append([]int{N}, p.Shape...)
		f, err := createStream(filepath.Join(cfg.Out, names[k]), shape)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
		man.Parameters = append(man.Parameters, ManifestParams{Name: p.Name, File: names[k], Shape: shape,
			Layer: p.Layer, Kind: p.Kind, Method: p.Method, Fallback: p.Fallback()})
	}
	var buf []float32
	var bad nonFinite // the first non-finite logit and gradient, for the message
	err = e.Stream(x, labels, Request{Full: true}, func(off int, r *Result) error {
		man.Loss += r.Loss
		bad.logits(off, r, e.Classes())
		for k := range params {
			bad.grads(off, r.Rows, &params[k], &r.Params[k])
		}
		buf = grow(buf, len(r.Logits))
		for k, v := range r.Logits {
			buf[k] = float32(v)
		}
		if err := logits.w.WriteFloat32(buf); err != nil {
			return fmt.Errorf("%s: %w", logits.path, err)
		}
		for k := range params {
			f, pg := files[k+1], &r.Params[k]
			var err error
			if e.Float64() {
				err = f.w.WriteFloat64(pg.Full64)
			} else {
				err = f.w.WriteFloat32(pg.Full32)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", f.path, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if math.IsNaN(man.Loss) || math.IsInf(man.Loss, 0) {
		// JSON has no NaN: say where it came from instead of
		// "json: unsupported value: NaN"; nothing is written.
		return nil, fmt.Errorf("%w: the summed loss of the %d samples is %v (%s): the model overflows on these inputs; no file written",
			ErrBadInput, N, man.Loss, bad.String())
	}
	for _, f := range files {
		if err := f.commit(); err != nil {
			return nil, err
		}
	}
	files = nil
	js, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := npy.WriteFile(filepath.Join(cfg.Out, "manifest.json"), func(w io.Writer) error {
		_, err := w.Write(append(js, '\n'))
		return err
	}); err != nil {
		return nil, err
	}
	return man, nil
}

// readSamples reads and checks the input and label files.
func readSamples(xPath, yPath string, inShape []int, classes int) ([]float64, []int, error) {
	xa, err := npy.ReadFile(xPath)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	want := "[N, " + strings.Trim(strings.ReplaceAll(fmt.Sprint(inShape), " ", ", "), "[]") + "]"
	if len(xa.Shape) != len(inShape)+1 || !slices.Equal(xa.Shape[1:], inShape) || xa.Shape[0] == 0 {
		return nil, nil, fmt.Errorf("%w: %s: shape %v, but the model input is %s (N ≥ 1 samples)", ErrBadInput, xPath, xa.Shape, want)
	}
	for k, v := range xa.F64 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, nil, fmt.Errorf("%w: %s: element %d is %v", ErrBadInput, xPath, k, v)
		}
	}
	N := xa.Shape[0]
	ya, err := npy.ReadFile(yPath)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	if len(ya.Shape) != 1 || ya.Shape[0] != N {
		return nil, nil, fmt.Errorf("%w: %s: shape %v, want [%d] (one label per sample of %s)", ErrBadInput, yPath, ya.Shape, N, xPath)
	}
	labels := make([]int, N)
	for i, v := range ya.F64 {
		if v != math.Trunc(v) || v < 0 || v >= float64(classes) {
			return nil, nil, fmt.Errorf("%w: %s: label %v of sample %d is not a class index in [0, %d)", ErrBadInput, yPath, v, i, classes)
		}
		labels[i] = int(v)
	}
	return xa.F64, labels, nil
}

// fileNames derives a file name per parameter from its initializer name:
// characters other than letters, digits, '.', '-' and '_' become '_', and
// names that would collide (case-insensitively, or with logits.npy or
// manifest.json) get a numeric suffix.
func fileNames(params []ParamInfo) []string {
	used := map[string]bool{"logits": true}
	r := make([]string, len(params))
	for k, p := range params {
		var b strings.Builder
		for _, c := range p.Name {
			switch {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-', c == '_':
				b.WriteRune(c)
			default:
				b.WriteByte('_')
			}
		}
		base := strings.TrimLeft(b.String(), ".")
		if base == "" {
			base = "param"
		}
		if len(base) > 200 {
			base = base[:200]
		}
		name := base
		for n := 2; used[strings.ToLower(name)]; n++ {
			name = fmt.Sprintf("%s_%d", base, n)
		}
		used[strings.ToLower(name)] = true
		r[k] = name + ".npy"
	}
	return r
}

// streamFile is an .npy file written atomically (atomicfile) and renamed
// into place by commit.
type streamFile struct {
	path string
	f    *atomicfile.File
	w    *npy.Writer
}

func createStream(path string, shape []int) (*streamFile, error) {
	af, err := atomicfile.Create(path)
	if err != nil {
		return nil, err
	}
	f := &streamFile{path: path, f: af}
	if f.w, err = npy.NewWriter(af, npy.Float32, shape); err != nil {
		f.abort()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

func (f *streamFile) commit() error {
	if err := f.w.Close(); err != nil {
		f.abort()
		return fmt.Errorf("%s: %w", f.path, err)
	}
	return f.f.Commit()
}

// abort removes the temporary file of an uncommitted stream.
func (f *streamFile) abort() { f.f.Abort() }

// nonFinite records the first non-finite logit and per-sample gradient
// seen, to name them in an error.
type nonFinite struct {
	logit string
	grad  string
}

func (b *nonFinite) logits(off int, r *Result, classes int) {
	if b.logit != "" {
		return
	}
	for k, v := range r.Logits {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			b.logit = fmt.Sprintf("first non-finite logit: sample %d, class %d = %v", off+k/classes, k%classes, v)
			return
		}
	}
}

func (b *nonFinite) grads(off, rows int, p *ParamInfo, g *ParamGrads) {
	if b.grad != "" {
		return
	}
	size := 1
	for _, d := range p.Shape {
		size *= d
	}
	at := func(k int, v float64) {
		b.grad = fmt.Sprintf("first non-finite gradient: parameter %q (layer %s), sample %d, coordinate %s = %v",
			p.Name, p.Layer, off+k/size, coordOf(p.Shape, k%size), v)
	}
	for k, v := range g.Full32 {
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
			at(k, f)
			return
		}
	}
	for k, v := range g.Full64 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			at(k, v)
			return
		}
	}
}

func (b *nonFinite) String() string {
	var parts []string
	for _, s := range []string{b.logit, b.grad} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	if len(parts) == 0 {
		return "every logit and gradient is finite"
	}
	return strings.Join(parts, "; ")
}

// coordOf formats flat index k of shape as a coordinate, e.g. [2 0 1].
func coordOf(shape []int, k int) string {
	c := make([]int, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		if shape[d] > 0 {
			c[d] = k % shape[d]
			k /= shape[d]
		}
	}
	return fmt.Sprint(c)
}
