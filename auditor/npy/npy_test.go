package npy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The expected values below are the literals of scripts/fixtures/gen_npy.py,
// which wrote the files with numpy.
func TestReadNumpyFixtures(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		file  string
		shape []int
		dtype string
		f64   []float64
		i64   []int64
	}{
		{"f4_2x3.npy", []int{2, 3}, Float32, []float64{0, -1.5, 2.25, math.MaxFloat32, math.Inf(-1), math.SmallestNonzeroFloat32}, nil},
		{"f8_5.npy", []int{5}, Float64, []float64{1, math.Copysign(0, -1), nan, 1e-300, math.Sqrt2}, nil},
		{"i8_3.npy", []int{3}, Int64, nil, []int64{math.MinInt64, math.MaxInt64, 42}},
		{"i4_2x2.npy", []int{2, 2}, Int32, nil, []int64{math.MinInt32, math.MaxInt32, 0, -1}},
		{"i2_3.npy", []int{3}, Int16, nil, []int64{-32768, 32767, 7}},
		{"i1_3.npy", []int{3}, Int8, nil, []int64{-128, 127, -1}},
		{"u1_4.npy", []int{4}, Uint8, nil, []int64{0, 1, 128, 255}},
		{"u2_2.npy", []int{2}, Uint16, nil, []int64{0, 65535}},
		{"u4_2.npy", []int{2}, Uint32, nil, []int64{1, 4294967295}},
		{"f4_2x3x4.npy", []int{2, 3, 4}, Float32, arange(24, 0.5, -3), nil},
		{"scalar_f8.npy", []int{}, Float64, []float64{3.5}, nil},
		{"empty_0x3_f4.npy", []int{0, 3}, Float32, []float64{}, nil},
		{"v2_f8_3.npy", []int{3}, Float64, []float64{0.5, 1.5, -2.5}, nil},
		{"v3_i8_2.npy", []int{2}, Int64, nil, []int64{7, -7}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			a, err := ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(a.Shape, tc.shape) || a.DType != tc.dtype {
				t.Fatalf("shape %v dtype %s, want %v %s", a.Shape, a.DType, tc.shape, tc.dtype)
			}
			want := tc.f64
			if tc.i64 != nil {
				if !slices.Equal(a.I64, tc.i64) {
					t.Fatalf("I64 = %v, want %v", a.I64, tc.i64)
				}
				want = make([]float64, len(tc.i64))
				for i, v := range tc.i64 {
					want[i] = float64(v)
				}
			} else if a.I64 != nil {
				t.Fatalf("I64 set for float dtype")
			}
			if len(a.F64) != len(want) {
				t.Fatalf("len %d, want %d", len(a.F64), len(want))
			}
			for i := range want {
				if math.Float64bits(a.F64[i]) != math.Float64bits(want[i]) && !(math.IsNaN(a.F64[i]) && math.IsNaN(want[i])) {
					t.Errorf("element %d = %v, want %v", i, a.F64[i], want[i])
				}
			}
		})
	}
}

