package collect

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/gnaudit/gnaudit/auditor/noise"
)

// Segments are the per-sample moment sums of a shard, one segment per
// mini-batch row r: the sums over the pool positions of row r's span
// [⌊rN/n⌋, ⌊(r+1)N/n⌋). Every collection sums the moments segment by
// segment and then adds the segments in row order; a shard holds whole
// spans, so adding the segments of all shards in row order (MergeSegments)
// repeats the whole run's additions exactly, where adding the shards' totals
// (noise.Merge) would round differently.
type Segments struct {
	// Columns is T, the tested coordinates of all layers (layer after
	// layer, as in the set).
	Columns int `json:"columns"`
	// Rows lists the rows whose (non-empty) segments are held, ascending.
	Rows []int `json:"rows"`
	// S2, S3, S4 and A3 are len(Rows) × Columns, row-major.
	S2, S3, S4, A3 []float64 `json:"-"`
	index          []int     // row − first → index into Rows (−1: empty span)
	first          int
}

// newSegments allocates the segments of the run's rows.
func (r *run) newSegments() *Segments {
	lay := &r.lay
	sg := &Segments{Columns: r.T, first: lay.r0, index: make([]int, lay.r1-lay.r0)}
	for row := lay.r0; row < lay.r1; row++ {
		sg.index[row-lay.r0] = -1
		if rowStart(row+1, r.cfg.Pool, r.cfg.Batches) > rowStart(row, r.cfg.Pool, r.cfg.Batches) {
			sg.index[row-lay.r0] = len(sg.Rows)
			sg.Rows = append(sg.Rows, row)
		}
	}
	n := len(sg.Rows) * r.T
	sg.S2, sg.S3, sg.S4, sg.A3 = make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	return sg
}

// record copies columns [c0, c1) of a finished segment of row sr.
func (sg *Segments) record(sr, c0, c1 int, g2, g3, g4, ga3 []float64) {
	i := sg.index[sr-sg.first]
	o := i * sg.Columns
	copy(sg.S2[o+c0:o+c1], g2[c0:c1])
	copy(sg.S3[o+c0:o+c1], g3[c0:c1])
	copy(sg.S4[o+c0:o+c1], g4[c0:c1])
	copy(sg.A3[o+c0:o+c1], ga3[c0:c1])
}

// Validate checks the lengths and the order of the rows.
func (sg *Segments) Validate() error {
	n := len(sg.Rows) * sg.Columns
	if sg.Columns < 1 || len(sg.S2) != n || len(sg.S3) != n || len(sg.S4) != n || len(sg.A3) != n {
		return fmt.Errorf("segments: %d rows × %d columns, arrays of %d, %d, %d, %d values", len(sg.Rows), sg.Columns, len(sg.S2), len(sg.S3), len(sg.S4), len(sg.A3))
	}
	for i, r := range sg.Rows {
		if r < 0 || (i > 0 && r <= sg.Rows[i-1]) {
			return fmt.Errorf("segments: rows %v are not ascending", sg.Rows)
		}
	}
	return nil
}

