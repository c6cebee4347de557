// Package atomicfile writes files atomically and hashes them: every file
// gnaudit writes (reports, plots, audit metadata, noise sets, checkpoints,
// saved models, per-sample gradients, JUnit XML) goes through it, so that a
// full disk, a crash or a Ctrl-C leaves either the old file or the new one,
// never a truncated one.
//
// A write goes to a temporary file in the destination's directory (so the
// rename cannot cross file systems), is flushed and fsync'ed, gets its final
// mode (0644 unless the caller asks otherwise), and is renamed over the
// destination; the directory is then fsync'ed so the rename itself survives
// a crash. On any error the temporary file is removed and the destination is
// left as it was.
package atomicfile

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// Mode is the permission of the files written, set explicitly (the umask
// does not apply). Secret files pass 0600 to [WriteMode].
const Mode os.FileMode = 0o644

// WriteFile writes data to path atomically with mode 0644.
func WriteFile(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write creates path atomically with mode 0644: fill writes the contents
// through a buffered writer; the file appears at path only when fill, the
// flush, the fsync and the rename all succeed.
func Write(path string, fill func(w io.Writer) error) error {
	return WriteMode(path, Mode, fill)
}

// WriteMode is [Write] with the file mode perm (e.g. 0600 for a secret).
func WriteMode(path string, perm os.FileMode, fill func(w io.Writer) error) error {
	f, err := CreateMode(path, perm)
	if err != nil {
		return err
	}
	if err := fill(f); err != nil {
		f.Abort()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Commit()
}

// File is a file being written atomically: write to it, then Commit (which
// renames it into place) or Abort (which removes it). Abort after Commit is
// a no-op, so `defer f.Abort()` is safe.
type File struct {
	path string
	perm os.FileMode
	tmp  *os.File
	bw   *bufio.Writer
	w    io.Writer
	done bool
}

// Create starts an atomic write of path with mode 0644.
func Create(path string) (*File, error) { return CreateMode(path, Mode) }

// CreateMode starts an atomic write of path with mode perm.
func CreateMode(path string, perm os.FileMode) (*File, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	f := &File{path: path, perm: perm, tmp: tmp, bw: bufio.NewWriterSize(tmp, 1<<20)}
	f.w = f.bw
	if h := currentHook(); h != nil {
		f.w = h(path, f.bw)
	}
	return f, nil
}

// Name returns the destination path.
func (f *File) Name() string { return f.path }

// Write writes to the temporary file.
func (f *File) Write(p []byte) (int, error) {
	if f.done {
		return 0, fmt.Errorf("writing %s: %w", f.path, os.ErrClosed)
	}
	return f.w.Write(p)
}

// Commit flushes, syncs and closes the temporary file and renames it to the
// destination. On error the destination is unchanged and the temporary file
// removed.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("writing %s: %w", f.path, os.ErrClosed)
	}
	err := f.bw.Flush()
	if err == nil {
		err = f.tmp.Sync()
	}
	if err == nil {
		err = f.tmp.Chmod(f.perm)
	}
	if cerr := f.tmp.Close(); err == nil {
		err = cerr
	}
	f.done = true
	if err == nil {
		err = os.Rename(f.tmp.Name(), f.path)
	}
	if err != nil {
		os.Remove(f.tmp.Name())
		return fmt.Errorf("writing %s: %w", f.path, err)
	}
	syncDir(filepath.Dir(f.path))
	return nil
}

// Abort discards the write: the temporary file is removed and the
// destination left as it was.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.tmp.Close()
	os.Remove(f.tmp.Name())
}

// syncDir makes a rename durable (best effort: some file systems refuse
// to sync a directory).
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}

// SHA256 returns the hex SHA-256 of the file at path.
func SHA256(path string) (string, error) {
	b, err := SHA256Sum(path)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// SHA256Sum returns the SHA-256 of the file at path.
func SHA256Sum(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return h.Sum(nil), nil
}

// Hook wraps the writer of each atomic write; a fault-injection test uses
// it to make the writes of chosen files fail (a full disk). path is the
// destination.
type Hook func(path string, w io.Writer) io.Writer

var (
	hookMu sync.Mutex
	hook   Hook
)

func currentHook() Hook {
	hookMu.Lock()
	defer hookMu.Unlock()
	return hook
}

// SetTestHook installs h for the writes started after it (nil removes it)
// and returns a function restoring the previous hook. It is for tests
// only: production code never sets it.
func SetTestHook(h Hook) (restore func()) {
	hookMu.Lock()
	prev := hook
	hook = h
	hookMu.Unlock()
	return func() {
		hookMu.Lock()
		hook = prev
		hookMu.Unlock()
	}
}

// ErrNoSpace is the error of [FullDisk]'s writers (it wraps ENOSPC's
// message, not the errno, so it reads the same on every system).
var ErrNoSpace = errors.New("no space left on device (simulated)")

// FullDisk returns a Hook whose writers, for destinations match accepts,
// take the first limit bytes and then fail with ErrNoSpace: a disk that
// fills up while the file is written.
func FullDisk(match func(path string) bool, limit int) Hook {
	return func(path string, w io.Writer) io.Writer {
		if !match(path) {
			return w
		}
		return &limitWriter{w: w, left: limit}
	}
}

type limitWriter struct {
	w    io.Writer
	left int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if len(p) <= l.left {
		l.left -= len(p)
		return l.w.Write(p)
	}
	n, err := l.w.Write(p[:l.left])
	l.left = 0
	if err == nil {
		err = ErrNoSpace
	}
	return n, err
}
