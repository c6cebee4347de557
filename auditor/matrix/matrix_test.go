package matrix

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/npy"
	"github.com/gnaudit/gnaudit/internal/approx"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// 2-D float32 files are transposed correctly (npy.ReadColumnMajor's own
// tests cover row blocks and worker splits).
func TestLoadNPY2D(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct{ rows, cols int }{{1, 1}, {5, 3}, {37, 150}, {100, 200}, {9, 1000}} {
		data := make([]float32, tc.rows*tc.cols)
		for i := range data {
			data[i] = float32(rng.NormFloat64())
		}
		p := filepath.Join(t.TempDir(), "m.npy")
		if err := npy.WriteFileFloat32(p, []int{tc.rows, tc.cols}, data); err != nil {
			t.Fatal(err)
		}
		m, err := Load(p)
		if err != nil {
			t.Fatal(err)
		}
		if m.Rows != tc.rows || m.Cols != tc.cols || m.Names != nil || m.Source != p || m.Data != nil || len(m.Data32) != tc.rows*tc.cols {
			t.Fatalf("%+v: got %d×%d names %v source %q", tc, m.Rows, m.Cols, m.Names, m.Source)
		}
		for i := 0; i < tc.rows; i++ {
			for j := 0; j < tc.cols; j++ {
				if got, want := m.At(i, j), float64(data[i*tc.cols+j]); got != want {
					t.Fatalf("%+v: [%d,%d] = %v, want %v", tc, i, j, got, want)
				}
			}
		}
	}
}

func TestLoadNPYShapes(t *testing.T) {
	dir := t.TempDir()
	p1 := filepath.Join(dir, "col.npy")
	if err := npy.WriteFileInt64(p1, []int{4}, []int64{1, -2, 3, 1 << 40}); err != nil {
		t.Fatal(err)
	}
	m, err := LoadNPY(p1)
	if err != nil || m.Rows != 4 || m.Cols != 1 || !slices.Equal(m.Column(0, nil), []float64{1, -2, 3, 1 << 40}) {
		t.Fatalf("1-D: %+v %v", m, err)
	}
	p0 := filepath.Join(dir, "empty.npy")
	if err := npy.WriteFileFloat64(p0, []int{0, 3}, nil); err != nil {
		t.Fatal(err)
	}
	if m, err := LoadNPY(p0); err != nil || m.Rows != 0 || m.Cols != 3 {
		t.Fatalf("0×3: %+v %v", m, err)
	}
	for _, shape := range [][]int{{}, {2, 2, 2}} {
		n := 1
		for _, s := range shape {
			n *= s
		}
		p := filepath.Join(dir, "bad.npy")
		if err := npy.WriteFileFloat64(p, shape, make([]float64, n)); err != nil {
			t.Fatal(err)
		}
		_, err := LoadNPY(p)
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "want 1-D") {
			t.Errorf("shape %v: err = %v", shape, err)
		}
	}
	// Errors of the npy reader come through with the file name.
	trunc := filepath.Join(dir, "trunc.npy")
	b, _ := os.ReadFile(p1)
	os.WriteFile(trunc, b[:len(b)-1], 0o644)
	if _, err := Load(trunc); err == nil || !strings.Contains(err.Error(), trunc) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated: %v", err)
	}
	// Without a known extension, the magic decides.
	noext := filepath.Join(dir, "matrix.bin")
	os.WriteFile(noext, b, 0o644)
	if m, err := Load(noext); err != nil || m.Rows != 4 {
		t.Errorf("sniffed npy: %+v %v", m, err)
	}
}

func TestReadCSV(t *testing.T) {
	tests := []struct {
		name, content string
		rows, cols    int
		names         []string
		col1          []float64
	}{
		{"header", "a,b,c\n1,2,3\n4,5,6\n", 2, 3, []string{"a", "b", "c"}, []float64{2, 5}},
		{"no header", "1,2\n3,4\n5,6\n", 3, 2, nil, []float64{2, 4, 6}},
		{"crlf bom quotes comments spaces", "\ufeff# produced by a tool\r\n\"x\", \"y y\"\r\n 1.5 , -2e3\r\n# mid comment\r\n\"3\",NaN\r\n", 2, 2,
			[]string{"x", "y y"}, []float64{-2000, math.NaN()}},
		{"pandas index header", ",g1,g2\n0,0.5,1\n1,0.25,2\n", 2, 3, []string{"", "g1", "g2"}, []float64{0.5, 0.25}},
		{"numeric-like header", "1,loss\n2,3\n", 1, 2, []string{"1", "loss"}, []float64{3}},
		{"inf and hex", "inf,-Inf,0x1p-2\n", 1, 3, nil, []float64{math.Inf(-1)}},
		{"single column", "v\n1\n2\n", 2, 1, []string{"v"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ReadCSV(strings.NewReader(tc.content), "in.csv")
			if err != nil {
				t.Fatal(err)
			}
			if m.Rows != tc.rows || m.Cols != tc.cols || !slices.Equal(m.Names, tc.names) {
				t.Fatalf("got %d×%d %q, want %d×%d %q", m.Rows, m.Cols, m.Names, tc.rows, tc.cols, tc.names)
			}
			if tc.col1 != nil {
				got := m.Column(1, nil)
				for i := range got {
					if !approx.Same(t, fmt.Sprintf("column 1[%d] of %v", i, got), got[i], tc.col1[i]) {
						t.FailNow()
					}
				}
			}
		})
	}
}

