package graph

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/gnaudit/gnaudit/auditor/ir"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Operators of modern CNNs and transformers (ConvNeXt, MobileNetV3,
// ViT, LayerNorm/GELU MLPs, embeddings): pointwise functions, Pow,
// reductions, LayerNormalization, Expand, Split, Gather on data. Each is a
// graph operator with its own forward kernel and derivative, wired into
// builder.node by extNode; the build-time (constant) forms of the shape
// logic ops are in consteval_ext.go.

// pointwiseNode builds one of the pointwise functions of pointwiseFuncs.
func (b *builder[T]) pointwiseNode(n *ir.Node) error {
	f, ok := pointwiseFuncs(n)
	if !ok {
		return b.errNode(n, "operator not supported")
	}
	return b.pointwise(n, f)
}

// pwFunc is a pointwise function y = f(x) and its derivative dy/dx given x
// and y.
type pwFunc struct {
	f  func(x float64) float64
	df func(x, y float64) float64
}

func pointwiseFuncs(n *ir.Node) (pwFunc, bool) {
	switch n.OpType {
	case "Sqrt":
		return pwFunc{math.Sqrt, func(_, y float64) float64 { return 0.5 / y }}, true
	case "Reciprocal":
		return pwFunc{func(x float64) float64 { return 1 / x }, func(_, y float64) float64 { return -y * y }}, true
	case "Exp":
		return pwFunc{math.Exp, func(_, y float64) float64 { return y }}, true
	case "Log":
		return pwFunc{math.Log, func(x, _ float64) float64 { return 1 / x }}, true
	case "Erf":
		return pwFunc{math.Erf, func(x, _ float64) float64 { return 2 / math.SqrtPi * math.Exp(-x*x) }}, true
	case "Neg":
		return pwFunc{func(x float64) float64 { return -x }, func(_, _ float64) float64 { return -1 }}, true
	case "Abs":
		return pwFunc{math.Abs, func(x, _ float64) float64 {
			switch {
			case x > 0:
				return 1
			case x < 0:
				return -1
			}
			return 0
		}}, true
	case "Softplus":
		return pwFunc{func(x float64) float64 {
			if x > 0 {
				return x + math.Log1p(math.Exp(-x))
			}
			return math.Log1p(math.Exp(x))
		}, func(x, _ float64) float64 { return 1 / (1 + math.Exp(-x)) }}, true
	case "Elu":
		a := attrFloat(n, "alpha", 1)
		return pwFunc{func(x float64) float64 {
			if x < 0 {
				return a * (math.Exp(x) - 1)
			}
			return x
		}, func(x, y float64) float64 {
			if x < 0 {
				return y + a
			}
			return 1
		}}, true
	case "HardSigmoid", "HardSwish":
		a, c := 1.0/6, 0.5
		if n.OpType == "HardSigmoid" {
			a, c = attrFloat(n, "alpha", 0.2), attrFloat(n, "beta", 0.5)
		}
		hs := func(x float64) float64 { return math.Max(0, math.Min(1, a*x+c)) }
		dhs := func(x float64) float64 {
			if v := a*x + c; v > 0 && v < 1 {
				return a
			}
			return 0
		}
		if n.OpType == "HardSigmoid" {
			return pwFunc{hs, func(x, _ float64) float64 { return dhs(x) }}, true
		}
		return pwFunc{func(x float64) float64 { return x * hs(x) },
			func(x, _ float64) float64 { return hs(x) + x*dhs(x) }}, true
	}
	return pwFunc{}, false
}

// pointwise builds y = f(x) elementwise.
func (b *builder[T]) pointwise(n *ir.Node, f pwFunc) error {
	x, err := b.data(n, 0)
	if err != nil {
		return err
	}
	gs := gshape(x.shape)
	o := newKop[T](n.OpType, n.Name, []tensor.Shape{gs}, gs, func(r []T, in [][]T) {
		for k, v := range in[0] {
			r[k] = T(f.f(float64(v)))
		}
	})
	o.diff = func(ins gorgonia.Nodes, outN, grad *gorgonia.Node) (gorgonia.Nodes, error) {
		g := newKop[T](n.OpType+"Grad", n.Name, []tensor.Shape{gs, gs, gs}, gs, func(r []T, in [][]T) {
			x, y, g := in[0], in[1], in[2]
			for k := range r {
				r[k] = T(float64(g[k]) * f.df(float64(x[k]), float64(y[k])))
			}
		})
		nd, err := apply(g, ins[0], outN, grad)
		return gorgonia.Nodes{nd}, err
	}
	return b.setUnary(n, o, x, x.shape)
}

