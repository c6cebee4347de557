package graph

import (
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/internal/approx"
)

// naiveEinsum is an independent reference: the sum over every assignment
// of all letters of the product of the operands' elements (explicit
// equations without ellipsis).
func naiveEinsum(eq string, ops [][]float64, shapes [][]int) ([]float64, []int) {
	lhs, rhs, _ := strings.Cut(strings.ReplaceAll(eq, " ", ""), "->")
	terms := strings.Split(lhs, ",")
	dims := map[rune]int{}
	var letters []rune
	for k, t := range terms {
		for d, c := range t {
			if _, ok := dims[c]; !ok {
				letters = append(letters, c)
			}
			dims[c] = shapes[k][d]
		}
	}
	var oshape []int
	for _, c := range rhs {
		oshape = append(oshape, dims[c])
	}
	out := make([]float64, prod(oshape))
	val := map[rune]int{}
	var rec func(i int)
	flat := func(t string, s []int) int {
		o := 0
		for d, c := range t {
			o = o*s[d] + val[c]
		}
		return o
	}
	rec = func(i int) {
		if i == len(letters) {
			p := 1.0
			for k, t := range terms {
				p *= ops[k][flat(t, shapes[k])]
			}
			out[flat(rhs, oshape)] += p
			return
		}
		for v := 0; v < dims[letters[i]]; v++ {
			val[letters[i]] = v
			rec(i + 1)
		}
	}
	rec(0)
	return out, oshape
}

// TestEinsumKnownAnswers compares the lowering with the naive sum on the
// attention / linear patterns, transposes, sums, traces and diagonals.
func TestEinsumKnownAnswers(t *testing.T) {
	cases := []struct {
		eq     string
		shapes [][]int
		ref    string // the explicit form for the reference ("" = eq)
	}{
		{"bhqd,bhkd->bhqk", [][]int{{2, 3, 4, 5}, {2, 3, 6, 5}}, ""},
		{"bhqk,bhkd->bhqd", [][]int{{2, 3, 4, 6}, {2, 3, 6, 5}}, ""},
		{"bij,bjk->bik", [][]int{{3, 2, 4}, {3, 4, 5}}, ""},
		{"bid,jd->bij", [][]int{{3, 4, 5}, {6, 5}}, ""},
		{"ij,jk->ik", [][]int{{3, 4}, {4, 2}}, ""},
		{"btd,hed->bhte", [][]int{{2, 3, 4}, {2, 5, 4}}, ""},
		{"bhqe,dhe->bqd", [][]int{{2, 3, 4, 5}, {6, 3, 5}}, ""},
		{"ij,kj", [][]int{{3, 4}, {2, 4}}, "ij,kj->ik"},
		{"i,i", [][]int{{5}, {5}}, "i,i->"},
		{"ij,j->i", [][]int{{3, 4}, {4}}, ""},
		{"ij,kl->ijkl", [][]int{{2, 3}, {2, 2}}, ""},
		{"iaj,jb->ib", [][]int{{3, 2, 4}, {4, 2}}, ""}, // a summed in A only
		{"ii,ij->j", [][]int{{3, 3}, {3, 4}}, ""},      // a diagonal inside a product
		{"ij->ji", [][]int{{3, 4}}, ""},
		{"ij->i", [][]int{{3, 4}}, ""},
		{"ii->i", [][]int{{4, 4}}, ""},
		{"ii->", [][]int{{4, 4}}, ""},
		{"bii->bi", [][]int{{2, 3, 3}}, ""},
		{"...ii->...i", [][]int{{2, 3, 3}}, "bii->bi"},
		{"b...,b...->b", [][]int{{2, 3, 4}, {2, 3, 4}}, "bxy,bxy->b"},
		{"bij, bjk -> bik", [][]int{{2, 2, 3}, {2, 3, 2}}, "bij,bjk->bik"},
	}
	rng := rand.New(rand.NewSource(3))
	for _, c := range cases {
		t.Run(c.eq, func(t *testing.T) {
			ops := make([][]float64, len(c.shapes))
			for k, s := range c.shapes {
				ops[k] = randVec(rng, prod(s))
			}
			got, gs, err := Einsum(c.eq, ops, c.shapes)
			if err != nil {
				t.Fatal(err)
			}
			ref := c.ref
			if ref == "" {
				ref = c.eq
			}
			want, ws := naiveEinsum(ref, ops, c.shapes)
			if !slices.Equal(gs, ws) {
				t.Fatalf("shape %v, want %v", gs, ws)
			}
			for k := range want {
				if !approx.Within(t, fmt.Sprintf("[%d]", k), got[k], want[k], approx.Float64, approx.Float64) {
					t.FailNow()
				}
			}
		})
	}
}

