package npy

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
)

// chunkBytes is the size of the reader's decoding buffer.
const chunkBytes = 256 << 10

// Reader streams the elements of one .npy array, in C order, after its header
// has been parsed by [NewReader].
type Reader struct {
	name string
	r    io.Reader
	h    Header
	done int64 // elements delivered so far
	buf  []byte
}

// NewReader reads and validates the header of a .npy stream. name is used in
// error messages (usually the file path). Errors wrap [ErrNotNPY],
// [ErrBadHeader] or [ErrUnsupported].
func NewReader(r io.Reader, name string) (*Reader, error) {
	h, err := readHeader(r)
	if err != nil {
		return nil, fmt.Errorf("npy: %s: %w", name, err)
	}
	return &Reader{name: name, r: r, h: *h}, nil
}

// Header returns the parsed header. Its Shape must not be modified.
func (r *Reader) Header() Header { return r.h }

// Remaining returns the number of elements not yet read.
func (r *Reader) Remaining() int64 { return r.h.N - r.done }

// truncated builds the error for a data section that ended early.
func (r *Reader) truncated(gotBytes int64) error {
	return fmt.Errorf("npy: %s: %w: %d of %d data bytes present (shape %s, %s)",
		r.name, ErrTruncated, gotBytes, r.h.DataBytes(), formatShape(r.h.Shape), r.h.DType)
}

// fill reads the raw bytes of up to max elements into r.buf and returns how
// many whole elements it holds; a short read returns the truncation error
// along with the whole elements that did arrive.
func (r *Reader) fill(max int) (int, error) {
	size := r.h.dt.size
	k := int(min(int64(max), r.Remaining(), int64(chunkBytes/size)))
	if k == 0 {
		return 0, nil
	}
	if cap(r.buf) < chunkBytes {
		r.buf = make([]byte, chunkBytes)
	}
	b := r.buf[:k*size]
	n, err := io.ReadFull(r.r, b)
	if err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return n / size, r.truncated(r.done*int64(size) + int64(n))
		}
		return n / size, fmt.Errorf("npy: %s: reading data: %w", r.name, err)
	}
	return k, nil
}

