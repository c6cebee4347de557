package graph

import (
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"
)

// TestLossGradSkip checks Net.LossGradSkip: the loss and every gradient
// that is not left out are bit for bit LossGrad's, the left-out ones are
// not handed out (Grad, GradInto, GradView, Deriv), the next LossGrad
// computes them all again (equal to a net that never skipped), and nodes
// that cannot skip are refused with an error naming them.
func TestLossGradSkip(t *testing.T) {
	b := newModel(13, -1, 3, 6, 6)
	h := b.op("Conv", at("pads", ais(1, 1, 1, 1)), "x", b.param("c1.W", 0.4, true, 4, 3, 3, 3), b.param("c1.b", 0.1, true, 4))
	h = b.op("Relu", nil, h)
	h = b.op("Conv", at("strides", ais(2, 2)), h, b.param("c2.W", 0.4, true, 4, 4, 2, 2))
	shared := b.param("s.W", 0.4, true, 4, 4, 1, 1)
	h = b.op("Conv", nil, h, shared)
	h = b.op("Conv", nil, h, shared)
	h = b.op("Conv", nil, h, b.op("Identity", nil, b.param("c5.W", 0.4, true, 4, 4, 1, 1)))
	h = b.op("Flatten", at("axis", ai(1)), h)
	m := b.output(b.op("Gemm", at("transB", ai(1)), h, b.param("fc.W", 0.3, true, 5, 36)))
	var conv []string
	for _, nd := range m.Nodes {
		if nd.OpType == "Conv" {
			conv = append(conv, nd.Name)
		}
	}
	for _, f64 := range []bool{true, false} {
		t.Run(fmt.Sprintf("float64=%v", f64), func(t *testing.T) {
			const batch = 3
			skip, err := Build(m, Options{Batch: batch, Float64: f64})
			if err != nil {
				t.Fatal(err)
			}
			ref, err := Build(m, Options{Batch: batch, Float64: f64})
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewSource(1))
			x, y := randVec(rng, batch*3*6*6), []int{0, 4, 2}
			for _, c := range []struct {
				node string
				ok   bool
			}{{conv[0], true}, {conv[1], true}, {conv[2], false}, {conv[3], false}, {conv[4], false}, {"nope", false}} {
				if got := skip.CanSkipWeightGrad(c.node); got != c.ok {
					t.Errorf("CanSkipWeightGrad(%q) = %v, want %v", c.node, got, c.ok)
				}
				if !c.ok {
					if _, err := skip.LossGradSkip(x, y, []string{c.node}); err == nil || !strings.Contains(err.Error(), c.node) {
						t.Errorf("LossGradSkip(%q): error %v, want one naming the node", c.node, err)
					}
				}
			}
			want, err := ref.LossGrad(x, y)
			if err != nil {
				t.Fatal(err)
			}
			for round := 0; round < 2; round++ {
				loss, err := skip.LossGradSkip(x, y, conv[:2])
				if err != nil {
					t.Fatal(err)
				}
				if loss != want {
					t.Errorf("loss %v, LossGrad's %v", loss, want)
				}
				if s := skip.SkippedGrads(); !slices.Equal(s, []string{"c1.W", "c2.W"}) {
					t.Errorf("SkippedGrads = %v", s)
				}
				for _, p := range ref.Params() {
					g := skip.Grad(p.Name)
					_, d, ok := skip.Deriv(p.Name)
					if p.Name == "c1.W" || p.Name == "c2.W" {
						if g != nil || skip.GradInto(p.Name, nil) != nil || skip.GradView(p.Name) != nil || ok {
							t.Errorf("%s: a left-out gradient is handed out", p.Name)
						}
						continue
					}
					if w := ref.Grad(p.Name); !slices.Equal(g, w) || !slices.Equal(d, w) || len(w) == 0 {
						t.Errorf("%s: gradient differs from LossGrad's", p.Name)
					}
				}
				if _, err := skip.LossGrad(x, y); err != nil {
					t.Fatal(err)
				}
				if s := skip.SkippedGrads(); len(s) != 0 {
					t.Errorf("after LossGrad, SkippedGrads = %v", s)
				}
				for _, p := range ref.Params() {
					if g, w := skip.Grad(p.Name), ref.Grad(p.Name); !slices.Equal(g, w) {
						t.Errorf("%s: LossGrad after LossGradSkip differs", p.Name)
					}
				}
			}
		})
	}
}
