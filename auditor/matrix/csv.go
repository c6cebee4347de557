package matrix

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// LoadCSV reads a CSV matrix from a file (see the package documentation).
func LoadCSV(path string) (*Matrix, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("matrix: %w", err)
	}
	defer f.Close()
	return ReadCSV(f, path)
}

// ReadCSV reads a CSV matrix from r; name is used in error messages.
func ReadCSV(r io.Reader, name string) (*Matrix, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	if bom, err := br.Peek(3); err == nil && string(bom) == "\ufeff" {
		br.Discard(3) // spreadsheet byte-order mark
	}
	cr := csv.NewReader(br)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1 // checked below, with a clearer message
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true

	var (
		rowMajor  []float64
		cols      = -1
		firstLine int
		names     []string
		rows      int
	)
	for rec := 0; ; rec++ {
		record, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("matrix: %s: line %d, column %d: %v", name, pe.Line, pe.Column, pe.Err)
			}
			return nil, fmt.Errorf("matrix: %s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		if rec == 0 {
			cols, firstLine = len(record), line
			if isHeader(record) {
				names = make([]string, len(record))
				for j, s := range record {
					names[j] = strings.TrimSpace(s)
				}
				continue
			}
		}
		if len(record) != cols {
			return nil, fmt.Errorf("matrix: %s: line %d has %d fields, expected %d (as on line %d)", name, line, len(record), cols, firstLine)
		}
		for j, s := range record {
			v, err := parseCell(s)
			if err != nil {
				col := fmt.Sprintf("column %d", j+1)
				if names != nil {
					col += fmt.Sprintf(" (%q)", names[j])
				}
				return nil, fmt.Errorf("matrix: %s: line %d, %s: %v", name, line, col, err)
			}
			rowMajor = append(rowMajor, v)
		}
		rows++
	}
	if rows == 0 {
		return nil, fmt.Errorf("matrix: %s: no data rows", name)
	}
	m, err := FromRowMajor(rows, cols, rowMajor)
	if err != nil {
		return nil, err
	}
	m.Names, m.Source = names, name
	return m, nil
}

// isHeader reports whether a first record is a header: at least one cell is
// neither empty nor a number.
func isHeader(record []string) bool {
	for _, s := range record {
		if _, err := parseCell(s); err != nil && strings.TrimSpace(s) != "" {
			return true
		}
	}
	return false
}

// parseCell parses one CSV cell as a float64.
func parseCell(s string) (float64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty cell")
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return 0, fmt.Errorf("%q is out of the float64 range", t)
		}
		return 0, fmt.Errorf("cannot parse %q as a number", t)
	}
	return v, nil
}
