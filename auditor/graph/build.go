package graph

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/gnaudit/gnaudit/auditor/ir"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// gval is an ONNX value computed by the graph.
type gval struct {
	node  *gorgonia.Node
	shape []int // the ONNX shape (rank 0 is held as [1] in gorgonia)
	bl    bool  // the leading dimension is the batch
	grad  bool  // depends differentiably on a differentiated input
	ints  bool  // integer ids (an int64 data input): read only by Gather, Cast and the comparisons

	bx *bLayout // the batch is not the leading axis (batchlayout.go)
}

// paramRec is a float initializer: its data, and its graph node once used.
type paramRec struct {
	name      string
	shape     []int
	trainable bool
	data      *tensor.Dense
	node      *gorgonia.Node
}

// buildConfig holds internal build switches (used by the conformance tests).
type buildConfig struct {
	forwardOnly bool       // no loss, no backward; keep trailing softmax; any output shape
	allInputs   bool       // every graph input is a data input, with the file's shape
	collect     *collector // record node errors and go on (Check)
}

// edge records a differentiable use, for the reachability of parameters.
type edge struct {
	from []*gorgonia.Node
	wrt  []bool
}

// builderBase is the dtype-independent state of a build.
type builderBase struct {
	m         *ir.Model
	opset     int64
	opt       Options
	cfg       buildConfig
	g         *gorgonia.ExprGraph
	vals      map[string]*gval
	consts    map[string]*cval
	params    map[string]*paramRec
	order     []string // float initializers in file order
	notes     []string
	batch     int
	bytes     int64 // of the tensors counted so far (account)
	fileBatch int   // the file's fixed batch, −1 if symbolic
	track     bool
	edges     map[*gorgonia.Node]edge
	inputs    []*inputSlot
	outName   string // ONNX name of the logits value
	cur       *ir.Node
	// convCols gives, per Conv node name, the column matrix its forward
	// pass keeps for its weight gradient (Net.ConvColumns).
	convCols map[string]func() (data any, rows, cols int)
	// skipW holds, per Conv node name whose weight gradient is built, the
	// switch that makes that gradient's kernel do nothing (Net.LossGradSkip).
	skipW map[string]*skipRec
	// bnTrain holds the train-mode BatchNormalization nodes (bn_train.go).
	bnTrain []*bnTrainRec
	// idRows gives, per integer data input read by Gather, the number of
	// rows of the smallest table it indexes (Net.checkIDs).
	idRows map[string]int
}

// inputSlot is a data input of the graph.
type inputSlot struct {
	name  string
	shape []int
	node  *gorgonia.Node
	data  *tensor.Dense
}

type builder[T float] struct {
	builderBase
	sc       *scratch[T]
	colCache int // column-matrix elements cached so far (colCacheBudget)
}

// errNode wraps an error with the node, its op type and the opset; format
// may wrap an error with %w.
func (b *builderBase) errNode(n *ir.Node, format string, args ...any) error {
	return fmt.Errorf("node %q (%s, opset %d): %w", n.Name, n.OpType, b.opset, fmt.Errorf(format, args...))
}

// refuse reports a construct that would mix samples of the batch.
func (b *builderBase) refuse(n *ir.Node, why string) error {
	return b.errNode(n, "cannot run with batch %d: %s (per-sample results would mix samples; the file's batch is %s)",
		b.batch, why, fileBatchString(b.fileBatch))
}

func fileBatchString(fb int) string {
	if fb < 0 {
		return "symbolic"
	}
	return fmt.Sprint(fb)
}

func (b *builderBase) note(format string, args ...any) {
	b.notes = append(b.notes, fmt.Sprintf(format, args...))
}

func gshape(s []int) tensor.Shape {
	if len(s) == 0 {
		return tensor.Shape{1}
	}
	return tensor.Shape(append([]int(nil), s...))
}

// isConst reports whether value name is known at build time without
// reading a float initializer (those are parameters).
func (b *builderBase) isConst(name string) bool {
	if _, ok := b.consts[name]; ok {
		return true
	}
	if t, ok := b.m.Initializers[name]; ok && !isFloatType(t.Type) {
		return true
	}
	return false
}

// constOf returns the build-time value of name: a constant, or an
// initializer's stored value (float initializers included, for inputs that
// act as attributes such as Clip's bounds).
func (b *builderBase) constOf(name string) (*cval, bool, error) {
	if c, ok := b.consts[name]; ok {
		return c, true, nil
	}
	if t, ok := b.m.Initializers[name]; ok {
		c, err := tensorToCval(t)
		if err != nil {
			return nil, false, err
		}
		if p, ok := b.params[name]; ok && isFloatType(t.Type) {
			b.note("initializer %q is read once at build time (as an operator attribute); SetParam will not change that use", p.name)
		}
		return c, true, nil
	}
	return nil, false, nil
}

func (b *builderBase) shapeOf(name string) ([]int, bool) {
	if v, ok := b.vals[name]; ok {
		return v.shape, true
	}
	if c, ok := b.consts[name]; ok {
		return c.shape, true
	}
	if p, ok := b.params[name]; ok {
		return p.shape, true
	}
	if t, ok := b.m.Initializers[name]; ok {
		s := make([]int, len(t.Dims))
		for k, d := range t.Dims {
			s[k] = int(d)
		}
		return s, true
	}
	return nil, false
}

// newInput adds an input node (data input, parameter or constant) holding data.
func (b *builder[T]) newInput(name string, shape []int, data []T) (*gorgonia.Node, *tensor.Dense, error) {
	if prod(shape) == 0 {
		return nil, nil, fmt.Errorf("empty tensor of shape %v is not supported", shape)
	}
	gs := gshape(shape)
	t := tensor.New(tensor.WithShape(gs...), tensor.WithBacking(data))
	var node *gorgonia.Node
	err := catch(func() error {
		node = gorgonia.NewTensor(b.g, dtypeOf[T](), len(gs), gorgonia.WithShape(gs...), gorgonia.WithName(name), gorgonia.WithValue(t))
		return nil
	})
	return node, t, err
}

// catch runs f and turns a panic into an error.
func catch(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("gorgonia: %v", r)
		}
	}()
	return f()
}

func toT[T float](v []float64) []T {
	r := make([]T, len(v))
	for k, x := range v {
		r[k] = T(x)
	}
	return r
}

// data returns input k of node n as a graph value, materialising parameters
// and float constants as input nodes.
func (b *builder[T]) data(n *ir.Node, k int) (*gval, error) {
	if k >= len(n.Inputs) || n.Inputs[k] == "" {
		return nil, b.errNode(n, "input %d missing", k)
	}
	name := n.Inputs[k]
	if v, ok := b.vals[name]; ok {
		if v.ints && n.OpType != "Gather" && n.OpType != "Cast" {
			return nil, b.errNode(n, "input %q holds integer ids; only Gather (an embedding), Cast and the comparisons (Equal, Less, Greater, …) read them", name)
		}
		if v.bx != nil && !acceptsMovedBatch(n.OpType) {
			return nil, b.refuse(n, fmt.Sprintf("input %q holds the batch on axis %d of %v, not as leading axis", name, v.bx.axis, v.shape))
		}
		return v, nil
	}
	if p, ok := b.params[name]; ok {
		if p.node == nil {
			node, _, err := b.newInput("param:"+name, p.shape, p.data.Data().([]T))
			if err != nil {
				return nil, b.errNode(n, "parameter %q: %v", name, err)
			}
			// newInput wraps the backing slice: replace the record's tensor
			// by the node's so that SetParam writes where the graph reads.
			p.node = node
			p.data = node.Value().(*tensor.Dense)
		}
		v := &gval{node: p.node, shape: p.shape, grad: p.trainable}
		return v, nil
	}
	c, ok, err := b.constOf(name)
	if err != nil {
		return nil, b.errNode(n, "input %q: %v", name, err)
	}
	if !ok {
		return nil, b.errNode(n, "input %q is not produced by any earlier node, initializer or graph input", name)
	}
	if !c.isFloat() {
		return nil, b.errNode(n, "input %q has dtype %v; graph operators need float tensors", name, c.typ)
	}
	node, _, err := b.newInput("const:"+name, c.shape, toT[T](c.f))
	if err != nil {
		return nil, b.errNode(n, "constant %q: %v", name, err)
	}
	v := &gval{node: node, shape: c.shape}
	b.vals[name] = v
	return v, nil
}

