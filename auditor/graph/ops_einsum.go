package graph

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/gnaudit/gnaudit/auditor/ir"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Einsum with one or two operands, lowered to index maps and one batched
// matrix product. Each operand is first mapped onto a matrix stack — its
// letters sorted into batch (in both operands and the output), free (in
// this operand and the output) and contracted (in both operands, not the
// output) groups; letters of this operand only that the output lacks are
// summed on the way, repeated letters (a diagonal, "ii->i") select the
// diagonal — then C[b] = A'[b]·B'[b] runs through the BLAS gemm and C is
// permuted into the output. Every step is linear, so the gradient of an
// operand is the transposed chain: gemm of the output gradient with the
// other operand's matrix stack, scattered back through the index map. An
// ellipsis stands for the same dimensions in every operand that has one
// (no broadcasting of size-1 dimensions); the output's letters must be
// distinct and each appear in an operand.

// einPlan is a parsed equation for given operand shapes.
type einPlan struct {
	eq     string
	ins    [][]byte // the letters of each operand (ellipsis expanded)
	out    []byte
	shape  []int // output shape
	dims   map[byte]int
	nb     int // product of the batch letters
	m, k   int // A' is [nb, m, k]
	n      int // B' is [nb, k, n]
	prep   [2][]int32
	ident  [2]bool // prep is the identity (the operand is already the stack)
	outMap []int32 // C [nb, m, n] flat index → output flat index
	outID  bool
	// batch, free letters of A and B, contracted letters
	batch, fa, fb, con []byte
}

// parseEinsum parses equation eq for operands of the given shapes.
func parseEinsum(eq string, shapes [][]int) (*einPlan, error) {
	p := &einPlan{eq: eq, dims: map[byte]int{}}
	s := strings.ReplaceAll(eq, " ", "")
	lhs, rhs, explicit := strings.Cut(s, "->")
	terms := strings.Split(lhs, ",")
	if len(terms) != len(shapes) {
		return nil, fmt.Errorf("equation %q has %d operands, the node %d inputs", eq, len(terms), len(shapes))
	}
	if len(terms) < 1 || len(terms) > 2 {
		return nil, fmt.Errorf("equation %q: only one or two operands are supported", eq)
	}
	// the letters an ellipsis stands for: unused upper-case letters
	used := map[byte]bool{}
	for _, c := range []byte(s) {
		used[c] = true
	}
	var ell []byte
	ellRank := -1
	expand := func(t string, rank int) ([]byte, error) {
		head, tail, has := strings.Cut(t, "...")
		if strings.Contains(tail, "...") || strings.Contains(head+tail, ".") {
			return nil, fmt.Errorf("equation %q: malformed ellipsis in %q", eq, t)
		}
		if !has {
			return []byte(t), nil
		}
		r := rank - len(head) - len(tail)
		if rank < 0 {
			r = ellRank // the output
		}
		if r < 0 || (ellRank >= 0 && r != ellRank) {
			return nil, fmt.Errorf("equation %q: the ellipsis stands for different ranks (broadcasting is not supported)", eq)
		}
		if ellRank < 0 {
			ellRank = r
			for c := byte('Z'); len(ell) < r; c-- {
				if c < 'A' {
					return nil, fmt.Errorf("equation %q: no letters left for the ellipsis", eq)
				}
				if !used[c] {
					ell = append([]byte{c}, ell...)
				}
			}
		}
		return append(append(append([]byte{}, head...), ell...), tail...), nil
	}
	count := map[byte]int{}
	for k, t := range terms {
		l, err := expand(t, len(shapes[k]))
		if err != nil {
			return nil, err
		}
		if len(l) != len(shapes[k]) {
			return nil, fmt.Errorf("equation %q: operand %d has %d subscripts for rank %d", eq, k, len(l), len(shapes[k]))
		}
		for d, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				return nil, fmt.Errorf("equation %q: subscript %q is not a letter", eq, c)
			}
			if old, ok := p.dims[c]; ok && old != shapes[k][d] {
				return nil, fmt.Errorf("equation %q: letter %c is %d and %d (broadcasting is not supported)", eq, c, old, shapes[k][d])
			}
			p.dims[c] = shapes[k][d]
			count[c]++
		}
		p.ins = append(p.ins, l)
	}
	if explicit {
		o, err := expand(rhs, -1)
		if err != nil {
			return nil, err
		}
		p.out = o
	} else {
		// implicit output: the ellipsis, then the letters used once, sorted
		p.out = append(p.out, ell...)
		var once []byte
		for c, n := range count {
			if n == 1 && !slices.Contains(ell, c) {
				once = append(once, c)
			}
		}
		sort.Slice(once, func(i, j int) bool { return once[i] < once[j] })
		p.out = append(p.out, once...)
	}
	for k, c := range p.out {
		if _, ok := p.dims[c]; !ok {
			return nil, fmt.Errorf("equation %q: output letter %c is in no operand", eq, c)
		}
		if slices.Contains(p.out[:k], c) {
			return nil, fmt.Errorf("equation %q: output letter %c repeated", eq, c)
		}
		p.shape = append(p.shape, p.dims[c])
	}
	p.group()
	return p, nil
}

