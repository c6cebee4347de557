package persample

import (
	"fmt"
	"math"
)

// Per-sample rules of the transformer-era layers: LayerNormalization scale
// and bias, an embedding table read by Gather with per-sample token ids,
// and a parameter broadcast to the batch by Expand (a class token).
const (
	MethodLayerNorm = "layernorm" // LayerNormalization scale (Σ δ x̂) and bias (Σ δ) over the sample's rows
	MethodEmbedding = "embedding" // Gather table: row ids[i, t] += δ_i[t]
	MethodExpand    = "broadcast" // Expand of a parameter: δ_i summed over the broadcast axes
)

// classifyExt decides the method of a use by one of the operators of this
// file; ok is false for any other operator.
func (a *analysis) classifyExt(u *use) (why string, ok bool) {
	n, slot := u.node, u.slot
	dep := func(k int) bool { return k < len(n.Inputs) && n.Inputs[k] != "" && a.dep[n.Inputs[k]] }
	switch n.OpType {
	case "LayerNormalization":
		if !dep(0) {
			return "its data input does not depend on the sample", true
		}
		if dep(1) || dep(2) {
			return "its scale or bias depends on the sample", true
		}
		if slot != 1 && slot != 2 {
			return "not a scale or bias slot", true
		}
		for _, o := range n.Outputs[1:] {
			if o != "" && a.reach[o] {
				return "the Mean or InvStdDev output is used", true
			}
		}
		u.method = MethodLayerNorm
	case "InstanceNormalization":
		if !dep(0) || dep(1) || dep(2) {
			return "only InstanceNormalization of sample data with fixed scale and bias is expanded", true
		}
		if slot != 1 && slot != 2 {
			return "not a scale or bias slot", true
		}
		u.method = MethodLayerNorm
	case "Gather":
		if slot != 0 || !dep(1) || dep(0) {
			return "only Gather of a parameter table with per-sample ids is expanded", true
		}
		if attrInt(n, "axis", 0) != 0 {
			return "only Gather along axis 0 (an embedding) is expanded", true
		}
		u.method = MethodEmbedding
	case "Expand":
		if slot != 0 || dep(0) {
			return "only Expand of a parameter is expanded", true
		}
		u.method = MethodExpand
	default:
		return "", false
	}
	return "", true
}

// newExt builds the expansion of a use by a method of this file.
func newExt(ps *pass, u *use) (elemExp, error) {
	switch u.method {
	case MethodLayerNorm:
		return newLayerNorm(ps, u)
	case MethodEmbedding:
		return newEmbedding(ps, u)
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