// constIn returns input k of node n as a build-time constant (nil, nil when
// the optional input is absent).
func (b *builder[T]) constIn(n *ir.Node, k int) (*cval, error) {
	if k >= len(n.Inputs) || n.Inputs[k] == "" {
		return nil, nil
	}
	c, ok, err := b.constOf(n.Inputs[k])
	if err != nil {
		return nil, b.errNode(n, "input %q: %v", n.Inputs[k], err)
	}
	if !ok {
		return nil, b.errNode(n, "input %d (%q) must be a build-time constant but is computed by the graph", k, n.Inputs[k])
	}
	return c, nil
}

// set records output k of n.
func (b *builderBase) set(n *ir.Node, k int, v *gval) {
	if k < len(n.Outputs) && n.Outputs[k] != "" {
		b.vals[n.Outputs[k]] = v
	}
}

// linearGrad is the SymDiff of a linear one-input op: the input's gradient
// is the op g applied to the output's gradient.
func linearGrad[T float](g *kop[T]) func(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return func(_ gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
		nd, err := apply(g, grad)
		return gorgonia.Nodes{nd}, err
	}
}

// setUnary applies the one-input op o to x and records the result as the
// node's first output, of shape out, keeping x's batch layout.
func (b *builder[T]) setUnary(n *ir.Node, o *kop[T], x *gval, out []int) error {
	v, err := b.mk(n, o, nil, x)
	if err != nil {
		return err
	}
	v.shape, v.bl, v.bx = out, x.bl, x.bx
	b.set(n, 0, v)
	return nil
}

// mk applies op to the inputs, records the differentiable edges and returns
// the new value. op.wrt is set from the inputs' grad flags and diffable.
func (b *builder[T]) mk(n *ir.Node, o *kop[T], diffable []bool, ins ...*gval) (*gval, error) {
	if o.out != nil && o.out.TotalSize() == 0 {
		return nil, b.errNode(n, "empty output of shape %v is not supported", o.out)
	}
	if o.out != nil {
		if err := b.account("its output", []int(o.out), elemSize[T]()); err != nil {
			return nil, b.errNode(n, "%v", err)
		}
	}
	o.wrt = make([]bool, len(ins))
	nodes := make([]*gorgonia.Node, len(ins))
	grad := false
	for k, v := range ins {
		nodes[k] = v.node
		o.wrt[k] = v.grad && (k >= len(diffable) || diffable[k])
		grad = grad || o.wrt[k]
	}
	node, err := apply(o, nodes...)
	if err != nil {
		return nil, b.errNode(n, "%w", err)
	}
	b.edges[node] = edge{from: nodes, wrt: o.wrt}
	return &gval{node: node, grad: grad}, nil
}

// back builds the backward node of one input, or returns nil if that
// input is not differentiated.
func (b *builder[T]) back(wrt bool, o *kop[T], children ...*gorgonia.Node) (*gorgonia.Node, error) {
	if !wrt {
		return nil, nil
	}
	return apply(o, children...)
}

func (b *builder[T]) node(n *ir.Node) error {
	if c := b.cfg.collect; c != nil && c.vals == nil {
		c.vals, c.consts = b.vals, b.consts // Analyze reads the shapes
	}
	if n.Domain != "" && n.Domain != "ai.onnx" {
		return b.errNode(n, "operator domain %q is not supported", n.Domain)
	}
	if len(n.Outputs) == 0 {
		return nil
	}
	s := registry[n.OpType]
	if s == nil {
		return b.errNode(n, "operator not supported")
	}
	if b.opset < s.Since || b.opset > s.Until {
		return b.errNode(n, "operator is accepted at opsets %d-%d; the model's opset is %d", s.Since, s.Until, b.opset)
	}
	if s.eval != nil && b.allConst(n) {
		ins := make([]*cval, len(n.Inputs))
		for k, name := range n.Inputs {
			if name == "" || n.OpType == "Shape" || n.OpType == "Size" {
				continue
			}
			c, _, err := b.constOf(name)
			if err != nil {
				return b.errNode(n, "%w", err)
			}
			ins[k] = c
		}
		c, err := s.eval(&b.builderBase, n, ins)
		if err != nil {
			return b.errNode(n, "build-time evaluation: %v", err)
		}
		b.consts[n.Outputs[0]] = c
		return nil
	}
	if s.build.f32 == nil {
		return b.errNode(n, "operator is only supported on build-time constants, but input(s) %v are computed by the graph", b.graphInputs(n))
	}
	if err := b.checkSpec(n, s); err != nil {
		return err
	}
	return buildNode(b, n, s)
}

// clip builds Clip: bounds that are constants (attributes before opset 11)
// are folded into the kernel, bounds computed by the graph are read at run
// time.
func (b *builder[T]) clip(n *ir.Node) error {
	if b.opset >= 11 && ((len(n.Inputs) > 1 && n.Inputs[1] != "" && !b.isConst(n.Inputs[1])) ||
		(len(n.Inputs) > 2 && n.Inputs[2] != "" && !b.isConst(n.Inputs[2]))) {
		return b.clipRuntime(n)
	}
	return b.unary(n)
}

func (b *builderBase) graphInputs(n *ir.Node) []string {
	var r []string
	for _, in := range n.Inputs {
		if _, ok := b.vals[in]; ok {
			r = append(r, in)
		} else if _, ok := b.params[in]; ok {
			r = append(r, in)
		}
	}
	return r
}

// allConst reports whether n can be evaluated at build time.
func (b *builderBase) allConst(n *ir.Node) bool {
	if n.OpType == "Shape" || n.OpType == "Size" {
		_, ok := b.shapeOf(n.Inputs[0])
		return ok
	}
	for _, in := range n.Inputs {
		if in != "" && !b.isConst(in) {
			return false
		}
	}
	return true
}

