package data

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzReadIDX: ReadIDX on arbitrary bytes (plain or gzip) returns an error
// naming the file or an IDX whose payload holds exactly the announced
// elements, every one readable; it never panics. Inputs over 64 KiB are
// skipped (a gzip stream that size may inflate to 64 MiB, which would only
// time the fuzzer's patience).
func FuzzReadIDX(f *testing.F) {
	valid := []byte{0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(valid)
	zw.Close()
	f.Add(valid)
	f.Add(gz.Bytes())
	f.Add(valid[:10])
	f.Add(gz.Bytes()[:gz.Len()-3])
	f.Add([]byte{0, 0, 0x0D, 1, 0, 0, 0, 1, 0x3f, 0x80, 0, 0})
	f.Add([]byte{0, 0, 0x0E, 1, 0xff, 0xff, 0xff, 0xff})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 64<<10 {
			t.Skip()
		}
		p := filepath.Join(dir, "x.idx")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		x, err := ReadIDX(p)
		if err != nil {
			if !strings.Contains(err.Error(), p) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		n := idxElemSize(x.Type)
		for _, d := range x.Dims {
			n *= d
		}
		if n != len(x.Data) || x.Len()*idxElemSize(x.Type) != len(x.Data) {
			t.Fatalf("dims %v type %#x: %d payload bytes, want %d", x.Dims, x.Type, len(x.Data), n)
		}
		for i := 0; i < x.Len(); i++ {
			_ = x.At(i)
		}
	})
}