func arange(n int, step, start float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(i)*step + start
	}
	return out
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(filepath.Join("testdata", "f4_2x3.npy"))
	if err != nil {
		t.Fatal(err)
	}
	hdr := func(dict string) []byte { // v1.0 file with the given header dict and no data
		b := []byte(Magic + "\x01\x00")
		b = binary.LittleEndian.AppendUint16(b, uint16(len(dict)))
		return append(b, dict...)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name     string
		path     string
		sentinel error
		substr   string
	}{
		{"fortran", filepath.Join("testdata", "fortran_f8_2x3.npy"), ErrUnsupported, "fortran_order True"},
		{"big endian", filepath.Join("testdata", "bigendian_f8.npy"), ErrUnsupported, `big-endian dtype ">f8"`},
		{"complex", filepath.Join("testdata", "complex64.npy"), ErrUnsupported, `dtype "<c8"`},
		{"bool", filepath.Join("testdata", "bool.npy"), ErrUnsupported, `dtype "|b1"`},
		{"structured", filepath.Join("testdata", "structured.npy"), ErrUnsupported, "structured"},
		{"wrong magic", write("magic.npy", []byte("PK\x03\x04 this is a zip")), ErrNotNPY, "wrong magic"},
		{"csv", write("data.npy", []byte("a,b\n1,2\n")), ErrNotNPY, "wrong magic"},
		{"empty", write("empty.npy", nil), ErrNotNPY, "empty file"},
		{"short magic", write("short.npy", []byte("\x93NU")), ErrBadHeader, "truncated preamble"},
		{"version 4", write("v4.npy", []byte(Magic+"\x04\x00\x10\x00")), ErrUnsupported, "version 4.0"},
		{"header short", write("hshort.npy", good[:40]), ErrBadHeader, "truncated header: 30 of 118 bytes"},
		{"truncated data", write("trunc.npy", good[:len(good)-3]), ErrTruncated, "21 of 24 data bytes"},
		{"trailing", write("trail.npy", append(slices.Clone(good), 0, 0)), nil, "2 unexpected bytes after the data"},
		{"not dict", write("nd.npy", hdr("[1, 2]\n")), ErrBadHeader, "expected '{'"},
		{"missing key", write("mk.npy", hdr("{'descr': '<f4', 'shape': (1,), }\n")), ErrBadHeader, "lacks one of the keys"},
		{"extra key", write("ek.npy", hdr("{'descr': '<f4', 'fortran_order': False, 'shape': (), 'x': 1}\n")), ErrBadHeader, `unexpected key "x"`},
		{"dup key", write("dk.npy", hdr("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': ()}")), ErrBadHeader, "duplicate key 'descr'"},
		{"bad shape", write("bs.npy", hdr("{'descr': '<f4', 'fortran_order': False, 'shape': 'x'}")), ErrBadHeader, "'shape' is not a tuple"},
		{"negative dim", write("neg.npy", hdr("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}")), ErrBadHeader, "negative dimension"},
		{"huge shape", write("huge.npy", hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4)}")), ErrBadHeader, "too large"},
		{"garbage after", write("ga.npy", hdr("{'descr': '<f4', 'fortran_order': False, 'shape': ()} x")), ErrBadHeader, "unexpected text"},
		{"bad bool", write("bb.npy", hdr("{'descr': '<f4', 'fortran_order': 0, 'shape': ()}")), ErrBadHeader, "not True or False"},
		{"unterminated", write("ut.npy", hdr("{'descr': '<f4")), ErrBadHeader, "unterminated string"},
		{"missing file", filepath.Join(dir, "nope.npy"), os.ErrNotExist, "nope.npy"},
		{"directory", dir, nil, "is a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadFile(tc.path)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.path) {
				t.Errorf("error %q does not name the file %s", msg, tc.path)
			}
			if !strings.Contains(msg, tc.substr) {
				t.Errorf("error %q lacks %q", msg, tc.substr)
			}
			if tc.sentinel != nil && !errors.Is(err, tc.sentinel) {
				t.Errorf("error %q is not %v", msg, tc.sentinel)
			}
		})
	}
}

// Read on a stream finds truncation while reading (no size check up front),
// and ignores bytes after the data.
func TestReadStream(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("testdata", "i4_2x2.npy"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := Read(bytes.NewReader(append(slices.Clone(good), 1, 2, 3)), "stream")
	if err != nil || !slices.Equal(a.I64, []int64{math.MinInt32, math.MaxInt32, 0, -1}) {
		t.Fatalf("Read = %v, %v", a, err)
	}
	_, err = Read(bytes.NewReader(good[:len(good)-1]), "cut.npy")
	if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "cut.npy: truncated .npy data: 15 of 16 data bytes") {
		t.Fatalf("err = %v", err)
	}
	// A header promising 2^40 elements with no data must fail fast without
	// allocating terabytes.
	var buf bytes.Buffer
	if _, err := NewWriter(&buf, Float64, []int{1 << 20, 1 << 20}); err != nil {
		t.Fatal(err)
	}
	buf.Write(make([]byte, 100))
	if _, err := Read(&buf, "liar.npy"); !errors.Is(err, ErrTruncated) {
		t.Fatalf("err = %v", err)
	}
}

