package persample

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/gnaudit/gnaudit/auditor/ir"
)

// Per-sample rules of the transformer-era layers: LayerNormalization scale
// and bias, an embedding table read by Gather with per-sample token ids,
// and a parameter broadcast to the batch by Expand (a class token).
const (
	MethodLayerNorm = "layernorm" // LayerNormalization scale (Σ δ x̂) and bias (Σ δ) over the sample's rows
	MethodEmbedding = "embedding" // Gather table: row ids[i, t] += δ_i[t]
	MethodExpand    = "broadcast" // Expand of a parameter: δ_i summed over the broadcast axes
)

// The rules of this file's methods (plan.go's rules table).

func classifyLayerNorm(a *analysis, u *use) string {
	n, dep := u.node, a.depOf(u.node)
	if !dep(0) {
		return "its data input does not depend on the sample"
	}
	if dep(1) || dep(2) {
		return "its scale or bias depends on the sample"
	}
	if u.slot != 1 && u.slot != 2 {
		return "not a scale or bias slot"
	}
	for _, o := range n.Outputs[1:] {
		if o != "" && a.reach[o] {
			return "the Mean or InvStdDev output is used"
		}
	}
	u.method = MethodLayerNorm
	return ""
}

func classifyInstanceNorm(a *analysis, u *use) string {
	dep := a.depOf(u.node)
	if !dep(0) || dep(1) || dep(2) {
		return "only InstanceNormalization of sample data with fixed scale and bias is expanded"
	}
	if u.slot != 1 && u.slot != 2 {
		return "not a scale or bias slot"
	}
	u.method = MethodLayerNorm
	return ""
}

func classifyEmbedding(a *analysis, u *use) string {
	n, dep := u.node, a.depOf(u.node)
	if u.slot != 0 || !dep(1) || dep(0) {
		return "only Gather of a parameter table with per-sample ids is expanded"
	}
	if attrInt(n, "axis", 0) != 0 {
		return "only Gather along axis 0 (an embedding) is expanded"
	}
	u.method = MethodEmbedding
	return ""
}

func classifyExpand(a *analysis, u *use) string {
	if u.slot != 0 || a.depOf(u.node)(0) {
		return "only Expand of a parameter is expanded"
	}
	u.method = MethodExpand
	return ""
}

// newExt builds the expansion of a use by a method of this file.
func newExt(ps *pass, u *use) (elemExp, error) {
	switch u.method {
	case MethodLayerNorm:
		return newLayerNorm(ps, u)
	case MethodEmbedding:
		return newEmbedding(ps, u)
	case MethodEinsum:
		return newEinsum(ps, u)
	case MethodExpand:
		n := u.node
		dy, err := ps.deriv(n.Outputs[0])
		if err != nil {
			return nil, err
		}
		S, err := ps.batched(n.Outputs[0], dy)
		if err != nil {
			return nil, err
		}
		s, err := ps.shape(u.input)
		if err != nil {
			return nil, err
		}
		e := &bcastExp{S: S, op: "Add", scale: 1, delta: dy.v}
		if e.pidx, e.pstep, err = bcastMap(s, dy.shape); err != nil {
			return nil, fmt.Errorf("Expand %q: parameter %w", n.Name, err)
		}
		return e, nil
	}
	return nil, fmt.Errorf("unknown method %q", u.method)
}

// lnExp: LayerNormalization over the last M elements of each row; a
// sample holds rows rows. g[idx[j]] += Σ_rows δ[r, j]·coef[r, j], coef = x̂
// for the scale, 1 for the bias.
type lnExp struct {
	rows, m int
	idx     []int // parameter index of each normalised element
	delta   []float64
	xhat    []float64 // nil for the bias
}

func (e *lnExp) add(i int, dst []float64) {
	S := e.rows * e.m
	d := e.delta[i*S : (i+1)*S]
	for r := 0; r < e.rows; r++ {
		for j := 0; j < e.m; j++ {
			v := d[r*e.m+j]
			if e.xhat != nil {
				v *= e.xhat[i*S+r*e.m+j]
			}
			dst[e.idx[j]] += v
		}
	}
}