// pow builds Pow(x, p) with a constant exponent p (a scalar or a tensor
// broadcast to x); an exponent computed by the graph is refused.
func (b *builder[T]) pow(n *ir.Node) error {
	if len(n.Inputs) != 2 {
		return b.errNode(n, "want 2 inputs, got %d", len(n.Inputs))
	}
	if b.isGraphValue(n.Inputs[1]) || !b.isGraphValue(n.Inputs[0]) {
		return b.powData(n)
	}
	p, err := b.constIn(n, 1)
	if err != nil {
		return err
	}
	if p.len() == 1 {
		e := p.floats()[0]
		f := pwFunc{func(x float64) float64 { return powF(x, e) },
			func(x, _ float64) float64 { return e * powF(x, e-1) }}
		if e == 2 {
			f = pwFunc{func(x float64) float64 { return x * x }, func(x, _ float64) float64 { return 2 * x }}
		}
		return b.pointwise(n, f)
	}
	x, err := b.data(n, 0)
	if err != nil {
		return err
	}
	out, err := broadcastShape(x.shape, p.shape)
	if err != nil || !slices.Equal(out, x.shape) {
		return b.errNode(n, "exponent of shape %v does not broadcast to the base %v", p.shape, x.shape)
	}
	ex := p.floats()
	pi := bcastIndex(p.shape, out)
	gs := gshape(x.shape)
	o := newKop[T]("Pow", n.Name, []tensor.Shape{gs}, gs, func(r []T, in [][]T) {
		for k, v := range in[0] {
			r[k] = T(powF(float64(v), ex[pi[k]]))
		}
	})
	o.diff = func(ins gorgonia.Nodes, outN, grad *gorgonia.Node) (gorgonia.Nodes, error) {
		g := newKop[T]("PowGrad", n.Name, []tensor.Shape{gs, gs}, gs, func(r []T, in [][]T) {
			for k, v := range in[0] {
				e := ex[pi[k]]
				r[k] = T(float64(in[1][k]) * e * powF(float64(v), e-1))
			}
		})
		nd, err := apply(g, ins[0], grad)
		return gorgonia.Nodes{nd}, err
	}
	return b.setUnary(n, o, x, x.shape)
}

