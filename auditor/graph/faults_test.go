package graph

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/internal/approx"
)

// The graph's part of the fault battery: models that used to allocate
// terabytes, hang the compiler or hide NaN weights.

// TestFaultsHugeTensorsRefused: sizes are checked before any allocation,
// with the tensor named.
func TestFaultsHugeTensorsRefused(t *testing.T) {
	cases := []struct {
		name string
		in   []int64
		opt  Options
		want []string
	}{
		// [N,1,1000000,1000000] at batch 1: 4 TB of float32.
		{"huge input", []int64{-1, 1, 1000000, 1000000}, Options{Batch: 1}, []string{`input "x"`, "[1 1 1000000 1000000]", "TiB", "memory budget"}},
		{"overflowing input", []int64{-1, 1 << 40, 1 << 40}, Options{Batch: 4}, []string{`input "x"`, "more than 2^63 elements"}},
		{"over an explicit budget", []int64{-1, 1, 64, 64}, Options{Batch: 64, MaxMemory: 512 << 10}, []string{`input "x"`, "graph.Options.MaxMemory"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newModel(13, c.in...)
			y := b.op("GlobalAveragePool", nil, "x")
			y = b.op("Flatten", nil, y)
			m := b.output(y)
			t0 := time.Now()
			_, err := Build(m, c.opt)
			if err == nil {
				t.Fatal("built")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if d := time.Since(t0); d > 5*time.Second {
				t.Errorf("refusal took %v", d)
			}
		})
	}
	// A node output over the budget is refused naming the node.
	b := newModel(13, -1, 8)
	w := b.param("w", 0.1, true, 1<<20, 8)
	y := b.op("Gemm", at("transB", ai(1)), "x", w) // [B, 2^20]
	m := b.output(y)
	if _, err := Build(m, Options{Batch: 16, MaxMemory: 48 << 20}); err == nil || !strings.Contains(err.Error(), "Gemm") || !strings.Contains(err.Error(), "its output") {
		t.Errorf("node output over the budget: %v", err)
	}
	// A folded constant of absurd size (ConstantOfShape, a broadcast).
	if err := checkConst([]int{1 << 20, 1 << 20}); err == nil || !strings.Contains(err.Error(), "folded constant") {
		t.Errorf("huge constant: %v", err)
	}
	if err := checkConst([]int{1 << 20, 16}); err != nil {
		t.Errorf("16 Mi-element constant: %v", err)
	}
}

// TestFaultsLongChain: a chain of 20,000 nodes used to take 115 s to load
// (gorgonia's graph building and Compile were quadratic; patched in
// third_party/gorgonia) and was then refused. It now loads and runs, with
// the loss and gradients of the closed form (a chain of Relu is one Relu).
// Not timed: a hang shows as the test binary's timeout, and
// BenchmarkBuildChain measures the scaling. The only limit left is the
// memory budget, which also counts the graph's operations.
func TestFaultsLongChain(t *testing.T) {
	const n = 20000
	net, err := Build(chainModel(n), Options{Batch: 2})
	if err != nil {
		t.Fatalf("%d-node chain: %v", n, err)
	}
	x := []float64{1, 2, -1, 0.5, -2, 1, 1, -1}
	labels := []int{0, 2}
	loss, err := net.LossGrad(x, labels)
	if err != nil {
		t.Fatal(err)
	}
	// Closed form: z = relu(x Wᵀ), L = Σ_b CE(z_b, y_b),
	// dL/dW_ck = Σ_b (softmax(z_b)_c − [c = y_b]) [x_b·W_c > 0] x_bk.
	wantLoss, wantGrad := 0.0, make([]float64, 12)
	for s := 0; s < 2; s++ {
		var pre, z [3]float64
		for c := 0; c < 3; c++ {
			for k := 0; k < 4; k++ {
				pre[c] += x[s*4+k] * float64(chainW[c*4+k])
			}
			z[c] = math.Max(pre[c], 0)
		}
		den := 0.0
		for c := 0; c < 3; c++ {
			den += math.Exp(z[c])
		}
		wantLoss += math.Log(den) - z[labels[s]]
		for c := 0; c < 3; c++ {
			d := math.Exp(z[c]) / den
			if c == labels[s] {
				d--
			}
			if pre[c] > 0 {
				for k := 0; k < 4; k++ {
					wantGrad[c*4+k] += d * x[s*4+k]
				}
			}
		}
	}
	approx.Abs(t, "loss", loss, wantLoss, 1e-5)
	g := net.Grad("w")
	if len(g) != len(wantGrad) {
		t.Fatalf("dL/dw has %d values, want %d", len(g), len(wantGrad))
	}
	for k := range g {
		approx.Abs(t, fmt.Sprintf("dL/dw[%d]", k), g[k], wantGrad[k], 1e-5)
	}
	// The graph's operations count against the memory budget: refused,
	// naming the count and the budget, after the build ...
	_, err = Build(chainModel(2000), Options{Batch: 2, MaxMemory: 12 << 20})
	if err == nil || !strings.Contains(err.Error(), "operations with its backward pass") || !strings.Contains(err.Error(), "12.0 MiB") {
		t.Errorf("2,000-node chain with a 12 MiB budget: %v", err)
	}
	// ... or before it, when the ONNX nodes alone exceed it.
	_, err = Build(chainModel(2000), Options{Batch: 2, MaxMemory: 4 << 20})
	if err == nil || !strings.Contains(err.Error(), "from 2001 ONNX nodes") || !strings.Contains(err.Error(), "4.0 MiB") {
		t.Errorf("2,000-node chain with a 4 MiB budget: %v", err)
	}
}

// TestFaultsNonFiniteWeights: a NaN weight is refused at build naming the
// tensor and the coordinate, an Inf weight is called non-finite (not a
// learning-rate problem); a constant −Inf (a mask) is accepted.
func TestFaultsNonFiniteWeights(t *testing.T) {
	for _, c := range []struct {
		name      string
		v         float32
		trainable bool
		refused   bool
	}{
		{"NaN weight", float32(math.NaN()), true, true},
		{"Inf weight", float32(math.Inf(1)), true, true},
		{"NaN constant", float32(math.NaN()), false, true},
		{"-Inf constant", float32(math.Inf(-1)), false, false},
	} {
		b := newModel(13, -1, 4)
		vals := make([]float32, 12)
		for i := range vals {
			vals[i] = 0.1 * float32(i)
		}
		vals[6] = c.v
		w := b.paramVals("fc.weight", vals, c.trainable, 3, 4)
		if !c.trainable {
			// a constant next to the parameters (e.g. a mask)
			w = b.param("w", 0.5, true, 3, 4)
		}
		y := b.op("Gemm", at("transB", ai(1)), "x", w)
		_, err := Build(b.output(y), Options{Batch: 2})
		if !c.refused {
			if err != nil {
				t.Errorf("%s: refused: %v", c.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), `"fc.weight"`) || !strings.Contains(err.Error(), "index [1 2]") ||
			!strings.Contains(err.Error(), "not the training settings") {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// TestFaultsReluPropagatesNaN: ReLU(NaN) = NaN in the forward pass (ONNX
// max(x, 0), PyTorch), so a NaN reaching it is not hidden as a finite
// logit; MaxPool does the same.
func TestFaultsReluPropagatesNaN(t *testing.T) {
	b := newModel(13, -1, 1, 2, 2)
	y := b.op("Relu", nil, "x")
	y = b.op("MaxPool", at("kernel_shape", ais(2, 2)), y)
	y = b.op("Flatten", nil, y)
	y = b.op("Gemm", at("transB", ai(1)), y, b.param("w", 0.5, true, 3, 1))
	net, err := Build(b.output(y), Options{Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	x := []float64{1, 2, math.NaN(), -1 /* sample 2: */, -1, -2, -3, -4}
	z, err := net.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	for k := 0; k < 3; k++ {
		if !math.IsNaN(z[k]) {
			t.Errorf("sample 0 logit %d = %v, want NaN", k, z[k])
		}
		if math.IsNaN(z[3+k]) || math.IsInf(z[3+k], 0) {
			t.Errorf("sample 1 logit %d = %v, want finite", k, z[3+k])
		}
	}
}

// chainW is the Gemm weight of chainModel, [3, 4].
var chainW = []float32{0.5, -0.25, 1, 0.75, -1, 0.5, 0.25, -0.5, 0.3, 0.2, -0.6, 1.2}

// chainModel is a Gemm (3 classes from 4 inputs) followed by n Relu nodes.
func chainModel(n int) *ir.Model {
	b := newModel(13, -1, 4)
	x := b.op("Gemm", at("transB", ai(1)), "x", b.paramVals("w", chainW, true, 3, 4))
	for i := 0; i < n; i++ {
		x = b.op("Relu", nil, x)
	}
	return b.output(x)
}

// BenchmarkBuildChain builds chains of Relu nodes of growing length
// (forward, loss, backward and both tape machines): the time per node
// stays flat when loading is linear. cpu-ns/node is the process's CPU time
// (user + system, GC included) per ONNX node, steadier than wall time on a
// shared machine.
func BenchmarkBuildChain(b *testing.B) {
	for _, n := range []int{2000, 5000, 10000, 20000} {
		m := chainModel(n)
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			c0 := cpuTime()
			for i := 0; i < b.N; i++ {
				if _, err := Build(m, Options{Batch: 2}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-c0)/float64(b.N)/float64(n), "cpu-ns/node")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/node")
		})
	}
}

// cpuTime is the process's user + system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
