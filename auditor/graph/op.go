package graph

import (
	"fmt"
	"hash"
	"hash/fnv"
	"runtime/debug"
	"sync/atomic"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// float is the element type of every graph value: float32 (default) or
// float64 (Options.Float64, for finite-difference checks).
type float interface{ ~float32 | ~float64 }

// opUID numbers every op so that no two nodes hash alike: gorgonia merges
// nodes with equal hashes and children, which would leave one ONNX value
// without a bound value.
var opUID atomic.Int64

// kop is the single gorgonia Op type used by the executor. Its behaviour is
// given by closures: run computes the output from the input data, diff
// builds the backward nodes (nil when the op is not differentiated through).
//
// Every kop owns its output buffer and reuses it on every run, so a graph
// value is never aliased by another node's value; kops never overwrite their
// inputs. The only gorgonia built-in op that appears in the graph is the Add
// of gorgonia's gradient accumulation (ReduceAdd), which may overwrite its
// first operand (computed in parallel ranges by the buffers' engine,
// add_engine.go): that operand is always a kop output that nothing else reads
// (diff closures never return an existing node as a gradient, except the
// pass-through of Add/Sub to an operand with a single differentiated use,
// whose gradient gorgonia therefore never sums: fuse_grad.go).
type kop[T float] struct {
	kind     string // "Conv", "ConvGradW", ...
	where    string // ONNX node name, for messages
	uid      int64
	ins      []tensor.Shape // expected input shapes (gorgonia shapes; nil = scalar)
	out      tensor.Shape   // output shape; nil = scalar output
	run      func(out []T, ins [][]T)
	diff     func(ins gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error)
	wrt      []bool
	buf      *tensor.Dense
	scalarIn []T // scratch to pass scalar inputs as slices
}

func newKop[T float](kind, where string, ins []tensor.Shape, out tensor.Shape, run func(out []T, ins [][]T)) *kop[T] {
	return &kop[T]{kind: kind, where: where, uid: opUID.Add(1), ins: ins, out: out, run: run}
}

func dtypeOf[T float]() tensor.Dtype {
	var z T
	if _, ok := any(z).(float32); ok {
		return tensor.Float32
	}
	return tensor.Float64
}

func typeOfShape[T float](s tensor.Shape) hm.Type {
	if s == nil {
		return dtypeOf[T]()
	}
	return gorgonia.TensorType{Dims: len(s), Of: dtypeOf[T]()}
}

// Arity implements gorgonia.Op.
func (o *kop[T]) Arity() int { return len(o.ins) }

// Type implements gorgonia.Op.
func (o *kop[T]) Type() hm.Type {
	ts := make([]hm.Type, 0, len(o.ins)+1)
	for _, s := range o.ins {
		ts = append(ts, typeOfShape[T](s))
	}
	ts = append(ts, typeOfShape[T](o.out))
	return hm.NewFnType(ts...)
}

// InferShape implements gorgonia.Op.
func (o *kop[T]) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if len(ds) != len(o.ins) {
		return nil, fmt.Errorf("%v: %d inputs, want %d", o, len(ds), len(o.ins))
	}
	if o.out == nil {
		return tensor.ScalarShape(), nil
	}
	return o.out.Clone(), nil
}

// Do implements gorgonia.Op: it runs the kernel into the op's own buffer.
func (o *kop[T]) Do(vals ...gorgonia.Value) (ret gorgonia.Value, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v: internal error: %v\n%s", o, r, debug.Stack())
			ret = nil
		}
	}()
	if len(vals) != len(o.ins) {
		return nil, fmt.Errorf("%v: got %d inputs, want %d", o, len(vals), len(o.ins))
	}
	ins := make([][]T, len(vals))
	if cap(o.scalarIn) < len(vals) {
		o.scalarIn = make([]T, len(vals))
	}
	for i, v := range vals {
		switch v := v.(type) {
		case *tensor.Dense:
			d, ok := v.Data().([]T)
			if !ok {
				return nil, fmt.Errorf("%v: input %d has dtype %v, want %v", o, i, v.Dtype(), dtypeOf[T]())
			}
			if o.ins[i] != nil && !v.Shape().Eq(o.ins[i]) {
				return nil, fmt.Errorf("%v: input %d has shape %v, want %v", o, i, v.Shape(), o.ins[i])
			}
			ins[i] = d
		case *gorgonia.F64:
			o.scalarIn[i] = T(float64(*v))
			ins[i] = o.scalarIn[i : i+1]
		case *gorgonia.F32:
			o.scalarIn[i] = T(float32(*v))
			ins[i] = o.scalarIn[i : i+1]
		default:
			return nil, fmt.Errorf("%v: input %d: unexpected value type %T", o, i, v)
		}
	}
	if o.out == nil {
		var r [1]T
		o.run(r[:], ins)
		if dtypeOf[T]() == tensor.Float32 {
			return gorgonia.NewF32(float32(r[0])), nil
		}
		return gorgonia.NewF64(float64(r[0])), nil
	}
	if o.buf == nil {
		o.buf = tensor.New(tensor.WithShape(o.out.Clone()...), tensor.WithBacking(make([]T, o.out.TotalSize())), tensor.WithEngine(addEngine{}))
	} else if !o.buf.Shape().Eq(o.out) {
		// gorgonia may have reshaped the value in place; restore it.
		if err := o.buf.Reshape(o.out.Clone()...); err != nil {
			return nil, fmt.Errorf("%v: %w", o, err)
		}
	}
	o.run(o.buf.Data().([]T), ins)
	return o.buf, nil
}

// ReturnsPtr implements gorgonia.Op.
func (o *kop[T]) ReturnsPtr() bool { return false }

// CallsExtern implements gorgonia.Op.
func (o *kop[T]) CallsExtern() bool { return false }

// OverwritesInput implements gorgonia.Op: never.
func (o *kop[T]) OverwritesInput() int { return -1 }

// WriteHash implements gorgonia.Op.
func (o *kop[T]) WriteHash(h hash.Hash) { fmt.Fprintf(h, "%s#%d", o.kind, o.uid) }

// Hashcode implements gorgonia.Op.
func (o *kop[T]) Hashcode() uint32 {
	h := fnv.New32a()
	o.WriteHash(h)
	return h.Sum32()
}

// String implements gorgonia.Op.
func (o *kop[T]) String() string {
	if o.where == "" {
		return o.kind
	}
	return fmt.Sprintf("%s(%s)", o.kind, o.where)
}

// DiffWRT implements gorgonia.SDOp.
func (o *kop[T]) DiffWRT(n int) []bool {
	w := make([]bool, n)
	copy(w, o.wrt)
	return w
}

// SymDiff implements gorgonia.SDOp.
func (o *kop[T]) SymDiff(ins gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if o.diff == nil {
		return nil, fmt.Errorf("%v is not differentiable", o)
	}
	r, err := o.diff(ins, out, grad)
	if err != nil {
		return nil, fmt.Errorf("%v: backward: %w", o, err)
	}
	if len(r) != len(ins) {
		return nil, fmt.Errorf("%v: backward gave %d gradients for %d inputs", o, len(r), len(ins))
	}
	return r, nil
}

// apply adds op to the graph with the given children.
func apply[T float](o *kop[T], children ...*gorgonia.Node) (n *gorgonia.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v: gorgonia: %v", o, r)
			n = nil
		}
	}()
	if len(o.ins) != len(children) {
		return nil, fmt.Errorf("%v: %d children, want %d", o, len(children), len(o.ins))
	}
	n, err = gorgonia.ApplyOp(o, children...)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", o, err)
	}
	return n, nil
}
