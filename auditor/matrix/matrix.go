// Package matrix loads observation matrices for per-column statistics.
//
// A matrix has one row per observation and one column per coordinate (for
// example, one row per mini-batch and one column per tested gradient
// coordinate). It is stored column-major, so that each column is a
// contiguous slice ready for per-column work (sorting, moments): in float64,
// or in float32 when read from a float32 .npy file (half the memory of a
// large gradient dump, no rounding); [Matrix.Column] gives float64 either way.
//
// Sources:
//   - .npy (see package auditor/npy for the dtypes): a 1-D array is one
//     column; a 2-D array has rows = observations, columns = coordinates.
//   - .csv: comma-separated numbers, one row per observation. A header row is
//     detected automatically: the first record is a header when at least one
//     of its cells is not a number. Lines starting with '#' are comments;
//     fields may be quoted; spaces around numbers are ignored. Every row must
//     have the same number of fields; every cell must be a number (Go's
//     strconv.ParseFloat syntax, so NaN and Inf are accepted, empty cells
//     are not; a first row whose only non-numbers are empty cells is data,
//     and so an error). Errors name the file, the line and the column.
package matrix

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gnaudit/gnaudit/auditor/npy"
)

// Matrix is an observation matrix stored column-major, in float64 (Data)
// or float32 (Data32): exactly one of the two holds the Rows×Cols values.
type Matrix struct {
	// Rows is the number of observations, Cols the number of columns.
	Rows, Cols int
	// Data holds column j in Data[j*Rows : (j+1)*Rows] (float64 storage).
	Data []float64
	// Data32 holds the columns instead of Data for float32 storage (a
	// float32 .npy source).
	Data32 []float32
	// Names holds the CSV header's column names; nil when there is none.
	Names []string
	// Source names where the matrix came from (the file path).
	Source string
}

// Column returns column j as float64: a view of Data (not a copy) for
// float64 storage; for float32 storage, the values converted into buf
// (reallocated when shorter than Rows; give each goroutine its own).
func (m *Matrix) Column(j int, buf []float64) []float64 {
	if m.Data32 == nil {
		return m.Data[j*m.Rows : (j+1)*m.Rows]
	}
	if len(buf) < m.Rows {
		buf = make([]float64, m.Rows)
	}
	buf = buf[:m.Rows]
	for i, v := range m.Data32[j*m.Rows : (j+1)*m.Rows] {
		buf[i] = float64(v)
	}
	return buf
}

// At returns the value in row i and column j.
func (m *Matrix) At(i, j int) float64 {
	if m.Data32 != nil {
		return float64(m.Data32[j*m.Rows+i])
	}
	return m.Data[j*m.Rows+i]
}

// FromRowMajor builds a matrix from row-major data (rows × cols), copying it.
func FromRowMajor(rows, cols int, data []float64) (*Matrix, error) {
	if rows < 0 || cols < 0 || rows*cols != len(data) {
		return nil, fmt.Errorf("matrix: %d×%d needs %d values, got %d", rows, cols, rows*cols, len(data))
	}
	m := &Matrix{Rows: rows, Cols: cols, Data: make([]float64, len(data))}
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			m.Data[j*rows+i] = data[i*cols+j]
		}
	}
	return m, nil
}

// FromColumns builds a matrix from equally long columns, copying them.
func FromColumns(cols ...[]float64) (*Matrix, error) {
	m := &Matrix{Cols: len(cols)}
	if len(cols) > 0 {
		m.Rows = len(cols[0])
	}
	m.Data = make([]float64, 0, m.Rows*m.Cols)
	for j, c := range cols {
		if len(c) != m.Rows {
			return nil, fmt.Errorf("matrix: column %d has %d values, column 0 has %d", j, len(c), m.Rows)
		}
		m.Data = append(m.Data, c...)
	}
	return m, nil
}

// Load reads a matrix from path: .npy files by extension or, failing that,
// by their magic string; everything else as CSV.
func Load(path string) (*Matrix, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".npy":
		return LoadNPY(path)
	case ".csv":
		return LoadCSV(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("matrix: %w", err)
	}
	head := make([]byte, len(npy.Magic))
	n, _ := io.ReadFull(f, head)
	f.Close()
	if bytes.Equal(head[:n], []byte(npy.Magic)) {
		return LoadNPY(path)
	}
	return LoadCSV(path)
}

// LoadNPY reads a 1-D or 2-D .npy array (see the package documentation);
// float32 arrays are kept in float32 (Data32), the others become float64.
func LoadNPY(path string) (*Matrix, error) {
	f, err := npy.Open(path)
	if err != nil {
		return nil, err // already "npy: <path>: ..."
	}
	defer f.Close()
	h := f.Header()
	var rows, cols int
	switch len(h.Shape) {
	case 1:
		rows, cols = h.Shape[0], 1
	case 2:
		rows, cols = h.Shape[0], h.Shape[1]
	default:
		return nil, fmt.Errorf("matrix: %s: array of shape %v (%d-D): want 1-D (one column) or 2-D (rows = observations, columns = coordinates)", path, h.Shape, len(h.Shape))
	}
	m := &Matrix{Rows: rows, Cols: cols, Source: path}
	if h.DType == npy.Float32 {
		m.Data32 = make([]float32, rows*cols)
		err = f.ReadColumnMajorFloat32(m.Data32, 0)
	} else {
		m.Data = make([]float64, rows*cols)
		err = f.ReadColumnMajor(m.Data, 0)
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}