func newLayerNorm(ps *pass, u *use) (elemExp, error) {
	n := u.node
	if n.OpType == "InstanceNormalization" {
		return newInstanceNorm(ps, u)
	}
	dy, err := ps.deriv(n.Outputs[0])
	if err != nil {
		return nil, err
	}
	S, err := ps.batched(n.Outputs[0], dy)
	if err != nil {
		return nil, err
	}
	r := len(dy.shape)
	axis := int(attrInt(n, "axis", -1))
	if axis < 0 {
		axis += r
	}
	if axis < 1 || axis >= r {
		return nil, fmt.Errorf("LayerNormalization %q: axis %d of output %v", n.Name, axis, dy.shape)
	}
	inner := dy.shape[axis:]
	M := prod(inner)
	ps0, err := ps.shape(u.input)
	if err != nil {
		return nil, err
	}
	m32, _, err := bcastMap(ps0, append([]int{1}, inner...))
	if err != nil {
		return nil, fmt.Errorf("LayerNormalization %q: parameter %w", n.Name, err)
	}
	e := &lnExp{rows: S / M, m: M, idx: make([]int, M), delta: dy.v}
	for j, v := range m32 {
		e.idx[j] = int(v)
	}
	if u.slot == 2 {
		return e, nil
	}
	x, err := ps.value(n.Inputs[0])
	if err != nil {
		return nil, err
	}
	if len(x.v) != len(dy.v) {
		return nil, fmt.Errorf("LayerNormalization %q: input %v does not match output %v", n.Name, x.shape, dy.shape)
	}
	eps := attrFloat(n, "epsilon", 1e-5)
	e.xhat = make([]float64, len(x.v))
	for q := 0; q < len(x.v)/M; q++ {
		row := x.v[q*M : (q+1)*M]
		mu := 0.0
		for _, v := range row {
			mu += v
		}
		mu /= float64(M)
		vr := 0.0
		for _, v := range row {
			vr += (v - mu) * (v - mu)
		}
		inv := 1 / math.Sqrt(vr/float64(M)+eps)
		for j, v := range row {
			e.xhat[q*M+j] = (v - mu) * inv
		}
	}
	return e, nil
}

// embExp: g[ids[i, t]·D : +D] += δ_i[t·D : +D].
type embExp struct {
	t, d, rows int
	ids        []float64
	delta      []float64
}

func (e *embExp) add(i int, dst []float64) {
	for t := 0; t < e.t; t++ {
		j := int(e.ids[i*e.t+t])
		if j < 0 {
			j += e.rows
		}
		row := dst[j*e.d : (j+1)*e.d]
		for k, v := range e.delta[(i*e.t+t)*e.d : (i*e.t+t+1)*e.d] {
			row[k] += v
		}
	}
}

func newEmbedding(ps *pass, u *use) (elemExp, error) {
	n := u.node
	dy, err := ps.deriv(n.Outputs[0])
	if err != nil {
		return nil, err
	}
	if _, err := ps.batched(n.Outputs[0], dy); err != nil {
		return nil, err
	}
	ids, err := ps.value(n.Inputs[1])
	if err != nil {
		return nil, err
	}
	if _, err := ps.batched(n.Inputs[1], ids); err != nil {
		return nil, err
	}
	ts, err := ps.shape(u.input)
	if err != nil {
		return nil, err
	}
	if len(ts) == 0 {
		return nil, fmt.Errorf("Gather %q: scalar table", n.Name)
	}
	D := prod(ts[1:])
	T := len(ids.v) / ps.batch
	if len(dy.v) != ps.batch*T*D {
		return nil, fmt.Errorf("Gather %q: output %v does not match ids %v and table %v", n.Name, dy.shape, ids.shape, ts)
	}
	return &embExp{t: T, d: D, rows: ts[0], ids: ids.v, delta: dy.v}, nil
}

// inExp: InstanceNormalization of [batch, C, P…]: g[c] += Σ_p δ_i[c, p]·x̂_i[c, p]
// (x̂ normalised per sample and channel) for the scale, Σ_p δ_i[c, p] for
// the bias.
type inExp struct {
	c, p  int
	delta []float64
	xhat  []float64 // nil for the bias
}

