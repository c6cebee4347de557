// Package npy reads and writes NumPy .npy files.
//
// Supported: format versions 1.0, 2.0 and 3.0; C (row-major) order; the
// little-endian numeric dtypes
//
//	float32 '<f4'   float64 '<f8'
//	int8    '|i1'   int16   '<i2'   int32 '<i4'   int64 '<i8'
//	uint8   '|u1'   uint16  '<u2'   uint32 '<u4'
//
// Not supported (each is reported as a clear error naming the file):
// fortran_order True, big-endian data, structured, object, complex, bool,
// string and other dtypes, and pickled arrays.
//
// Reading: [ReadFile] and [Read] load a whole array; [NewReader] (or [Open]
// for a file, with its size checked against the header) parses the header
// and then streams the elements in chunks ([Reader.ReadFloat64],
// [Reader.ReadInt64]), so that a caller can lay out large arrays as it likes
// without a second full copy; [Reader.ReadColumnMajor] and
// [Reader.ReadColumnMajorFloat32] read a 2-D array transposed to
// column-major order, in parallel, for per-column work. Writing: [WriteFloat32], [WriteFloat64],
// [WriteInt64] (and the WriteFile* variants, which write atomically through a
// temporary file) write whole arrays; [NewWriter] streams elements of a
// known shape. The writers produce the same bytes as numpy.save (numpy ≥ 1.24
// header layout, format 1.0 unless the header needs 2.0).
package npy

import (
	"fmt"
	"strconv"
	"strings"
)

// Magic is the prefix of every .npy file.
const Magic = "\x93NUMPY"

// Names of the supported dtypes, as used in [Array.DType], [Header.DType] and
// [NewWriter] (numpy's names).
const (
	Float32 = "float32"
	Float64 = "float64"
	Int8    = "int8"
	Int16   = "int16"
	Int32   = "int32"
	Int64   = "int64"
	Uint8   = "uint8"
	Uint16  = "uint16"
	Uint32  = "uint32"
)

// MaxHeaderLen bounds the header length accepted by the reader (numpy's own
// default limit is 10000 bytes); it protects against hostile files.
const MaxHeaderLen = 1 << 20

// dtype describes one supported element type.
type dtype struct {
	name  string // numpy name, e.g. "float32"
	descr string // canonical descr written to files, e.g. "<f4"
	kind  byte   // 'f', 'i' or 'u'
	size  int    // bytes per element
}

var dtypes = []dtype{
	{Float32, "<f4", 'f', 4},
	{Float64, "<f8", 'f', 8},
	{Int8, "|i1", 'i', 1},
	{Int16, "<i2", 'i', 2},
	{Int32, "<i4", 'i', 4},
	{Int64, "<i8", 'i', 8},
	{Uint8, "|u1", 'u', 1},
	{Uint16, "<u2", 'u', 2},
	{Uint32, "<u4", 'u', 4},
}

// dtypeByName returns the dtype with the given numpy name.
func dtypeByName(name string) (dtype, bool) {
	for _, d := range dtypes {
		if d.name == name {
			return d, true
		}
	}
	return dtype{}, false
}

// dtypeByDescr maps a descr string from a file header to a supported dtype.
// One-byte types may carry any byte-order mark; wider types must be '<'.
func dtypeByDescr(descr string) (dtype, error) {
	const supported = "(supported: float32, float64, int8/16/32/64, uint8/16/32, little-endian)"
	if len(descr) < 3 {
		return dtype{}, fmt.Errorf("dtype %q %s", descr, supported)
	}
	order, rest := descr[0], descr[1:]
	for _, d := range dtypes {
		if d.descr[1:] != rest {
			continue
		}
		switch {
		case order == '<':
			return d, nil
		case d.size == 1 && (order == '|' || order == '>' || order == '='):
			return d, nil
		case order == '>':
			return dtype{}, fmt.Errorf("big-endian dtype %q (convert with a.astype('<%s'))", descr, rest)
		default:
			return dtype{}, fmt.Errorf("byte order of dtype %q (only little-endian '<' is supported)", descr)
		}
	}
	return dtype{}, fmt.Errorf("dtype %q %s", descr, supported)
}

// Array is a whole array read from a .npy file, in C (row-major) order.
type Array struct {
	// Shape is the array's shape; empty for a 0-d (scalar) array.
	Shape []int
	// DType is the numpy name of the element type in the file, e.g. "float32".
	DType string
	// F64 holds every element converted to float64 (for every dtype; int64
	// values beyond ±2^53 are rounded).
	F64 []float64
	// I64 holds the elements of integer dtypes exactly; nil for float dtypes.
	I64 []int64
}

// Len returns the number of elements.
func (a *Array) Len() int { return len(a.F64) }

// IsFloat reports whether the array's dtype is a floating-point type.
func (a *Array) IsFloat() bool { return a.DType == Float32 || a.DType == Float64 }

// formatShape writes a shape like Python's repr of a tuple: (), (3,), (2, 3).
func formatShape(shape []int) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, s := range shape {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(s))
	}
	if len(shape) == 1 {
		b.WriteByte(',')
	}
	b.WriteByte(')')
	return b.String()
}

// numElements returns the product of the dimensions, checking that each is
// non-negative and that the byte size (times elemSize) fits an int64.
func numElements(shape []int, elemSize int) (int64, error) {
	n := int64(1)
	const limit = int64(1) << 62
	for _, s := range shape {
		if s < 0 {
			return 0, fmt.Errorf("negative dimension in shape %s", formatShape(shape))
		}
		if n != 0 && int64(s) > limit/int64(elemSize)/n {
			return 0, fmt.Errorf("shape %s is too large", formatShape(shape))
		}
		n *= int64(s)
	}
	return n, nil
}