func (b *builder[T]) binary(n *ir.Node) error {
	if len(n.Inputs) != 2 {
		return b.errNode(n, "want 2 inputs, got %d", len(n.Inputs))
	}
	x, err := b.data(n, 0)
	if err != nil {
		return err
	}
	y, err := b.data(n, 1)
	if err != nil {
		return err
	}
	if b.opset >= 7 && (n.Attrs["axis"].Kind != 0 || n.Attrs["broadcast"].Kind != 0) {
		return b.errNode(n, "attributes axis/broadcast exist only before opset 7")
	}
	if b.opset < 7 {
		// Legacy broadcasting: B is broadcast to A only with broadcast=1,
		// right-aligned or aligned at axis.
		if attrInt(n, "broadcast", 0) == 0 {
			if !slices.Equal(x.shape, y.shape) {
				return b.errNode(n, "shapes %v and %v differ and broadcast=0", x.shape, y.shape)
			}
		} else if a, ok := n.Attrs["axis"]; ok {
			axis, err := normAxis(a.Int, len(x.shape))
			if err != nil {
				return b.errNode(n, "%w", err)
			}
			if axis+len(y.shape) > len(x.shape) {
				return b.errNode(n, "B %v does not fit A %v at axis %d", y.shape, x.shape, axis)
			}
			ys := append([]int(nil), y.shape...)
			for len(ys) < len(x.shape)-axis {
				ys = append(ys, 1)
			}
			if len(ys) != len(y.shape) {
				yy, err := b.copyOp(&ir.Node{Name: n.Name, OpType: "LegacyBroadcastReshape"}, y, ys)
				if err != nil {
					return err
				}
				y = yy
			}
		}
	}
	out, err := broadcastShape(x.shape, y.shape)
	if err != nil {
		return b.errNode(n, "%w", err)
	}
	if b.opset < 7 && !slices.Equal(out, x.shape) {
		return b.errNode(n, "B %v does not broadcast to A %v", y.shape, x.shape)
	}
	bl := false
	var lay *bLayout
	if b.track && (x.bx != nil || y.bx != nil) {
		l, err := b.broadcastLayout(n, out, x, y)
		if err != nil {
			return err
		}
		lay = &l
	} else if b.track {
		for _, v := range []*gval{x, y} {
			switch {
			case v.bl && len(v.shape) == len(out):
				bl = true
			case v.bl:
				return b.refuse(n, fmt.Sprintf("a batch operand of shape %v is broadcast to %v", v.shape, out))
			case len(v.shape) == len(out) && v.shape[0] != 1 && (x.bl || y.bl):
				return b.refuse(n, fmt.Sprintf("operand of fixed shape %v lines up with the batch dimension", v.shape))
			}
		}
	}
	kind := map[string]int{"Add": binAdd, "Sub": binSub, "Mul": binMul, "Div": binDiv}[n.OpType]
	gx, gy, gout := gshape(x.shape), gshape(y.shape), gshape(out)
	fit := newIter(out, contiguous(out), bcastStrides(x.shape, out), bcastStrides(y.shape, out))
	o := newKop[T](n.OpType, n.Name, []tensor.Shape{gx, gy}, gout, func(r []T, in [][]T) {
		binFwd(kind, r, in[0], in[1], fit)
	})
	sides := [2][]int{x.shape, y.shape}
	gsides := [2]tensor.Shape{gx, gy}
	o.diff = func(ins gorgonia.Nodes, outN, grad *gorgonia.Node) (gorgonia.Nodes, error) {
		res := make(gorgonia.Nodes, 2)
		for s := 0; s < 2; s++ {
			if !o.wrt[s] {
				continue
			}
			side := s
			if b.passGrad(kind, side, ins, gsides[side].Eq(gout)) {
				res[s] = grad // fuse_grad.go
				continue
			}
			it := newIter(out, contiguous(out), bcastStrides(sides[0], out), bcastStrides(sides[1], out), bcastStrides(sides[side], out))
			reduce := prod(sides[side]) != prod(out)
			var acc []float64
			if reduce {
				acc = make([]float64, prod(sides[side]))
			}
			g := newKop[T](fmt.Sprintf("%sGrad%d", binNames[kind], side), n.Name, []tensor.Shape{gout, gx, gy}, gsides[side], func(r []T, in [][]T) {
				binGrad(kind, side, r, in[0], in[1], in[2], it, reduce, acc)
			})
			nd, err := apply(g, grad, ins[0], ins[1])
			if err != nil {
				return nil, err
			}
			res[s] = nd
		}
		return res, nil
	}
	v, err := b.mk(n, o, nil, x, y)
	if err != nil {
		return err
	}
	v.shape, v.bl = out, bl
	if lay != nil {
		b.setLayout(v, out, *lay)
	}
	b.set(n, 0, v)
	return nil
}

func (b *builder[T]) unary(n *ir.Node) error {
	x, err := b.data(n, 0)
	if err != nil {
		return err
	}
	var u unary
	switch n.OpType {
	case "Relu":
		u.kind = unRelu
	case "LeakyRelu":
		u.kind, u.alpha = unLeaky, attrFloat(n, "alpha", 0.01)
	case "Sigmoid":
		u.kind = unSigmoid
	case "Tanh":
		u.kind = unTanh
	case "Clip":
		u.kind = unClip
		u.lo, u.hi = math.Inf(-1), math.Inf(1)
		if b.opset < 11 {
			u.lo = attrFloat(n, "min", -math.MaxFloat32)
			u.hi = attrFloat(n, "max", math.MaxFloat32)
		} else {
			for k, p := range []*float64{&u.lo, &u.hi} {
				c, err := b.constIn(n, k+1)
				if err != nil {
					return err
				}
				if c != nil {
					if c.len() != 1 {
						return b.errNode(n, "bound %q is not a scalar", n.Inputs[k+1])
					}
					*p = c.floats()[0]
				}
			}
		}
	}
	gs := gshape(x.shape)
	o := newKop[T](n.OpType, n.Name, []tensor.Shape{gs}, gs, func(r []T, in [][]T) { unaryFwd(u, r, in[0]) })
	o.diff = func(ins gorgonia.Nodes, outN, grad *gorgonia.Node) (gorgonia.Nodes, error) {
		g := newKop[T](n.OpType+"Grad", n.Name, []tensor.Shape{gs, gs, gs}, gs, func(r []T, in [][]T) {
			unaryGrad(u, r, in[0], in[1], in[2])
		})
		nd, err := apply(g, ins[0], outN, grad)
		return gorgonia.Nodes{nd}, err
	}
	return b.setUnary(n, o, x, x.shape)
}

// clipRuntime builds Clip whose bounds are graph values (data inputs or
// parameters): the bounds are read at run time and differentiated.
func (b *builder[T]) clipRuntime(n *ir.Node) error {
	x, err := b.data(n, 0)
	if err != nil {
		return err
	}
	ins := []*gval{x}
	has := [2]bool{}
	for k := 1; k <= 2; k++ {
		if k < len(n.Inputs) && n.Inputs[k] != "" {
			v, err := b.data(n, k)
			if err != nil {
				return err
			}
			if prod(v.shape) != 1 {
				return b.errNode(n, "bound %q has shape %v, want a scalar", n.Inputs[k], v.shape)
			}
			if b.track && v.bl {
				return b.refuse(n, "Clip bounds depend on the batch")
			}
			ins = append(ins, v)
			has[k-1] = true
		}
	}
	bounds := func(in [][]T) (lo, hi T) {
		lo, hi = T(math.Inf(-1)), T(math.Inf(1))
		k := 1
		if has[0] {
			lo = in[k][0]
			k++
		}
		if has[1] {
			hi = in[k][0]
		}
		return
	}
	gs := gshape(x.shape)
	insS := []tensor.Shape{gs}
	for _, v := range ins[1:] {
		insS = append(insS, gshape(v.shape))
	}
	o := newKop[T]("Clip", n.Name, insS, gs, func(r []T, in [][]T) {
		lo, hi := bounds(in)
		clipFwd(r, in[0], lo, hi)
	})
	o.diff = func(gins gorgonia.Nodes, outN, grad *gorgonia.Node) (gorgonia.Nodes, error) {
		res := make(gorgonia.Nodes, len(gins))
		children := append(append(gorgonia.Nodes{}, gins...), grad)
		cs := append(append([]tensor.Shape{}, insS...), gs)
		for k := range gins {
			if !o.wrt[k] {
				continue
			}
			which := k
			if k == 1 && !has[0] {
				which = 2
			}
			nd, err := apply(newKop[T](fmt.Sprintf("ClipGrad%d", which), n.Name, cs, insS[k], func(r []T, in [][]T) {
				lo, hi := bounds(in)
				g := in[len(in)-1]
				var dx []T
				if which == 0 {
					dx = r
				} else {
					dx = make([]T, len(in[0]))
				}
				dlo, dhi := clipGrad(dx, in[0], g, lo, hi)
				switch which {
				case 1:
					r[0] = T(dlo)
				case 2:
					r[0] = T(dhi)
				}
			}), children...)
			if err != nil {
				return nil, err
			}
			res[k] = nd
		}
		return res, nil
	}
	v, err := b.mk(n, o, nil, ins...)
	if err != nil {
		return err
	}
	v.shape, v.bl = x.shape, x.bl
	b.set(n, 0, v)
	return nil
}