// group sorts the letters and builds the index maps.
func (p *einPlan) group() {
	inA := func(c byte) bool { return slices.Contains(p.ins[0], c) }
	inB := func(c byte) bool { return len(p.ins) > 1 && slices.Contains(p.ins[1], c) }
	for _, c := range p.out {
		switch {
		case inA(c) && inB(c):
			p.batch = append(p.batch, c)
		case inA(c):
			p.fa = append(p.fa, c)
		default:
			p.fb = append(p.fb, c)
		}
	}
	for _, c := range p.ins[0] {
		if inB(c) && !slices.Contains(p.out, c) && !slices.Contains(p.con, c) {
			p.con = append(p.con, c)
		}
	}
	size := func(ls []byte) int {
		r := 1
		for _, c := range ls {
			r *= p.dims[c]
		}
		return r
	}
	p.nb, p.m, p.k, p.n = size(p.batch), size(p.fa), size(p.con), size(p.fb)
	cat := func(ls ...[]byte) []byte {
		var r []byte
		for _, l := range ls {
			r = append(r, l...)
		}
		return r
	}
	if len(p.ins) == 1 {
		p.prep[0], p.ident[0] = p.indexMap(p.ins[0], p.out)
		return
	}
	p.prep[0], p.ident[0] = p.indexMap(p.ins[0], cat(p.batch, p.fa, p.con))
	p.prep[1], p.ident[1] = p.indexMap(p.ins[1], cat(p.batch, p.con, p.fb))
	// C [batch, fa, fb] → output order
	c := cat(p.batch, p.fa, p.fb)
	cs := make([]int, len(c))
	for k, l := range c {
		cs[k] = p.dims[l]
	}
	m, _ := p.indexMapShape(c, cs, p.out)
	p.outMap, p.outID = m, isIdentity(m)
}

// indexMap maps each element of an operand with letters ls to its index in
// an array with letters target (row-major); −1 for elements off a
// repeated letter's diagonal. Letters not in target are summed.
func (p *einPlan) indexMap(ls, target []byte) ([]int32, bool) {
	s := make([]int, len(ls))
	for k, c := range ls {
		s[k] = p.dims[c]
	}
	m, diag := p.indexMapShape(ls, s, target)
	return m, !diag && len(ls) == len(target) && isIdentity(m)
}

func (p *einPlan) indexMapShape(ls []byte, s []int, target []byte) ([]int32, bool) {
	stride := map[byte]int{}
	st := 1
	for k := len(target) - 1; k >= 0; k-- {
		stride[target[k]] = st
		st *= p.dims[target[k]]
	}
	diag := false
	first := map[byte]int{} // first axis of each letter
	for d, c := range ls {
		if _, ok := first[c]; ok {
			diag = true
		} else {
			first[c] = d
		}
	}
	n := prod(s)
	m := make([]int32, n)
	idx := make([]int, len(s))
	for e := 0; e < n; e++ {
		off := 0
		for d, c := range ls {
			if f := first[c]; f != d {
				if idx[f] != idx[d] {
					off = -1
					break
				}
				continue
			}
			off += idx[d] * stride[c]
		}
		m[e] = int32(off)
		for d := len(s) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < s[d] {
				break
			}
			idx[d] = 0
		}
	}
	return m, diag
}

