//go:build gnaudit_cuda

package cuda

import (
	"fmt"
	"strings"

	"github.com/gnaudit/gnaudit/auditor/graph"
	"github.com/gnaudit/gnaudit/auditor/ir"
)

// Net is an imported model laid out on the device for a fixed batch size:
// forward, summed cross-entropy loss, backward to every value, and the
// per-sample gradient expansion of METHOD.md §2, with per-sample gradients
// kept on the device.
//
// Supported operators are those auditor/graph's operator registry marks GPU
// (graph.GPUOps: Conv (group 1), Gemm (transA 0), MatMul (2-D), Add
// (residual or per-channel bias), Relu, MaxPool, AveragePool,
// GlobalAveragePool, BatchNormalization (inference), Flatten, Reshape to
// [batch, −1], Dropout, Identity), and a trailing Softmax/LogSoftmax (removed:
// the loss is taken on the logits). Integer shape computations that only feed
// a Reshape's shape are skipped. Anything else is an error naming the node.
type Net struct {
	d      *Device
	batch  int
	input  string
	output string
	layers []*layer
	shapes map[string][]int   // per value, batch first
	vals   map[string]*Buffer // activations
	grads  map[string]*Buffer // dL/d(value)
	uses   map[string]int     // consumers per value (for gradient accumulation)
	params map[string]*Buffer // float initializers
	pshape map[string][]int
	// owner maps a trainable parameter to the layer that consumes it and its role.
	owner   map[string]paramUse
	scratch map[string]*Buffer
	labels  *Buffer
	loss    *Buffer
	classes int
	valid   int // samples of the last LossGrad (≤ batch; the rest is padding)
}

type paramUse struct {
	l    *layer
	role string // "weight", "bias", "bn_scale", "bn_shift"
}

type layer struct {
	node *ir.Node
	kind string
	in   []string
	out  string
	geom ConvGeom
	o    int // output channels / features
	// Gemm
	transB      bool
	alpha, beta float32
	// BN
	eps float32
	// Add with a bias parameter
	biasParam string
	inner     int
	// saved for backward
	col      *Buffer
	arg      *Buffer
	xhat     *Buffer
	countPad bool
}

func attrInt(n *ir.Node, k string, def int64) int64 {
	if a, ok := n.Attrs[k]; ok {
		return a.Int
	}
	return def
}

func attrInts(n *ir.Node, k string) []int64 {
	if a, ok := n.Attrs[k]; ok {
		return a.Ints
	}
	return nil
}

func attrFloat(n *ir.Node, k string, def float32) float32 {
	if a, ok := n.Attrs[k]; ok {
		return a.Float
	}
	return def
}

func prod(s []int) int {
	p := 1
	for _, v := range s {
		p *= v
	}
	return p
}

