package statsrun

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gnaudit/gnaudit/auditor/matrix"
	"github.com/gnaudit/gnaudit/auditor/stats"
)

// Section selects parts of the per-column output.
type Section uint8

// The sections of a column.
const (
	SectionShapiro Section = 1 << iota
	SectionMoments
	SectionBerryEsseen
	SectionTailIndex

	AllSections = SectionShapiro | SectionMoments | SectionBerryEsseen | SectionTailIndex
)

var sectionNames = []struct {
	s    Section
	name string
}{
	{SectionShapiro, "shapiro"},
	{SectionMoments, "moments"},
	{SectionBerryEsseen, "berry_esseen"},
	{SectionTailIndex, "tail_index"},
}

// ParseSections parses a comma-separated list of section names (shapiro,
// moments, berry_esseen, tail_index) or "all".
func ParseSections(s string) (Section, error) {
	var out Section
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "all" {
			out |= AllSections
			continue
		}
		found := false
		for _, sn := range sectionNames {
			if sn.name == f {
				out |= sn.s
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("unknown section %q (want shapiro, moments, berry_esseen, tail_index or all)", f)
		}
	}
	return out, nil
}

// DefaultBatchSizes are the batch sizes of the Berry–Esseen bounds when
// Options.BatchSizes is empty.
var DefaultBatchSizes = []int{16, 32, 64, 128, 256, 512, 1024}

// Options configure Run. The zero value computes everything with
// DefaultBatchSizes on GOMAXPROCS workers.
type Options struct {
	// BatchSizes are the B of the Berry–Esseen bounds (each ≥ 1).
	BatchSizes []int
	// Sections selects what to compute; 0 means AllSections.
	Sections Section
	// Workers is the number of goroutines; ≤ 0 means GOMAXPROCS.
	Workers int
	// NoCenter feeds the Mohammadi estimator the raw column instead of the
	// column minus its mean (use it for data already centred on a known
	// value, such as gradient noise ξ = g − ḡ).
	NoCenter bool
}

// Run computes the statistics of every column of m. Problems with a column's
// data (too few rows, NaN, constant values) are reported inside the column
// (null values with an error message); Run itself fails only for invalid
// options.
func Run(m *matrix.Matrix, opt Options) (*Report, error) {
	if m == nil {
		return nil, errors.New("statsrun: nil matrix")
	}
	if len(opt.BatchSizes) == 0 {
		opt.BatchSizes = DefaultBatchSizes
	}
	for _, b := range opt.BatchSizes {
		if b < 1 {
			return nil, fmt.Errorf("statsrun: batch size %d: must be ≥ 1", b)
		}
	}
	if opt.Sections == 0 {
		opt.Sections = AllSections
	}
	if opt.Sections&^AllSections != 0 {
		return nil, fmt.Errorf("statsrun: unknown sections %#x", opt.Sections)
	}
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = max(1, min(workers, m.Cols))

	// One coefficient set for all columns: they all have m.Rows values.
	var sw *stats.ShapiroWilk
	var swErr error
	if opt.Sections&SectionShapiro != 0 {
		sw, swErr = stats.NewShapiroWilk(m.Rows)
	}

	rep := &Report{Schema: Schema, Rows: m.Rows, ColumnNames: m.Names, Columns: make([]Column, m.Cols)}
	const chunk = 64 // columns claimed at a time
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := &scratch{col: make([]float64, m.Rows), sorted: make([]float64, m.Rows), centred: make([]float64, m.Rows)}
			if m.Data32 != nil {
				sc.keys32 = make([]uint32, 2*m.Rows)
			} else {
				sc.keys64 = make([]uint64, 2*m.Rows)
			}
			for {
				j0 := int(next.Add(chunk)) - chunk
				if j0 >= m.Cols {
					return
				}
				for j := j0; j < min(j0+chunk, m.Cols); j++ {
					rep.Columns[j] = safeColumn(j, m, sw, swErr, &opt, sc)
				}
			}
		}()
	}
	wg.Wait()
	return rep, nil
}

// scratch holds one worker's reusable buffers.
type scratch struct {
	col             []float64 // float32 columns converted
	sorted, centred []float64
	keys64          []uint64 // radix sort scratch (2·rows) of float64 storage
	keys32          []uint32 // radix sort scratch (2·rows) of float32 storage
}

// safeColumn is column with a recover: a panic in a worker goroutine would
// end the process, so it becomes an error inside the column instead.
func safeColumn(j int, m *matrix.Matrix, sw *stats.ShapiroWilk, swErr error, opt *Options, sc *scratch) (c Column) {
	defer func() {
		if r := recover(); r != nil {
			c = failedColumn(j, m.Rows, opt, fmt.Sprintf("internal error: %v (please report this)", r))
		}
	}()
	return column(j, m, sw, swErr, opt, sc)
}

// failedColumn is a column whose every requested value is null with msg.
func failedColumn(j, n int, opt *Options, msg string) Column {
	nan := Number(math.NaN())
	c := Column{Index: j, N: n}
	if opt.Sections&SectionShapiro != 0 {
		c.Shapiro = &Shapiro{W: nan, P: nan, Status: StatusError, Error: msg}
	}
	if opt.Sections&SectionMoments != 0 {
		c.Moments = &Moments{nan, nan, nan, nan, nan, nan, msg}
	}
	if opt.Sections&SectionBerryEsseen != 0 {
		c.BerryEsseen = make([]BerryBound, len(opt.BatchSizes))
		for i, b := range opt.BatchSizes {
			c.BerryEsseen[i] = BerryBound{BatchSize: b, Bound: nan, Error: msg}
		}
	}
	if opt.Sections&SectionTailIndex != 0 {
		c.TailIndex = &TailIndex{Mohammadi: nan, MohammadiError: msg, McCulloch: &Stable{nan, nan, nan, nan, msg}}
	}
	return c
}

