package graph

import (
	"errors"
	"fmt"

	"github.com/gnaudit/gnaudit/auditor/ir"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Options configure Build.
type Options struct {
	// Batch is the batch size the graph is built for. 0 takes the file's
	// fixed batch (an error if the batch is symbolic).
	Batch int
	// Float64 computes in float64 instead of float32 (for finite-difference
	// checks).
	Float64 bool
	// InputGrad also differentiates with respect to the data input, so that
	// Deriv is available for the input and for values computed from it
	// before the first parameter. Off by default (it costs the first
	// layer's input gradient).
	InputGrad bool
	// MaxMemory bounds the bytes of the tensors the net allocates
	// (inputs and every node's output at the batch): a model over it is
	// refused, naming the tensor, before anything is allocated. 0 means
	// the machine's memory.
	MaxMemory int64
	// BatchNormTrain builds BatchNormalization nodes in train mode:
	// LossGrad normalises with the batch's statistics (and differentiates
	// through them), Forward with the running ones, and
	// UpdateBatchNormStats updates the running statistics as torch does
	// (bn_train.go). Off: inference BatchNormalization everywhere.
	BatchNormTrain bool
}

// Param describes a float initializer of the model.
type Param struct {
	Name      string
	Shape     []int
	Trainable bool // listed in ir.Model.Trainable
}

// Net is a model built as a gorgonia expression graph for a fixed batch
// size: forward pass, summed cross-entropy loss and its backward pass. The
// graph and its tape machines are built once and reused by every call. A
// Net is not safe for concurrent use.
type Net struct {
	model      *ir.Model
	dtype      tensor.Dtype
	batch      int
	inShape    []int
	classes    int
	notes      []string
	inputs     []*inputSlot
	logits     *gval
	labels     *inputSlot
	loss       *gorgonia.Node
	params     []*paramRec
	byName     map[string]*paramRec
	grads      map[string]*gorgonia.Node
	vals       map[string]*gval
	consts     map[string]*cval
	fwdVM      gorgonia.VM
	fullVM     gorgonia.VM
	logitsName string
	lastFull   bool // the last pass was LossGrad: derivatives are current
	ran        bool
	convCols   map[string]func() (any, int, int)
	skipW      map[string]*skipRec
	skipped    map[string]bool // parameters whose gradient the last LossGradSkip left out
	// paramReaders counts, per weight of a skipW node, the model's nodes
	// that read it.
	paramReaders map[string]int
	bnTrain      []*bnTrainRec
	idRows       map[string]int // integer inputs: rows of the tables they index
}

// Build builds the executor for model m. It returns an error naming the
// node, operator and opset for any unsupported operator or attribute, and a
// clear error for a model that cannot be run with the requested batch
// without mixing samples.
//
// The model must have one data input [batch, ...] (float), and its first
// output must be the logits [batch, classes]. A trailing Softmax or
// LogSoftmax over the classes is removed (see Notes) so that the loss is
// computed on logits.
func Build(m *ir.Model, opt Options) (*Net, error) {
	return build(m, opt, buildConfig{})
}

func build(m *ir.Model, opt Options, cfg buildConfig) (n *Net, err error) {
	if m == nil {
		return nil, errors.New("graph: nil model")
	}
	defer func() {
		if r := recover(); r != nil {
			n, err = nil, fmt.Errorf("graph: %s: internal error: %v", describeModel(m), r)
		}
	}()
	if opt.Float64 {
		n, err = buildT[float64](m, opt, cfg)
	} else {
		n, err = buildT[float32](m, opt, cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("graph: %s: %w", describeModel(m), err)
	}
	return n, nil
}

func buildT[T float](m *ir.Model, opt Options, cfg buildConfig) (*Net, error) {
	if m.Opset < 1 || m.Opset > 18 {
		return nil, fmt.Errorf("opset %d is not supported (1–18; operators are checked against their semantics at the model's opset)", m.Opset)
	}
	if len(m.Inputs) == 0 && !cfg.allInputs {
		return nil, errors.New("model has no data input")
	}
	if len(m.Outputs) == 0 {
		return nil, errors.New("model has no output")
	}
	if !cfg.allInputs && len(m.Inputs) != 1 {
		var names []string
		for _, v := range m.Inputs {
			names = append(names, v.Name)
		}
		return nil, fmt.Errorf("model has %d data inputs %v; exactly one is supported", len(m.Inputs), names)
	}
	b := &builder[T]{
		builderBase: builderBase{
			m: m, opset: m.Opset, opt: opt, cfg: cfg,
			g:       gorgonia.NewGraph(),
			vals:    map[string]*gval{},
			consts:  map[string]*cval{},
			params:  map[string]*paramRec{},
			edges:   map[*gorgonia.Node]edge{},
			outName: m.Outputs[0].Name,
		},
		sc: &scratch[T]{},
	}
	// Each ONNX node gives at least one operation: refuse a graph too
	// large for the memory budget before building it.
	if err := b.checkOps(len(m.Nodes), len(m.Nodes)); err != nil {
		return nil, err
	}
	trainable := map[string]bool{}
	for _, name := range m.Trainable {
		trainable[name] = true
	}
	for _, name := range m.InitOrder {
		t := m.Initializers[name]
		if t == nil || !isFloatType(t.Type) {
			continue
		}
		c, err := tensorToCval(t)
		if err != nil {
			return nil, fmt.Errorf("initializer: %w", err)
		}
		if err := checkFinite(name, c.shape, c.f, trainable[name]); err != nil {
			return nil, err
		}
		data := toT[T](c.f)
		p := &paramRec{name: name, shape: c.shape, trainable: trainable[name],
			data: tensor.New(tensor.WithShape(gshape(c.shape)...), tensor.WithBacking(data))}
		b.params[name] = p
		b.order = append(b.order, name)
	}
	for _, name := range m.Trainable {
		if _, ok := b.params[name]; !ok {
			return nil, fmt.Errorf("trainable parameter %q is not a float initializer", name)
		}
	}

	// Data inputs and the batch.
	net := &Net{model: m, dtype: dtypeOf[T]()}
	for k, in := range m.Inputs {
		intIn := in.Type == ir.Int64 || in.Type == ir.Int32
		if in.Type != ir.Float && in.Type != ir.Double && !intIn {
			return nil, fmt.Errorf("input %q has dtype %v; only float inputs and int64/int32 ids are supported", in.Name, in.Type)
		}
		if len(in.Shape) == 0 {
			if cfg.allInputs && in.Shape != nil {
				// a scalar input
			} else {
				return nil, fmt.Errorf("input %q has no declared shape", in.Name)
			}
		}
		shape := make([]int, len(in.Shape))
		for d, dim := range in.Shape {
			if dim.Known() {
				shape[d] = int(dim.Value)
				continue
			}
			if d == 0 && !cfg.allInputs {
				shape[d] = -1
				continue
			}
			return nil, fmt.Errorf("input %q: dimension %d (%q) is not fixed", in.Name, d, dim.Param)
		}
		grad := false
		bl := false
		if k == 0 && !cfg.allInputs {
			b.fileBatch = shape[0]
			b.batch = opt.Batch
			if b.batch <= 0 {
				if b.fileBatch < 0 {
					return nil, fmt.Errorf("input %q has a symbolic batch dimension %q: Options.Batch is required", in.Name, in.Shape[0].Param)
				}
				b.batch = b.fileBatch
			}
			if b.fileBatch > 0 && b.fileBatch != b.batch {
				b.note("input %q has a fixed batch of %d in the file; built for batch %d (rebatched)", in.Name, b.fileBatch, b.batch)
			}
			shape[0] = b.batch
			b.track = b.batch > 1
			grad, bl = opt.InputGrad && !intIn, true
			net.inShape = append([]int(nil), shape[1:]...)
		}
		if err := b.account(fmt.Sprintf("input %q", in.Name), shape, elemSize[T]()); err != nil {
			return nil, err
		}
		data := make([]T, prod(shape))
		node, dense, err := b.newInput("input:"+in.Name, shape, data)
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", in.Name, err)
		}
		slot := &inputSlot{name: in.Name, shape: shape, node: node, data: dense}
		b.inputs = append(b.inputs, slot)
		b.vals[in.Name] = &gval{node: node, shape: shape, bl: bl, grad: grad, ints: intIn}
	}
	if cfg.allInputs {
		b.batch = 1
		if len(b.inputs) > 0 && len(b.inputs[0].shape) > 0 {
			b.batch = b.inputs[0].shape[0]
		}
	}

	for _, node := range m.Nodes {
		b.cur = node
		if cfg.collect != nil && cfg.collect.skip(node) {
			continue
		}
		if err := b.node(node); err != nil {
			if cfg.collect == nil {
				return nil, err
			}
			cfg.collect.fail(node, b.opset, err)
		}
	}
	if cfg.collect != nil && len(cfg.collect.probs) > 0 {
		return nil, errCollected
	}

	net.batch = b.batch
	net.idRows = b.idRows
	net.inputs = b.inputs
	net.vals = b.vals
	net.consts = b.consts
	net.byName = b.params
	for _, name := range b.order {
		net.params = append(net.params, b.params[name])
	}
	logits, ok := b.vals[b.outName]
	if !ok && cfg.forwardOnly {
		// outputs that are build-time constants are read by Value.
		var roots gorgonia.Nodes
		for _, o := range m.Outputs {
			if v, ok := b.vals[o.Name]; ok {
				roots = append(roots, v.node)
			}
		}
		if len(roots) > 0 {
			if err := net.compile(&b.builderBase, roots, false); err != nil {
				return nil, err
			}
		}
		net.notes = b.notes
		return net, nil
	}
	if !ok {
		if _, isConst := b.consts[b.outName]; isConst {
			return nil, fmt.Errorf("output %q is a constant", b.outName)
		}
		return nil, fmt.Errorf("output %q is not computed by the graph", b.outName)
	}
	net.logits = logits
	net.logitsName = b.outName
	var roots gorgonia.Nodes
	roots = append(roots, logits.node)
	if cfg.forwardOnly {
		for _, o := range m.Outputs[1:] {
			if v, ok := b.vals[o.Name]; ok {
				roots = append(roots, v.node)
			}
		}
		if err := net.compile(&b.builderBase, roots, false); err != nil {
			return nil, err
		}
		net.notes = b.notes
		return net, nil
	}
	if logits.bx != nil {
		return nil, fmt.Errorf("output %q of shape %v does not keep the batch as leading dimension", b.outName, logits.shape)
	}
	if len(logits.shape) != 2 || logits.shape[0] != b.batch {
		return nil, fmt.Errorf("output %q has shape %v; want logits [batch=%d, classes]", b.outName, logits.shape, b.batch)
	}
	if b.track && !logits.bl {
		return nil, fmt.Errorf("output %q does not keep the batch as leading dimension", b.outName)
	}
	net.classes = logits.shape[1]

	// Loss: Σ_i CE(logits_i, label_i).
	B, C := b.batch, net.classes
	lab := make([]T, B)
	lnode, ldense, err := b.newInput("labels", []int{B}, lab)
	if err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	net.labels = &inputSlot{name: "labels", shape: []int{B}, node: lnode, data: ldense}
	gl, gb := gshape([]int{B, C}), gshape([]int{B})
	lo := newKop[T]("SoftmaxCrossEntropy", "loss", []tensor.Shape{gl, gb}, nil, func(r []T, in [][]T) {
		r[0] = T(ceLoss(in[0], in[1], B, C))
	})
	lo.diff = func(ins gorgonia.Nodes, outN, grad *gorgonia.Node) (gorgonia.Nodes, error) {
		nd, err := apply(newKop[T]("SoftmaxCrossEntropyGrad", "loss", []tensor.Shape{gl, gb, nil}, gl, func(r []T, in [][]T) {
			ceGrad(r, in[0], in[1], B, C, float64(in[2][0]))
		}), ins[0], ins[1], grad)
		return gorgonia.Nodes{nd, nil}, err
	}
	lossV, err := b.mk(&ir.Node{Name: "loss", OpType: "SoftmaxCrossEntropy"}, lo, []bool{true, false}, logits, &gval{node: lnode, shape: []int{B}})
	if err != nil {
		return nil, fmt.Errorf("loss: %w", err)
	}
	net.loss = lossV.node

	// Differentiate w.r.t. the parameters (and input) that reach the loss.
	reach := map[*gorgonia.Node]bool{lossV.node: true}
	stack := []*gorgonia.Node{lossV.node}
	for len(stack) > 0 {
		nd := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		e := b.edges[nd]
		for k, c := range e.from {
			if e.wrt[k] && !reach[c] {
				reach[c] = true
				stack = append(stack, c)
			}
		}
	}
	var wrt gorgonia.Nodes
	var wrtNames []string
	for _, p := range net.params {
		if !p.trainable {
			continue
		}
		if p.node == nil || !reach[p.node] {
			b.note("trainable parameter %q does not influence the loss; its gradient is zero", p.name)
			continue
		}
		wrt = append(wrt, p.node)
		wrtNames = append(wrtNames, p.name)
	}
	if opt.InputGrad && reach[b.inputs[0].node] {
		wrt = append(wrt, b.inputs[0].node)
	}
	net.grads = map[string]*gorgonia.Node{}
	if len(wrt) > 0 {
		var gs gorgonia.Nodes
		err := catch(func() error {
			var err error
			gs, err = gorgonia.Grad(lossV.node, wrt...)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("backward graph: %w", err)
		}
		for k, name := range wrtNames {
			net.grads[name] = gs[k]
		}
	}
	if err := net.compile(&b.builderBase, gorgonia.Nodes{logits.node}, true); err != nil {
		return nil, err
	}
	net.notes = b.notes
	net.convCols = b.convCols
	net.skipW = b.skipW
	net.paramReaders = map[string]int{}
	for _, r := range b.skipW {
		if r.param != "" {
			net.paramReaders[r.param] = 0
		}
	}
	for _, nd := range m.Nodes {
		for _, in := range nd.Inputs {
			if c, ok := net.paramReaders[in]; ok {
				net.paramReaders[in] = c + 1
			}
		}
	}
	net.bnTrain = b.bnTrain
	return net, nil
}

// compile makes the forward machine (the subgraph of roots) and, if full,
// the machine of the whole graph (forward, loss and backward).
func (n *Net) compile(b *builderBase, roots gorgonia.Nodes, full bool) error {
	g := b.g
	if err := b.checkOps(len(g.AllNodes()), len(n.model.Nodes)); err != nil {
		return err
	}
	return catch(func() error {
		n.fwdVM = gorgonia.NewTapeMachine(g.SubgraphRoots(roots...))
		if full {
			n.fullVM = gorgonia.NewTapeMachine(g)
		}
		return nil
	})
}

// setData copies v into the input slot, converting to the graph's dtype.
func setData(s *inputSlot, v []float64) error {
	switch d := s.data.Data().(type) {
	case []float32:
		if len(v) != len(d) {
			return fmt.Errorf("input %q: %d values, want %d (shape %v)", s.name, len(v), len(d), s.shape)
		}
		for k, x := range v {
			d[k] = float32(x)
		}
	case []float64:
		if len(v) != len(d) {
			return fmt.Errorf("input %q: %d values, want %d (shape %v)", s.name, len(v), len(d), s.shape)
		}
		copy(d, v)
	}
	return nil
}

// toF64 copies a gorgonia value into a new float64 slice.
func toF64(v gorgonia.Value) ([]float64, bool) {
	switch v := v.(type) {
	case *tensor.Dense:
		switch d := v.Data().(type) {
		case []float32:
			r := make([]float64, len(d))
			for k, x := range d {
				r[k] = float64(x)
			}
			return r, true
		case []float64:
			return append([]float64(nil), d...), true
		}
	case *gorgonia.F32:
		return []float64{float64(*v)}, true
	case *gorgonia.F64:
		return []float64{float64(*v)}, true
	}
	return nil, false
}

func (n *Net) run(vm gorgonia.VM) error {
	return catch(func() error {
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			return fmt.Errorf("graph: %w", err)
		}
		return nil
	})
}

// Forward runs the forward pass on x (row-major [Batch, InputShape...]) and
// returns the logits, row-major [Batch, Classes].
func (n *Net) Forward(x []float64) ([]float64, error) {
	if err := n.checkIDs(x); err != nil {
		return nil, fmt.Errorf("graph: Forward: %w", err)
	}
	if err := setData(n.inputs[0], x); err != nil {
		return nil, fmt.Errorf("graph: Forward: %w", err)
	}
	n.setBatchNormMode(false)
	if err := n.run(n.fwdVM); err != nil {
		return nil, err
	}
	n.ran = true
	r, ok := toF64(n.logits.node.Value())
	if !ok {
		return nil, errors.New("graph: Forward: logits not computed")
	}
	return r, nil
}

// LossGrad runs the forward and backward pass on x with integer class
// labels and returns the summed cross-entropy Σ_i CE(logits_i, labels_i).
// Gradients are then available through Grad and Deriv.
func (n *Net) LossGrad(x []float64, labels []int) (float64, error) {
	if n.fullVM == nil {
		return 0, errors.New("graph: LossGrad: net was built without a loss")
	}
	if len(labels) != n.batch {
		return 0, fmt.Errorf("graph: LossGrad: %d labels for batch %d", len(labels), n.batch)
	}
	lab := make([]float64, len(labels))
	for k, l := range labels {
		if l < 0 || l >= n.classes {
			return 0, fmt.Errorf("graph: LossGrad: label %d of sample %d outside [0, %d)", l, k, n.classes)
		}
		lab[k] = float64(l)
	}
	if err := n.checkIDs(x); err != nil {
		return 0, fmt.Errorf("graph: LossGrad: %w", err)
	}
	if err := setData(n.inputs[0], x); err != nil {
		return 0, fmt.Errorf("graph: LossGrad: %w", err)
	}
	if err := setData(n.labels, lab); err != nil {
		return 0, fmt.Errorf("graph: LossGrad: %w", err)
	}
	n.setBatchNormMode(true)
	n.skipped = nil
	if err := n.run(n.fullVM); err != nil {
		n.lastFull = false
		return 0, err
	}
	n.lastFull, n.ran = true, true
	v, ok := toF64(n.loss.Value())
	if !ok {
		return 0, errors.New("graph: LossGrad: loss not computed")
	}
	return v[0], nil
}

// Grad returns dLoss/dparam (shape of the parameter, row-major) of the last
// LossGrad (Forward calls do not change it); zeros for a parameter that does not influence the loss or is
// not trainable; nil for an unknown name or before LossGrad.
func (n *Net) Grad(param string) []float64 {
	p, ok := n.byName[param]
	if !ok || !n.lastFull || n.skipped[param] {
		return nil
	}
	g, ok := n.grads[param]
	if !ok {
		return make([]float64, prod(p.shape))
	}
	r, _ := toF64(g.Value())
	return r
}

// GradInto is Grad written into dst when its capacity suffices (a new
// slice otherwise), for callers that read every gradient every step
// (fine-tuning) and would otherwise allocate them anew each time.
func (n *Net) GradInto(param string, dst []float64) []float64 {
	p, ok := n.byName[param]
	if !ok || !n.lastFull || n.skipped[param] {
		return nil
	}
	size := prod(p.shape)
	if cap(dst) < size {
		dst = make([]float64, size)
	}
	dst = dst[:size]
	g, ok := n.grads[param]
	if !ok {
		clear(dst)
		return dst
	}
	t, isDense := g.Value().(*tensor.Dense)
	if !isDense {
		r, _ := toF64(g.Value())
		return r
	}
	switch d := t.Data().(type) {
	case []float32:
		if len(d) != size {
			r, _ := toF64(g.Value())
			return r
		}
		for k, x := range d {
			dst[k] = float64(x)
		}
	case []float64:
		if len(d) != size {
			return append([]float64(nil), d...)
		}
		copy(dst, d)
	default:
		r, _ := toF64(g.Value())
		return r
	}
	return dst
}

// Params lists the float initializers in file order.
func (n *Net) Params() []Param {
	r := make([]Param, len(n.params))
	for k, p := range n.params {
		r[k] = Param{Name: p.name, Shape: append([]int(nil), p.shape...), Trainable: p.trainable}
	}
	return r
}

// Param returns a copy of a parameter's current value (nil if unknown).
func (n *Net) Param(name string) []float64 {
	p, ok := n.byName[name]
	if !ok {
		return nil
	}
	r, _ := toF64(p.data)
	return r
}

// SetParam overwrites a parameter's value (len(v) must match its shape).
// It takes effect at the next pass.
func (n *Net) SetParam(name string, v []float64) error {
	p, ok := n.byName[name]
	if !ok {
		return fmt.Errorf("graph: SetParam: unknown parameter %q", name)
	}
	return setData(&inputSlot{name: name, shape: p.shape, data: p.data}, v)
}

// Value returns the ONNX shape and a copy of a value computed by the last
// pass (Forward or LossGrad), addressed by its ONNX name; build-time
// constants, data inputs and parameters (float initializers) are available
// too. ok is false for unknown
// names, and for values the last pass did not compute (Forward computes
// only what the logits need).
func (n *Net) Value(name string) (shape []int, v []float64, ok bool) {
	if c, found := n.consts[name]; found {
		return append([]int(nil), c.shape...), append([]float64(nil), c.floats()...), true
	}
	g, found := n.vals[name]
	if !found {
		if p, isParam := n.byName[name]; isParam {
			v, ok = toF64(p.data)
			return append([]int(nil), p.shape...), v, ok
		}
		return nil, nil, false
	}
	if !n.ran || g.node.Value() == nil {
		return nil, nil, false
	}
	v, ok = toF64(g.node.Value())
	return append([]int(nil), g.shape...), v, ok
}

// Deriv returns dLoss/d(value) for an ONNX value, from the last LossGrad
// (Forward calls do not change it; Value does change): available
// for every value between a differentiated input (a trainable parameter,
// or the data input with Options.InputGrad) and the loss, including the
// trainable parameters themselves (= Grad).
func (n *Net) Deriv(name string) (shape []int, v []float64, ok bool) {
	g, found := n.vals[name]
	if !found {
		if p, isParam := n.byName[name]; isParam && n.lastFull && !n.skipped[name] && n.grads[name] != nil {
			return append([]int(nil), p.shape...), n.Grad(name), true
		}
		return nil, nil, false
	}
	if !n.lastFull {
		return nil, nil, false
	}
	d := g.node.Deriv()
	if d == nil || d.Value() == nil {
		return nil, nil, false
	}
	v, ok = toF64(d.Value())
	return append([]int(nil), g.shape...), v, ok
}

// Views. ValueView, DerivView, GradView and ConvColumns return the
// executor's own buffers instead of float64 copies: data is a []float32
// (a []float64 with Options.Float64), valid until the next pass, and must
// not be modified. They exist for the per-sample expansion, which reads
// millions of values per pass.

// ValueView is Value without the copy (constants excluded: ok is false).
func (n *Net) ValueView(name string) (shape []int, data any, ok bool) {
	g, found := n.vals[name]
	if !found {
		if p, isParam := n.byName[name]; isParam {
			return append([]int(nil), p.shape...), p.data.Data(), true
		}
		return nil, nil, false
	}
	if !n.ran || g.node.Value() == nil {
		return nil, nil, false
	}
	d, ok := denseData(g.node.Value())
	return append([]int(nil), g.shape...), d, ok
}

// DerivView is Deriv without the copy (values only, not parameters: use
// GradView).
func (n *Net) DerivView(name string) (shape []int, data any, ok bool) {
	g, found := n.vals[name]
	if !found || !n.lastFull {
		return nil, nil, false
	}
	d := g.node.Deriv()
	if d == nil || d.Value() == nil {
		return nil, nil, false
	}
	v, ok := denseData(d.Value())
	return append([]int(nil), g.shape...), v, ok
}

// GradView is Grad without the copy; nil also for a trainable parameter
// that does not influence the loss (Grad returns zeros).
func (n *Net) GradView(param string) any {
	g, ok := n.grads[param]
	if !ok || !n.lastFull || n.skipped[param] || g.Value() == nil {
		return nil
	}
	d, _ := denseData(g.Value())
	return d
}

// ConvColumns returns the column matrix (im2col) of the input of Conv node
// node in the last pass that ran it: rows = C·kh·kw (grouped by group),
// cols = N·OH·OW, row (c, i, j) and column (n, oh, ow) holding
// x[n, c, oh·sh − pt + i·dh, ow·sw − pl + j·dw] or 0 in the padding. ok is
// false when the executor does not keep it: the node is not a Conv whose
// weight gradient is computed, the convolution is beyond the graph's budget
// for kept matrices, or it has not run yet.
func (n *Net) ConvColumns(node string) (data any, rows, cols int, ok bool) {
	f, found := n.convCols[node]
	if !found || !n.ran {
		return nil, 0, 0, false
	}
	data, rows, cols = f()
	return data, rows, cols, data != nil
}

// denseData returns a dense tensor's backing slice.
func denseData(v any) (any, bool) {
	t, ok := v.(*tensor.Dense)
	if !ok {
		return nil, false
	}
	switch d := t.Data().(type) {
	case []float32, []float64:
		return d, true
	}
	return nil, false
}

// InputShape is the shape of one sample (the data input without its batch
// dimension).
func (n *Net) InputShape() []int { return append([]int(nil), n.inShape...) }

// Classes is the number of logits per sample.
func (n *Net) Classes() int { return n.classes }

// Batch is the batch size the net was built for.
func (n *Net) Batch() int { return n.batch }

// Notes lists what the build changed or assumed: a removed trailing
// softmax, rebatching of a fixed batch, parameters without influence on the
// loss.
func (n *Net) Notes() []string { return append([]string(nil), n.notes...) }

// InputName is the ONNX name of the data input; LogitsName that of the
// logits value (the input of a removed trailing softmax).
func (n *Net) InputName() string { return n.inputs[0].name }

// LogitsName is the ONNX name of the value the loss is computed on.
func (n *Net) LogitsName() string { return n.logitsName }

// forwardAll binds every data input (in graph order) and runs the forward
// machine; used for multi-input graphs (conformance tests).
func (n *Net) forwardAll(inputs [][]float64) error {
	if len(inputs) != len(n.inputs) {
		return fmt.Errorf("graph: %d inputs, want %d", len(inputs), len(n.inputs))
	}
	for k, v := range inputs {
		if err := setData(n.inputs[k], v); err != nil {
			return fmt.Errorf("graph: %w", err)
		}
	}
	if n.fwdVM != nil {
		if err := n.run(n.fwdVM); err != nil {
			return err
		}
	}
	n.ran = true
	return nil
}