func (e *inExp) add(i int, dst []float64) {
	S := e.c * e.p
	for c := 0; c < e.c; c++ {
		s := 0.0
		for k := i*S + c*e.p; k < i*S+(c+1)*e.p; k++ {
			if e.xhat != nil {
				s += e.delta[k] * e.xhat[k]
			} else {
				s += e.delta[k]
			}
		}
		dst[c] += s
	}
}

func newInstanceNorm(ps *pass, u *use) (elemExp, error) {
	n := u.node
	dy, err := ps.deriv(n.Outputs[0])
	if err != nil {
		return nil, err
	}
	S, err := ps.batched(n.Outputs[0], dy)
	if err != nil {
		return nil, err
	}
	if len(dy.shape) < 3 {
		return nil, fmt.Errorf("InstanceNormalization %q: output %v", n.Name, dy.shape)
	}
	C := dy.shape[1]
	e := &inExp{c: C, p: S / C, delta: dy.v}
	if u.slot == 2 {
		return e, nil
	}
	x, err := ps.value(n.Inputs[0])
	if err != nil {
		return nil, err
	}
	if len(x.v) != len(dy.v) {
		return nil, fmt.Errorf("InstanceNormalization %q: input %v does not match output %v", n.Name, x.shape, dy.shape)
	}
	eps := attrFloat(n, "epsilon", 1e-5)
	e.xhat = make([]float64, len(x.v))
	P := e.p
	for q := 0; q < len(x.v)/P; q++ {
		row := x.v[q*P : (q+1)*P]
		mu := 0.0
		for _, v := range row {
			mu += v
		}
		mu /= float64(P)
		vr := 0.0
		for _, v := range row {
			vr += (v - mu) * (v - mu)
		}
		inv := 1 / math.Sqrt(vr/float64(P)+eps)
		for j, v := range row {
			e.xhat[q*P+j] = (v - mu) * inv
		}
	}
	return e, nil
}

// MethodGemmRows: Gemm whose A holds several rows per sample (the batch
// merged into the rows, [T·B, K]): g_i = α Σ_t a_{i,t} δ_{i,t}ᵀ.
const MethodGemmRows = "gemm-rows"

// movedBatch decides the parameters whose uses read values that the
// executor holds with the batch off axis 0 (PyTorch's sequence-first
// attention): MatMul, Gemm and elementwise uses are expanded on plain
// [batch, …] copies of those values (plainViews); any other use takes the
// fallback, whose reason this returns.
func (e *Engine) movedBatch(a *analysis, pl *paramPlan) string {
	for _, u := range pl.uses {
		vals := []string{u.node.Outputs[0]}
		for _, in := range u.node.Inputs {
			if in != "" && a.dep[in] {
				vals = append(vals, in)
			}
		}
		var moved []string
		for _, v := range vals {
			if _, _, m := e.main.BatchLayout(v); m {
				moved = append(moved, v)
			} else if !e.main.BatchLeading(v) {
				return fmt.Sprintf("%s %q: the executor does not hold %q as [batch, …]", u.node.OpType, u.node.Name, v)
			}
		}
		if len(moved) == 0 {
			continue
		}
		switch u.method {
		case MethodMatMul, MethodBinary, MethodBias, MethodExpand:
		case MethodGemm:
			u.method = MethodGemmRows
		default:
			return fmt.Sprintf("%s %q: the batch is not the leading axis of %q (attention exported sequence-first)", u.node.OpType, u.node.Name, moved[0])
		}
		if e.moved == nil {
			e.moved = map[string]bool{}
		}
		for _, v := range moved {
			e.moved[v] = true
		}
	}
	var ms []string
	for _, u := range pl.uses {
		if !slices.Contains(ms, u.method) {
			ms = append(ms, u.method)
		}
	}
	if len(ms) > 0 {
		pl.info.Method = strings.Join(ms, "+")
	}
	return ""
}

