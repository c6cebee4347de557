package graph

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"strconv"
	"strings"
	"sync"
)

// The memory checks: every tensor the builder allocates (inputs, labels,
// each node's output, constants it folds) is counted before it is
// allocated, so that a model declaring, say, an input of
// [N,1,1000000,1000000] is refused with the tensor named, instead of
// allocating terabytes (or overflowing the element count) in buildT.

// maxConstElems bounds one folded constant (ConstantOfShape, a broadcast
// of constants): 2^28 elements, 2 GiB as float64. Real models fold shape
// vectors and small masks.
const maxConstElems = 1 << 28

// elems returns the number of elements of shape, or an error when a
// dimension is negative or the product overflows int64.
func elems(shape []int) (int64, error) {
	n := uint64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension %d in shape %v", d, shape)
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, fmt.Errorf("shape %v has more than 2^63 elements", shape)
		}
		n = lo
	}
	return int64(n), nil
}

// checkConst refuses a constant of shape s larger than maxConstElems.
func checkConst(s []int) error {
	n, err := elems(s)
	if err != nil {
		return err
	}
	if n > maxConstElems {
		return fmt.Errorf("a constant of shape %v (%d elements) is larger than the %d elements a folded constant may have", s, n, maxConstElems)
	}
	return nil
}

// account adds a tensor of shape to the bytes the net will hold and
// refuses it when that tensor, or all of them so far, exceed the memory
// budget (Options.MaxMemory, default the machine's memory).
func (b *builderBase) account(what string, shape []int, elemBytes int) error {
	n, err := elems(shape)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	budget := b.budget()
	if n > budget/int64(elemBytes) {
		return fmt.Errorf("%s of shape %v needs %s (%d elements of %d bytes), more than the memory budget of %s (%s)",
			what, shape, byteSize(float64(n)*float64(elemBytes)), n, elemBytes, byteSize(float64(budget)), budgetSource(b.opt.MaxMemory))
	}
	b.bytes += n * int64(elemBytes)
	if b.bytes > budget {
		return fmt.Errorf("%s of shape %v brings the tensors of the net (batch %d) to %s, more than the memory budget of %s (%s); lower the batch",
			what, shape, b.batch, byteSize(float64(b.bytes)), byteSize(float64(budget)), budgetSource(b.opt.MaxMemory))
	}
	return nil
}

// budget is Options.MaxMemory, or the machine's memory where it is 0.
func (b *builderBase) budget() int64 {
	if b.opt.MaxMemory > 0 {
		return b.opt.MaxMemory
	}
	return machineMemory()
}

func budgetSource(opt int64) string {
	if opt > 0 {
		return "the configured limit: --max-memory, graph.Options.MaxMemory"
	}
	return "this machine's memory"
}

// byteSize formats a byte count (binary units).
func byteSize(v float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	u := 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	if u == 0 {
		return fmt.Sprintf("%.0f B", v)
	}
	return fmt.Sprintf("%.1f %s", v, units[u])
}

var (
	memOnce  sync.Once
	memTotal int64
)

// machineMemory is the machine's memory (MemTotal of /proc/meminfo;
// 64 GiB where it is unknown).
func machineMemory() int64 {
	memOnce.Do(func() {
		memTotal = 64 << 30
		f, err := os.Open("/proc/meminfo")
		if err != nil {
			return
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) >= 2 && fs[0] == "MemTotal:" {
				if kb, err := strconv.ParseInt(fs[1], 10, 64); err == nil && kb > 0 {
					memTotal = kb * 1024
				}
			}
		}
	})
	return memTotal
}

// elemSize is the size in bytes of one element of T.
func elemSize[T float]() int {
	var z T
	switch any(z).(type) {
	case float64:
		return 8
	}
	return 4
}

// graphOpBytes is the memory counted per operation of the built graph
// (forward and backward, as gorgonia counts them), besides its tensors:
// gorgonia's node, its type and shape, and the tape machines' instructions.
// Measured on a chain of Relu nodes (about three operations each): 3.5 KiB
// per ONNX node held after the build, 12.5 KiB per ONNX node allocated
// while building.
const graphOpBytes = 4 << 10

// checkOps refuses a graph of ops operations (from onnxNodes ONNX nodes)
// whose bookkeeping, with the tensors counted so far, exceeds the memory
// budget. Building and compiling take time linear in ops (gorgonia is
// patched for that: third_party/README.md), so memory is the only limit.
func (b *builderBase) checkOps(ops, onnxNodes int) error {
	budget := b.budget()
	need := float64(ops) * graphOpBytes
	if float64(b.bytes)+need > float64(budget) {
		return fmt.Errorf("the model's graph has %d operations with its backward pass (from %d ONNX nodes): about %s for the graph besides %s of tensors, more than the memory budget of %s (%s)",
			ops, onnxNodes, byteSize(need), byteSize(float64(b.bytes)), byteSize(float64(budget)), budgetSource(b.opt.MaxMemory))
	}
	return nil
}

// ErrNonFinite marks a parameter holding NaN or ±Inf.
var ErrNonFinite = errors.New("non-finite value")

// checkFinite refuses a NaN in any float initializer and ±Inf in a
// trainable parameter, naming the tensor and the first bad element (a
// constant −Inf, e.g. an attention mask, is legitimate). A NaN weight
// would otherwise poison the audit (or, before ReLU propagated NaN, be
// hidden by it), and an Inf weight would be reported much later as a
// diverging training.
func checkFinite(name string, shape []int, v []float64, trainable bool) error {
	for k, x := range v {
		if math.IsNaN(x) || (trainable && math.IsInf(x, 0)) {
			what := "initializer"
			if trainable {
				what = "parameter"
			}
			bad := 0
			for _, y := range v[k:] {
				if math.IsNaN(y) || (trainable && math.IsInf(y, 0)) {
					bad++
				}
			}
			return fmt.Errorf("%s %q (shape %v): %w %v at %s (%d of its %d values are non-finite): the model's weights are broken, not the training settings",
				what, name, shape, ErrNonFinite, x, coord(shape, k), bad, len(v))
		}
	}
	return nil
}

// coord formats flat index k of shape as a coordinate, e.g. [2 0 1] (flat 17).
func coord(shape []int, k int) string {
	if len(shape) <= 1 {
		return fmt.Sprintf("index %d", k)
	}
	c := make([]int, len(shape))
	r := k
	for d := len(shape) - 1; d >= 0; d-- {
		if shape[d] > 0 {
			c[d] = r % shape[d]
			r /= shape[d]
		}
	}
	return fmt.Sprintf("index %v (flat %d)", c, k)
}
