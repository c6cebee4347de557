package noise

import (
	"fmt"
	"math"
	"slices"
)

// Merge combines two sets collected from disjoint parts of the same
// collection: the same model, step, seed, configured pool, data, batch sizes,
// tested coordinates and — essential — the same centre (Mean and GradNormSq
// identical to the bit: every part was centred on ḡ of the whole pool, e.g.
// shards run with one collect.Centre). Then the per-sample sums S2, S3, S4,
// A3 and SumNormSq add, Pool adds, the mini-batch rows of each batch size
// are concatenated in row order, and TraceCov is recomputed as
// SumNormSq/Pool − GradNormSq (clamped at 0). The parts must not overlap:
// neither in pool positions (Collection.PoolRanges) nor in mini-batch rows
// (Collection.Rows). The result is complete (Partial false) when it covers
// the whole configured pool and every configured mini-batch; merging all the
// shards of a run gives, up to the rounding of the added sums, the set the
// run would have produced in one piece.
//
// Sets whose centre is their own mean (Collection.OwnCentre: a run stopped
// in its first pass) cannot be merged: their sums are around different means.
func Merge(a, b *Set) (*Set, error) {
	for _, s := range []*Set{a, b} {
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
		if s.Collection == nil {
			return nil, fmt.Errorf("merge: a set without collection information (model %q): cannot check that the parts are disjoint", s.Model)
		}
		if s.Collection.OwnCentre {
			return nil, fmt.Errorf("merge: a set centred on its own mean (%s) cannot be merged; rerun its part with the pool's centre", s.Collection.Reason)
		}
	}
	ca, cb := a.Collection, b.Collection
	switch {
	case a.Model != b.Model || a.Step != b.Step || a.Seed != b.Seed:
		return nil, fmt.Errorf("merge: different collections: model %q step %d seed %d vs model %q step %d seed %d", a.Model, a.Step, a.Seed, b.Model, b.Step, b.Seed)
	case !slices.Equal(a.BatchSizes, b.BatchSizes):
		return nil, fmt.Errorf("merge: batch sizes %v vs %v", a.BatchSizes, b.BatchSizes)
	case ca.PoolSize != cb.PoolSize || ca.BatchesPerSize != cb.BatchesPerSize || ca.DataSize != cb.DataSize ||
		ca.CoordsPerLayer != cb.CoordsPerLayer || ca.Data != cb.Data:
		return nil, fmt.Errorf("merge: different configurations: pool %d, %d batches, data %q (%d samples), %d coordinates per layer vs pool %d, %d batches, data %q (%d samples), %d coordinates per layer",
			ca.PoolSize, ca.BatchesPerSize, ca.Data, ca.DataSize, ca.CoordsPerLayer, cb.PoolSize, cb.BatchesPerSize, cb.Data, cb.DataSize, cb.CoordsPerLayer)
	case len(a.Layers) != len(b.Layers):
		return nil, fmt.Errorf("merge: %d vs %d layers", len(a.Layers), len(b.Layers))
	}
	for i := range a.Layers {
		la, lb := &a.Layers[i], &b.Layers[i]
		if la.Name != lb.Name || la.Parameter != lb.Parameter || la.Kind != lb.Kind || la.Size != lb.Size ||
			!slices.Equal(la.Shape, lb.Shape) || !slices.Equal(la.Coords, lb.Coords) {
			return nil, fmt.Errorf("merge: layer %d differs: %q (%s, %v, %d tested) vs %q (%s, %v, %d tested)",
				i, la.Parameter, la.Kind, la.Shape, len(la.Coords), lb.Parameter, lb.Kind, lb.Shape, len(lb.Coords))
		}
		if !bitsEqual(la.Mean, lb.Mean) || math.Float64bits(la.GradNormSq) != math.Float64bits(lb.GradNormSq) {
			return nil, fmt.Errorf("merge: layer %q: the parts have different centres ḡ (they must be collected with the same centre)", la.Parameter)
		}
		if !slices.Equal(la.Overlap, lb.Overlap) {
			return nil, fmt.Errorf("merge: layer %q: overlap flags %v vs %v", la.Parameter, la.Overlap, lb.Overlap)
		}
	}
	ra, rb := ranges(a), ranges(b)
	if lo, hi, ok := intersect(ra, rb); ok {
		return nil, fmt.Errorf("merge: the parts share pool positions [%d,%d) (pool ranges %v and %v)", lo, hi, ra, rb)
	}
	rowsA, rowsB := rows(a), rows(b)
	for k := range a.BatchSizes {
		if r, ok := common(rowsA[k], rowsB[k]); ok {
			return nil, fmt.Errorf("merge: the parts share mini-batch %d of batch size %d", r, a.BatchSizes[k])
		}
	}

	out := *a
	out.BatchSizes = slices.Clone(a.BatchSizes)
	out.Pool = a.Pool + b.Pool
	out.Batches = a.Batches + b.Batches
	col := *ca
	if col.Scheme != cb.Scheme {
		col.Scheme = "mixed"
	}
	col.PoolRanges = union(ra, rb)
	// order[k] lists (part, row within part) in ascending configured row.
	type src struct{ part, row int }
	order := make([][]src, len(a.BatchSizes))
	col.Rows = make([][]int, len(a.BatchSizes))
	for k := range a.BatchSizes {
		i, j := 0, 0
		for i < len(rowsA[k]) || j < len(rowsB[k]) {
			if j >= len(rowsB[k]) || (i < len(rowsA[k]) && rowsA[k][i] < rowsB[k][j]) {
				order[k] = append(order[k], src{0, i})
				col.Rows[k] = append(col.Rows[k], rowsA[k][i])
				i++
			} else {
				order[k] = append(order[k], src{1, j})
				col.Rows[k] = append(col.Rows[k], rowsB[k][j])
				j++
			}
		}
	}
	out.Partial = out.Pool < col.PoolSize || out.Batches < col.BatchesPerSize
	if out.Partial {
		col.Reason = fmt.Sprintf("merged parts: %d of %d pool samples, %d of %d mini-batches per batch size", out.Pool, col.PoolSize, out.Batches, col.BatchesPerSize)
	} else {
		col.Reason, col.PoolRanges, col.Rows = "", nil, nil
	}
	out.Collection = &col
	out.Layers = make([]Layer, len(a.Layers))
	for i := range a.Layers {
		la, lb := &a.Layers[i], &b.Layers[i]
		l := *la
		l.Shape, l.Coords, l.Overlap = slices.Clone(la.Shape), slices.Clone(la.Coords), slices.Clone(la.Overlap)
		l.Mean = slices.Clone(la.Mean)
		l.S2, l.S3, l.S4, l.A3 = add(la.S2, lb.S2), add(la.S3, lb.S3), add(la.S4, lb.S4), add(la.A3, lb.A3)
		l.SumNormSq = la.SumNormSq + lb.SumNormSq
		l.TraceCov = 0
		if out.Pool > 0 {
			l.TraceCov = max(0, l.SumNormSq/float64(out.Pool)-l.GradNormSq)
		}
		nc := len(l.Coords)
		l.MiniBatch = make([][]float32, len(a.BatchSizes))
		for k := range a.BatchSizes {
			m := make([]float32, 0, out.Batches*nc)
			for _, s := range order[k] {
				from := la.MiniBatch[k]
				if s.part == 1 {
					from = lb.MiniBatch[k]
				}
				m = append(m, from[s.row*nc:(s.row+1)*nc]...)
			}
			l.MiniBatch[k] = m
		}
		out.Layers[i] = l
	}
	return &out, nil
}

