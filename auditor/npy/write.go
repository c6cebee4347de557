package npy

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/gnaudit/gnaudit/auditor/atomicfile"
)

// Writer streams the elements of one array of known dtype and shape to a
// .npy stream, in C order. Create it with [NewWriter], write exactly the
// number of elements the shape holds (in any number of calls), then Close.
type Writer struct {
	w         io.Writer
	dt        dtype
	shape     []int
	remaining int64
	buf       []byte
}

// NewWriter writes the header for an array of the given dtype (one of the
// dtype name constants, e.g. [Float32]) and shape, and returns a Writer for
// its elements. The header is byte-identical to numpy.save's.
func NewWriter(w io.Writer, dtypeName string, shape []int) (*Writer, error) {
	dt, ok := dtypeByName(dtypeName)
	if !ok {
		return nil, fmt.Errorf("npy: unsupported dtype %q for writing", dtypeName)
	}
	n, err := numElements(shape, dt.size)
	if err != nil {
		return nil, fmt.Errorf("npy: %w", err)
	}
	hdr, err := encodeHeader(dt, shape)
	if err != nil {
		return nil, fmt.Errorf("npy: %w", err)
	}
	if _, err := w.Write(hdr); err != nil {
		return nil, fmt.Errorf("npy: writing header: %w", err)
	}
	return &Writer{w: w, dt: dt, shape: append([]int(nil), shape...), remaining: n}, nil
}

// Remaining returns how many elements are still expected.
func (w *Writer) Remaining() int64 { return w.remaining }

func (w *Writer) reserve(n int) error {
	if int64(n) > w.remaining {
		return fmt.Errorf("npy: %d elements written but only %d remain for shape %s", n, w.remaining, formatShape(w.shape))
	}
	return nil
}

func (w *Writer) flush(b []byte, n int) error {
	if _, err := w.w.Write(b); err != nil {
		return fmt.Errorf("npy: writing data: %w", err)
	}
	w.remaining -= int64(n)
	return nil
}

// chunk returns a scratch buffer for up to chunkBytes of output.
func (w *Writer) chunk() []byte {
	if w.buf == nil {
		w.buf = make([]byte, chunkBytes)
	}
	return w.buf
}

// WriteFloat64 writes elements given as float64. Float32 files store them
// rounded to float32; integer files accept only integral values within the
// dtype's range (anything else is an error, nothing is silently changed).
func (w *Writer) WriteFloat64(v []float64) error {
	if err := w.reserve(len(v)); err != nil {
		return err
	}
	per := chunkBytes / w.dt.size
	for len(v) > 0 {
		k := min(len(v), per)
		b := w.chunk()[:k*w.dt.size]
		if err := encodeFloat64(w.dt, b, v[:k]); err != nil {
			return err
		}
		if err := w.flush(b, k); err != nil {
			return err
		}
		v = v[k:]
	}
	return nil
}

// WriteFloat32 writes elements given as float32 (float32 and float64 files
// only).
func (w *Writer) WriteFloat32(v []float32) error {
	if w.dt.kind != 'f' {
		return fmt.Errorf("npy: cannot write float32 values to a %s array", w.dt.name)
	}
	if err := w.reserve(len(v)); err != nil {
		return err
	}
	le := binary.LittleEndian
	per := chunkBytes / w.dt.size
	for len(v) > 0 {
		k := min(len(v), per)
		b := w.chunk()[:k*w.dt.size]
		if w.dt.name == Float32 {
			for i, x := range v[:k] {
				le.PutUint32(b[4*i:], math.Float32bits(x))
			}
		} else {
			for i, x := range v[:k] {
				le.PutUint64(b[8*i:], math.Float64bits(float64(x)))
			}
		}
		if err := w.flush(b, k); err != nil {
			return err
		}
		v = v[k:]
	}
	return nil
}

// WriteInt64 writes integer elements. Integer files require each value to
// fit the dtype; float files store float64(v) (rounded for |v| > 2^53, or
// 2^24 for float32).
func (w *Writer) WriteInt64(v []int64) error {
	if err := w.reserve(len(v)); err != nil {
		return err
	}
	per := chunkBytes / w.dt.size
	for len(v) > 0 {
		k := min(len(v), per)
		b := w.chunk()[:k*w.dt.size]
		if err := encodeInt64(w.dt, b, v[:k]); err != nil {
			return err
		}
		if err := w.flush(b, k); err != nil {
			return err
		}
		v = v[k:]
	}
	return nil
}

// Close checks that every element of the shape was written. It does not
// close the underlying writer.
func (w *Writer) Close() error {
	if w.remaining != 0 {
		return fmt.Errorf("npy: %d elements missing for shape %s", w.remaining, formatShape(w.shape))
	}
	return nil
}