func isIdentity(m []int32) bool {
	for k, v := range m {
		if int(v) != k {
			return false
		}
	}
	return true
}

// stack maps operand k onto its matrix stack (size elements).
func einStack[T float](p *einPlan, k int, x []T, size int) []T {
	if p.ident[k] {
		return x
	}
	r := make([]T, size)
	for e, j := range p.prep[k] {
		if j >= 0 {
			r[j] += x[e]
		}
	}
	return r
}

// einUnstack is the adjoint of einStack: dx[e] = ds[prep[e]].
func einUnstack[T float](p *einPlan, k int, dx, ds []T) {
	if p.ident[k] {
		copy(dx, ds)
		return
	}
	for e, j := range p.prep[k] {
		if j >= 0 {
			dx[e] = ds[j]
		} else {
			dx[e] = 0
		}
	}
}

// einFwd computes the output r of the equation on the operands in.
func einFwd[T float](p *einPlan, r []T, in [][]T) {
	if len(in) == 1 {
		clear(r)
		for e, j := range p.prep[0] {
			if j >= 0 {
				r[j] += in[0][e]
			}
		}
		return
	}
	a := einStack(p, 0, in[0], p.nb*p.m*p.k)
	b := einStack(p, 1, in[1], p.nb*p.k*p.n)
	c := r
	if !p.outID {
		c = make([]T, p.nb*p.m*p.n)
	}
	for i := 0; i < p.nb; i++ {
		gemm(false, false, p.m, p.n, p.k, 1, a[i*p.m*p.k:], max(p.k, 1), b[i*p.k*p.n:], max(p.n, 1), 0, c[i*p.m*p.n:], max(p.n, 1))
	}
	if !p.outID {
		for e, j := range p.outMap {
			r[j] = c[e]
		}
	}
}

// einGrad computes the gradient dx of operand side from the operands in
// and the output gradient g.
func einGrad[T float](p *einPlan, side int, dx []T, in [][]T, g []T) {
	if len(in) == 1 {
		for e, j := range p.prep[0] {
			if j >= 0 {
				dx[e] = g[j]
			} else {
				dx[e] = 0
			}
		}
		return
	}
	gc := g
	if !p.outID {
		gc = make([]T, p.nb*p.m*p.n)
		for e, j := range p.outMap {
			gc[e] = g[j]
		}
	}
	ld := func(v int) int { return max(v, 1) }
	if side == 0 {
		b := einStack(p, 1, in[1], p.nb*p.k*p.n)
		da := make([]T, p.nb*p.m*p.k)
		for i := 0; i < p.nb; i++ {
			// dA'[m, k] = dC[m, n] · B'[k, n]ᵀ
			gemm(false, true, p.m, p.k, p.n, 1, gc[i*p.m*p.n:], ld(p.n), b[i*p.k*p.n:], ld(p.n), 0, da[i*p.m*p.k:], ld(p.k))
		}
		einUnstack(p, 0, dx, da)
		return
	}
	a := einStack(p, 0, in[0], p.nb*p.m*p.k)
	db := make([]T, p.nb*p.k*p.n)
	for i := 0; i < p.nb; i++ {
		// dB'[k, n] = A'[m, k]ᵀ · dC[m, n]
		gemm(true, false, p.k, p.n, p.m, 1, a[i*p.m*p.k:], ld(p.k), gc[i*p.m*p.n:], ld(p.n), 0, db[i*p.k*p.n:], ld(p.n))
	}
	einUnstack(p, 1, dx, db)
}