// bitsEqual compares two float64 slices bit for bit.
func bitsEqual(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

// add returns a + b elementwise.
func add(a, b []float64) []float64 {
	out := make([]float64, len(a))
	for i := range a {
		out[i] = a[i] + b[i]
	}
	return out
}

// ranges returns the pool ranges of s (all of [0, PoolSize) when nil).
func ranges(s *Set) [][2]int {
	if s.Collection.PoolRanges != nil {
		return s.Collection.PoolRanges
	}
	if s.Pool == 0 {
		return nil
	}
	return [][2]int{{0, s.Collection.PoolSize}}
}

// rows returns the configured row indices of s per batch size (0…Batches−1
// when nil).
func rows(s *Set) [][]int {
	if s.Collection.Rows != nil {
		return s.Collection.Rows
	}
	out := make([][]int, len(s.BatchSizes))
	for k := range out {
		out[k] = make([]int, s.Batches)
		for r := range out[k] {
			out[k][r] = r
		}
	}
	return out
}

// intersect reports a shared interval of two ascending interval lists.
func intersect(a, b [][2]int) (lo, hi int, ok bool) {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
		if lo < hi {
			return lo, hi, true
		}
		if a[i][1] < b[j][1] {
			i++
		} else {
			j++
		}
	}
	return 0, 0, false
}

// union merges two disjoint ascending interval lists, joining neighbours.
func union(a, b [][2]int) [][2]int {
	all := append(slices.Clone(a), b...)
	slices.SortFunc(all, func(x, y [2]int) int { return x[0] - y[0] })
	var out [][2]int
	for _, r := range all {
		if n := len(out); n > 0 && out[n-1][1] == r[0] {
			out[n-1][1] = r[1]
			continue
		}
		out = append(out, r)
	}
	return out
}

// common returns a value present in both ascending lists.
func common(a, b []int) (int, bool) {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			return a[i], true
		case a[i] < b[j]:
			i++
		default:
			j++
		}
	}
	return 0, false
}