// ReadFloat64 reads up to len(dst) elements, converted to float64, and
// returns how many it stored. It returns 0, io.EOF once every element has
// been read, and an error wrapping [ErrTruncated] if the data ends early (dst
// then holds the n whole elements that were present).
func (r *Reader) ReadFloat64(dst []float64) (int, error) {
	if len(dst) > 0 && r.Remaining() == 0 {
		return 0, io.EOF
	}
	total := 0
	for total < len(dst) && r.Remaining() > 0 {
		k, err := r.fill(len(dst) - total)
		decodeFloat64(r.h.dt.name, dst[total:total+k], r.buf)
		total += k
		r.done += int64(k)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// ReadInt64 is ReadFloat64 for integer dtypes: it stores the exact values.
// It returns an error for float dtypes.
func (r *Reader) ReadInt64(dst []int64) (int, error) {
	if r.h.dt.kind == 'f' {
		return 0, fmt.Errorf("npy: %s: dtype %s is not an integer type", r.name, r.h.DType)
	}
	if len(dst) > 0 && r.Remaining() == 0 {
		return 0, io.EOF
	}
	total := 0
	for total < len(dst) && r.Remaining() > 0 {
		k, err := r.fill(len(dst) - total)
		decodeInt64(r.h.dt.name, dst[total:total+k], r.buf)
		total += k
		r.done += int64(k)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// decodeFloat64 converts len(dst) little-endian elements of dtype name from b.
func decodeFloat64(name string, dst []float64, b []byte) {
	le := binary.LittleEndian
	switch name {
	case Float32:
		b = b[:4*len(dst)]
		for i := range dst {
			dst[i] = float64(math.Float32frombits(le.Uint32(b[4*i:])))
		}
	case Float64:
		b = b[:8*len(dst)]
		for i := range dst {
			dst[i] = math.Float64frombits(le.Uint64(b[8*i:]))
		}
	case Int8:
		for i := range dst {
			dst[i] = float64(int8(b[i]))
		}
	case Int16:
		for i := range dst {
			dst[i] = float64(int16(le.Uint16(b[2*i:])))
		}
	case Int32:
		for i := range dst {
			dst[i] = float64(int32(le.Uint32(b[4*i:])))
		}
	case Int64:
		for i := range dst {
			dst[i] = float64(int64(le.Uint64(b[8*i:])))
		}
	case Uint8:
		for i := range dst {
			dst[i] = float64(b[i])
		}
	case Uint16:
		for i := range dst {
			dst[i] = float64(le.Uint16(b[2*i:]))
		}
	case Uint32:
		for i := range dst {
			dst[i] = float64(le.Uint32(b[4*i:]))
		}
	}
}

// decodeInt64 converts len(dst) little-endian integer elements from b.
func decodeInt64(name string, dst []int64, b []byte) {
	le := binary.LittleEndian
	switch name {
	case Int8:
		for i := range dst {
			dst[i] = int64(int8(b[i]))
		}
	case Int16:
		for i := range dst {
			dst[i] = int64(int16(le.Uint16(b[2*i:])))
		}
	case Int32:
		for i := range dst {
			dst[i] = int64(int32(le.Uint32(b[4*i:])))
		}
	case Int64:
		for i := range dst {
			dst[i] = int64(le.Uint64(b[8*i:]))
		}
	case Uint8:
		for i := range dst {
			dst[i] = int64(b[i])
		}
	case Uint16:
		for i := range dst {
			dst[i] = int64(le.Uint16(b[2*i:]))
		}
	case Uint32:
		for i := range dst {
			dst[i] = int64(le.Uint32(b[4*i:]))
		}
	}
}

// readAll reads the remaining elements into an Array. capHint bounds the
// initial allocation (the header of an untrusted stream may lie about the
// size; the slices then grow only as data actually arrives).
func (r *Reader) readAll(capHint int64) (*Array, error) {
	a := &Array{Shape: slices.Clone(r.h.Shape), DType: r.h.DType}
	if a.Shape == nil {
		a.Shape = []int{}
	}
	n := r.Remaining()
	const step = 1 << 16
	if r.h.dt.kind == 'f' {
		a.F64 = make([]float64, 0, min(n, capHint))
		for int64(len(a.F64)) < n {
			k := int(min(n-int64(len(a.F64)), step))
			a.F64 = slices.Grow(a.F64, k)
			got, err := r.ReadFloat64(a.F64[len(a.F64) : len(a.F64)+k])
			a.F64 = a.F64[:len(a.F64)+got]
			if err != nil {
				return nil, err
			}
		}
		return a, nil
	}
	a.I64 = make([]int64, 0, min(n, capHint))
	for int64(len(a.I64)) < n {
		k := int(min(n-int64(len(a.I64)), step))
		a.I64 = slices.Grow(a.I64, k)
		got, err := r.ReadInt64(a.I64[len(a.I64) : len(a.I64)+k])
		a.I64 = a.I64[:len(a.I64)+got]
		if err != nil {
			return nil, err
		}
	}
	a.F64 = make([]float64, len(a.I64))
	for i, v := range a.I64 {
		a.F64[i] = float64(v)
	}
	return a, nil
}

// Read reads a whole .npy array from r; name is used in error messages.
// Bytes after the array's data are not read.
func Read(r io.Reader, name string) (*Array, error) {
	rd, err := NewReader(r, name)
	if err != nil {
		return nil, err
	}
	return rd.readAll(1 << 20)
}

// File is an open .npy file whose size has been checked against its header:
// reading all Remaining elements cannot run short unless the file changes.
type File struct {
	*Reader
	f *os.File
}

// Open opens a .npy file, parses its header and checks that the file holds
// exactly the data the header describes (a shorter file is an error wrapping
// [ErrTruncated]; trailing bytes after the data are an error too).
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("npy: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("npy: %w", err)
	}
	if st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("npy: %s: is a directory", path)
	}
	rd, err := NewReader(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	h := rd.h
	have := st.Size() - h.DataOffset
	switch {
	case have < h.DataBytes():
		f.Close()
		return nil, rd.truncated(max(have, 0))
	case have > h.DataBytes():
		f.Close()
		return nil, fmt.Errorf("npy: %s: %d unexpected bytes after the data (shape %s, %s needs %d data bytes)",
			path, have-h.DataBytes(), formatShape(h.Shape), h.DType, h.DataBytes())
	}
	return &File{Reader: rd, f: f}, nil
}

// Close closes the file.
func (f *File) Close() error { return f.f.Close() }

// ReadFile reads a whole .npy file. See [Open] for the size checks.
func ReadFile(path string) (*Array, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.readAll(f.Remaining())
}
