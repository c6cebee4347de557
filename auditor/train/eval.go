package train

import (
	"context"
	"fmt"
	"math"

	"github.com/gnaudit/gnaudit/auditor/data"
	"github.com/gnaudit/gnaudit/auditor/graph"
)

// Evaluate runs net forward over ds in batches of net.Batch() and returns
// the mean cross-entropy and the accuracy (a sample counts as correct when
// its label has the largest logit, the first one on ties). A last partial
// batch is padded with zeros and the padding rows are ignored (BatchNorm is
// in eval mode, so rows do not interact). ctx is checked between batches.
// The returned record's Step is 0.
func Evaluate(ctx context.Context, net *graph.Net, ds data.Dataset) (EvalRecord, error) {
	n := ds.Len()
	if n == 0 {
		return EvalRecord{}, fmt.Errorf("evaluate: data set %s is empty", ds.Name())
	}
	B, C := net.Batch(), net.Classes()
	in := append([]int{B}, net.InputShape()...)
	if err := ds.Check(in, C); err != nil {
		return EvalRecord{}, fmt.Errorf("evaluate: %w", err)
	}
	size := ds.Shape().Size()
	x := make([]float64, B*size)
	var (
		y     []int
		pos   = make([]int, 0, B)
		loss  float64
		right int
		err   error
	)
	for start := 0; start < n; start += B {
		if err := ctx.Err(); err != nil {
			return EvalRecord{}, fmt.Errorf("evaluate: %w", err)
		}
		rows := min(B, n-start)
		pos = pos[:0]
		for i := start; i < start+rows; i++ {
			pos = append(pos, i)
		}
		var xb []float64
		xb, y, err = ds.Batch(pos, x[:rows*size], y)
		if err != nil {
			return EvalRecord{}, fmt.Errorf("evaluate: %w", err)
		}
		if &xb[0] != &x[0] { // Batch reuses x (its capacity suffices); be safe
			copy(x, xb)
		}
		clear(x[rows*size:])
		logits, err := net.Forward(x)
		if err != nil {
			return EvalRecord{}, fmt.Errorf("evaluate: %s samples %d–%d: %w", ds.Name(), start, start+rows-1, err)
		}
		loss += sumCE(logits[:rows*C], y, C)
		right += correct(logits, y, C, rows)
	}
	r := EvalRecord{Loss: loss / float64(n), Acc: float64(right) / float64(n), Samples: n}
	if math.IsNaN(r.Loss) {
		return r, fmt.Errorf("evaluate: %s: the loss is NaN", ds.Name())
	}
	return r, nil
}

// correct counts the first rows rows of logits [·, C] whose largest logit
// (the first on ties) is the label.
func correct(logits []float64, labels []int, C, rows int) int {
	n := 0
	for r := 0; r < rows; r++ {
		row := logits[r*C : (r+1)*C]
		best := 0
		for c := 1; c < C; c++ {
			if row[c] > row[best] {
				best = c
			}
		}
		if best == labels[r] {
			n++
		}
	}
	return n
}

// sumCE is Σ_r (logsumexp(logits_r) − logits_r[label_r]).
func sumCE(logits []float64, labels []int, C int) float64 {
	s := 0.0
	for r, y := range labels {
		row := logits[r*C : (r+1)*C]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, v)
		}
		z := 0.0
		for _, v := range row {
			z += math.Exp(v - mx)
		}
		s += mx + math.Log(z) - row[y]
	}
	return s
}