// TestEinsumUnsupported: equations outside the lowering are errors that
// name the node and the equation.
func TestEinsumUnsupported(t *testing.T) {
	for _, c := range []struct{ eq, want string }{
		{"bij,jk->bikz", "output letter z is in no operand"},
		{"bij,jk->bii", "output letter i repeated"},
		{"bij,jk,kl->bl", "has 3 operands, the node 2 inputs"},
		{"bi1,ij->bj", "is not a letter"},
	} {
		b := newModel(12, -1, 3, 4)
		y := b.op("Einsum", at("equation", astr(c.eq)), "x", b.param("w", 1, true, 4, 5))
		_, err := Build(b.output(b.op("Flatten", nil, y)), Options{Batch: 2})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "(Einsum, opset 12)") {
			t.Errorf("%q: error %v, want %q naming the node", c.eq, err, c.want)
		}
	}
	// three operands
	b := newModel(12, -1, 4)
	y := b.op("Einsum", at("equation", astr("bi,ij,jk->bk")), "x", b.param("w", 1, true, 4, 4), b.param("v", 1, true, 4, 3))
	if _, err := Build(b.output(y), Options{Batch: 2}); err == nil || !strings.Contains(err.Error(), "one or two") {
		t.Errorf("three operands: error %v", err)
	}
	// the batch letter summed away or used by a weight
	for _, c := range []struct{ eq, want string }{
		{"bi,ij->j", "does not start with the batch letter"},
		{"bi,bj->ij", "does not start with the batch letter"},
	} {
		b := newModel(12, -1, 4)
		w := b.param("w", 1, true, 4, 4)
		if strings.HasPrefix(c.eq, "bi,bj") {
			w = "x"
		}
		y := b.op("Einsum", at("equation", astr(c.eq)), "x", w)
		if _, err := Build(b.output(b.op("Flatten", nil, y)), Options{Batch: 4}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.eq, err, c.want)
		}
	}
}

// einsumAttention: x [B, 3, 4]; q, k by "btd,ed->bte" with trainable
// weights, scores "bqe,bke->bqk", Softmax, "bqk,bkd->bqd" with x, a
// head-split weight "btd,hed->bhte" and its merge "bhte,dhe->btd", then
// Flatten → Gemm.
func einsumAttention() *ir.Model {
	b := newModel(12, -1, 3, 4)
	eq := func(e string, ins ...string) string { return b.op("Einsum", at("equation", astr(e)), ins...) }
	q := eq("btd,ed->bte", "x", b.param("wq", 0.6, true, 4, 4))
	k := eq("btd,ed->bte", "x", b.param("wk", 0.6, true, 4, 4))
	a := b.op("Softmax", at("axis", ai(-1)), eq("bqe,bke->bqk", q, k))
	o := eq("bqk,bkd->bqd", a, "x")
	h := eq("btd,hed->bhte", o, b.param("wh", 0.6, true, 2, 3, 4))
	y := eq("bhte,dhe->btd", h, b.param("wo", 0.6, true, 4, 2, 3))
	f := b.op("Flatten", nil, b.op("Tanh", nil, y))
	return b.output(b.op("Gemm", at("transB", ai(1)), f, b.param("fc", 0.5, true, 3, 12)))
}

// TestFDEinsum: input and weight gradients of the attention and linear
// patterns, and of one-operand equations (diagonal, sum, transpose),
// against central finite differences in float64.
func TestFDEinsum(t *testing.T) {
	cases := []fdCase{
		{"attention", 3, einsumAttention},
		{"bid,jd->bij", 2, func() *ir.Model {
			b := newModel(12, -1, 3, 4)
			y := b.op("Einsum", at("equation", astr("bid,jd->bij")), "x", b.param("w", 0.7, true, 5, 4))
			return b.output(b.op("Flatten", nil, y))
		}},
		{"weight_first", 2, func() *ir.Model {
			b := newModel(12, -1, 3, 4)
			y := b.op("Einsum", at("equation", astr("jd,bid->bji")), b.param("w", 0.7, true, 2, 4), "x")
			return b.output(b.op("Flatten", nil, y))
		}},
		{"diag_and_summed_letter_in_products", 2, func() *ir.Model {
			b := newModel(12, -1, 3, 3)
			h := b.op("Mul", nil, "x", b.param("p", 1, true, 3, 3))
			d := b.op("Einsum", at("equation", astr("bii,bij->bj")), h, "x")
			s := b.op("Einsum", at("equation", astr("baj,jk->bk")), h, b.param("w", 0.7, true, 3, 2))
			f := b.op("Concat", at("axis", ai(1)), d, s)
			return b.output(b.op("Gemm", at("transB", ai(1)), f, b.param("fc", 0.5, true, 3, 5)))
		}},
		{"diag_sum_transpose", 2, func() *ir.Model {
			b := newModel(12, -1, 3, 3)
			h := b.op("Mul", nil, "x", b.param("p", 1, true, 3, 3))
			d := b.op("Einsum", at("equation", astr("bii->bi")), h)
			s := b.op("Einsum", at("equation", astr("bij->bj")), h)
			tr := b.op("Einsum", at("equation", astr("bij->bji")), h)
			f := b.op("Concat", at("axis", ai(1)), d, s, b.op("Flatten", nil, tr))
			return b.output(b.op("Gemm", at("transB", ai(1)), f, b.param("w", 0.5, true, 3, 15)))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fdCheck(t, c.build(), c.batch, 12)
		})
	}
}