// intRange returns the value range of an integer dtype.
func intRange(dt dtype) (lo, hi int64) {
	bits := uint(8 * dt.size)
	if dt.kind == 'u' {
		return 0, int64(uint64(1)<<bits - 1)
	}
	if bits == 64 {
		return math.MinInt64, math.MaxInt64
	}
	return -(int64(1) << (bits - 1)), int64(1)<<(bits-1) - 1
}

func putInt(dt dtype, b []byte, x int64) {
	le := binary.LittleEndian
	switch dt.size {
	case 1:
		b[0] = byte(x)
	case 2:
		le.PutUint16(b, uint16(x))
	case 4:
		le.PutUint32(b, uint32(x))
	case 8:
		le.PutUint64(b, uint64(x))
	}
}

func encodeFloat64(dt dtype, b []byte, v []float64) error {
	le := binary.LittleEndian
	switch dt.name {
	case Float32:
		for i, x := range v {
			le.PutUint32(b[4*i:], math.Float32bits(float32(x)))
		}
	case Float64:
		for i, x := range v {
			le.PutUint64(b[8*i:], math.Float64bits(x))
		}
	default:
		lo, hi := intRange(dt)
		for i, x := range v {
			// float64(hi) may round up to 2^63 for int64: compare with <.
			if x != math.Trunc(x) || x < float64(lo) || x >= float64(hi)+1 {
				return fmt.Errorf("npy: value %v cannot be stored exactly as %s", x, dt.name)
			}
			putInt(dt, b[i*dt.size:], int64(x))
		}
	}
	return nil
}

func encodeInt64(dt dtype, b []byte, v []int64) error {
	le := binary.LittleEndian
	switch dt.name {
	case Float32:
		for i, x := range v {
			le.PutUint32(b[4*i:], math.Float32bits(float32(x)))
		}
	case Float64:
		for i, x := range v {
			le.PutUint64(b[8*i:], math.Float64bits(float64(x)))
		}
	default:
		lo, hi := intRange(dt)
		for i, x := range v {
			if x < lo || x > hi {
				return fmt.Errorf("npy: value %d out of range for %s", x, dt.name)
			}
			putInt(dt, b[i*dt.size:], x)
		}
	}
	return nil
}

// WriteFloat32 writes a whole float32 array of the given shape to w.
func WriteFloat32(w io.Writer, shape []int, data []float32) error {
	return writeWhole(w, Float32, shape, len(data), func(nw *Writer) error { return nw.WriteFloat32(data) })
}

// WriteFloat64 writes a whole float64 array of the given shape to w.
func WriteFloat64(w io.Writer, shape []int, data []float64) error {
	return writeWhole(w, Float64, shape, len(data), func(nw *Writer) error { return nw.WriteFloat64(data) })
}

// WriteInt64 writes a whole int64 array of the given shape to w.
func WriteInt64(w io.Writer, shape []int, data []int64) error {
	return writeWhole(w, Int64, shape, len(data), func(nw *Writer) error { return nw.WriteInt64(data) })
}

func writeWhole(w io.Writer, dtypeName string, shape []int, n int, write func(*Writer) error) error {
	dt, _ := dtypeByName(dtypeName)
	want, err := numElements(shape, dt.size)
	if err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	if want != int64(n) {
		return fmt.Errorf("npy: shape %s holds %d elements, got %d", formatShape(shape), want, n)
	}
	nw, err := NewWriter(w, dtypeName, shape)
	if err != nil {
		return err
	}
	if err := write(nw); err != nil {
		return err
	}
	return nw.Close()
}

// WriteFileFloat32 writes a float32 array to path (see [WriteFile]).
func WriteFileFloat32(path string, shape []int, data []float32) error {
	return WriteFile(path, func(w io.Writer) error { return WriteFloat32(w, shape, data) })
}

// WriteFileFloat64 writes a float64 array to path (see [WriteFile]).
func WriteFileFloat64(path string, shape []int, data []float64) error {
	return WriteFile(path, func(w io.Writer) error { return WriteFloat64(w, shape, data) })
}

// WriteFileInt64 writes an int64 array to path (see [WriteFile]).
func WriteFileInt64(path string, shape []int, data []int64) error {
	return WriteFile(path, func(w io.Writer) error { return WriteInt64(w, shape, data) })
}

// WriteFile creates path atomically: write fills a buffered temporary file in
// the same directory, which is renamed to path only if write and the flush
// succeed (a failed write leaves no partial file). Use it with [NewWriter]
// to stream large arrays to disk.
func WriteFile(path string, write func(w io.Writer) error) error {
	if err := atomicfile.Write(path, write); err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	return nil
}