// NewNet lays model m out on the device for batch size `batch`.
func (d *Device) NewNet(m *ir.Model, batch int) (*Net, error) {
	if batch < 1 {
		return nil, fmt.Errorf("cuda net: batch size %d", batch)
	}
	if len(m.Inputs) != 1 {
		return nil, fmt.Errorf("cuda net: %d graph inputs, want 1", len(m.Inputs))
	}
	n := &Net{d: d, batch: batch, input: m.Inputs[0].Name, shapes: map[string][]int{}, vals: map[string]*Buffer{},
		grads: map[string]*Buffer{}, uses: map[string]int{}, params: map[string]*Buffer{}, pshape: map[string][]int{},
		owner: map[string]paramUse{}, scratch: map[string]*Buffer{}}
	in := m.Inputs[0]
	shape := []int{batch}
	for i, dim := range in.Shape {
		if i == 0 {
			continue
		}
		if !dim.Known() {
			return nil, fmt.Errorf("cuda net: input %q: dimension %d is not fixed", in.Name, i)
		}
		shape = append(shape, int(dim.Value))
	}
	n.shapes[n.input] = shape
	for name, t := range m.Initializers {
		if t.Type != ir.Float {
			continue
		}
		b, err := d.UploadF32(t.F32)
		if err != nil {
			n.Close()
			return nil, err
		}
		n.params[name] = b
		ps := make([]int, len(t.Dims))
		for i, v := range t.Dims {
			ps[i] = int(v)
		}
		n.pshape[name] = ps
	}
	// Values used only to compute shapes: skip their producers.
	shapeOnly := shapeOnlyValues(m)
	nodes := m.Nodes
	// Drop a trailing Softmax/LogSoftmax.
	if k := len(nodes) - 1; k >= 0 && (nodes[k].OpType == "Softmax" || nodes[k].OpType == "LogSoftmax") {
		nodes = nodes[:k]
	}
	for _, nd := range nodes {
		if len(nd.Outputs) > 0 && shapeOnly[nd.Outputs[0]] {
			continue
		}
		if err := n.addLayer(nd); err != nil {
			n.Close()
			return nil, fmt.Errorf("cuda net: node %q (%s, opset %d): %w", nd.Name, nd.OpType, m.Opset, err)
		}
	}
	if len(n.layers) == 0 {
		return nil, fmt.Errorf("cuda net: no layers")
	}
	n.output = n.layers[len(n.layers)-1].out
	outShape := n.shapes[n.output]
	if len(outShape) != 2 {
		n.Close()
		return nil, fmt.Errorf("cuda net: output %q has shape %v, want [batch, classes]", n.output, outShape)
	}
	n.classes = outShape[1]
	for _, l := range n.layers {
		for _, v := range l.in {
			if _, isParam := n.params[v]; !isParam {
				n.uses[v]++
			}
		}
	}
	// Activation and gradient buffers.
	for name, s := range n.shapes {
		if _, ok := n.vals[name]; !ok {
			b, err := d.Alloc(prod(s), 4)
			if err != nil {
				n.Close()
				return nil, err
			}
			n.vals[name] = b
		}
		g, err := d.Alloc(prod(s), 4)
		if err != nil {
			n.Close()
			return nil, err
		}
		n.grads[name] = g
	}
	var err error
	if n.labels, err = d.Alloc(batch, 4); err != nil {
		n.Close()
		return nil, err
	}
	if n.loss, err = d.Alloc(batch, 4); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// shapeOnlyValues marks values that only feed Reshape shape inputs (directly or
// through operators the registry evaluates at build time: shape arithmetic).
func shapeOnlyValues(m *ir.Model) map[string]bool {
	cons := m.Consumers()
	memo := map[string]bool{}
	var only func(v string, depth int) bool
	only = func(v string, depth int) bool {
		if r, ok := memo[v]; ok {
			return r
		}
		if depth > 64 {
			return false
		}
		cs := cons[v]
		if len(cs) == 0 {
			return false
		}
		res := true
		for _, c := range cs {
			if c.OpType == "Reshape" && len(c.Inputs) > 1 && c.Inputs[1] == v {
				continue
			}
			// operators with a build-time evaluation (the registry's
			// constant folder) compute shapes from shapes
			if spec, ok := graph.Lookup(c.OpType); ok && spec.Const && len(c.Outputs) > 0 && only(c.Outputs[0], depth+1) {
				continue
			}
			res = false
			break
		}
		memo[v] = res
		return res
	}
	out := map[string]bool{}
	for _, nd := range m.Nodes {
		for _, o := range nd.Outputs {
			if o != "" && only(o, 0) {
				out[o] = true
			}
		}
	}
	return out
}

func (n *Net) addLayer(nd *ir.Node) error {
	if len(nd.Inputs) == 0 || len(nd.Outputs) == 0 {
		return fmt.Errorf("operator %s without inputs or outputs is not supported on the GPU path", nd.OpType)
	}
	if s, ok := graph.Lookup(nd.OpType); !ok || !s.GPU {
		return fmt.Errorf("operator %s is not supported on the GPU path (it runs %s; use --device cpu)", nd.OpType, strings.Join(graph.GPUOps(), ", "))
	}
	l := &layer{node: nd, kind: nd.OpType, out: nd.Outputs[0]}
	for _, v := range nd.Inputs {
		if v != "" {
			l.in = append(l.in, v)
		}
	}
	xs, ok := n.shapes[nd.Inputs[0]]
	if !ok {
		return fmt.Errorf("input %q is not computed on the GPU path", nd.Inputs[0])
	}
	switch nd.OpType {
	case "Conv":
		if attrInt(nd, "group", 1) != 1 {
			return fmt.Errorf("grouped convolution is not supported on the GPU path")
		}
		if ap, ok := nd.Attrs["auto_pad"]; ok && ap.String != "NOTSET" && ap.String != "" {
			return fmt.Errorf("auto_pad %q is not supported on the GPU path", ap.String)
		}
		w, ok := n.pshape[nd.Inputs[1]]
		if !ok || len(w) != 4 || len(xs) != 4 {
			return fmt.Errorf("Conv needs a 4-D input and a 4-D weight initializer")
		}
		g := ConvGeom{N: n.batch, C: xs[1], H: xs[2], W: xs[3], KH: w[2], KW: w[3], SH: 1, SW: 1, DH: 1, DW: 1}
		if w[1] != xs[1] {
			return fmt.Errorf("weight %q has %d input channels, input has %d", nd.Inputs[1], w[1], xs[1])
		}
		if s := attrInts(nd, "strides"); len(s) == 2 {
			g.SH, g.SW = int(s[0]), int(s[1])
		}
		if s := attrInts(nd, "dilations"); len(s) == 2 {
			g.DH, g.DW = int(s[0]), int(s[1])
		}
		pb, pr := 0, 0
		if p := attrInts(nd, "pads"); len(p) == 4 {
			g.PH, g.PW, pb, pr = int(p[0]), int(p[1]), int(p[2]), int(p[3])
		}
		g.OH = (g.H+g.PH+pb-g.DH*(g.KH-1)-1)/g.SH + 1
		g.OW = (g.W+g.PW+pr-g.DW*(g.KW-1)-1)/g.SW + 1
		l.geom, l.o = g, w[0]
		n.owner[nd.Inputs[1]] = paramUse{l, "weight"}
		if len(nd.Inputs) > 2 && nd.Inputs[2] != "" {
			n.owner[nd.Inputs[2]] = paramUse{l, "bias"}
		}
		var err error
		if l.col, err = n.d.Alloc(n.batch*g.C*g.KH*g.KW*g.OH*g.OW, 4); err != nil {
			return err
		}
		n.shapes[l.out] = []int{n.batch, l.o, g.OH, g.OW}
	case "Gemm", "MatMul":
		if len(xs) != 2 {
			return fmt.Errorf("input of shape %v, want 2-D", xs)
		}
		if attrInt(nd, "transA", 0) != 0 {
			return fmt.Errorf("transA=1 is not supported on the GPU path")
		}
		w, ok := n.pshape[nd.Inputs[1]]
		if !ok || len(w) != 2 {
			return fmt.Errorf("weight %q must be a 2-D initializer", nd.Inputs[1])
		}
		l.transB = nd.OpType == "Gemm" && attrInt(nd, "transB", 0) == 1
		l.alpha, l.beta = 1, 1
		if nd.OpType == "Gemm" {
			l.alpha, l.beta = attrFloat(nd, "alpha", 1), attrFloat(nd, "beta", 1)
		}
		in, out := w[0], w[1]
		if l.transB {
			in, out = w[1], w[0]
		}
		if in != xs[1] {
			return fmt.Errorf("weight %q has shape %v, input has %d features", nd.Inputs[1], w, xs[1])
		}
		l.o = out
		n.owner[nd.Inputs[1]] = paramUse{l, "weight"}
		if nd.OpType == "Gemm" && len(nd.Inputs) > 2 && nd.Inputs[2] != "" {
			bs, ok := n.pshape[nd.Inputs[2]]
			if !ok || prod(bs) != out {
				return fmt.Errorf("bias %q must be an initializer of %d elements", nd.Inputs[2], out)
			}
			n.owner[nd.Inputs[2]] = paramUse{l, "bias"}
		}
		n.shapes[l.out] = []int{n.batch, out}
	case "Add":
		a, b := nd.Inputs[0], nd.Inputs[1]
		if _, ok := n.params[a]; ok {
			a, b = b, a
			l.in = []string{a, b}
		}
		as, ok := n.shapes[a]
		if !ok {
			return fmt.Errorf("input %q is not computed on the GPU path", a)
		}
		if bs, ok := n.pshape[b]; ok {
			c := as[1]
			if prod(bs) != c {
				return fmt.Errorf("bias %q of shape %v does not broadcast per channel over %v", b, bs, as)
			}
			l.kind, l.biasParam, l.o, l.inner = "AddBias", b, c, prod(as[2:])
			n.owner[b] = paramUse{l, "bias"}
		} else if bs2, ok := n.shapes[b]; ok && prod(bs2) == prod(as) {
			l.kind = "AddResidual"
		} else {
			return fmt.Errorf("Add of %q and %q: only residual adds of equal shape and per-channel biases are supported", a, b)
		}
		n.shapes[l.out] = as
	case "Relu", "Dropout", "Identity":
		n.shapes[l.out] = xs
		l.in = l.in[:1]
	case "MaxPool", "AveragePool", "GlobalAveragePool":
		if len(xs) != 4 {
			return fmt.Errorf("input of shape %v, want 4-D", xs)
		}
		g := ConvGeom{N: n.batch, C: xs[1], H: xs[2], W: xs[3], SH: 1, SW: 1}
		pb, pr := 0, 0
		if nd.OpType == "GlobalAveragePool" {
			g.KH, g.KW, g.OH, g.OW = g.H, g.W, 1, 1
			l.kind = "AveragePool"
		} else {
			k := attrInts(nd, "kernel_shape")
			if len(k) != 2 {
				return fmt.Errorf("kernel_shape %v, want 2 values", k)
			}
			g.KH, g.KW = int(k[0]), int(k[1])
			if s := attrInts(nd, "strides"); len(s) == 2 {
				g.SH, g.SW = int(s[0]), int(s[1])
			}
			if p := attrInts(nd, "pads"); len(p) == 4 {
				g.PH, g.PW, pb, pr = int(p[0]), int(p[1]), int(p[2]), int(p[3])
			}
			if d := attrInts(nd, "dilations"); len(d) == 2 && (d[0] != 1 || d[1] != 1) {
				return fmt.Errorf("pooling dilations are not supported on the GPU path")
			}
			if ap, ok := nd.Attrs["auto_pad"]; ok && ap.String != "NOTSET" && ap.String != "" {
				return fmt.Errorf("auto_pad %q is not supported on the GPU path", ap.String)
			}
			ceil := attrInt(nd, "ceil_mode", 0) == 1
			span := func(in, p0, p1, k, s int) int {
				num := in + p0 + p1 - k
				if ceil {
					o := (num+s-1)/s + 1
					if (o-1)*s >= in+p0 { // last window must start inside the input or left pad
						o--
					}
					return o
				}
				return num/s + 1
			}
			g.OH, g.OW = span(g.H, g.PH, pb, g.KH, g.SH), span(g.W, g.PW, pr, g.KW, g.SW)
			l.countPad = attrInt(nd, "count_include_pad", 0) == 1
		}
		l.geom = g
		if l.kind == "MaxPool" {
			var err error
			if l.arg, err = n.d.Alloc(n.batch*g.C*g.OH*g.OW, 4); err != nil {
				return err
			}
		}
		n.shapes[l.out] = []int{n.batch, g.C, g.OH, g.OW}
		l.in = l.in[:1]
	case "BatchNormalization":
		if len(nd.Inputs) < 5 {
			return fmt.Errorf("BatchNormalization needs 5 inputs")
		}
		for _, p := range nd.Inputs[1:5] {
			if _, ok := n.params[p]; !ok {
				return fmt.Errorf("BatchNormalization input %q must be a float initializer", p)
			}
		}
		l.eps = attrFloat(nd, "epsilon", 1e-5)
		l.o, l.inner = xs[1], prod(xs[2:])
		n.owner[nd.Inputs[1]] = paramUse{l, "bn_scale"}
		n.owner[nd.Inputs[2]] = paramUse{l, "bn_shift"}
		var err error
		if l.xhat, err = n.d.Alloc(prod(xs), 4); err != nil {
			return err
		}
		n.shapes[l.out] = xs
		l.in = l.in[:1]
	case "Flatten", "Reshape":
		if nd.OpType == "Flatten" && attrInt(nd, "axis", 1) != 1 {
			return fmt.Errorf("Flatten with axis %d is not supported on the GPU path", attrInt(nd, "axis", 1))
		}
		l.kind = "Flatten"
		n.shapes[l.out] = []int{n.batch, prod(xs[1:])}
		l.in = l.in[:1]
		n.vals[l.out] = nil // aliased at run time
	default:
		return fmt.Errorf("internal error: the operator registry marks %s as run on the GPU, but cuda.Net has no layer for it", nd.OpType)
	}
	n.layers = append(n.layers, l)
	return nil
}

// buffers lists every device buffer the net holds, once each.
func (n *Net) buffers() []*Buffer {
	var bs []*Buffer
	seen := map[*Buffer]bool{}
	add := func(b *Buffer) {
		if b != nil && !seen[b] {
			seen[b] = true
			bs = append(bs, b)
		}
	}
	for _, m := range []map[string]*Buffer{n.vals, n.grads, n.params, n.scratch} {
		for _, b := range m {
			add(b)
		}
	}
	for _, l := range n.layers {
		add(l.col)
		add(l.arg)
		add(l.xhat)
	}
	add(n.labels)
	add(n.loss)
	return bs
}

// DeviceBytes is the device memory the net holds now (scratch buffers grow
// on first use: measure after a LossGrad and a PerSample of every parameter).
func (n *Net) DeviceBytes() int64 {
	var t int64
	for _, b := range n.buffers() {
		t += b.bytes()
	}
	return t
}

// Close frees the device memory of the net.
func (n *Net) Close() { n.d.Free(n.buffers()...) }

// Warm runs one LossGrad and one PerSample of every parameter with an
// expansion on zero inputs, so that every scratch buffer is allocated.
func (n *Net) Warm() error {
	x := make([]float32, prod(n.shapes[n.input]))
	if _, err := n.LossGrad(x, make([]int, n.batch)); err != nil {
		return err
	}
	for p := range n.owner {
		if _, _, _, err := n.PerSample(p, nil); err != nil {
			return err
		}
	}
	return nil
}

// Batch is the batch size the net was laid out for.
func (n *Net) Batch() int { return n.batch }

// InputShape is the shape of one sample (without the batch).
func (n *Net) InputShape() []int { return append([]int(nil), n.shapes[n.input][1:]...) }

// Classes is the number of logits per sample.
func (n *Net) Classes() int { return n.classes }

// SetParam overwrites a float initializer on the device.
func (n *Net) SetParam(name string, v []float32) error {
	b, ok := n.params[name]
	if !ok {
		return fmt.Errorf("cuda net: no parameter %q", name)
	}
	if len(v) != b.Len {
		return fmt.Errorf("cuda net: parameter %q has %d elements, got %d", name, b.Len, len(v))
	}
	return n.d.Write(b, v)
}

// tmp returns the scratch float32 buffer `key` with room for n elements,
// reallocating it only when it must grow.
func (n *Net) tmp(key string, size int) (*Buffer, error) { return n.tmpSized(key, size, 4) }

// tmpSized is tmp for elements of elem bytes (4 or 8).
func (n *Net) tmpSized(key string, size, elem int) (*Buffer, error) {
	if b, ok := n.scratch[key]; ok && b.Len >= size && b.size == elem {
		return b, nil
	} else if ok {
		n.d.Free(b)
	}
	b, err := n.d.Alloc(size, elem)
	if err != nil {
		return nil, err
	}
	n.scratch[key] = b
	return b, nil
}

// Forward runs the net on x (row-major [batch, *input shape]) and returns the logits.
func (n *Net) Forward(x []float32) ([]float32, error) {
	if err := n.forward(x); err != nil {
		return nil, err
	}
	return n.d.DownloadF32(n.vals[n.output])
}

func (n *Net) forward(x []float32) error {
	if want := prod(n.shapes[n.input]); len(x) != want {
		return fmt.Errorf("cuda net: input has %d values, want %d for shape %v", len(x), want, n.shapes[n.input])
	}
	if err := n.d.Write(n.vals[n.input], x); err != nil {
		return err
	}
	for _, l := range n.layers {
		if err := n.fwdLayer(l); err != nil {
			return fmt.Errorf("cuda net: forward of node %q (%s): %w", l.node.Name, l.node.OpType, err)
		}
	}
	return nil
}

func (n *Net) fwdLayer(l *layer) error {
	d := n.d
	x := n.vals[l.in[0]]
	xs := n.shapes[l.in[0]]
	switch l.kind {
	case "Conv":
		g := l.geom
		// One GEMM over the batch: Y' [o × N·p] = W [o × kk] · COL [kk × N·p], then Y' → NCHW.
		if err := d.Im2col(g, x, l.col, RowMajorBatch); err != nil {
			return err
		}
		kk, p := g.C*g.KH*g.KW, g.OH*g.OW
		np := n.batch * p
		yT, err := n.tmp("convT", l.o*np)
		if err != nil {
			return err
		}
		gm := Gemm{M: l.o, N: np, K: kk, Alpha: 1, Lda: kk, Ldb: np, Ldc: np}
		if err := d.Gemm(gm, n.params[l.node.Inputs[1]], l.col, yT); err != nil {
			return err
		}
		if err := d.Swap01(yT, n.vals[l.out], l.o, n.batch, p); err != nil {
			return err
		}
		if len(l.node.Inputs) > 2 && l.node.Inputs[2] != "" {
			return d.AddChannelBias(n.vals[l.out], n.params[l.node.Inputs[2]], n.batch, l.o, p)
		}
	case "Gemm", "MatMul":
		w := n.pshape[l.node.Inputs[1]]
		gm := Gemm{M: n.batch, N: l.o, K: xs[1], Alpha: l.alpha, Lda: xs[1], Ldb: w[1], Ldc: l.o, TransB: l.transB}
		if err := d.Gemm(gm, x, n.params[l.node.Inputs[1]], n.vals[l.out]); err != nil {
			return err
		}
		if l.kind == "Gemm" && len(l.node.Inputs) > 2 && l.node.Inputs[2] != "" {
			if l.beta != 1 {
				return fmt.Errorf("Gemm beta=%g with a bias is not supported on the GPU path", l.beta)
			}
			return d.AddChannelBias(n.vals[l.out], n.params[l.node.Inputs[2]], n.batch, l.o, 1)
		}
	case "AddBias":
		out := n.vals[l.out]
		if err := n.copy(out, x); err != nil {
			return err
		}
		return d.AddChannelBias(out, n.params[l.biasParam], n.batch, l.o, l.inner)
	case "AddResidual":
		out := n.vals[l.out]
		if err := n.copy(out, x); err != nil {
			return err
		}
		return d.AddInPlace(out, n.vals[l.in[1]], out.Len)
	case "Relu":
		return d.Relu(x, n.vals[l.out], prod(xs))
	case "Dropout", "Identity":
		return n.copy(n.vals[l.out], x)
	case "MaxPool":
		return d.MaxPool(l.geom, x, n.vals[l.out], l.arg)
	case "AveragePool":
		return d.AvgPool(l.geom, x, n.vals[l.out], l.countPad)
	case "BatchNormalization":
		in := l.node.Inputs
		return d.BatchNormEval(x, n.vals[l.out], l.xhat, n.params[in[1]], n.params[in[2]], n.params[in[3]], n.params[in[4]],
			l.eps, n.batch, l.o, l.inner)
	case "Flatten":
		n.vals[l.out] = x // alias: same memory, new shape
	}
	return nil
}

func (n *Net) copy(dst, src *Buffer) error {
	if err := n.d.Zero(dst); err != nil {
		return err
	}
	return n.d.AddInPlace(dst, src, src.Len)
}

// LossGrad runs forward and backward for x and integer labels; it returns the
// summed cross-entropy loss. Afterwards every value's gradient is on the device
// (used by PerSample). Fewer samples than the batch size are allowed: the rest
// of the batch is padding whose loss and gradients are zero.
func (n *Net) LossGrad(x []float32, labels []int) (float64, error) {
	if len(labels) < 1 || len(labels) > n.batch {
		return 0, fmt.Errorf("cuda net: %d labels for a batch of %d", len(labels), n.batch)
	}
	per := prod(n.shapes[n.input][1:])
	if len(x) != len(labels)*per {
		return 0, fmt.Errorf("cuda net: input has %d values for %d samples of %d", len(x), len(labels), per)
	}
	if len(labels) < n.batch {
		x = append(x[:len(x):len(x)], make([]float32, (n.batch-len(labels))*per)...)
	}
	n.valid = len(labels)
	lab := make([]int32, n.batch)
	for i, y := range labels {
		if y < 0 || y >= n.classes {
			return 0, fmt.Errorf("cuda net: label %d of sample %d is outside [0, %d)", y, i, n.classes)
		}
		lab[i] = int32(y)
	}
	if err := n.d.WriteI32(n.labels, lab); err != nil {
		return 0, err
	}
	if err := n.forward(x); err != nil {
		return 0, err
	}
	for _, g := range n.grads {
		if err := n.d.Zero(g); err != nil {
			return 0, err
		}
	}
	if err := n.d.SoftmaxCrossEntropy(n.vals[n.output], n.labels, n.loss, n.grads[n.output], n.valid, n.classes); err != nil {
		return 0, err
	}
	for i := len(n.layers) - 1; i >= 0; i-- {
		l := n.layers[i]
		if err := n.bwdLayer(l); err != nil {
			return 0, fmt.Errorf("cuda net: backward of node %q (%s): %w", l.node.Name, l.node.OpType, err)
		}
	}
	losses := make([]float32, n.valid)
	if err := n.d.ReadF32(n.loss, losses); err != nil {
		return 0, err
	}
	var s float64
	for _, v := range losses {
		s += float64(v)
	}
	return s, nil
}

// accumulate adds tmp into the gradient of value v.
func (n *Net) accumulate(v string, tmp *Buffer) error {
	g := n.grads[v]
	return n.d.AddInPlace(g, tmp, g.Len)
}

func (n *Net) bwdLayer(l *layer) error {
	d := n.d
	dy := n.grads[l.out]
	src := l.in[0]
	if src == n.input && l.kind != "Flatten" {
		return nil // no gradient w.r.t. the data
	}
	size := prod(n.shapes[src])
	tmp, err := n.tmp("dx", size)
	if err != nil {
		return err
	}
	switch l.kind {
	case "Conv":
		g := l.geom
		kk, p := g.C*g.KH*g.KW, g.OH*g.OW
		np := n.batch * p
		dyT, err := n.tmp("convT", l.o*np)
		if err != nil {
			return err
		}
		if err := d.Swap01(dy, dyT, n.batch, l.o, p); err != nil {
			return err
		}
		dcol, err := n.tmp("dcol", kk*np)
		if err != nil {
			return err
		}
		// dCOL [kk × N·p] = Wᵀ · dY' [o × N·p]
		gm := Gemm{TransA: true, M: kk, N: np, K: l.o, Alpha: 1, Lda: kk, Ldb: np, Ldc: np}
		if err := d.Gemm(gm, n.params[l.node.Inputs[1]], dyT, dcol); err != nil {
			return err
		}
		if err := d.Col2im(g, dcol, tmp, RowMajorBatch); err != nil {
			return err
		}
	case "Gemm", "MatMul":
		w := n.pshape[l.node.Inputs[1]]
		xs := n.shapes[src]
		// dx = alpha · dy · op(W)ᵀ
		gm := Gemm{M: n.batch, N: xs[1], K: l.o, Alpha: l.alpha, Lda: l.o, Ldb: w[1], Ldc: xs[1], TransB: !l.transB}
		if err := d.Gemm(gm, dy, n.params[l.node.Inputs[1]], tmp); err != nil {
			return err
		}
	case "AddBias", "Dropout", "Identity":
		tmp = dy
	case "AddResidual":
		if err := n.accumulate(l.in[1], dy); err != nil {
			return err
		}
		tmp = dy
	case "Relu":
		if err := d.ReluBackward(n.vals[src], dy, tmp, size); err != nil {
			return err
		}
	case "MaxPool":
		if err := d.MaxPoolBackward(l.geom, dy, l.arg, tmp); err != nil {
			return err
		}
	case "AveragePool":
		if err := d.AvgPoolBackward(l.geom, dy, tmp, l.countPad); err != nil {
			return err
		}
	case "BatchNormalization":
		in := l.node.Inputs
		if err := d.BatchNormEvalBackward(dy, tmp, n.params[in[1]], n.params[in[4]], l.eps, n.batch, l.o, l.inner); err != nil {
			return err
		}
	case "Flatten":
		tmp = dy
	}
	return n.accumulate(src, tmp)
}

// PerSample returns, after LossGrad, the per-sample gradients of parameter
// `param` for the samples of that call (b < number of labels), reduced on the
// device to what an audit needs: tested[b·len(idx)+t] = ∂ℓ_b/∂θ[idx[t]],
// sqnorm[b] = |∂ℓ_b/∂θ|², and sum = Σ_b ∂ℓ_b/∂θ (the gradient of the summed
// loss). The full per-sample gradients never leave the device.
func (n *Net) PerSample(param string, idx []int32) (tested []float32, sqnorm []float64, sum []float32, err error) {
	u, ok := n.owner[param]
	if !ok {
		return nil, nil, nil, fmt.Errorf("cuda net: parameter %q has no per-sample expansion on the GPU path", param)
	}
	size := n.params[param].Len
	for _, i := range idx {
		if i < 0 || int(i) >= size {
			return nil, nil, nil, fmt.Errorf("cuda net: coordinate %d outside parameter %q of %d elements", i, param, size)
		}
	}
	ps, err := n.tmp("ps", n.batch*size)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := n.expand(u, ps); err != nil {
		return nil, nil, nil, fmt.Errorf("cuda net: per-sample %s of %q (node %q): %w", u.role, param, u.l.node.Name, err)
	}
	d := n.d
	rows := n.valid
	if rows == 0 {
		return nil, nil, nil, fmt.Errorf("cuda net: PerSample before LossGrad")
	}
	if len(idx) > 0 {
		di, err := n.tmpSized("idx", len(idx), 4)
		if err != nil {
			return nil, nil, nil, err
		}
		if err := d.WriteI32(di, idx); err != nil {
			return nil, nil, nil, err
		}
		out, err := n.tmpSized("gathered", n.batch*len(idx), 4)
		if err != nil {
			return nil, nil, nil, err
		}
		if err := d.GatherCols(ps, di, out, rows, size, len(idx)); err != nil {
			return nil, nil, nil, err
		}
		tested = make([]float32, rows*len(idx))
		if err := d.ReadF32(out, tested); err != nil {
			return nil, nil, nil, err
		}
	}
	sq, err := n.tmpSized("sqnorm", n.batch, 8)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := d.RowSumSq(ps, sq, rows, size); err != nil {
		return nil, nil, nil, err
	}
	sqnorm = make([]float64, rows)
	if err := d.ReadF64(sq, sqnorm); err != nil {
		return nil, nil, nil, err
	}
	sb, err := n.tmp("psum", size)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := d.ColSum(ps, sb, rows, size, false); err != nil {
		return nil, nil, nil, err
	}
	sum = make([]float32, size)
	if err := d.ReadF32(sb, sum); err != nil {
		return nil, nil, nil, err
	}
	return tested, sqnorm, sum, nil
}

// expand writes the per-sample gradients [batch × size] of one parameter into ps.
func (n *Net) expand(u paramUse, ps *Buffer) error {
	d, l := n.d, u.l
	dy := n.grads[l.out]
	switch {
	case l.kind == "Conv" && u.role == "weight":
		g := l.geom
		kk, p := g.C*g.KH*g.KW, g.OH*g.OW
		// dW_b [o × kk] = dy_b [o × p] · COL_bᵀ, COL_b the columns b·p … b·p+p−1 of COL [kk × N·p]
		gm := Gemm{TransB: true, M: l.o, N: kk, K: p, Alpha: 1, Lda: p, Ldb: n.batch * p, Ldc: kk,
			StrideA: int64(l.o * p), StrideB: int64(p), StrideC: int64(l.o * kk), Batch: n.batch}
		return d.Gemm(gm, dy, l.col, ps)
	case l.kind == "Conv" && u.role == "bias":
		return d.SampleChannelSum(dy, ps, n.batch, l.o, l.geom.OH*l.geom.OW)
	case (l.kind == "Gemm" || l.kind == "MatMul") && u.role == "weight":
		x := n.vals[l.in[0]]
		in := n.shapes[l.in[0]][1]
		if l.transB { // W [o × in]: dW_b = alpha · dy_bᵀ x_b
			gm := Gemm{M: l.o, N: in, K: 1, Alpha: l.alpha, Lda: 1, Ldb: in, Ldc: in,
				StrideA: int64(l.o), StrideB: int64(in), StrideC: int64(l.o * in), Batch: n.batch}
			return d.Gemm(gm, dy, x, ps)
		}
		gm := Gemm{M: in, N: l.o, K: 1, Alpha: l.alpha, Lda: 1, Ldb: l.o, Ldc: l.o,
			StrideA: int64(in), StrideB: int64(l.o), StrideC: int64(l.o * in), Batch: n.batch}
		return d.Gemm(gm, x, dy, ps)
	case l.kind == "Gemm" && u.role == "bias":
		if err := d.Zero(ps); err != nil {
			return err
		}
		return d.AddInPlace(ps, dy, n.batch*l.o) // beta = 1 enforced in forward
	case l.kind == "AddBias":
		return d.SampleChannelSum(dy, ps, n.batch, l.o, l.inner)
	case l.kind == "BatchNormalization" && u.role == "bn_scale":
		return d.SampleChannelDot(dy, l.xhat, ps, n.batch, l.o, l.inner)
	case l.kind == "BatchNormalization" && u.role == "bn_shift":
		return d.SampleChannelSum(dy, ps, n.batch, l.o, l.inner)
	}
	return fmt.Errorf("no expansion for %s of %s", u.role, l.kind)
}