// MergeSegments recomputes the moment sums S2, S3, S4 and A3 of set, the
// merge of the shards whose segments are parts, by adding all segments in
// row order from zero — the additions of a whole run. The parts must hold
// disjoint rows that together cover the rows whose segments the set's
// pool ranges span. Each new sum must agree with the merged one to 10⁻⁹
// (relative to the sum of absolute segment values): a larger difference
// means the parts do not belong to set.
func MergeSegments(set *noise.Set, parts []*Segments) error {
	T := 0
	for _, l := range set.Layers {
		T += len(l.Coords)
	}
	type ref struct{ part, i int }
	var order []ref
	var rows []int
	for p, sg := range parts {
		if err := sg.Validate(); err != nil {
			return fmt.Errorf("part %d: %w", p, err)
		}
		if sg.Columns != T {
			return fmt.Errorf("part %d: segments of %d columns, the set has %d tested coordinates", p, sg.Columns, T)
		}
		for i, r := range sg.Rows {
			order = append(order, ref{p, i})
			rows = append(rows, r)
		}
	}
	slices.SortFunc(order, func(a, b ref) int { return parts[a.part].Rows[a.i] - parts[b.part].Rows[b.i] })
	slices.Sort(rows)
	for i := 1; i < len(rows); i++ {
		if rows[i] == rows[i-1] {
			return fmt.Errorf("segments: row %d is held by two parts", rows[i])
		}
	}
	if c := set.Collection; c != nil {
		want := 0
		N, n := c.PoolSize, c.BatchesPerSize
		ranges := c.PoolRanges
		if ranges == nil {
			ranges = [][2]int{{0, N}}
		}
		for r := 0; r < n; r++ {
			a, b := rowStart(r, N, n), rowStart(r+1, N, n)
			for _, pr := range ranges {
				if b > a && a >= pr[0] && b <= pr[1] {
					want++
				}
			}
		}
		if want != len(rows) {
			return fmt.Errorf("segments: %d segments for the %d row spans of the set's pool ranges %v", len(rows), want, ranges)
		}
	}
	col := 0
	for li := range set.Layers {
		l := &set.Layers[li]
		for j := range l.Coords {
			c := col + j
			for _, m := range []struct {
				dst *float64
				get func(*Segments) []float64
			}{{&l.S2[j], func(s *Segments) []float64 { return s.S2 }}, {&l.S3[j], func(s *Segments) []float64 { return s.S3 }},
				{&l.S4[j], func(s *Segments) []float64 { return s.S4 }}, {&l.A3[j], func(s *Segments) []float64 { return s.A3 }}} {
				tot, abs := 0.0, 0.0
				for _, o := range order {
					v := m.get(parts[o.part])[o.i*T+c]
					tot += v
					abs += math.Abs(v)
				}
				if d := math.Abs(tot - *m.dst); d > 1e-9*abs || math.IsNaN(d) {
					return fmt.Errorf("segments: layer %q, coordinate %d: the segments sum to %g, the merged set has %g: they are not this set's", l.Parameter, l.Coords[j], tot, *m.dst)
				}
				*m.dst = tot
			}
		}
		col += len(l.Coords)
	}
	return nil
}

// segmentsMagic starts the binary form of Segments.
const segmentsMagic = "GNSEGS\x00\x01"

// MarshalBinary encodes the segments: the magic "GNSEGS\0\1", uint32
// Columns, uint32 len(Rows), the rows (uint32 each), then S2, S3, S4 and A3
// (float64), all little endian.
func (sg *Segments) MarshalBinary() ([]byte, error) {
	if err := sg.Validate(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 16+4*len(sg.Rows)+32*len(sg.S2))
	b = append(b, segmentsMagic...)
	b = binary.LittleEndian.AppendUint32(b, uint32(sg.Columns))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(sg.Rows)))
	for _, r := range sg.Rows {
		b = binary.LittleEndian.AppendUint32(b, uint32(r))
	}
	for _, a := range [][]float64{sg.S2, sg.S3, sg.S4, sg.A3} {
		for _, v := range a {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
	}
	return b, nil
}

// UnmarshalBinary decodes MarshalBinary's form, checking its size.
func (sg *Segments) UnmarshalBinary(b []byte) error {
	if len(b) < 16 || string(b[:8]) != segmentsMagic {
		return errors.New("segments: not a gnaudit segments file (bad magic)")
	}
	cols, rows := int(binary.LittleEndian.Uint32(b[8:])), int(binary.LittleEndian.Uint32(b[12:]))
	if want := 16 + 4*int64(rows) + 32*int64(rows)*int64(cols); int64(len(b)) != want {
		return fmt.Errorf("segments: %d bytes, %d rows × %d columns need %d", len(b), rows, cols, want)
	}
	*sg = Segments{Columns: cols, Rows: make([]int, rows)}
	o := 16
	for i := range sg.Rows {
		sg.Rows[i] = int(binary.LittleEndian.Uint32(b[o:]))
		o += 4
	}
	for _, a := range []*[]float64{&sg.S2, &sg.S3, &sg.S4, &sg.A3} {
		*a = make([]float64, rows*cols)
		for i := range *a {
			(*a)[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[o:]))
			o += 8
		}
	}
	return sg.Validate()
}