// powData builds Pow(x, y) with an exponent computed by the graph
// (numpy broadcasting): ∂/∂x = y·x^(y−1), ∂/∂y = x^y·ln x.
func (b *builder[T]) powData(n *ir.Node) error {
	x, err := b.data(n, 0)
	if err != nil {
		return err
	}
	y, err := b.data(n, 1)
	if err != nil {
		return err
	}
	out, err := broadcastShape(x.shape, y.shape)
	if err != nil {
		return b.errNode(n, "%v", err)
	}
	bl := false
	if b.track {
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
	xi, yi := bcastIndex(x.shape, out), bcastIndex(y.shape, out)
	gx, gy, gout := gshape(x.shape), gshape(y.shape), gshape(out)
	o := newKop[T]("Pow", n.Name, []tensor.Shape{gx, gy}, gout, func(r []T, in [][]T) {
		for k := range r {
			r[k] = T(powF(float64(in[0][xi[k]]), float64(in[1][yi[k]])))
		}
	})
	o.diff = func(ins gorgonia.Nodes, outN, grad *gorgonia.Node) (gorgonia.Nodes, error) {
		res := make(gorgonia.Nodes, 2)
		shapes := [2]tensor.Shape{gx, gy}
		for s := 0; s < 2; s++ {
			if !o.wrt[s] {
				continue
			}
			side := s
			nd, err := apply(newKop[T](fmt.Sprintf("PowGrad%d", side), n.Name, []tensor.Shape{gx, gy, gout}, shapes[side], func(r []T, in [][]T) {
				acc := make([]float64, len(r))
				for k, g := range in[2] {
					a, e := float64(in[0][xi[k]]), float64(in[1][yi[k]])
					if side == 0 {
						acc[xi[k]] += float64(g) * e * powF(a, e-1)
					} else if a > 0 {
						acc[yi[k]] += float64(g) * powF(a, e) * math.Log(a)
					}
				}
				for k, v := range acc {
					r[k] = T(v)
				}
			}), ins[0], ins[1], grad)
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
	b.set(n, 0, v)
	return nil
}

func powF(x, e float64) float64 {
	switch e {
	case 0:
		return 1
	case 1:
		return x
	case 2:
		return x * x
	case 0.5:
		return math.Sqrt(x)
	}
	return math.Pow(x, e)
}

// isGraphValue reports whether name is computed by the graph (a data
// value or a parameter), not a build-time constant.
func (b *builderBase) isGraphValue(name string) bool {
	if _, ok := b.vals[name]; ok {
		return true
	}
	_, ok := b.params[name]
	return ok
}

// bcastIndex returns, for each element of out (row-major), the flat index
// of the element of an operand of shape s broadcast to out.
func bcastIndex(s, out []int) []int {
	st := bcastStrides(s, out)
	r := make([]int, prod(out))
	idx := make([]int, len(out))
	for k := range r {
		o := 0
		for d := range idx {
			o += idx[d] * st[d]
		}
		r[k] = o
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < out[d] {
				break
			}
			idx[d] = 0
		}
	}
	return r
}

// reduceAxes reads the axes of a Reduce* node (attribute, or input 1 from
// ReduceSum-13 / the others at 18), normalised, sorted and unique; nil
// with noop true means "no reduction".
func (b *builder[T]) reduceAxes(n *ir.Node, rank int) (axes []int, noop bool, err error) {
	var raw []int64
	fromInput := len(n.Inputs) > 1 && n.Inputs[1] != ""
	switch {
	case fromInput:
		c, err := b.constIn(n, 1)
		if err != nil {
			return nil, false, err
		}
		raw = c.ints()
	default:
		raw = attrInts(n, "axes")
	}
	if len(raw) == 0 {
		if attrInt(n, "noop_with_empty_axes", 0) != 0 {
			return nil, true, nil
		}
		for d := 0; d < rank; d++ {
			axes = append(axes, d)
		}
		return axes, false, nil
	}
	seen := map[int]bool{}
	for _, a := range raw {
		d, err := normAxis(a, rank)
		if err != nil {
			return nil, false, err
		}
		if !seen[d] {
			seen[d] = true
			axes = append(axes, d)
		}
	}
	sort.Ints(axes)
	return axes, false, nil
}

// reduce builds ReduceMean, ReduceSum, ReduceSumSquare and ReduceL2 over
// any set of axes.
func (b *builder[T]) reduce(n *ir.Node) error {
	x, err := b.data(n, 0)
	if err != nil {
		return err
	}
	r := len(x.shape)
	axes, noop, err := b.reduceAxes(n, r)
	if err != nil {
		return b.errNode(n, "%v", err)
	}
	if noop {
		axes = nil
	}
	keep := attrInt(n, "keepdims", 1) != 0
	kshape := append([]int(nil), x.shape...) // keepdims shape
	var out []int
	for d := range x.shape {
		if slices.Contains(axes, d) {
			kshape[d] = 1
			if keep {
				out = append(out, 1)
			}
			continue
		}
		out = append(out, x.shape[d])
	}
	if b.track && x.bl && slices.Contains(axes, 0) {
		return b.refuse(n, fmt.Sprintf("%s over the batch axis", n.OpType))
	}
	cnt := 1
	for _, d := range axes {
		cnt *= x.shape[d]
	}
	kind := n.OpType
	xs := x.shape
	gx, gout := gshape(xs), gshape(out)
	idx := bcastIndex(kshape, xs) // x element → output element
	m := prod(out)
	o := newKop[T](kind, n.Name, []tensor.Shape{gx}, gout, func(res []T, in [][]T) {
		acc := make([]float64, m)
		switch kind {
		case "ReduceMax", "ReduceMin", "ReduceLogSumExp":
			// the running maximum (minimum) first
			for j := range acc {
				acc[j] = math.Inf(1)
				if kind != "ReduceMin" {
					acc[j] = math.Inf(-1)
				}
			}
			for k, v := range in[0] {
				f := float64(v)
				j := idx[k]
				switch {
				case math.IsNaN(acc[j]):
				case math.IsNaN(f), kind == "ReduceMin" && f < acc[j], kind != "ReduceMin" && f > acc[j]:
					acc[j] = f
				}
			}
			if kind != "ReduceLogSumExp" {
				for j, s := range acc {
					res[j] = T(s)
				}
				return
			}
			sum := make([]float64, m)
			for k, v := range in[0] {
				sum[idx[k]] += math.Exp(float64(v) - acc[idx[k]])
			}
			for j := range acc {
				res[j] = T(acc[j] + math.Log(sum[j]))
			}
			return
		}
		for k, v := range in[0] {
			f := float64(v)
			switch kind {
			case "ReduceSumSquare", "ReduceL2":
				f *= f
			case "ReduceL1":
				f = math.Abs(f)
			}
			acc[idx[k]] += f
		}
		for j, s := range acc {
			switch kind {
			case "ReduceMean":
				s /= float64(cnt)
			case "ReduceL2":
				s = math.Sqrt(s)
			case "ReduceLogSum":
				s = math.Log(s)
			}
			res[j] = T(s)
		}
	})
	o.diff = func(ins gorgonia.Nodes, outN, grad *gorgonia.Node) (gorgonia.Nodes, error) {
		g := newKop[T](kind+"Grad", n.Name, []tensor.Shape{gx, gout, gout}, gx, func(res []T, in [][]T) {
			x, y, g := in[0], in[1], in[2]
			var ties []int
			if kind == "ReduceMax" || kind == "ReduceMin" {
				// the gradient is shared by the elements equal to the extremum
				ties = make([]int, m)
				for k, v := range x {
					if v == y[idx[k]] {
						ties[idx[k]]++
					}
				}
			}
			for k := range res {
				j := idx[k]
				switch kind {
				case "ReduceMean":
					res[k] = T(float64(g[j]) / float64(cnt))
				case "ReduceSum":
					res[k] = g[j]
				case "ReduceSumSquare":
					res[k] = T(2 * float64(g[j]) * float64(x[k]))
				case "ReduceL2":
					if y[j] == 0 {
						res[k] = 0
					} else {
						res[k] = T(float64(g[j]) * float64(x[k]) / float64(y[j]))
					}
				case "ReduceL1":
					switch {
					case x[k] > 0:
						res[k] = g[j]
					case x[k] < 0:
						res[k] = -g[j]
					default:
						res[k] = 0
					}
				case "ReduceLogSum":
					res[k] = T(float64(g[j]) / math.Exp(float64(y[j])))
				case "ReduceLogSumExp":
					res[k] = T(float64(g[j]) * math.Exp(float64(x[k])-float64(y[j])))
				case "ReduceMax", "ReduceMin":
					res[k] = 0
					if x[k] == y[j] {
						res[k] = T(float64(g[j]) / float64(ties[j]))
					}
				}
			}
		})
		nd, err := apply(g, ins[0], outN, grad)
		return gorgonia.Nodes{nd}, err
	}
	v, err := b.mk(n, o, nil, x)
	if err != nil {
		return err
	}
	v.shape, v.bl = out, x.bl && len(out) > 0 && (keep || !slices.Contains(axes, 0))
	b.set(n, 0, v)
	return nil
}

// layerNorm builds LayerNormalization (opset 17): y = (x − μ)/√(σ² + ε)·scale
// + bias over the dimensions from axis on; the Mean and InvStdDev outputs
// are not supported.
func (b *builder[T]) layerNorm(n *ir.Node) error {
	x, err := b.data(n, 0)
	if err != nil {
		return err
	}
	r := len(x.shape)
	axis, err := normAxis(attrInt(n, "axis", -1), r)
	if err != nil {
		return b.errNode(n, "%v", err)
	}
	if b.track && x.bl && axis == 0 {
		return b.refuse(n, "LayerNormalization over the batch axis")
	}
	eps := attrFloat(n, "epsilon", 1e-5)
	inner := x.shape[axis:]
	M := prod(inner)
	N := prod(x.shape[:axis])
	ins := []*gval{x}
	var sidx, bidx []int
	var ss, bs tensor.Shape
	sc, err := b.data(n, 1)
	if err != nil {
		return err
	}
	if bsh, err := broadcastShape(sc.shape, inner); err != nil || !slices.Equal(bsh, inner) {
		return b.errNode(n, "scale of shape %v does not broadcast to %v", sc.shape, inner)
	}
	sidx, ss = bcastIndex(sc.shape, inner), gshape(sc.shape)
	ins = append(ins, sc)
	hasB := len(n.Inputs) > 2 && n.Inputs[2] != ""
	if hasB {
		bv, err := b.data(n, 2)
		if err != nil {
			return err
		}
		if bsh, err := broadcastShape(bv.shape, inner); err != nil || !slices.Equal(bsh, inner) {
			return b.errNode(n, "bias of shape %v does not broadcast to %v", bv.shape, inner)
		}
		bidx, bs = bcastIndex(bv.shape, inner), gshape(bv.shape)
		ins = append(ins, bv)
	}
	for _, v := range ins[1:] {
		if b.track && v.bl {
			return b.refuse(n, "the scale or bias depends on the batch")
		}
	}
	gx := gshape(x.shape)
	insS := []tensor.Shape{gx, ss}
	if hasB {
		insS = append(insS, bs)
	}
	// stats computes the mean and 1/√(σ²+ε) of row i of x.
	stats := func(x []T, i int) (mu, inv float64) {
		row := x[i*M : (i+1)*M]
		s := 0.0
		for _, v := range row {
			s += float64(v)
		}
		mu = s / float64(M)
		q := 0.0
		for _, v := range row {
			d := float64(v) - mu
			q += d * d
		}
		return mu, 1 / math.Sqrt(q/float64(M)+eps)
	}
	o := newKop[T]("LayerNormalization", n.Name, insS, gx, func(y []T, in [][]T) {
		x, s := in[0], in[1]
		var bb []T
		if hasB {
			bb = in[2]
		}
		for i := 0; i < N; i++ {
			mu, inv := stats(x, i)
			for j := 0; j < M; j++ {
				v := (float64(x[i*M+j]) - mu) * inv * float64(s[sidx[j]])
				if hasB {
					v += float64(bb[bidx[j]])
				}
				y[i*M+j] = T(v)
			}
		}
	})
	o.diff = func(gins gorgonia.Nodes, outN, grad *gorgonia.Node) (gorgonia.Nodes, error) {
		res := make(gorgonia.Nodes, len(gins))
		cs := []tensor.Shape{gx, ss, gx}
		children := gorgonia.Nodes{gins[0], gins[1], grad}
		var err error
		if res[0], err = b.back(o.wrt[0], newKop[T]("LayerNormGradX", n.Name, cs, gx, func(dx []T, in [][]T) {
			x, s, g := in[0], in[1], in[2]
			gh := make([]float64, M)
			for i := 0; i < N; i++ {
				mu, inv := stats(x, i)
				m1, m2 := 0.0, 0.0
				for j := 0; j < M; j++ {
					gh[j] = float64(g[i*M+j]) * float64(s[sidx[j]])
					xh := (float64(x[i*M+j]) - mu) * inv
					m1 += gh[j]
					m2 += gh[j] * xh
				}
				m1 /= float64(M)
				m2 /= float64(M)
				for j := 0; j < M; j++ {
					xh := (float64(x[i*M+j]) - mu) * inv
					dx[i*M+j] = T(inv * (gh[j] - m1 - xh*m2))
				}
			}
		}), children...); err != nil {
			return nil, err
		}
		if res[1], err = b.back(o.wrt[1], newKop[T]("LayerNormGradScale", n.Name, cs, ss, func(ds []T, in [][]T) {
			x, g := in[0], in[2]
			acc := make([]float64, len(ds))
			for i := 0; i < N; i++ {
				mu, inv := stats(x, i)
				for j := 0; j < M; j++ {
					acc[sidx[j]] += float64(g[i*M+j]) * (float64(x[i*M+j]) - mu) * inv
				}
			}
			for k, v := range acc {
				ds[k] = T(v)
			}
		}), children...); err != nil {
			return nil, err
		}
		if hasB {
			if res[2], err = b.back(o.wrt[2], newKop[T]("LayerNormGradBias", n.Name, []tensor.Shape{gx}, bs, func(db []T, in [][]T) {
				acc := make([]float64, len(db))
				for k, v := range in[0] {
					acc[bidx[k%M]] += float64(v)
				}
				for k, v := range acc {
					db[k] = T(v)
				}
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
	v.shape, v.bl = x.shape, x.bl
	b.set(n, 0, v)
	// The Mean and InvStdDev outputs (shape [x.shape[:axis]…, 1…]) are
	// computed but not differentiated through.
	sshape := append([]int(nil), x.shape[:axis]...)
	for range x.shape[axis:] {
		sshape = append(sshape, 1)
	}
	for k := 1; k <= 2 && k < len(n.Outputs); k++ {
		if n.Outputs[k] == "" {
			continue
		}
		which := k
		so := newKop[T]([]string{"", "LayerNormMean", "LayerNormInvStdDev"}[k], n.Name, []tensor.Shape{gx}, gshape(sshape), func(r []T, in [][]T) {
			for i := 0; i < N; i++ {
				mu, inv := stats(in[0], i)
				if which == 1 {
					r[i] = T(mu)
				} else {
					r[i] = T(inv)
				}
			}
		})
		sv, err := b.mk(n, so, []bool{false}, x)
		if err != nil {
			return err
		}
		sv.shape, sv.bl = sshape, x.bl
		b.set(n, k, sv)
	}
	return nil
}

// used reports whether a value is read by any node or is a graph output.
func (b *builderBase) used(name string) bool {
	for _, o := range b.m.Outputs {
		if o.Name == name {
			return true
		}
	}
	for _, nd := range b.m.Nodes {
		if slices.Contains(nd.Inputs, name) {
			return true
		}
	}
	return false
}

// expand builds Expand(x, shape) on a graph value (numpy broadcasting both
// ways). A parameter expanded to the batch (a class token) becomes a
// per-sample value whose rows are equal; its gradient sums over the batch.
func (b *builder[T]) expand(n *ir.Node) error {
	x, err := b.data(n, 0)
	if err != nil {
		return err
	}
	c, err := b.constIn(n, 1)
	if err != nil {
		return err
	}
	if c == nil {
		return b.errNode(n, "missing shape input")
	}
	target := make([]int, 0, c.len())
	for _, d := range c.ints() {
		target = append(target, int(d))
	}
	out, err := broadcastShape(x.shape, target)
	if err != nil {
		return b.errNode(n, "%v", err)
	}
	bl := false
	if b.track {
		switch {
		case x.bl && len(x.shape) == len(out):
			bl = true
		case x.bl:
			return b.refuse(n, fmt.Sprintf("a batch operand of shape %v is expanded to %v", x.shape, out))
		case len(out) > 0 && out[0] == b.batch && (len(x.shape) < len(out) || x.shape[0] == 1):
			bl = true // the same values for every sample
		}
	}
	xs := x.shape
	gx, gout := gshape(xs), gshape(out)
	idx := bcastIndex(xs, out)
	o := newKop[T]("Expand", n.Name, []tensor.Shape{gx}, gout, func(r []T, in [][]T) {
		for k, j := range idx {
			r[k] = in[0][j]
		}
	})
	o.diff = linearGrad(newKop[T]("ExpandGrad", n.Name, []tensor.Shape{gout}, gx, func(r []T, in [][]T) {
		acc := make([]float64, len(r))
		for k, j := range idx {
			acc[j] += float64(in[0][k])
		}
		for k, v := range acc {
			r[k] = T(v)
		}
	}))
	v, err := b.mk(n, o, nil, x)
	if err != nil {
		return err
	}
	v.shape, v.bl = out, bl
	b.set(n, 0, v)
	return nil
}

// split builds Split along one axis (sizes from the split attribute before
// opset 13, the split input from 13, or equal parts).
func (b *builder[T]) split(n *ir.Node) error {
	x, err := b.data(n, 0)
	if err != nil {
		return err
	}
	r := len(x.shape)
	axis, err := normAxis(attrInt(n, "axis", 0), r)
	if err != nil {
		return b.errNode(n, "%v", err)
	}
	if b.track && x.bl && axis == 0 {
		return b.refuse(n, "Split along the batch axis")
	}
	var sizes []int64
	if b.opset >= 13 && len(n.Inputs) > 1 && n.Inputs[1] != "" {
		c, err := b.constIn(n, 1)
		if err != nil {
			return err
		}
		sizes = c.ints()
	} else if s := attrInts(n, "split"); s != nil {
		sizes = s
	}
	dim := x.shape[axis]
	no := len(n.Outputs)
	if sizes == nil {
		parts := no
		if k := attrInt(n, "num_outputs", 0); k > 0 {
			parts = int(k)
		}
		if parts <= 0 {
			return b.errNode(n, "no outputs")
		}
		ch := (dim + parts - 1) / parts
		for k := 0; k < parts; k++ {
			sizes = append(sizes, int64(min(ch, dim-k*ch)))
		}
	}
	if len(sizes) != no {
		return b.errNode(n, "%d split sizes for %d outputs", len(sizes), no)
	}
	tot := int64(0)
	for _, s := range sizes {
		if s < 0 {
			return b.errNode(n, "negative split size %d", s)
		}
		tot += s
	}
	if tot != int64(dim) {
		return b.errNode(n, "split sizes %v do not add up to dimension %d of %v", sizes, dim, x.shape)
	}
	outer, inner := prod(x.shape[:axis]), prod(x.shape[axis+1:])
	gx := gshape(x.shape)
	start := 0
	for k, s := range sizes {
		st, sz := start, int(s)
		start += sz
		if n.Outputs[k] == "" {
			continue
		}
		out := append([]int(nil), x.shape...)
		out[axis] = sz
		gout := gshape(out)
		o := newKop[T]("Split", n.Name, []tensor.Shape{gx}, gout, func(res []T, in [][]T) {
			for q := 0; q < outer; q++ {
				copy(res[q*sz*inner:(q+1)*sz*inner], in[0][(q*dim+st)*inner:(q*dim+st+sz)*inner])
			}
		})
		o.diff = linearGrad(newKop[T]("SplitGrad", n.Name, []tensor.Shape{gout}, gx, func(res []T, in [][]T) {
			clear(res)
			for q := 0; q < outer; q++ {
				copy(res[(q*dim+st)*inner:(q*dim+st+sz)*inner], in[0][q*sz*inner:(q+1)*sz*inner])
			}
		}))
		v, err := b.mk(n, o, nil, x)
		if err != nil {
			return err
		}
		v.shape, v.bl = out, x.bl
		b.set(n, k, v)
	}
	return nil
}

// gatherData builds Gather on graph values: constant indices into a graph
// value (x[:, 0]), or integer ids computed by the graph (token ids) into a
// parameter or constant table (an embedding).
func (b *builder[T]) gatherData(n *ir.Node) error {
	if len(n.Inputs) != 2 {
		return b.errNode(n, "want 2 inputs, got %d", len(n.Inputs))
	}
	x, err := b.data(n, 0)
	if err != nil {
		return err
	}
	axis, err := normAxis(attrInt(n, "axis", 0), len(x.shape))
	if err != nil {
		return b.errNode(n, "%v", err)
	}
	dim := x.shape[axis]
	outer, inner := prod(x.shape[:axis]), prod(x.shape[axis+1:])
	var ishape []int
	var ids *gval
	var fixed []int64
	if b.isGraphValue(n.Inputs[1]) {
		ids = b.vals[n.Inputs[1]]
		if ids == nil || !ids.ints {
			return b.errNode(n, "indices %q must be integer ids (an int64 model input) or a constant", n.Inputs[1])
		}
		if b.idRows == nil {
			b.idRows = map[string]int{}
		}
		if r, ok := b.idRows[n.Inputs[1]]; !ok || dim < r {
			b.idRows[n.Inputs[1]] = dim
		}
		ishape = ids.shape
		if b.track && (x.bl || x.bx != nil) {
			return b.refuse(n, "both the table and the ids depend on the batch")
		}
	} else {
		c, err := b.constIn(n, 1)
		if err != nil {
			return err
		}
		ishape, fixed = c.shape, c.ints()
		for k, j := range fixed {
			if j < 0 {
				j += int64(dim)
			}
			if j < 0 || j >= int64(dim) {
				return b.errNode(n, "index %d out of range [0, %d)", fixed[k], dim)
			}
			fixed[k] = j
		}
		if b.track && x.bl && axis == 0 {
			return b.refuse(n, "Gather along the batch axis")
		}
		if b.track && x.bx != nil && axis == x.bx.axis {
			return b.refuse(n, "Gather along the axis that holds the batch")
		}
	}
	out := append(append(append([]int{}, x.shape[:axis]...), ishape...), x.shape[axis+1:]...)
	ni := prod(ishape)
	xs := x.shape
	gx, gout := gshape(xs), gshape(out)
	// index returns the table row of index k (ids read at run time).
	rows := func(in [][]T) []int {
		r := make([]int, ni)
		for k := range r {
			var j int64
			if ids != nil {
				v := in[1][k]
				j = int64(v)
				if T(j) != v {
					panic(fmt.Sprintf("Gather %q: index %v is not an integer", n.Name, v))
				}
				if j < 0 {
					j += int64(dim)
				}
				if j < 0 || j >= int64(dim) {
					panic(fmt.Sprintf("Gather %q: index %v out of range [0, %d)", n.Name, v, dim))
				}
			} else {
				j = fixed[k]
			}
			r[k] = int(j)
		}
		return r
	}
	insS := []tensor.Shape{gx}
	gins := []*gval{x}
	if ids != nil {
		insS = append(insS, gshape(ids.shape))
		gins = append(gins, ids)
	}
	o := newKop[T]("Gather", n.Name, insS, gout, func(res []T, in [][]T) {
		rs := rows(in)
		for q := 0; q < outer; q++ {
			for k, j := range rs {
				copy(res[(q*ni+k)*inner:(q*ni+k+1)*inner], in[0][(q*dim+j)*inner:(q*dim+j+1)*inner])
			}
		}
	})
	o.diff = func(cs gorgonia.Nodes, outN, grad *gorgonia.Node) (gorgonia.Nodes, error) {
		res := make(gorgonia.Nodes, len(cs))
		children := gorgonia.Nodes{grad}
		gs := []tensor.Shape{gout}
		if ids != nil {
			children = append(children, cs[1])
			gs = append(gs, insS[1])
		}
		var err error
		res[0], err = b.back(o.wrt[0], newKop[T]("GatherGrad", n.Name, gs, gx, func(dx []T, in [][]T) {
			clear(dx)
			g := in[0]
			var rs []int
			if ids != nil {
				rs = rows([][]T{nil, in[1]})
			} else {
				rs = rows(nil)
			}
			for q := 0; q < outer; q++ {
				for k, j := range rs {
					d := dx[(q*dim+j)*inner : (q*dim+j+1)*inner]
					s := g[(q*ni+k)*inner : (q*ni+k+1)*inner]
					for e := range d {
						d[e] += s[e]
					}
				}
			}
		}), children...)
		return res, err
	}
	v, err := b.mk(n, o, []bool{true, false}, gins...)
	if err != nil {
		return err
	}
	v.shape = out
	switch {
	case ids != nil:
		v.bl = ids.bl && axis == 0
	case x.bx != nil:
		l := *x.bx
		if axis < l.axis {
			l.axis += len(ishape) - 1
		}
		b.setLayout(v, out, l)
	default:
		v.bl = x.bl
	}
	b.set(n, 0, v)
	return nil
}

// checkIDs checks that the data input, when it holds integer ids read
// directly by an embedding, holds integers in [−rows, rows).
func (n *Net) checkIDs(x []float64) error {
	rows, ok := n.idRows[n.inputs[0].name]
	if !ok {
		return nil
	}
	per := max(1, prod(n.inShape))
	for k, v := range x {
		if v != math.Trunc(v) || v < -float64(rows) || v >= float64(rows) {
			return fmt.Errorf("input %q holds token ids: sample %d, position %d is %v, not an integer id in [0, %d) (token arrays must be fed unnormalised: --normalize none)",
				n.inputs[0].name, k/per, k%per, v, rows)
		}
	}
	return nil
}

// castData builds Cast on a graph value: to float or double (a copy in the
// graph's precision; integer ids become float values, not differentiated).
func (b *builder[T]) castData(n *ir.Node) error {
	to := ir.DataType(attrInt(n, "to", 0))
	x := b.vals[n.Inputs[0]]
	if x == nil {
		var err error
		if x, err = b.data(n, 0); err != nil {
			return err
		}
	}
	switch {
	case isFloatType(to):
	case (to == ir.Int64 || to == ir.Int32) && x.ints:
	default:
		return b.errNode(n, "Cast of a graph value to %v is not supported (only to float or double)", to)
	}
	var v *gval
	var err error
	if _, is64 := any(T(0)).(float64); is64 && to == ir.Float {
		// rounded to float32 like the file's dtype says
		gs := gshape(x.shape)
		o := newKop[T]("Cast", n.Name, []tensor.Shape{gs}, gs, func(r []T, in [][]T) {
			for k, e := range in[0] {
				r[k] = T(float32(e))
			}
		})
		o.diff = linearGrad(newKop[T]("CastGrad", n.Name, []tensor.Shape{gs}, gs, func(r []T, in [][]T) { copy(r, in[0]) }))
		if v, err = b.mk(n, o, nil, x); err != nil {
			return err
		}
		v.shape = x.shape
	} else if v, err = b.copyOp(n, x, x.shape); err != nil {
		return err
	}
	v.bl, v.bx = x.bl, x.bx
	v.ints = x.ints && !isFloatType(to)
	if x.ints {
		v.grad = false
	}
	b.set(n, 0, v)
	return nil
}

// instanceNorm builds InstanceNormalization: each (sample, channel) of x
// [N, C, D…] normalised over D…, then scale[c] and bias[c].
func (b *builder[T]) instanceNorm(n *ir.Node) error {
	if len(n.Inputs) != 3 {
		return b.errNode(n, "want 3 inputs (input, scale, B), got %d", len(n.Inputs))
	}
	x, err := b.data(n, 0)
	if err != nil {
		return err
	}
	if len(x.shape) < 3 {
		return b.errNode(n, "input of shape %v: want [N, C, D…]", x.shape)
	}
	sc, err := b.data(n, 1)
	if err != nil {
		return err
	}
	bv, err := b.data(n, 2)
	if err != nil {
		return err
	}
	C := x.shape[1]
	if prod(sc.shape) != C || prod(bv.shape) != C {
		return b.errNode(n, "scale %v and bias %v for %d channels", sc.shape, bv.shape, C)
	}
	if b.track && (sc.bl || bv.bl) {
		return b.refuse(n, "the scale or bias depends on the batch")
	}
	eps := attrFloat(n, "epsilon", 1e-5)
	M := prod(x.shape[2:])
	R := x.shape[0] * C
	stats := func(x []T, i int) (mu, inv float64) {
		row := x[i*M : (i+1)*M]
		s := 0.0
		for _, v := range row {
			s += float64(v)
		}
		mu = s / float64(M)
		q := 0.0
		for _, v := range row {
			d := float64(v) - mu
			q += d * d
		}
		return mu, 1 / math.Sqrt(q/float64(M)+eps)
	}
	gx, gs, gb := gshape(x.shape), gshape(sc.shape), gshape(bv.shape)
	o := newKop[T]("InstanceNormalization", n.Name, []tensor.Shape{gx, gs, gb}, gx, func(y []T, in [][]T) {
		x, s, bb := in[0], in[1], in[2]
		for i := 0; i < R; i++ {
			mu, inv := stats(x, i)
			c := i % C
			for j := 0; j < M; j++ {
				y[i*M+j] = T((float64(x[i*M+j])-mu)*inv*float64(s[c]) + float64(bb[c]))
			}
		}
	})
	o.diff = func(cs gorgonia.Nodes, outN, grad *gorgonia.Node) (gorgonia.Nodes, error) {
		res := make(gorgonia.Nodes, 3)
		shapes := []tensor.Shape{gx, gs, gx}
		children := gorgonia.Nodes{cs[0], cs[1], grad}
		var err error
		if res[0], err = b.back(o.wrt[0], newKop[T]("InstanceNormGradX", n.Name, shapes, gx, func(dx []T, in [][]T) {
			x, s, g := in[0], in[1], in[2]
			for i := 0; i < R; i++ {
				mu, inv := stats(x, i)
				sc := float64(s[i%C])
				m1, m2 := 0.0, 0.0
				for j := 0; j < M; j++ {
					gh := float64(g[i*M+j]) * sc
					m1 += gh
					m2 += gh * (float64(x[i*M+j]) - mu) * inv
				}
				m1 /= float64(M)
				m2 /= float64(M)
				for j := 0; j < M; j++ {
					xh := (float64(x[i*M+j]) - mu) * inv
					dx[i*M+j] = T(inv * (float64(g[i*M+j])*sc - m1 - xh*m2))
				}
			}
		}), children...); err != nil {
			return nil, err
		}
		for side := 1; side <= 2; side++ {
			scale := side == 1
			gsh := gs
			if !scale {
				gsh = gb
			}
			if res[side], err = b.back(o.wrt[side], newKop[T]("InstanceNormGradParam", n.Name, shapes, gsh, func(d []T, in [][]T) {
				x, g := in[0], in[2]
				acc := make([]float64, C)
				for i := 0; i < R; i++ {
					mu, inv := stats(x, i)
					for j := 0; j < M; j++ {
						v := float64(g[i*M+j])
						if scale {
							v *= (float64(x[i*M+j]) - mu) * inv
						}
						acc[i%C] += v
					}
				}
				for c, v := range acc {
					d[c] = T(v)
				}
			}), children...); err != nil {
				return nil, err
			}
		}
		return res, nil
	}
	v, err := b.mk(n, o, nil, x, sc, bv)
	if err != nil {
		return err
	}
	v.shape, v.bl = x.shape, x.bl
	b.set(n, 0, v)
	return nil
}

// zeroRatio reports whether Dropout node n has a constant ratio of 0 (an
// identity even in training mode, e.g. torchvision's Swin attention
// dropout exported with training_mode=true).
func (b *builder[T]) zeroRatio(n *ir.Node) bool {
	c, err := b.constIn(n, 1)
	return err == nil && c != nil && c.len() == 1 && c.floats()[0] == 0
}
