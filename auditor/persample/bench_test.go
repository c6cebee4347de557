package persample

import (
	"path/filepath"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/auditor/onnx"
	"github.com/gnaudit/gnaudit/models"
)

// zooModel writes a zoo model to a temporary ONNX file and imports it.
func zooModel(b testing.TB, name string) *ir.Model {
	b.Helper()
	pb, err := models.Build(name, models.Options{})
	if err != nil {
		b.Fatal(err)
	}
	p := filepath.Join(b.TempDir(), name+".onnx")
	if err := models.Write(p, pb); err != nil {
		b.Fatal(err)
	}
	m, err := onnx.Load(p)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkPerSampleAlexNet128 times the paper's CIFAR AlexNet
// (alexnet-cifar, 3×32×32, 2.5 M parameters) at batch 128, float32:
//
//   - lossgrad: the executor's batched forward + backward alone (the
//     baseline every per-sample method pays);
//   - full: per-sample gradients of every parameter, materialised
//     (128 × 2.5 M floats, as functorch's vmap(grad));
//   - collect: what the noise collector asks for: |g_i|², Σ g_i and 1000
//     coordinates per parameter;
//   - batch1: the fallback, 128 batch-1 passes.
//
// Besides ns/op, each reports cpu-s/op: the CPU time of the process (all
// threads, user + system) per operation, less disturbed by other jobs on a
// shared machine than the wall time. scripts/bench_persample.sh runs it next
// to PyTorch.
func BenchmarkPerSampleAlexNet128(b *testing.B) { benchPerSample(b, "alexnet-cifar") }

// BenchmarkPerSampleResNet20_128 is BenchmarkPerSampleAlexNet128 for the
// zoo's CIFAR ResNet-20 (3×32×32, 0.27 M parameters, BatchNormalization in
// eval mode, projection shortcuts).
func BenchmarkPerSampleResNet20_128(b *testing.B) { benchPerSample(b, "resnet20") }

// benchPerSample runs the sub-benchmarks of BenchmarkPerSampleAlexNet128 on
// a zoo model with 3×32×32 inputs and 10 classes, at batch 128.
func benchPerSample(b *testing.B, model string) {
	const B = 128
	m := zooModel(b, model)
	x := randInput(1, B*3*32*32)
	y := randLabels(2, B, 10)
	e, err := New(m, Options{Batch: B})
	if err != nil {
		b.Fatal(err)
	}
	coords := make([][]int, len(e.Params()))
	for k, p := range e.Params() {
		for j := 0; j < p.Size && len(coords[k]) < 1000; j += 1 + p.Size/1000 {
			coords[k] = append(coords[k], j)
		}
	}
	b.Run("lossgrad", func(b *testing.B) {
		// Every sub-benchmark starts with an untimed call: the first pass
		// allocates (and first touches) the executor's buffers.
		if _, err := e.main.LossGrad(x, y); err != nil {
			b.Fatal(err)
		}
		defer reportCPU(b)()
		for b.Loop() {
			if _, err := e.main.LossGrad(x, y); err != nil {
				b.Fatal(err)
			}
		}
	})
	res := &Result{}
	b.Run("full", func(b *testing.B) {
		// The result's buffers are reused from the second call on (as when
		// streaming chunks).
		if err := e.ComputeInto(x, y, Request{Full: true}, res); err != nil {
			b.Fatal(err)
		}
		defer reportCPU(b)()
		for b.Loop() {
			if err := e.ComputeInto(x, y, Request{Full: true}, res); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("collect", func(b *testing.B) {
		if err := e.ComputeInto(x, y, Request{Norms: true, Coords: coords}, res); err != nil {
			b.Fatal(err)
		}
		defer reportCPU(b)()
		for b.Loop() {
			if err := e.ComputeInto(x, y, Request{Norms: true, Coords: coords}, res); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("batch1", func(b *testing.B) {
		fb, err := New(m, Options{Batch: B, ForceFallback: true})
		if err != nil {
			b.Fatal(err)
		}
		if err := fb.ComputeInto(x[:3*32*32], y[:1], Request{Full: true}, res); err != nil {
			b.Fatal(err)
		}
		defer reportCPU(b)()
		for b.Loop() {
			if err := fb.ComputeInto(x, y, Request{Full: true}, res); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// reportCPU starts a CPU clock; the returned function reports CPU seconds
// per operation.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		if b.N > 0 {
			b.ReportMetric((cpuTime()-start).Seconds()/float64(b.N), "cpu-s/op")
		}
	}
}