func TestCSVErrors(t *testing.T) {
	tests := []struct{ name, content, want string }{
		{"ragged", "a,b\n1,2\n3\n", "line 3 has 1 fields, expected 2 (as on line 1)"},
		{"ragged long", "1,2\n3,4,5\n", "line 2 has 3 fields, expected 2 (as on line 1)"},
		{"non-numeric", "a,b,c\n1,2,3\n4,five,6\n", `line 3, column 2 ("b"): cannot parse "five" as a number`},
		{"non-numeric no header", "1,2\n3,x\n", `line 2, column 2: cannot parse "x" as a number`},
		{"empty cell", "a,b\n1,\n", `line 2, column 2 ("b"): empty cell`},
		{"empty cell first row", "1,,3\n", "line 1, column 2: empty cell"},
		{"out of range", "a\n1e999\n", `"1e999" is out of the float64 range`},
		{"header only", "a,b\n", "no data rows"},
		{"empty file", "", "no data rows"},
		{"bad quote", "a,b\n1,\"2\n", "extraneous or missing \" in quoted-field"},
		{"line numbers after comments", "# c\n# c\n1,2\n\n3\n", "line 5 has 1 fields, expected 2 (as on line 3)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, "data.csv", tc.content)
			_, err := Load(p)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), p+": ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q: want the file name and %q", err, tc.want)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.csv")); err == nil || !strings.Contains(err.Error(), "missing.csv") {
		t.Errorf("missing file: %v", err)
	}
}

func TestFromHelpers(t *testing.T) {
	m, err := FromRowMajor(2, 3, []float64{1, 2, 3, 4, 5, 6})
	if err != nil || !slices.Equal(m.Data, []float64{1, 4, 2, 5, 3, 6}) {
		t.Fatalf("FromRowMajor: %v %v", m, err)
	}
	if _, err := FromRowMajor(2, 2, []float64{1}); err == nil {
		t.Error("FromRowMajor accepted a wrong length")
	}
	m, err = FromColumns([]float64{1, 2}, []float64{3, 4})
	if err != nil || m.Rows != 2 || m.Cols != 2 || !slices.Equal(m.Column(1, nil), []float64{3, 4}) {
		t.Fatalf("FromColumns: %v %v", m, err)
	}
	if _, err := FromColumns([]float64{1}, []float64{1, 2}); err == nil {
		t.Error("FromColumns accepted ragged columns")
	}
}

func TestSaveRoundTrip(t *testing.T) {
	m, err := FromColumns([]float64{1.5, math.Inf(-1), 1e-310}, []float64{math.NaN(), 0.1, -3})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		file  string
		names []string
	}{
		{"m.npy", nil}, {"m.csv", nil}, {"named.csv", []string{"a b", "x,\"y\""}},
	} {
		m.Names = tc.names
		p := filepath.Join(dir, tc.file)
		if err := m.Save(p); err != nil {
			t.Fatal(err)
		}
		back, err := Load(p)
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if back.Rows != 3 || back.Cols != 2 || !slices.Equal(back.Names, tc.names) {
			t.Fatalf("%s: %d×%d %q", tc.file, back.Rows, back.Cols, back.Names)
		}
		for i, v := range m.Data {
			approx.Same(t, fmt.Sprintf("%s: value %d", tc.file, i), back.At(i%3, i/3), v)
		}
	}
	if err := m.Save(filepath.Join(dir, "missing", "x.csv")); err == nil || !strings.Contains(err.Error(), "x.csv") {
		t.Errorf("save into a missing dir: %v", err)
	}
}

// Float32 storage: Column converts, Save keeps float32, CSV round-trips the
// float32 values exactly.
func TestFloat32Storage(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.npy")
	vals := []float32{0.1, -2.5, 3e-41, float32(math.Inf(1)), 7, 1.0 / 3}
	if err := npy.WriteFileFloat32(p, []int{3, 2}, vals); err != nil {
		t.Fatal(err)
	}
	m, err := Load(p)
	if err != nil || m.Data32 == nil || m.Data != nil {
		t.Fatalf("%+v %v", m, err)
	}
	buf := make([]float64, 1) // too short: reallocated
	if got := m.Column(1, buf); !slices.Equal(got, []float64{float64(vals[1]), float64(vals[3]), float64(vals[5])}) {
		t.Errorf("Column(1) = %v", got)
	}
	for _, out := range []string{"g.npy", "g.csv"} {
		q := filepath.Join(dir, out)
		if err := m.Save(q); err != nil {
			t.Fatal(err)
		}
		back, err := Load(q)
		if err != nil {
			t.Fatal(err)
		}
		if out == "g.npy" && back.Data32 == nil {
			t.Errorf("float32 storage not kept by Save")
		}
		for i := 0; i < 3; i++ {
			for j := 0; j < 2; j++ {
				if back.At(i, j) != float64(vals[i*2+j]) {
					t.Errorf("%s [%d,%d] = %v, want %v", out, i, j, back.At(i, j), vals[i*2+j])
				}
			}
		}
	}
}