// window computes, for one spatial dimension, the output size and the
// begin/end pads of a convolution or pooling (ONNX auto_pad rules; ceil_mode
// with PyTorch's rule that the last window must start inside the input or
// the begin padding).
func window(in, k, s, d, pb, pe int, autoPad string, ceil bool) (out, b, e int, err error) {
	ek := (k-1)*d + 1
	switch autoPad {
	case "", "NOTSET":
		num := in + pb + pe - ek
		if num < 0 {
			return 0, 0, 0, fmt.Errorf("window %d larger than padded input %d", ek, in+pb+pe)
		}
		if ceil {
			out = (num+s-1)/s + 1
			if (out-1)*s >= in+pb {
				out--
			}
		} else {
			out = num/s + 1
		}
		return out, pb, pe, nil
	case "VALID":
		if in < ek {
			return 0, 0, 0, fmt.Errorf("window %d larger than input %d", ek, in)
		}
		return (in-ek)/s + 1, 0, 0, nil
	case "SAME_UPPER", "SAME_LOWER":
		out = (in + s - 1) / s
		total := max(0, (out-1)*s+ek-in)
		if autoPad == "SAME_UPPER" {
			b = total / 2
			e = total - b
		} else {
			e = total / 2
			b = total - e
		}
		return out, b, e, nil
	}
	return 0, 0, 0, fmt.Errorf("auto_pad %q not supported", autoPad)
}

// spatial reads kernel/stride/dilation/pad attributes for r spatial dims and
// fills g (r = 1 is mapped to a 2-D sweep of height 1).
func (b *builderBase) spatial(n *ir.Node, g *geom, inSp, kernel []int, ceil, dilations bool) ([]int, error) {
	r := len(inSp)
	strides := attrInts(n, "strides")
	dil := attrInts(n, "dilations")
	pads := attrInts(n, "pads")
	if !dilations && dil != nil {
		return nil, b.errNode(n, "dilations not supported for this operator")
	}
	one := func(v []int64, k int, def int) (int, error) {
		if v == nil {
			return def, nil
		}
		if k >= len(v) {
			return 0, fmt.Errorf("attribute has %d values for %d spatial dims", len(v), r)
		}
		return int(v[k]), nil
	}
	if (strides != nil && len(strides) != r) || (dil != nil && len(dil) != r) || (pads != nil && len(pads) != 2*r) {
		return nil, b.errNode(n, "strides %v / dilations %v / pads %v do not match %d spatial dims", strides, dil, pads, r)
	}
	autoPad := attrString(n, "auto_pad", "NOTSET")
	if autoPad != "NOTSET" && autoPad != "" && pads != nil {
		nz := false
		for _, p := range pads {
			nz = nz || p != 0
		}
		if nz {
			return nil, b.errNode(n, "pads %v given together with auto_pad %s", pads, autoPad)
		}
	}
	outSp := make([]int, r)
	type dim struct{ in, k, s, d, pb, pe, out int }
	dims := make([]dim, r)
	for k := 0; k < r; k++ {
		s, err := one(strides, k, 1)
		if err != nil {
			return nil, b.errNode(n, "strides: %v", err)
		}
		d, err := one(dil, k, 1)
		if err != nil {
			return nil, b.errNode(n, "dilations: %v", err)
		}
		pb, _ := one(pads, k, 0)
		pe, _ := one(pads, k+r, 0)
		if s <= 0 || d <= 0 || pb < 0 || pe < 0 || kernel[k] <= 0 {
			return nil, b.errNode(n, "invalid kernel %v strides %v dilations %v pads %v", kernel, strides, dil, pads)
		}
		o, pb2, pe2, err := window(inSp[k], kernel[k], s, d, pb, pe, autoPad, ceil)
		if err != nil {
			return nil, b.errNode(n, "%w", err)
		}
		if o <= 0 {
			return nil, b.errNode(n, "empty output along spatial dim %d", k)
		}
		dims[k] = dim{inSp[k], kernel[k], s, d, pb2, pe2, o}
		outSp[k] = o
	}
	if r == 1 {
		dims = append([]dim{{1, 1, 1, 1, 0, 0, 1}}, dims...)
	}
	g.h, g.kh, g.sh, g.dh, g.pt, g.pb, g.oh = dims[0].in, dims[0].k, dims[0].s, dims[0].d, dims[0].pb, dims[0].pe, dims[0].out
	g.w, g.kw, g.sw, g.dw, g.pl, g.pr, g.ow = dims[1].in, dims[1].k, dims[1].s, dims[1].d, dims[1].pb, dims[1].pe, dims[1].out
	return outSp, nil
}

func (b *builder[T]) conv(n *ir.Node) error {
	x, err := b.data(n, 0)
	if err != nil {
		return err
	}
	w, err := b.data(n, 1)
	if err != nil {
		return err
	}
	var bias *gval
	if len(n.Inputs) > 2 && n.Inputs[2] != "" {
		if bias, err = b.data(n, 2); err != nil {
			return err
		}
	}
	r := len(x.shape) - 2
	if r != 1 && r != 2 {
		return b.errNode(n, "input of rank %d: only 1-D and 2-D convolutions are supported", len(x.shape))
	}
	if len(w.shape) != r+2 {
		return b.errNode(n, "weight shape %v does not match input %v", w.shape, x.shape)
	}
	group := int(attrInt(n, "group", 1))
	g := &geom{n: x.shape[0], c: x.shape[1], m: w.shape[0], group: group}
	if group <= 0 || g.c%group != 0 || g.m%group != 0 || w.shape[1]*group != g.c {
		return b.errNode(n, "group %d does not fit input channels %d and weight %v", group, g.c, w.shape)
	}
	kernel := w.shape[2:]
	if ks := attrInts(n, "kernel_shape"); ks != nil {
		for k, v := range ks {
			if k >= len(kernel) || int(v) != kernel[k] {
				return b.errNode(n, "kernel_shape %v does not match weight %v", ks, w.shape)
			}
		}
	}
	if bias != nil && (len(bias.shape) != 1 || bias.shape[0] != g.m) {
		return b.errNode(n, "bias shape %v, want [%d]", bias.shape, g.m)
	}
	outSp, err := b.spatial(n, g, x.shape[2:], kernel, false, true)
	if err != nil {
		return err
	}
	if b.track && !x.bl {
		if w.bl || (bias != nil && bias.bl) {
			return b.refuse(n, "weights depend on the batch")
		}
	}
	out := append([]int{g.n, g.m}, outSp...)
	gx, gw, gout := gshape(x.shape), gshape(w.shape), gshape(out)
	insS := []tensor.Shape{gx, gw}
	ins := []*gval{x, w}
	if bias != nil {
		insS = append(insS, gshape(bias.shape))
		ins = append(ins, bias)
	}
	sc := b.sc
	var cc *colCache[T] // set when the weight gradient is built
	var dc *denseConv[T]
	if convDense && g.denseOK() {
		dc = newDenseConv[T](g)
	}
	o := newKop[T]("Conv", n.Name, insS, gout, func(r []T, in [][]T) {
		var bb []T
		if len(in) > 2 {
			bb = in[2]
		}
		if dc != nil {
			dc.fwd(r, in[0], in[1], bb, cc)
			return
		}
		convFwd(r, in[0], in[1], bb, g, sc, cc)
	})
	o.diff = func(ins gorgonia.Nodes, outN, grad *gorgonia.Node) (gorgonia.Nodes, error) {
		res := make(gorgonia.Nodes, len(ins))
		var err error
		if res[0], err = b.back(o.wrt[0], newKop[T]("ConvGradX", n.Name, []tensor.Shape{gw, gout}, gx, func(r []T, in [][]T) {
			if dc != nil {
				dc.gradX(r, in[0], in[1])
				return
			}
			convGradX(r, in[0], in[1], g, sc)
		}), ins[1], grad); err != nil {
			return nil, err
		}
		if size := g.c * g.kh * g.kw * g.n * g.oh * g.ow; o.wrt[1] && cc == nil && !tapsFor[T](g) && b.colCache+size <= colCacheBudget {
			cc = &colCache[T]{}
			b.colCache += size
			if b.convCols == nil {
				b.convCols = map[string]func() (any, int, int){}
			}
			b.convCols[n.Name] = func() (any, int, int) {
				if !cc.ready() {
					return nil, 0, 0
				}
				return cc.buf, g.c * g.kh * g.kw, g.n * g.oh * g.ow
			}
		}
		var skip *skipRec
		if o.wrt[1] {
			skip = &skipRec{}
			if _, isParam := b.params[n.Inputs[1]]; isParam {
				skip.param = n.Inputs[1]
			}
			if b.skipW == nil {
				b.skipW = map[string]*skipRec{}
			}
			b.skipW[n.Name] = skip
		}
		if res[1], err = b.back(o.wrt[1], newKop[T]("ConvGradW", n.Name, []tensor.Shape{gx, gout}, gw, func(r []T, in [][]T) {
			if skip.on {
				return // Net.LossGradSkip: the caller forms Σ_i g_i itself
			}
			if dc != nil {
				dc.gradW(r, in[0], in[1], sc)
				return
			}
			convGradW(r, in[0], in[1], g, sc, cc)
		}), ins[0], grad); err != nil {
			return nil, err
		}
		if len(ins) > 2 {
			P := g.oh * g.ow
			if res[2], err = b.back(o.wrt[2], newKop[T]("ConvGradB", n.Name, []tensor.Shape{gout}, gshape([]int{g.m}), func(r []T, in [][]T) {
				channelSum(r, in[0], g.n, g.m, P, sc)
			}), grad); err != nil {
				return nil, err
			}
		}
		return res, nil
	}
	v, err := b.mk(n, o, nil, ins...)
	if err != nil {
		return err
	}
	v.shape, v.bl = out, x.bl
	b.set(n, 0, v)
	return nil
}

