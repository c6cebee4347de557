package npy

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzRead feeds arbitrary bytes to Read. Run it with
//
//	go test ./auditor/npy -run '^$' -fuzz FuzzRead -fuzztime 60s
//
// Properties: no panic; a successful read returns as many elements as the
// shape holds, and writing the array back and reading it again gives the same
// shape, dtype and values.
// The bounds of FuzzRead's inputs.
const (
	fuzzMaxBytes = 256 << 10
	fuzzMaxElems = 1 << 16
)

func FuzzRead(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.npy"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(Magic + "\x01\x00\x10\x00{'descr': '<f4',"))
	f.Add([]byte(Magic + "\x02\x00\xff\xff\xff\xff"))
	f.Add([]byte(Magic + "\x01\x00\x40\x00{'descr':'<i2','fortran_order':False,'shape':(2L,1L)}    \n\x01\x00\x02\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Bounds that keep every input fast (the fuzzer reports an input
		// taking over 10 s as "hung", which a busy machine reached with
		// megabyte inputs): at most fuzzMaxBytes of input, and headers
		// announcing more than fuzzMaxElems elements are only parsed.
		if len(data) > fuzzMaxBytes {
			t.Skip("input over the fuzz size bound")
		}
		if rd, err := NewReader(bytes.NewReader(data), "fuzz"); err == nil && rd.Remaining() > fuzzMaxElems {
			return
		}
		a, err := Read(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		n := 1
		for _, s := range a.Shape {
			n *= s
		}
		if len(a.F64) != n || a.I64 != nil && len(a.I64) != n {
			t.Fatalf("shape %v but %d/%d elements", a.Shape, len(a.F64), len(a.I64))
		}
		var buf bytes.Buffer
		w, err := NewWriter(&buf, a.DType, a.Shape)
		if err != nil {
			t.Fatalf("rewrite header: %v", err)
		}
		if a.I64 != nil {
			err = w.WriteInt64(a.I64)
		} else {
			err = w.WriteFloat64(a.F64)
		}
		if err != nil {
			t.Fatalf("rewrite data: %v", err)
		}
		b, err := Read(&buf, "rewritten")
		if err != nil {
			t.Fatalf("reread: %v", err)
		}
		if b.DType != a.DType || len(b.Shape) != len(a.Shape) || len(b.F64) != len(a.F64) {
			t.Fatalf("reread differs: %s %v vs %s %v", b.DType, b.Shape, a.DType, a.Shape)
		}
		for i := range a.F64 {
			if math.Float64bits(a.F64[i]) != math.Float64bits(b.F64[i]) && !(math.IsNaN(a.F64[i]) && math.IsNaN(b.F64[i])) {
				t.Fatalf("element %d: %v vs %v", i, a.F64[i], b.F64[i])
			}
		}
	})
}

// TestReadHostileIsBounded: the inputs that can make Read slow — a header
// of the maximal length, a shape announcing 2^40 elements with little
// data, a deeply nested structured dtype — return an error promptly, with
// memory bounded by the input, not by the header's claims.
func TestReadHostileIsBounded(t *testing.T) {
	hdr := func(major byte, dict string) []byte {
		b := []byte(Magic)
		if major == 1 {
			b = append(b, 1, 0, byte(len(dict)), byte(len(dict)>>8))
		} else {
			b = append(b, 2, 0, byte(len(dict)), byte(len(dict)>>8), byte(len(dict)>>16), byte(len(dict)>>24))
		}
		return append(b, dict...)
	}
	long := "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }" + strings.Repeat(" ", MaxHeaderLen-80) + "\n"
	cases := map[string][]byte{
		"max-length header, truncated data": hdr(2, long),
		"2^40 elements, 8 bytes of data":    append(hdr(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776,), }\n"), make([]byte, 8)...),
		"nested structured dtype":           hdr(2, "{'descr': "+strings.Repeat("[", 200000)+strings.Repeat("]", 200000)+", 'fortran_order': False, 'shape': (1,), }\n"),
		"many dimensions":                   hdr(2, "{'descr': '<f4', 'fortran_order': False, 'shape': ("+strings.Repeat("1,", 100000)+"0), }\n"),
		"over the header limit":             hdr(2, strings.Repeat(" ", MaxHeaderLen+1)),
	}
	for name, data := range cases {
		t0 := time.Now()
		_, err := Read(bytes.NewReader(data), "hostile.npy")
		if d := time.Since(t0); d > 5*time.Second {
			t.Errorf("%s: Read took %v", name, d)
		}
		if name != "many dimensions" && err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
