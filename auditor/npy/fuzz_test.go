package npy

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// FuzzRead feeds arbitrary bytes to Read. Run it with
//
//	go test ./auditor/npy -run '^$' -fuzz FuzzRead -fuzztime 60s
//
// Properties: no panic; a successful read returns as many elements as the
// shape holds, and writing the array back and reading it again gives the same
// shape, dtype and values.
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