func (b *builder[T]) pool(n *ir.Node) error {
	if len(n.Outputs) > 1 && n.Outputs[1] != "" {
		return b.errNode(n, "the Indices output is not supported")
	}
	x, err := b.data(n, 0)
	if err != nil {
		return err
	}
	r := len(x.shape) - 2
	if r != 1 && r != 2 {
		return b.errNode(n, "input of rank %d: only 1-D and 2-D pooling is supported", len(x.shape))
	}
	ks := attrInts(n, "kernel_shape")
	if len(ks) != r {
		return b.errNode(n, "kernel_shape %v does not match %d spatial dims", ks, r)
	}
	kernel := make([]int, r)
	for k, v := range ks {
		kernel[k] = int(v)
	}
	isMax := n.OpType == "MaxPool"
	g := &geom{n: x.shape[0], c: x.shape[1], includePad: attrInt(n, "count_include_pad", 0) != 0}
	outSp, err := b.spatial(n, g, x.shape[2:], kernel, attrInt(n, "ceil_mode", 0) != 0, isMax)
	if err != nil {
		return err
	}
	out := append([]int{g.n, g.c}, outSp...)
	gx, gout := gshape(x.shape), gshape(out)
	var o *kop[T]
	if isMax {
		var pa *poolArgs // set when the gradient is built
		o = newKop[T]("MaxPool", n.Name, []tensor.Shape{gx}, gout, func(r []T, in [][]T) { maxPoolFwdArgs(r, in[0], g, pa) })
		o.diff = func(ins gorgonia.Nodes, outN, grad *gorgonia.Node) (gorgonia.Nodes, error) {
			pa = &poolArgs{}
			nd, err := apply(newKop[T]("MaxPoolGrad", n.Name, []tensor.Shape{gx, gout}, gx, func(r []T, in [][]T) {
				maxPoolGradArgs(r, in[0], in[1], g, pa)
			}), ins[0], grad)
			return gorgonia.Nodes{nd}, err
		}
	} else {
		o = newKop[T]("AveragePool", n.Name, []tensor.Shape{gx}, gout, func(r []T, in [][]T) { avgPoolFwd(r, in[0], g) })
		o.diff = linearGrad(newKop[T]("AveragePoolGrad", n.Name, []tensor.Shape{gout}, gx, func(r []T, in [][]T) {
			avgPoolGrad(r, in[0], g)
		}))
	}
	return b.setUnary(n, o, x, out)
}

func (b *builder[T]) globalAvgPool(n *ir.Node) error {
	x, err := b.data(n, 0)
	if err != nil {
		return err
	}
	if len(x.shape) < 3 {
		return b.errNode(n, "input shape %v has no spatial dims", x.shape)
	}
	out := []int{x.shape[0], x.shape[1]}
	for range x.shape[2:] {
		out = append(out, 1)
	}
	P := prod(x.shape[2:])
	gx, gout := gshape(x.shape), gshape(out)
	o := newKop[T]("GlobalAveragePool", n.Name, []tensor.Shape{gx}, gout, func(r []T, in [][]T) { meanLast(r, in[0], P) })
	o.diff = linearGrad(newKop[T]("GlobalAveragePoolGrad", n.Name, []tensor.Shape{gout}, gx, func(r []T, in [][]T) {
		meanLastGrad(r, in[0], P)
	}))
	return b.setUnary(n, o, x, out)
}

func (b *builder[T]) batchNorm(n *ir.Node) error {
	if b.opt.BatchNormTrain {
		return b.batchNormTrain(n)
	}
	for k := 1; k < len(n.Outputs); k++ {
		if n.Outputs[k] != "" {
			return b.errNode(n, "training-mode outputs (running mean/var, saved statistics) are not supported; only inference BatchNormalization")
		}
	}
	if attrInt(n, "training_mode", 0) != 0 {
		return b.errNode(n, "training_mode=1 is not supported; only inference BatchNormalization")
	}
	if attrInt(n, "is_test", 1) == 0 && b.opset < 7 {
		return b.errNode(n, "is_test=0 (training mode) is not supported; only inference BatchNormalization")
	}
	ins, err := b.batchNormOperands(n)
	if err != nil {
		return err
	}
	x, C := ins[0], ins[0].shape[1]
	g := &bnGeom{n: x.shape[0], c: C, p: prod(x.shape[2:]), eps: attrFloat(n, "epsilon", 1e-5)}
	gx, gc := gshape(x.shape), gshape([]int{C})
	o := newKop[T]("BatchNormalization", n.Name, []tensor.Shape{gx, gc, gc, gc, gc}, gx, func(r []T, in [][]T) {
		bnFwd(r, in[0], in[1], in[2], in[3], in[4], g)
	})
	sc := b.sc
	o.diff = func(ins gorgonia.Nodes, outN, grad *gorgonia.Node) (gorgonia.Nodes, error) {
		if o.wrt[0] && (o.wrt[1] || o.wrt[2]) {
			return bnBackFused[T](n, g, gx, gc, o.wrt, ins, grad)
		}
		res := make(gorgonia.Nodes, 5)
		var err error
		if res[0], err = b.back(o.wrt[0], newKop[T]("BatchNormGradX", n.Name, []tensor.Shape{gc, gc, gx}, gx, func(r []T, in [][]T) {
			bnGradX(r, in[0], in[1], in[2], g)
		}), ins[1], ins[4], grad); err != nil {
			return nil, err
		}
		sx := make([]float64, C)
		if res[1], err = b.back(o.wrt[1], newKop[T]("BatchNormGradScale", n.Name, []tensor.Shape{gx, gc, gc, gx}, gc, func(r []T, in [][]T) {
			bnGradScale(r, in[0], in[1], in[2], in[3], g, sx)
		}), ins[0], ins[3], ins[4], grad); err != nil {
			return nil, err
		}
		if res[2], err = b.back(o.wrt[2], newKop[T]("BatchNormGradBias", n.Name, []tensor.Shape{gx}, gc, func(r []T, in [][]T) {
			channelSum(r, in[0], g.n, g.c, g.p, sc)
		}), grad); err != nil {
			return nil, err
		}
		return res, nil
	}
	v, err := b.mk(n, o, []bool{true, true, true, false, false}, ins...)
	if err != nil {
		return err
	}
	v.shape, v.bl = x.shape, x.bl
	b.set(n, 0, v)
	return nil
}