// plainViews puts plain [batch, …] copies of the moved values of this pass
// into its caches, so that the expansions, which read samples as rows,
// see them as they expect: the value's batch factor moved to a new leading
// axis, the elements of each sample in their order.
func (e *Engine) plainViews(ps *pass) error {
	for name := range e.moved {
		axis, inner, moved := ps.net.BatchLayout(name)
		if s, v, ok := ps.net.Value(name); ok {
			p, err := plainOf(name, s, v, axis, inner, moved, ps.batch)
			if err != nil {
				return err
			}
			ps.vals[name] = p
		}
		if s, v, ok := ps.net.Deriv(name); ok {
			p, err := plainOf(name, s, v, axis, inner, moved, ps.batch)
			if err != nil {
				return err
			}
			ps.ders[name] = p
		}
	}
	return nil
}

// plainOf reorders a value of shape s whose batch index is
// (idx[axis]/inner) mod B into [B, s[:axis]…, s[axis]/B, s[axis+1:]…]; an
// unmoved value of a batch-1 net becomes [1, s…].
func plainOf(name string, s []int, v []float64, axis, inner int, moved bool, B int) (arr, error) {
	if !moved {
		if B != 1 && (len(s) == 0 || s[0] != B) {
			return arr{}, fmt.Errorf("value %q of shape %v: batch %d is not its leading axis", name, s, B)
		}
		if B == 1 && (len(s) == 0 || s[0] != 1) {
			return arr{shape: append([]int{1}, s...), v: v}, nil
		}
		return arr{shape: s, v: v}, nil
	}
	if axis >= len(s) || s[axis]%(inner*B) != 0 {
		return arr{}, fmt.Errorf("value %q of shape %v: no batch %d at axis %d (inner %d)", name, s, B, axis, inner)
	}
	pre, post := prod(s[:axis]), prod(s[axis+1:])
	outer := s[axis] / (inner * B)
	per := pre * outer * inner * post // elements per sample
	r := make([]float64, len(v))
	for p := 0; p < pre; p++ {
		for o := 0; o < outer; o++ {
			for b := 0; b < B; b++ {
				for q := 0; q < inner; q++ {
					src := ((p*s[axis] + (o*B+b)*inner + q) * post)
					dst := b*per + (p*outer*inner+o*inner+q)*post
					copy(r[dst:dst+post], v[src:src+post])
				}
			}
		}
	}
	shape := append([]int{B}, s[:axis]...)
	shape = append(shape, s[axis]/B)
	shape = append(shape, s[axis+1:]...)
	return arr{shape: shape, v: r}, nil
}

// newGemmRows: Gemm with P rows of A per sample (A plain [B, P, K]):
// g_i = α A_iᵀ δ_i ([K, N]; its transpose with transB).
func newGemmRows[T float](ps *pass, u *use) (*mmExp[T], error) {
	n := u.node
	a, err := ps.value(n.Inputs[0])
	if err != nil {
		return nil, err
	}
	dy, err := ps.deriv(n.Outputs[0])
	if err != nil {
		return nil, err
	}
	ws, err := ps.shape(u.input)
	if err != nil {
		return nil, err
	}
	if len(a.shape) != 3 || len(dy.shape) != 3 || a.shape[0] != ps.batch || dy.shape[1] != a.shape[1] || len(ws) != 2 {
		return nil, fmt.Errorf("Gemm %q: A %v, B %v, Y %v: not rows per sample", n.Name, a.shape, ws, dy.shape)
	}
	P, K, N := a.shape[1], a.shape[2], dy.shape[2]
	if prod(ws) != K*N {
		return nil, fmt.Errorf("Gemm %q: B %v for A %v and Y %v", n.Name, ws, a.shape, dy.shape)
	}
	e := &mmExp[T]{groups: 1, rows: K, cols: N, p: P, alpha: attrFloat(n, "alpha", 1)}
	left, right, lc, rc := a.v, dy.v, K, N
	if attrInt(n, "transB", 0) != 0 {
		e.rows, e.cols = N, K
		left, right, lc, rc = dy.v, a.v, N, K
	}
	e.fill = func(i int, L, R []T) {
		transposeInto(L, left[i*P*lc:(i+1)*P*lc], P, lc)
		for k, v := range right[i*P*rc : (i+1)*P*rc] {
			R[k] = T(v)
		}
	}
	return e, nil
}

