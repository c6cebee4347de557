package audit

import (
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/gnaudit/gnaudit/auditor/collect"
	"github.com/gnaudit/gnaudit/auditor/data"
	"github.com/gnaudit/gnaudit/auditor/graph"
	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/auditor/persample"
	"github.com/gnaudit/gnaudit/auditor/persample/collectsrc"
	"github.com/gnaudit/gnaudit/auditor/train"
	"github.com/gnaudit/gnaudit/cuda"
)

// Engine computes the per-sample gradients of an audit on one device: it
// is opened once for the model, moved to each checkpoint's parameters with
// SetParams, and hands the collector a collect.Source over a data set.
type Engine interface {
	// Name describes the engine for messages and the report, e.g.
	// "cpu (persample, openblas)".
	Name() string
	// InputShape is the shape of one sample ([C, H, W] for images);
	// Classes the number of logits.
	InputShape() []int
	Classes() int
	// SetParams sets the trainable parameters (a checkpoint's θ).
	SetParams(params []train.Param) error
	// Source returns the per-sample gradients of the samples of ds
	// (collect.Request indices are positions in ds) at the current θ.
	Source(ds data.Dataset) (collect.Source, error)
	// SourceBytes is the memory the engine needs during a collection
	// (collect.Config.SourceBytes), 0 when it cannot say.
	SourceBytes() int64
	// Notes lists what the engine changed or assumed (fallbacks, …).
	Notes() []string
	// Close releases the engine's resources.
	Close() error
}

// EngineOptions configure an engine.
type EngineOptions struct {
	// Batch is the number of samples of one batched backward pass (0: the
	// engine's default).
	Batch int
	// MaxMemory bounds each executor's tensors (--max-memory; 0: the
	// machine's memory).
	MaxMemory int64
}

// EngineFactory opens the engine of one device for model m.
type EngineFactory func(m *ir.Model, opt EngineOptions) (Engine, error)

var (
	enginesMu sync.Mutex
	engines   = map[string]EngineFactory{
		"cpu":  OpenCPUEngine,
		"cuda": openCUDAEngine,
	}
)

// RegisterEngine installs (or replaces) the engine factory of a device (a
// seam for tests and other devices). "cpu" is OpenCPUEngine; "cuda" is the
// GPU engine of a gnaudit_cuda build (engine_cuda.go) and ErrNoCUDA
// otherwise (engine_nocuda.go).
func RegisterEngine(device string, f EngineFactory) {
	enginesMu.Lock()
	defer enginesMu.Unlock()
	engines[device] = f
}

// engineKnown reports whether an engine is registered for device.
func engineKnown(device string) bool {
	enginesMu.Lock()
	defer enginesMu.Unlock()
	_, ok := engines[device]
	return ok
}

// SelectEngine returns the engine factory of device ("cpu", "cuda").
func SelectEngine(device string) (EngineFactory, error) {
	enginesMu.Lock()
	defer enginesMu.Unlock()
	if f, ok := engines[device]; ok {
		if device == "cuda" && !cuda.Built() {
			return nil, ErrNoCUDA // fail before loading anything
		}
		return f, nil
	}
	names := make([]string, 0, len(engines))
	for n := range engines {
		names = append(names, n)
	}
	sort.Strings(names)
	return nil, fmt.Errorf("device %q: want one of %v", device, names)
}

// ErrNoCUDA is returned for --device cuda by a binary built without CUDA.
var ErrNoCUDA = errors.New("--device cuda: this gnaudit was built without CUDA support " +
	"(build it with `make build-cuda`, i.e. go build -tags gnaudit_cuda, on a machine with the CUDA toolkit), " +
	"or use --device cpu")

// cpuEngine is the CPU engine: auditor/persample on the gorgonia executor.
type cpuEngine struct {
	e      *persample.Engine
	layers []collect.LayerSpec
	batch  int
}

// OpenCPUEngine opens the CPU per-sample engine (auditor/persample) for m.
func OpenCPUEngine(m *ir.Model, opt EngineOptions) (Engine, error) {
	e, err := persample.New(m, persample.Options{Batch: opt.Batch, MaxMemory: opt.MaxMemory})
	if err != nil {
		return nil, err
	}
	ce := &cpuEngine{e: e, batch: e.Batch()}
	for _, p := range e.Params() {
		ce.layers = append(ce.layers, collect.LayerSpec{Name: p.Layer, Parameter: p.Name, Kind: p.Kind, Shape: append([]int(nil), p.Shape...)})
	}
	if len(ce.layers) == 0 {
		return nil, fmt.Errorf("%s: the model has no trainable parameters", modelLabel(m))
	}
	return ce, nil
}

func modelLabel(m *ir.Model) string {
	if m.Path != "" {
		return m.Path
	}
	return "model"
}

func (c *cpuEngine) Name() string {
	return fmt.Sprintf("cpu (per-sample expansion, %s BLAS, batch %d)", graph.BLASName, c.batch)
}
func (c *cpuEngine) InputShape() []int { return c.e.InputShape() }
func (c *cpuEngine) Classes() int      { return c.e.Classes() }
func (c *cpuEngine) Notes() []string {
	notes := append([]string(nil), c.e.Notes()...)
	if fb := c.e.Fallbacks(); len(fb) > 0 {
		notes = append(notes, fmt.Sprintf("per-sample gradients by batch-1 passes (no batched expansion) for: %v", fb))
	}
	return notes
}
func (c *cpuEngine) Close() error { return nil }

// SourceBytes estimates the engine's working memory: the input batch and,
// per parameter, the gradient sums and per-row buffers of one batch.
func (c *cpuEngine) SourceBytes() int64 {
	var params int64
	for _, l := range c.layers {
		params += int64(l.Size())
	}
	in := int64(1)
	for _, d := range c.e.InputShape() {
		in *= int64(d)
	}
	// Input batch (float64), Σ g_i per parameter (float64), one per-sample
	// gradient row per worker and parameter (float32): a lower bound that
	// leaves out the executor's activations.
	return 8*int64(c.batch)*in + 8*params + 4*params*2
}

func (c *cpuEngine) SetParams(params []train.Param) error {
	for _, p := range params {
		if err := c.e.SetParam(p.Name, p.Value); err != nil {
			return fmt.Errorf("engine: parameter %q: %w", p.Name, err)
		}
	}
	return nil
}

func (c *cpuEngine) Source(ds data.Dataset) (collect.Source, error) { return collectsrc.New(c.e, ds) }