// The streaming reader delivers the same values in chunks of any size.
func TestReaderChunks(t *testing.T) {
	want := arange(24, 0.5, -3)
	for _, chunk := range []int{1, 5, 24, 100} {
		f, err := Open(filepath.Join("testdata", "f4_2x3x4.npy"))
		if err != nil {
			t.Fatal(err)
		}
		var got []float64
		buf := make([]float64, chunk)
		for {
			n, err := f.ReadFloat64(buf)
			got = append(got, buf[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		f.Close()
		if !slices.Equal(got, want) {
			t.Errorf("chunk %d: got %v", chunk, got)
		}
	}
	f, err := Open(filepath.Join("testdata", "f8_5.npy"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.ReadInt64(make([]int64, 1)); err == nil || !strings.Contains(err.Error(), "not an integer type") {
		t.Errorf("ReadInt64 on float64: %v", err)
	}
}

// The writers produce exactly the bytes numpy.save wrote for the fixtures.
func TestWriteMatchesNumpy(t *testing.T) {
	f32 := func(v []float64) []float32 {
		out := make([]float32, len(v))
		for i, x := range v {
			out[i] = float32(x)
		}
		return out
	}
	tests := []struct {
		file  string
		write func(w io.Writer) error
	}{
		{"f4_2x3.npy", func(w io.Writer) error {
			return WriteFloat32(w, []int{2, 3}, f32([]float64{0, -1.5, 2.25, math.MaxFloat32, math.Inf(-1), math.SmallestNonzeroFloat32}))
		}},
		{"f4_2x3x4.npy", func(w io.Writer) error { return WriteFloat32(w, []int{2, 3, 4}, f32(arange(24, 0.5, -3))) }},
		{"f8_5.npy", func(w io.Writer) error {
			numpyNaN := math.Float64frombits(0x7ff8000000000000) // Go's math.NaN() has another payload
			return WriteFloat64(w, []int{5}, []float64{1, math.Copysign(0, -1), numpyNaN, 1e-300, math.Sqrt2})
		}},
		{"i8_3.npy", func(w io.Writer) error { return WriteInt64(w, []int{3}, []int64{math.MinInt64, math.MaxInt64, 42}) }},
		{"scalar_f8.npy", func(w io.Writer) error { return WriteFloat64(w, nil, []float64{3.5}) }},
		{"empty_0x3_f4.npy", func(w io.Writer) error { return WriteFloat32(w, []int{0, 3}, nil) }},
		{"i4_2x2.npy", func(w io.Writer) error {
			nw, err := NewWriter(w, Int32, []int{2, 2})
			if err != nil {
				return err
			}
			if err := nw.WriteInt64([]int64{math.MinInt32, math.MaxInt32}); err != nil {
				return err
			}
			if err := nw.WriteFloat64([]float64{0, -1}); err != nil {
				return err
			}
			return nw.Close()
		}},
		{"u1_4.npy", func(w io.Writer) error {
			nw, err := NewWriter(w, Uint8, []int{4})
			if err != nil {
				return err
			}
			if err := nw.WriteInt64([]int64{0, 1, 128, 255}); err != nil {
				return err
			}
			return nw.Close()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := tc.write(&buf); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("bytes differ from numpy's:\n got %q\nwant %q", buf.Bytes(), want)
			}
		})
	}
}

// Headers longer than 64 KiB switch to format 2.0, as numpy does.
func TestWriteVersion2(t *testing.T) {
	shape := make([]int, 30000) // "1, " × 30000 ≈ 90 kB of header

	for i := range shape {
		shape[i] = 1
	}
	var buf bytes.Buffer
	if err := WriteFloat64(&buf, shape, []float64{2.5}); err != nil {
		t.Fatal(err)
	}
	if buf.Bytes()[6] != 2 {
		t.Fatalf("version %d, want 2", buf.Bytes()[6])
	}
	if (buf.Len()-8)%64 != 0 {
		t.Errorf("data not 64-byte aligned: total %d", buf.Len())
	}
	a, err := Read(&buf, "v2")
	if err != nil || len(a.Shape) != 30000 || a.F64[0] != 2.5 {
		t.Fatalf("round trip: %v", err)
	}
}

func TestRoundTripAllDTypes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, dt := range dtypes {
		for _, shape := range [][]int{{}, {0}, {7}, {3, 5}, {2, 3, 4}, {1, 70000}} {
			n, _ := numElements(shape, dt.size)
			ints := make([]int64, n)
			floats := make([]float64, n)
			lo, hi := intRange(dt)
			for i := range ints {
				if dt.kind == 'f' {
					floats[i] = rng.NormFloat64() * 1e3
					if dt.name == Float32 {
						floats[i] = float64(float32(floats[i]))
					}
				} else {
					switch i % 3 {
					case 0:
						ints[i] = lo
					case 1:
						ints[i] = hi
					default:
						if dt.size == 8 {
							ints[i] = int64(rng.Uint64())
						} else {
							ints[i] = lo + int64(rng.Uint64()%uint64(hi-lo+1))
						}
					}
					floats[i] = float64(ints[i])
				}
			}
			var buf bytes.Buffer
			nw, err := NewWriter(&buf, dt.name, shape)
			if err != nil {
				t.Fatal(err)
			}
			half := int(n / 2)
			if dt.kind == 'f' {
				err = errors.Join(nw.WriteFloat64(floats[:half]), nw.WriteFloat64(floats[half:]))
			} else {
				err = errors.Join(nw.WriteInt64(ints[:half]), nw.WriteInt64(ints[half:]))
			}
			if err = errors.Join(err, nw.Close()); err != nil {
				t.Fatalf("%s %v: %v", dt.name, shape, err)
			}
			a, err := Read(&buf, "rt")
			if err != nil {
				t.Fatalf("%s %v: %v", dt.name, shape, err)
			}
			if a.DType != dt.name || !slices.Equal(a.Shape, shape) && !(len(shape) == 0 && len(a.Shape) == 0) {
				t.Fatalf("%s %v: got %s %v", dt.name, shape, a.DType, a.Shape)
			}
			if !slices.Equal(a.F64, floats) {
				t.Errorf("%s %v: float values differ", dt.name, shape)
			}
			if dt.kind != 'f' && !slices.Equal(a.I64, ints) {
				t.Errorf("%s %v: int values differ", dt.name, shape)
			}
		}
	}
}

func TestWriterErrors(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteFloat32(&buf, []int{2, 2}, []float32{1, 2, 3}); err == nil || !strings.Contains(err.Error(), "holds 4 elements, got 3") {
		t.Errorf("count mismatch: %v", err)
	}
	if _, err := NewWriter(&buf, "complex64", []int{1}); err == nil {
		t.Error("complex64 accepted")
	}
	if _, err := NewWriter(&buf, Float32, []int{-1}); err == nil {
		t.Error("negative dim accepted")
	}
	nw, _ := NewWriter(&buf, Uint8, []int{3})
	if err := nw.WriteInt64([]int64{256}); err == nil || !strings.Contains(err.Error(), "out of range for uint8") {
		t.Errorf("uint8 256: %v", err)
	}
	if err := nw.WriteFloat64([]float64{1.5}); err == nil || !strings.Contains(err.Error(), "cannot be stored exactly") {
		t.Errorf("uint8 1.5: %v", err)
	}
	if err := nw.WriteFloat64([]float64{math.NaN()}); err == nil {
		t.Error("uint8 NaN accepted")
	}
	if err := nw.WriteFloat32([]float32{1}); err == nil {
		t.Error("float32 into uint8 accepted")
	}
	if err := nw.WriteInt64([]int64{1, 2, 3, 4}); err == nil || !strings.Contains(err.Error(), "only 3 remain") {
		t.Errorf("overflow: %v", err)
	}
	if err := nw.Close(); err == nil || !strings.Contains(err.Error(), "3 elements missing") {
		t.Errorf("close: %v", err)
	}
	nw, _ = NewWriter(&buf, Int64, []int{1})
	if err := nw.WriteFloat64([]float64{9223372036854775807}); err == nil { // rounds to 2^63
		t.Error("2^63 accepted as int64")
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.npy")
	if err := WriteFileFloat64(p, []int{2}, []float64{1, 2}); err != nil {
		t.Fatal(err)
	}
	a, err := ReadFile(p)
	if err != nil || !slices.Equal(a.F64, []float64{1, 2}) {
		t.Fatalf("%v %v", a, err)
	}
	// A failing write leaves the old file and no temporary behind.
	err = WriteFileInt64(p, []int{3}, []int64{1})
	if err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("err = %v", err)
	}
	if a, err := ReadFile(p); err != nil || !slices.Equal(a.F64, []float64{1, 2}) {
		t.Fatalf("old file damaged: %v %v", a, err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("leftover files: %v", ents)
	}
	if err := WriteFileFloat32(filepath.Join(dir, "no", "such", "dir.npy"), []int{1}, []float32{1}); err == nil {
		t.Error("write into missing dir succeeded")
	}
}

// Files written here load in numpy with the same values (skipped when
// /usr/bin/python3 with numpy is absent).
func TestNumpyLoadsOurFiles(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import numpy").Run(); err != nil {
		t.Skip("no /usr/bin/python3 with numpy")
	}
	dir := t.TempDir()
	f32 := []float32{1.5, -2, float32(math.Inf(1)), 1e-40}
	if err := WriteFileFloat32(filepath.Join(dir, "a.npy"), []int{2, 2}, f32); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileInt64(filepath.Join(dir, "b.npy"), []int{3, 1}, []int64{math.MinInt64, 0, math.MaxInt64}); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`
import numpy as np
a = np.load(%q); b = np.load(%q)
assert a.dtype == np.float32 and a.shape == (2, 2), (a.dtype, a.shape)
assert a.tolist() == [[1.5, -2.0], [float('inf'), float(np.float32(1e-40))]], a.tolist()
assert b.dtype == np.int64 and b.shape == (3, 1)
assert b.ravel().tolist() == [-2**63, 0, 2**63 - 1]
print("ok")
`, filepath.Join(dir, "a.npy"), filepath.Join(dir, "b.npy"))
	out, err := exec.Command(py, "-c", script).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("numpy: %v\n%s", err, out)
	}
}

// ReadColumnMajor transposes every dtype correctly across row blocks and
// worker splits, and reports truncation.
func TestReadColumnMajor(t *testing.T) {
	defer func(old int) { colMajorBlockBytes = old }(colMajorBlockBytes)
	rng := rand.New(rand.NewPCG(5, 6))
	for _, dt := range dtypes {
		for _, tc := range []struct{ rows, cols, blockBytes, workers int }{
			{1, 1, 1 << 20, 1}, {7, 1, 1 << 20, 3}, {5, 3, 1 << 20, 2}, {37, 150, 1000, 3}, {64, 33, 1, 5}, {3, 1000, 1 << 20, 2},
		} {
			colMajorBlockBytes = tc.blockBytes
			n := tc.rows * tc.cols
			vals := make([]int64, n)
			lo, hi := intRange(dt)
			for i := range vals {
				if dt.kind == 'f' {
					vals[i] = rng.Int64N(2001) - 1000
				} else {
					span := min(uint64(hi)-uint64(lo), 1<<40) // int64's full span overflows
					vals[i] = lo + int64(rng.Uint64()%(span+1))
				}
			}
			var buf bytes.Buffer
			nw, err := NewWriter(&buf, dt.name, []int{tc.rows, tc.cols})
			if err != nil {
				t.Fatal(err)
			}
			if err := errors.Join(nw.WriteInt64(vals), nw.Close()); err != nil {
				t.Fatal(err)
			}
			full := slices.Clone(buf.Bytes())
			rd, err := NewReader(&buf, "cm")
			if err != nil {
				t.Fatal(err)
			}
			dst := make([]float64, n)
			if err := rd.ReadColumnMajor(dst, tc.workers); err != nil {
				t.Fatalf("%s %+v: %v", dt.name, tc, err)
			}
			rd32, _ := NewReader(bytes.NewReader(full), "cm32")
			dst32 := make([]float32, n)
			err = rd32.ReadColumnMajorFloat32(dst32, tc.workers)
			if dt.name != Float32 {
				if err == nil || !strings.Contains(err.Error(), "needs a float32 array") {
					t.Errorf("%s: ReadColumnMajorFloat32: %v", dt.name, err)
				}
			} else if err != nil {
				t.Fatalf("%+v float32: %v", tc, err)
			} else {
				for k := range dst {
					if float64(dst32[k]) != dst[k] {
						t.Fatalf("%+v float32: element %d = %v, want %v", tc, k, dst32[k], dst[k])
					}
				}
			}
			for i := 0; i < tc.rows; i++ {
				for j := 0; j < tc.cols; j++ {
					if dst[j*tc.rows+i] != float64(vals[i*tc.cols+j]) {
						t.Fatalf("%s %+v: [%d,%d] = %v, want %v", dt.name, tc, i, j, dst[j*tc.rows+i], vals[i*tc.cols+j])
					}
				}
			}
			if n > 1 {
				rd, _ := NewReader(bytes.NewReader(full[:len(full)-1]), "cut.npy")
				if err := rd.ReadColumnMajor(make([]float64, n), tc.workers); !errors.Is(err, ErrTruncated) {
					t.Errorf("%s %+v truncated: %v", dt.name, tc, err)
				}
			}
		}
	}
	rd, _ := NewReader(bytes.NewReader(mustRead(t, "f4_2x3x4.npy")), "3d")
	if err := rd.ReadColumnMajor(make([]float64, 24), 1); err == nil || !strings.Contains(err.Error(), "1-D or 2-D") {
		t.Errorf("3-D: %v", err)
	}
	rd, _ = NewReader(bytes.NewReader(mustRead(t, "f4_2x3.npy")), "f4")
	if err := rd.ReadColumnMajor(make([]float64, 5), 1); err == nil {
		t.Error("wrong dst length accepted")
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