// constGather reports whether n is a Gather whose indices are a constant
// (an integer initializer or a Constant node): a parameter gathered by it
// (a relative-position bias table, position embeddings indexed by a fixed
// buffer) reaches its layer elementwise, many-to-one.
func (a *analysis) constGather(n *ir.Node) bool {
	if n.OpType != "Gather" || len(n.Inputs) != 2 {
		return false
	}
	_, _, ok := a.constInts(n.Inputs[1])
	return ok
}

// constInts returns the values and shape of an integer constant.
func (a *analysis) constInts(name string) ([]int64, []int, bool) {
	if t, ok := a.m.Initializers[name]; ok && t.I64 != nil || ok && t.Len() == 0 {
		s := make([]int, len(t.Dims))
		for k, d := range t.Dims {
			s[k] = int(d)
		}
		return t.I64, s, t.Type != ir.Float && t.Type != ir.Double
	}
	for _, n := range a.m.Nodes {
		if n.OpType == "Identity" && len(n.Outputs) == 1 && n.Outputs[0] == name && len(n.Inputs) == 1 {
			return a.constInts(n.Inputs[0]) // torch's exporter shares equal buffers through Identity
		}
		if n.OpType == "Constant" && len(n.Outputs) == 1 && n.Outputs[0] == name {
			if at, ok := n.Attrs["value"]; ok && at.Tensor != nil && at.Tensor.Type != ir.Float && at.Tensor.Type != ir.Double {
				s := make([]int, len(at.Tensor.Dims))
				for k, d := range at.Tensor.Dims {
					s[k] = int(d)
				}
				return at.Tensor.I64, s, true
			}
			if at, ok := n.Attrs["value_ints"]; ok {
				return at.Ints, []int{len(at.Ints)}, true
			}
			if at, ok := n.Attrs["value_int"]; ok {
				return []int64{at.Int}, []int{}, true
			}
		}
	}
	return nil, nil, false
}

// throughSrc carries the map value index → parameter index (src; built
// from vidx, parameter → value index, when the first Gather is passed)
// through a copy operator or a Gather with constant indices.
func (a *analysis) throughSrc(n *ir.Node, in string, vidx, src []int32) ([]int32, error) {
	s, ok := a.shape(in)
	if !ok {
		return nil, fmt.Errorf("%s %q: the shape of its input %q is not known", n.OpType, n.Name, in)
	}
	if src == nil {
		src = make([]int32, prod(s))
		for j := range src {
			src[j] = int32(j)
		}
		for j, v := range vidx {
			src[v] = int32(j)
		}
	}
	switch n.OpType {
	case "Gather":
		idx, is, _ := a.constInts(n.Inputs[1])
		axis := int(attrInt(n, "axis", 0))
		if axis < 0 {
			axis += len(s)
		}
		if axis < 0 || axis >= len(s) || len(idx) != prod(is) {
			return nil, fmt.Errorf("Gather %q: axis %d of %v", n.Name, axis, s)
		}
		outer, dim, inner := prod(s[:axis]), s[axis], prod(s[axis+1:])
		r := make([]int32, 0, outer*len(idx)*inner)
		for o := 0; o < outer; o++ {
			for _, j := range idx {
				if j < 0 {
					j += int64(dim)
				}
				if j < 0 || j >= int64(dim) {
					return nil, fmt.Errorf("Gather %q: index %d out of range", n.Name, j)
				}
				base := (o*dim + int(j)) * inner
				r = append(r, src[base:base+inner]...)
			}
		}
		return r, nil
	case "Transpose":
		tvidx, err := a.through(n, in, nil)
		if err != nil {
			return nil, err
		}
		r := make([]int32, len(src))
		for k, o := range tvidx { // input index k lands at output index o
			r[o] = src[k]
		}
		return r, nil
	}
	return src, nil // Reshape, Flatten, Identity, Squeeze, Unsqueeze, Dropout
}