func (b *builder[T]) gemmNode(n *ir.Node) error {
	a, err := b.data(n, 0)
	if err != nil {
		return err
	}
	bm, err := b.data(n, 1)
	if err != nil {
		return err
	}
	var c *gval
	if len(n.Inputs) > 2 && n.Inputs[2] != "" {
		if c, err = b.data(n, 2); err != nil {
			return err
		}
	}
	if len(a.shape) != 2 || len(bm.shape) != 2 {
		return b.errNode(n, "A %v and B %v must be matrices", a.shape, bm.shape)
	}
	ga := &gemmAttrs{alpha: attrFloat(n, "alpha", 1), beta: attrFloat(n, "beta", 1),
		transA: attrInt(n, "transA", 0) != 0, transB: attrInt(n, "transB", 0) != 0}
	ga.m, ga.k = a.shape[0], a.shape[1]
	if ga.transA {
		ga.m, ga.k = ga.k, ga.m
	}
	k2, nn := bm.shape[0], bm.shape[1]
	if ga.transB {
		k2, nn = nn, k2
	}
	if k2 != ga.k {
		return b.errNode(n, "inner dimensions differ: A %v (transA=%v), B %v (transB=%v)", a.shape, ga.transA, bm.shape, ga.transB)
	}
	ga.n = nn
	out := []int{ga.m, ga.n}
	if b.track && a.bx != nil && (ga.transA || a.bx.axis != 0) {
		return b.refuse(n, "the batch is on A's contracted axis")
	}
	if b.track && (bm.bx != nil || (c != nil && c.bx != nil)) {
		return b.refuse(n, "B or C depends on the batch")
	}
	if b.track {
		if (a.bl || a.bx != nil) && ga.transA {
			return b.refuse(n, "transA=1 on the batch operand")
		}
		if bm.bl || (c != nil && c.bl && !a.bl) {
			return b.refuse(n, "B or C depends on the batch")
		}
	}
	gA, gB, gout := gshape(a.shape), gshape(bm.shape), gshape(out)
	insS := []tensor.Shape{gA, gB}
	ins := []*gval{a, bm}
	var cit iter
	var cshape []int
	if c != nil {
		bs, err := broadcastShape(c.shape, out)
		if err != nil || !slices.Equal(bs, out) {
			return b.errNode(n, "C of shape %v does not broadcast to %v", c.shape, out)
		}
		cshape = c.shape
		cit = newIter(out, contiguous(out), bcastStrides(c.shape, out))
		insS = append(insS, gshape(c.shape))
		ins = append(ins, c)
	}
	o := newKop[T]("Gemm", n.Name, insS, gout, func(r []T, in [][]T) {
		var cc []T
		if len(in) > 2 {
			cc = in[2]
		}
		gemmFwd(r, in[0], in[1], cc, ga, cit)
	})
	sc := b.sc
	o.diff = func(ins gorgonia.Nodes, outN, grad *gorgonia.Node) (gorgonia.Nodes, error) {
		res := make(gorgonia.Nodes, len(ins))
		var err error
		if res[0], err = b.back(o.wrt[0], newKop[T]("GemmGradA", n.Name, []tensor.Shape{gB, gout}, gA, func(r []T, in [][]T) {
			gemmGradA(r, in[0], in[1], ga)
		}), ins[1], grad); err != nil {
			return nil, err
		}
		if res[1], err = b.back(o.wrt[1], newKop[T]("GemmGradB", n.Name, []tensor.Shape{gA, gout}, gB, func(r []T, in [][]T) {
			gemmGradB(r, in[0], in[1], ga)
		}), ins[0], grad); err != nil {
			return nil, err
		}
		if len(ins) > 2 {
			it := newIter(out, contiguous(out), bcastStrides(cshape, out))
			if res[2], err = b.back(o.wrt[2], newKop[T]("GemmGradC", n.Name, []tensor.Shape{gout}, gshape(cshape), func(r []T, in [][]T) {
				sumTo(r, in[0], it, ga.beta, sc)
			}), grad); err != nil {
				return nil, err
			}
		}
		return res, nil
	}
	v, err := b.mk(n, o, nil, ins...)
	if err != nil {
		return err
	}
	v.shape, v.bl, v.bx = out, a.bl, a.bx
	b.set(n, 0, v)
	return nil
}

func (b *builder[T]) matmul(n *ir.Node) error {
	a, err := b.data(n, 0)
	if err != nil {
		return err
	}
	bm, err := b.data(n, 1)
	if err != nil {
		return err
	}
	if len(a.shape) == 0 || len(bm.shape) == 0 {
		return b.errNode(n, "MatMul of a scalar")
	}
	a1, b1 := a.shape, bm.shape
	if len(a1) == 1 {
		a1 = []int{1, a1[0]}
	}
	if len(b1) == 1 {
		b1 = []int{b1[0], 1}
	}
	g := &mmGeom{m: a1[len(a1)-2], k: a1[len(a1)-1], n: b1[len(b1)-1]}
	if b1[len(b1)-2] != g.k {
		return b.errNode(n, "inner dimensions differ: %v × %v", a.shape, bm.shape)
	}
	batch, err := broadcastShape(a1[:len(a1)-2], b1[:len(b1)-2])
	if err != nil {
		return b.errNode(n, "batch dims: %v", err)
	}
	g.batch = batch
	g.aStr = bcastStrides(a1[:len(a1)-2], batch)
	g.bStr = bcastStrides(b1[:len(b1)-2], batch)
	g.simple = len(b1) == 2 && prod(a1[:len(a1)-2]) == prod(batch)
	out := append(append([]int{}, batch...), g.m, g.n)
	if len(a.shape) == 1 {
		out = append(out[:len(out)-2], g.n)
	}
	if len(bm.shape) == 1 {
		out = out[:len(out)-1]
	}
	bl := false
	var lay *bLayout
	if b.track && (a.bx != nil || bm.bx != nil) {
		l, err := b.matmulLayout(n, a, bm, out)
		if err != nil {
			return err
		}
		lay = &l
	} else if b.track {
		switch {
		case a.bl && bm.bl && len(a.shape) == len(bm.shape) && len(a.shape) >= 3:
			bl = true // both per sample, the batch a matrix-product batch dimension (attention)
		case bm.bl:
			return b.refuse(n, "the second operand depends on the batch")
		case a.bl && (len(a.shape) < 2 || len(a.shape) < len(out)):
			return b.refuse(n, fmt.Sprintf("batch operand %v is broadcast to %v", a.shape, out))
		case a.bl:
			bl = true
		}
	}
	gA, gB, gout := gshape(a.shape), gshape(bm.shape), gshape(out)
	o := newKop[T]("MatMul", n.Name, []tensor.Shape{gA, gB}, gout, func(r []T, in [][]T) { matmulFwd(r, in[0], in[1], g) })
	o.diff = func(ins gorgonia.Nodes, outN, grad *gorgonia.Node) (gorgonia.Nodes, error) {
		res := make(gorgonia.Nodes, 2)
		var err error
		if res[0], err = b.back(o.wrt[0], newKop[T]("MatMulGradA", n.Name, []tensor.Shape{gB, gout}, gA, func(r []T, in [][]T) {
			matmulGradA(r, in[0], in[1], g)
		}), ins[1], grad); err != nil {
			return nil, err
		}
		if res[1], err = b.back(o.wrt[1], newKop[T]("MatMulGradB", n.Name, []tensor.Shape{gA, gout}, gB, func(r []T, in [][]T) {
			matmulGradB(r, in[0], in[1], g)
		}), ins[0], grad); err != nil {
			return nil, err
		}
		return res, nil
	}
	v, err := b.mk(n, o, nil, a, bm)
	if err != nil {
		return err
	}
	v.shape, v.bl = out, bl
	if lay != nil {
		b.setLayout(v, out, *lay)
	}
	b.set(n, 0, v)
	return nil
}

