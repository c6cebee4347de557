package graph

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gnaudit/gnaudit/auditor/ir"
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

// TestFaultsLongChain: a chain of 20,000 nodes used to take 115 s in
// gorgonia's Compile (quadratic); it is now refused at once with the limit
// and the way to lift it, and a chain under the limit still builds.
func TestFaultsLongChain(t *testing.T) {
	chain := func(n int) *ir.Model {
		b := newModel(13, -1, 4)
		x := b.op("Gemm", at("transB", ai(1)), "x", b.param("w", 0.5, true, 3, 4))
		for i := 0; i < n; i++ {
			x = b.op("Relu", nil, x)
		}
		return b.output(x)
	}
	t0 := time.Now()
	_, err := Build(chain(20000), Options{Batch: 2})
	if err == nil || !strings.Contains(err.Error(), EnvMaxGraphNodes) || !strings.Contains(err.Error(), "quadratic") {
		t.Fatalf("20,000-node chain: %v", err)
	}
	if d := time.Since(t0); d > 10*time.Second {
		t.Errorf("the refusal took %v", d)
	}
	// Counted after differentiation: 6,000 Relu give about 12,000 operations.
	t.Setenv(EnvMaxGraphNodes, "5000")
	if _, err := Build(chain(3000), Options{Batch: 2}); err == nil || !strings.Contains(err.Error(), "operations with its backward pass") {
		t.Errorf("3,000 nodes with the limit at 5,000 operations: %v", err)
	}
	t.Setenv(EnvMaxGraphNodes, "x")
	if _, err := Build(chain(2), Options{Batch: 2}); err == nil || !strings.Contains(err.Error(), EnvMaxGraphNodes) {
		t.Errorf("bad %s: %v", EnvMaxGraphNodes, err)
	}
	t.Setenv(EnvMaxGraphNodes, "")
	if _, err := Build(chain(500), Options{Batch: 2}); err != nil {
		t.Errorf("500-node chain: %v", err)
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