// Einsum evaluates an Einsum equation on one or two float64 operands (the
// executor's own lowering; used by the per-sample expansion). It returns
// the output and its shape.
func Einsum(eq string, operands [][]float64, shapes [][]int) ([]float64, []int, error) {
	p, err := parseEinsum(eq, shapes)
	if err != nil {
		return nil, nil, err
	}
	for k, s := range shapes {
		if prod(s) != len(operands[k]) {
			return nil, nil, fmt.Errorf("einsum %q: operand %d has %d elements for shape %v", eq, k, len(operands[k]), s)
		}
	}
	r := make([]float64, prod(p.shape))
	einFwd(p, r, operands)
	return r, p.shape, nil
}

// einsum builds Einsum on graph values. With the batch tracked, every
// operand that depends on the batch must carry it as its first letter,
// the output must start with that letter, and no other operand may use it.
func (b *builder[T]) einsum(n *ir.Node) error {
	if len(n.Inputs) < 1 || len(n.Inputs) > 2 {
		return b.errNode(n, "Einsum with %d operands is not supported (one or two)", len(n.Inputs))
	}
	eq := attrString(n, "equation", "")
	ins := make([]*gval, len(n.Inputs))
	shapes := make([][]int, len(n.Inputs))
	for k := range n.Inputs {
		v, err := b.data(n, k)
		if err != nil {
			return err
		}
		ins[k], shapes[k] = v, v.shape
	}
	p, err := parseEinsum(eq, shapes)
	if err != nil {
		return b.errNode(n, "equation not supported: %v", err)
	}
	bl := false
	if b.track {
		var letter byte
		for k, v := range ins {
			if !v.bl {
				continue
			}
			c := p.ins[k][0]
			if letter != 0 && c != letter {
				return b.refuse(n, fmt.Sprintf("operands carry the batch under letters %c and %c of %q", letter, c, eq))
			}
			letter = c
			if strings.Count(string(p.ins[k]), string(c)) > 1 {
				return b.refuse(n, fmt.Sprintf("the batch letter %c is repeated in %q", c, eq))
			}
		}
		if letter != 0 {
			if p.out[0] != letter {
				return b.refuse(n, fmt.Sprintf("the output of %q does not start with the batch letter %c", eq, letter))
			}
			for k, v := range ins {
				if !v.bl && slices.Contains(p.ins[k], letter) {
					return b.refuse(n, fmt.Sprintf("operand %d of %q uses the batch letter %c but does not depend on the batch", k, eq, letter))
				}
			}
			bl = true
		}
	}
	gs := make([]tensor.Shape, len(ins))
	for k, s := range shapes {
		gs[k] = gshape(s)
	}
	gout := gshape(p.shape)
	o := newKop[T]("Einsum", n.Name, gs, gout, func(r []T, in [][]T) { einFwd(p, r, in) })
	o.diff = func(cs gorgonia.Nodes, outN, grad *gorgonia.Node) (gorgonia.Nodes, error) {
		res := make(gorgonia.Nodes, len(cs))
		children := append(append(gorgonia.Nodes{}, cs...), grad)
		shs := append(append([]tensor.Shape{}, gs...), gout)
		for k := range cs {
			if !o.wrt[k] {
				continue
			}
			side := k
			nd, err := apply(newKop[T](fmt.Sprintf("EinsumGrad%d", side), n.Name, shs, gs[side], func(r []T, in [][]T) {
				einGrad(p, side, r, in[:len(in)-1], in[len(in)-1])
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
	v.shape, v.bl = p.shape, bl
	b.set(n, 0, v)
	return nil
}

func init() {
	register(OpSpec{Op: "Einsum", Family: "nn", Since: 12, Attrs: []string{"equation"},
		Shape: "from the equation (letters of the output)", PerSample: RuleEinsum, Params: ParamSlots{Slots: []int{0, 1, 2}}, // a constant operand is a weight
		Note:  "one or two operands; ellipsis without broadcasting of size-1 dimensions",
		build: with((*builder[float32]).einsum, (*builder[float64]).einsum)})
}