// copyOp adds a node whose output is a copy of x with another shape.
func (b *builder[T]) copyOp(n *ir.Node, x *gval, out []int) (*gval, error) {
	gx, gout := gshape(x.shape), gshape(out)
	o := newKop[T](n.OpType, n.Name, []tensor.Shape{gx}, gout, func(r []T, in [][]T) { copy(r, in[0]) })
	o.diff = linearGrad(newKop[T](n.OpType+"Grad", n.Name, []tensor.Shape{gout}, gx, func(r []T, in [][]T) { copy(r, in[0]) }))
	v, err := b.mk(n, o, nil, x)
	if err != nil {
		return nil, err
	}
	v.shape = out
	return v, nil
}

func (b *builder[T]) reshape(n *ir.Node) error {
	x, err := b.data(n, 0)
	if err != nil {
		return err
	}
	var out []int
	bl := x.bl
	switch n.OpType {
	case "Identity":
		out = x.shape
	case "Dropout":
		if len(n.Outputs) > 1 && n.Outputs[1] != "" && b.used(n.Outputs[1]) {
			return b.errNode(n, "the mask output is not supported")
		}
		if c, err := b.constIn(n, 2); err != nil {
			return err
		} else if c != nil && c.len() == 1 && c.floats()[0] != 0 && !b.zeroRatio(n) {
			return b.errNode(n, "training_mode=true is not supported")
		}
		out = x.shape
	case "Flatten":
		axis := attrInt(n, "axis", 1)
		if out, err = flattenShape(x.shape, axis); err != nil {
			return b.errNode(n, "%w", err)
		}
		if b.track && x.bl && (axis == 0 || axis == -int64(len(x.shape))) {
			return b.refuse(n, "Flatten with axis 0 merges the batch into one row")
		}
	case "Squeeze", "Unsqueeze":
		var ins []*cval
		if len(n.Inputs) > 1 {
			c, err := b.constIn(n, 1)
			if err != nil {
				return err
			}
			ins = []*cval{nil, c}
		}
		axes, err := axesOf(n, ins, b.opset)
		if err != nil {
			return b.errNode(n, "%w", err)
		}
		r := len(x.shape)
		if n.OpType == "Unsqueeze" {
			r += len(axes)
			out, err = unsqueezeShape(x.shape, axes)
		} else {
			out, err = squeezeShape(x.shape, axes)
		}
		if err != nil {
			return b.errNode(n, "%w", err)
		}
		if b.track && x.bl {
			for _, a := range axes {
				if d, _ := normAxis(a, r); d == 0 {
					return b.refuse(n, fmt.Sprintf("%s on axis 0 (the batch)", n.OpType))
				}
			}
		}
	case "Reshape":
		c, err := b.constIn(n, 1)
		if err != nil {
			return err
		}
		if a, ok := n.Attrs["shape"]; ok && b.opset < 5 {
			c = &cval{typ: ir.Int64, shape: []int{len(a.Ints)}, i: a.Ints}
		}
		if c == nil {
			return b.errNode(n, "missing shape input")
		}
		t := append([]int64(nil), c.ints()...)
		allowZero := attrInt(n, "allowzero", 0) != 0
		if b.track && (x.bl || x.bx != nil) {
			if done, err := b.reshapeMoved(n, x, t, allowZero); done {
				return err
			}
		}
		if b.track && x.bl {
			if len(t) == 0 {
				return b.refuse(n, "Reshape to a scalar")
			}
			switch {
			case t[0] == 0 && !allowZero, t[0] == -1, t[0] == int64(b.batch):
			case b.fileBatch > 0 && t[0] == int64(b.fileBatch):
				old := fmt.Sprint(t)
				t[0] = int64(b.batch)
				b.note("Reshape %q: target %s starts with the file's fixed batch %d; rebatched to %v", n.Name, old, b.fileBatch, t)
			default:
				return b.refuse(n, fmt.Sprintf("Reshape target %v does not keep the batch as leading dimension", t))
			}
		}
		if out, err = reshapeTarget(x.shape, t, allowZero); err != nil {
			return b.errNode(n, "%w", err)
		}
		if b.track && x.bl && out[0] != b.batch {
			return b.refuse(n, fmt.Sprintf("Reshape of %v to %v does not keep the batch as leading dimension", x.shape, out))
		}
	}
	v, err := b.copyOp(n, x, out)
	if err != nil {
		return err
	}
	v.bl, v.bx = bl, x.bx // a moved batch reaches here only through Identity and Dropout
	b.set(n, 0, v)
	return nil
}

func (b *builder[T]) transpose(n *ir.Node) error {
	x, err := b.data(n, 0)
	if err != nil {
		return err
	}
	r := len(x.shape)
	perm := make([]int, r)
	if p := attrInts(n, "perm"); p != nil {
		if len(p) != r {
			return b.errNode(n, "perm %v for rank %d", p, r)
		}
		seen := make([]bool, r)
		for k, v := range p {
			if v < 0 || int(v) >= r || seen[v] {
				return b.errNode(n, "perm %v is not a permutation", p)
			}
			seen[v] = true
			perm[k] = int(v)
		}
	} else {
		for k := range perm {
			perm[k] = r - 1 - k
		}
	}
	out := make([]int, r)
	inv := make([]int, r)
	for k, p := range perm {
		out[k] = x.shape[p]
		inv[p] = k
	}
	lay, moved := b.layoutOf(x)
	moved = moved && b.track && (x.bx != nil || perm[0] != 0)
	xs := x.shape
	gx, gout := gshape(xs), gshape(out)
	o := newKop[T]("Transpose", n.Name, []tensor.Shape{gx}, gout, func(r []T, in [][]T) { transposeKern(r, in[0], xs, perm) })
	o.diff = linearGrad(newKop[T]("TransposeGrad", n.Name, []tensor.Shape{gout}, gx, func(r []T, in [][]T) {
		transposeKern(r, in[0], out, inv)
	}))
	if err := b.setUnary(n, o, x, out); err != nil {
		return err
	}
	if moved {
		b.setLayout(b.vals[n.Outputs[0]], out, transposeLayout(lay, inv))
	}
	return nil
}

func (b *builder[T]) concat(n *ir.Node) error {
	if len(n.Inputs) == 0 {
		return b.errNode(n, "no inputs")
	}
	var xs []*gval
	for k := range n.Inputs {
		if n.Inputs[k] == "" {
			continue
		}
		v, err := b.data(n, k)
		if err != nil {
			return err
		}
		xs = append(xs, v)
	}
	r := len(xs[0].shape)
	axis, err := normAxis(attrInt(n, "axis", 0), r)
	if err != nil {
		return b.errNode(n, "%w", err)
	}
	out := append([]int(nil), xs[0].shape...)
	out[axis] = 0
	shapes := make([][]int, len(xs))
	insS := make([]tensor.Shape, len(xs))
	anyBL, allBL := false, true
	for k, v := range xs {
		if len(v.shape) != r {
			return b.errNode(n, "input shapes %v and %v differ in rank", xs[0].shape, v.shape)
		}
		for d := range v.shape {
			if d != axis && v.shape[d] != xs[0].shape[d] {
				return b.errNode(n, "input shapes %v and %v differ outside axis %d", xs[0].shape, v.shape, axis)
			}
		}
		out[axis] += v.shape[axis]
		shapes[k] = v.shape
		insS[k] = gshape(v.shape)
		anyBL = anyBL || v.bl
		allBL = allBL && v.bl
	}
	if b.track && anyBL && (axis == 0 || !allBL) {
		return b.refuse(n, "Concat along the batch axis or with an operand that is not per-sample")
	}
	gout := gshape(out)
	o := newKop[T]("Concat", n.Name, insS, gout, func(r []T, in [][]T) { concatKern(r, in, shapes, axis) })
	o.diff = func(ins gorgonia.Nodes, outN, grad *gorgonia.Node) (gorgonia.Nodes, error) {
		res := make(gorgonia.Nodes, len(ins))
		start := 0
		for k := range ins {
			st, size := start, shapes[k][axis]
			start += size
			if !o.wrt[k] {
				continue
			}
			nd, err := apply(newKop[T]("ConcatGrad", n.Name, []tensor.Shape{gout}, insS[k], func(r []T, in [][]T) {
				sliceAxisKern(r, in[0], out, axis, st, size)
			}), grad)
			if err != nil {
				return nil, err
			}
			res[k] = nd
		}
		return res, nil
	}
	v, err := b.mk(n, o, nil, xs...)
	if err != nil {
		return err
	}
	v.shape, v.bl = out, allBL && anyBL
	b.set(n, 0, v)
	return nil
}