// column computes the statistics of column j of m.
func column(j int, m *matrix.Matrix, sw *stats.ShapiroWilk, swErr error, opt *Options, sc *scratch) Column {
	n := m.Rows
	c := Column{Index: j, N: n}
	secs := opt.Sections

	// x is the column in float64, needed by everything but Shapiro–Wilk on
	// float32 storage (which works from the sorted copy).
	var x []float64
	if m.Data32 == nil || secs&(SectionMoments|SectionBerryEsseen|SectionTailIndex) != 0 {
		x = m.Column(j, sc.col)
	}

	// The sorted copy: for float32 storage, sorted on the 32-bit keys and
	// converted in the same step, for Shapiro–Wilk and McCulloch; for
	// float64 storage, made only when McCulloch needs it too (otherwise
	// ShapiroWilk.Test sorts on its own); TestSorted and McCullochSorted
	// then use it as is. A column with a NaN/Inf is not sorted: each
	// statistic reports the value and its row.
	var sorted []float64
	switch {
	case m.Data32 != nil && secs&(SectionShapiro|SectionTailIndex) != 0:
		if stats.SortFloat32To64(sc.sorted[:n], m.Data32[j*n:(j+1)*n], sc.keys32) {
			sorted = sc.sorted[:n]
		}
	case m.Data32 == nil && secs&SectionTailIndex != 0 && finite(x):
		sorted = stats.SortFloat64(sc.sorted[:n], x, sc.keys64)
	}

	if secs&SectionShapiro != 0 {
		if sorted == nil && x == nil {
			x = m.Column(j, sc.col) // a NaN/Inf in float32 storage
		}
		c.Shapiro = shapiro(x, sorted, sw, swErr)
	}

	var d stats.Description
	var dErr error
	if secs&(SectionMoments|SectionBerryEsseen|SectionTailIndex) != 0 {
		d, dErr = stats.Describe(x)
	}
	if secs&SectionMoments != 0 {
		c.Moments = &Moments{
			Mean: Number(d.Mean), Variance: Number(d.Variance), Skewness: Number(d.Skewness),
			ExcessKurtosis: Number(d.ExcessKurtosis), Abs3Standardized: Number(d.Abs3Standardized),
			SqrtKurtosis: Number(d.SqrtKurtosis), Error: errString(dErr),
		}
	}
	if secs&SectionBerryEsseen != 0 {
		c.BerryEsseen = make([]BerryBound, len(opt.BatchSizes))
		for i, b := range opt.BatchSizes {
			bound := stats.BerryEsseenBound(d.Abs3Standardized, b)
			be := BerryBound{BatchSize: b, Bound: Number(bound)}
			if math.IsNaN(bound) {
				be.Error = "needs ρ/σ³, which is undefined"
				if dErr != nil {
					be.Error += ": " + dErr.Error()
				}
			}
			c.BerryEsseen[i] = be
		}
	}
	if secs&SectionTailIndex != 0 {
		c.TailIndex = tailIndex(x, sorted, d, opt.NoCenter, sc)
	}
	return c
}

func shapiro(x, sorted []float64, sw *stats.ShapiroWilk, swErr error) *Shapiro {
	nan := Number(math.NaN())
	if swErr != nil {
		return &Shapiro{W: nan, P: nan, Status: StatusError, Error: swErr.Error()}
	}
	var r stats.SWResult
	var err error
	if sorted != nil {
		r, err = sw.TestSorted(sorted)
	} else {
		r, err = sw.Test(x)
	}
	switch {
	case err != nil:
		return &Shapiro{W: nan, P: nan, Status: StatusError, Error: err.Error()}
	case r.Degenerate:
		return &Shapiro{W: Number(r.W), P: Number(r.P), Status: StatusDegenerate}
	default:
		return &Shapiro{W: Number(r.W), P: Number(r.P), Status: StatusOK}
	}
}

func tailIndex(x, sorted []float64, d stats.Description, noCenter bool, sc *scratch) *TailIndex {
	t := &TailIndex{}
	in := x
	if !noCenter && !math.IsNaN(d.Mean) {
		in = sc.centred[:len(x)]
		for i, v := range x {
			in[i] = v - d.Mean
		}
	}
	a, err := stats.TailIndexMohammadi(in)
	t.Mohammadi, t.MohammadiError = Number(a), errString(err)
	var p stats.StableParams
	if sorted != nil {
		p, err = stats.McCullochSorted(sorted)
	} else {
		p, err = stats.McCulloch(x) // a NaN/Inf: McCulloch names its row
	}
	t.McCulloch = &Stable{Alpha: Number(p.Alpha), Beta: Number(p.Beta), Scale: Number(p.Scale),
		Location: Number(p.Location), Error: errString(err)}
	return t
}

// finite reports whether x holds no NaN or ±Inf.
func finite(x []float64) bool {
	for _, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
