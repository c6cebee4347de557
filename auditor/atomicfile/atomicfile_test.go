package atomicfile_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/atomicfile"
)

func TestWriteModeAndContents(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		perm os.FileMode
	}{{"public.json", 0o644}, {"secret.key", 0o600}} {
		p := filepath.Join(dir, tc.name)
		if err := atomicfile.WriteMode(p, tc.perm, func(w io.Writer) error {
			_, err := io.WriteString(w, "hello")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != tc.perm {
			t.Errorf("%s: mode %v, want %v", tc.name, st.Mode().Perm(), tc.perm)
		}
		b, _ := os.ReadFile(p)
		if string(b) != "hello" {
			t.Errorf("%s: %q", tc.name, b)
		}
	}
	p := filepath.Join(dir, "plain")
	if err := atomicfile.WriteFile(p, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o644 {
		t.Errorf("WriteFile mode %v", st.Mode().Perm())
	}
	assertNoTemps(t, dir)
}

// A failing writer (a full disk part-way) leaves the old file intact and no
// temporary file behind.
func TestFailedWriteKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "report.json")
	if err := atomicfile.WriteFile(p, []byte(`{"old":true}`)); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		fill func(w io.Writer) error
	}{
		{"fill error", func(w io.Writer) error {
			io.WriteString(w, `{"new":`)
			return errors.New("boom")
		}},
		{"full disk", func(w io.Writer) error {
			_, err := w.Write([]byte(strings.Repeat("x", 5000)))
			return err
		}},
	}
	restore := atomicfile.SetTestHook(atomicfile.FullDisk(func(path string) bool { return filepath.Base(path) == "report.json" }, 100))
	defer restore()
	for _, tc := range cases {
		err := atomicfile.Write(p, tc.fill)
		if err == nil {
			t.Fatalf("%s: no error", tc.name)
		}
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q does not name the file", tc.name, err)
		}
		b, _ := os.ReadFile(p)
		if string(b) != `{"old":true}` {
			t.Errorf("%s: file is now %q", tc.name, b)
		}
	}
	// Data that fits under the limit is fine; the hook matches only report.json.
	if err := atomicfile.WriteFile(filepath.Join(dir, "other"), []byte(strings.Repeat("y", 5000))); err != nil {
		t.Fatal(err)
	}
	assertNoTemps(t, dir)
}

func TestFileAbortAndCommit(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.npy")
	f, err := atomicfile.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(f, "partial")
	f.Abort()
	f.Abort()
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("aborted file exists: %v", err)
	}
	f, _ = atomicfile.Create(p)
	fmt.Fprint(f, "done")
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	f.Abort() // no-op after Commit
	if b, _ := os.ReadFile(p); string(b) != "done" {
		t.Fatalf("%q", b)
	}
	if err := f.Commit(); err == nil {
		t.Error("second Commit succeeded")
	}
	if _, err := atomicfile.Create(filepath.Join(dir, "missing", "x")); err == nil {
		t.Error("Create in a missing directory succeeded")
	}
	assertNoTemps(t, dir)
}

func TestSHA256(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("abc"), 0o644)
	h, err := atomicfile.SHA256(p)
	if err != nil {
		t.Fatal(err)
	}
	// sha256sum of "abc"
	if h != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatal(h)
	}
	if _, err := atomicfile.SHA256(p + ".missing"); err == nil {
		t.Fatal("no error for a missing file")
	}
}

func assertNoTemps(t *testing.T, dir string) {
	t.Helper()
	es, _ := os.ReadDir(dir)
	for _, e := range es {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

func ExampleWrite() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "out.txt")
	err := atomicfile.Write(path, func(w io.Writer) error {
		_, err := fmt.Fprintln(w, "all or nothing")
		return err
	})
	b, _ := os.ReadFile(path)
	fmt.Print(string(b), err)
	// Output:
	// all or nothing
	// <nil>
}