func (b *builder[T]) pad(n *ir.Node) error {
	x, err := b.data(n, 0)
	if err != nil {
		return err
	}
	if mode := attrString(n, "mode", "constant"); mode != "constant" {
		return b.errNode(n, "mode %q not supported (only constant)", mode)
	}
	r := len(x.shape)
	var pads []int64
	value := 0.0
	if b.opset < 11 {
		pads = attrInts(n, "pads")
		value = attrFloat(n, "value", 0)
	} else {
		if len(n.Inputs) > 3 && n.Inputs[3] != "" {
			return b.errNode(n, "the axes input is not supported")
		}
		c, err := b.constIn(n, 1)
		if err != nil {
			return err
		}
		if c == nil {
			return b.errNode(n, "missing pads input")
		}
		pads = c.ints()
		v, err := b.constIn(n, 2)
		if err != nil {
			return err
		}
		if v != nil {
			if v.len() != 1 {
				return b.errNode(n, "constant_value is not a scalar")
			}
			value = v.floats()[0]
		}
	}
	if len(pads) != 2*r {
		return b.errNode(n, "pads %v for rank %d", pads, r)
	}
	begin, end := make([]int, r), make([]int, r)
	out := make([]int, r)
	for d := 0; d < r; d++ {
		begin[d], end[d] = int(pads[d]), int(pads[d+r])
		out[d] = x.shape[d] + begin[d] + end[d]
		if out[d] < 0 {
			return b.errNode(n, "pads %v crop more than the input %v", pads, x.shape)
		}
	}
	if b.track && x.bl && (begin[0] != 0 || end[0] != 0) {
		return b.refuse(n, "Pad along the batch axis")
	}
	nb, ne := make([]int, r), make([]int, r)
	for d := range begin {
		nb[d], ne[d] = -begin[d], -end[d]
	}
	xs := x.shape
	gx, gout := gshape(xs), gshape(out)
	tv := T(value)
	o := newKop[T]("Pad", n.Name, []tensor.Shape{gx}, gout, func(rr []T, in [][]T) { padKern(rr, in[0], xs, begin, end, tv) })
	o.diff = linearGrad(newKop[T]("PadGrad", n.Name, []tensor.Shape{gout}, gx, func(rr []T, in [][]T) {
		padKern(rr, in[0], out, nb, ne, 0)
	}))
	return b.setUnary(n, o, x, out)
}

func (b *builder[T]) slice(n *ir.Node) error {
	x, err := b.data(n, 0)
	if err != nil {
		return err
	}
	ins := make([]*cval, len(n.Inputs))
	for k := 1; k < len(n.Inputs); k++ {
		if ins[k], err = b.constIn(n, k); err != nil {
			return err
		}
	}
	starts, ends, axes, steps, err := sliceArgs(n, ins, b.opset)
	if err != nil {
		return b.errNode(n, "%w", err)
	}
	sp, err := resolveSlice(x.shape, starts, ends, axes, steps)
	if err != nil {
		return b.errNode(n, "%w", err)
	}
	out := sp.count
	if b.track && x.bl && (sp.start[0] != 0 || sp.step[0] != 1 || out[0] != x.shape[0]) {
		return b.refuse(n, "Slice along the batch axis")
	}
	if b.track && x.bx != nil && !sliceKeepsBatch(sp, x.shape, x.bx.axis) {
		return b.refuse(n, "Slice along the axis that holds the batch")
	}
	base, st := sp.strides(x.shape)
	it := newIter(out, contiguous(out), st)
	gx, gout := gshape(x.shape), gshape(out)
	o := newKop[T]("Slice", n.Name, []tensor.Shape{gx}, gout, func(r []T, in [][]T) {
		x := in[0]
		it.rows(func(off []int, n int, s []int) {
			o, i := off[0], base+off[1]
			for k := 0; k < n; k++ {
				r[o+k*s[0]] = x[i+k*s[1]]
			}
		})
	})
	o.diff = linearGrad(newKop[T]("SliceGrad", n.Name, []tensor.Shape{gout}, gx, func(r []T, in [][]T) {
		g := in[0]
		clear(r)
		it.rows(func(off []int, n int, s []int) {
			o, i := off[0], base+off[1]
			for k := 0; k < n; k++ {
				r[i+k*s[1]] = g[o+k*s[0]]
			}
		})
	}))
	return b.setUnary(n, o, x, out)
}

func (b *builder[T]) softmax(n *ir.Node) error {
	x, err := b.data(n, 0)
	if err != nil {
		return err
	}
	r := len(x.shape)
	if r == 0 {
		return b.errNode(n, "softmax of a scalar")
	}
	def := int64(-1)
	if b.opset < 13 {
		def = 1
	}
	axis, err := normAxis(attrInt(n, "axis", def), r)
	if err != nil {
		return b.errNode(n, "%w", err)
	}
	g := &smGeom{log: n.OpType == "LogSoftmax", outer: prod(x.shape[:axis])}
	if b.opset < 13 {
		g.n, g.inner = prod(x.shape[axis:]), 1
	} else {
		g.n, g.inner = x.shape[axis], prod(x.shape[axis+1:])
	}
	if !b.cfg.forwardOnly && n.Outputs[0] == b.outName && r == 2 && axis == 1 {
		b.outName = n.Inputs[0]
		b.note("trailing %s %q removed: the loss is computed on its input %q (the logits)", n.OpType, n.Name, n.Inputs[0])
		return nil
	}
	if b.track && x.bl && axis == 0 {
		return b.refuse(n, fmt.Sprintf("%s along the batch axis", n.OpType))
	}
	if b.track && x.bx != nil && (axis == x.bx.axis || (b.opset < 13 && axis < x.bx.axis)) {
		return b.refuse(n, fmt.Sprintf("%s along the axis that holds the batch", n.OpType))
	}
	gx := gshape(x.shape)
	o := newKop[T](n.OpType, n.Name, []tensor.Shape{gx}, gx, func(rr []T, in [][]T) { softmaxFwd(rr, in[0], g) })
	o.diff = func(ins gorgonia.Nodes, outN, grad *gorgonia.Node) (gorgonia.Nodes, error) {
		nd, err := apply(newKop[T](n.OpType+"Grad", n.Name, []tensor.Shape{gx, gx}, gx, func(rr []T, in [][]T) {
			softmaxGrad(rr, in[0], in[1], g)
		}), outN, grad)
		return gorgonia.Nodes{nd}, err
	}
	return b.setUnary(n, o, x, x.shape)
}

// describeModel names the model for messages.
func describeModel(m *ir.Model) string {
	if m.Path != "" {
		return m.Path
	}
	var ops []string
	seen := map[string]bool{}
	for _, n := range m.Nodes {
		if !seen[n.OpType] {
			seen[n.OpType] = true
			ops = append(ops, n.OpType)
		}
	}
	return "model(" + strings.Join(ops, ",") + ")"
}
