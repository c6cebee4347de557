package matrix

import (
	"bufio"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gnaudit/gnaudit/auditor/atomicfile"
	"github.com/gnaudit/gnaudit/auditor/npy"
)

// Save writes m to path, as .npy (rows × cols, float64 or, for float32
// storage, float32; a 1-column matrix is also written 2-D) when the
// extension is .npy and as CSV (with a header when m has Names) otherwise. Reading the file back with Load gives the same
// values (CSV cells use the shortest representation that round-trips).
func (m *Matrix) Save(path string) error {
	if strings.EqualFold(filepath.Ext(path), ".npy") {
		return npy.WriteFile(path, func(w io.Writer) error {
			dtype := npy.Float64
			if m.Data32 != nil {
				dtype = npy.Float32
			}
			nw, err := npy.NewWriter(w, dtype, []int{m.Rows, m.Cols})
			if err != nil {
				return err
			}
			row := make([]float64, m.Cols)
			for i := 0; i < m.Rows; i++ {
				for j := range row {
					row[j] = m.At(i, j)
				}
				if err := nw.WriteFloat64(row); err != nil { // float32 values round-trip exactly
					return err
				}
			}
			return nw.Close()
		})
	}
	if err := atomicfile.Write(path, m.WriteCSV); err != nil {
		return fmt.Errorf("matrix: %w", err)
	}
	return nil
}

// WriteCSV writes m as CSV: the header (when m has Names), then one line per
// row.
func (m *Matrix) WriteCSV(w io.Writer) error {
	bw := bufio.NewWriter(w)
	if len(m.Names) > 0 {
		for j, n := range m.Names {
			if j > 0 {
				bw.WriteByte(',')
			}
			if strings.ContainsAny(n, ",\"\r\n") || n != strings.TrimSpace(n) {
				n = `"` + strings.ReplaceAll(n, `"`, `""`) + `"`
			}
			bw.WriteString(n)
		}
		bw.WriteByte('\n')
	}
	var b []byte
	for i := 0; i < m.Rows; i++ {
		b = b[:0]
		for j := 0; j < m.Cols; j++ {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendFloat(b, m.At(i, j), 'g', -1, 64)
		}
		b = append(b, '\n')
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	return bw.Flush()
}
