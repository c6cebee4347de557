package npy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Header is the parsed header of a .npy file.
type Header struct {
	// Major and Minor are the format version (1.0, 2.0 or 3.0).
	Major, Minor byte
	// Descr is the dtype descriptor as written in the file, e.g. "<f4".
	Descr string
	// DType is the numpy name of the element type, e.g. "float32".
	DType string
	// Shape is the array shape; empty for a 0-d array.
	Shape []int
	// DataOffset is the byte offset of the first element in the file.
	DataOffset int64
	// N is the number of elements (product of Shape).
	N int64

	dt dtype
}

// ElemSize returns the size of one element in bytes.
func (h *Header) ElemSize() int { return h.dt.size }

// DataBytes returns the size of the data section in bytes.
func (h *Header) DataBytes() int64 { return h.N * int64(h.dt.size) }

// Sentinel errors wrapped by the reader's errors (test with errors.Is).
var (
	// ErrNotNPY: the input does not start with the .npy magic string.
	ErrNotNPY = errors.New("not a .npy file")
	// ErrBadHeader: the preamble or header dictionary is malformed.
	ErrBadHeader = errors.New("bad .npy header")
	// ErrUnsupported: a valid .npy file this package cannot read (dtype,
	// byte order, fortran_order, format version).
	ErrUnsupported = errors.New("unsupported .npy content")
	// ErrTruncated: the data section is shorter than the header promises.
	ErrTruncated = errors.New("truncated .npy data")
)

// readHeader reads and validates the magic, version and header dictionary.
func readHeader(r io.Reader) (*Header, error) {
	var pre [8]byte
	if n, err := io.ReadFull(r, pre[:]); err != nil {
		m := min(n, len(Magic))
		switch {
		case n == 0:
			return nil, fmt.Errorf("%w: empty file", ErrNotNPY)
		case string(pre[:m]) != Magic[:m]:
			return nil, fmt.Errorf("%w: wrong magic %q (want %q)", ErrNotNPY, pre[:m], Magic)
		default:
			return nil, fmt.Errorf("%w: truncated preamble (%d bytes)", ErrBadHeader, n)
		}
	}
	if string(pre[:6]) != Magic {
		return nil, fmt.Errorf("%w: wrong magic %q (want %q)", ErrNotNPY, pre[:6], Magic)
	}
	h := &Header{Major: pre[6], Minor: pre[7]}
	var hlen int64
	switch {
	case h.Major == 1 && h.Minor == 0:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("%w: truncated header length", ErrBadHeader)
		}
		hlen = int64(binary.LittleEndian.Uint16(b[:]))
		h.DataOffset = 10 + hlen
	case (h.Major == 2 || h.Major == 3) && h.Minor == 0:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("%w: truncated header length", ErrBadHeader)
		}
		hlen = int64(binary.LittleEndian.Uint32(b[:]))
		h.DataOffset = 12 + hlen
	default:
		return nil, fmt.Errorf("%w: format version %d.%d (supported: 1.0, 2.0, 3.0)", ErrUnsupported, h.Major, h.Minor)
	}
	if hlen > MaxHeaderLen {
		return nil, fmt.Errorf("%w: header length %d exceeds the limit of %d bytes", ErrBadHeader, hlen, MaxHeaderLen)
	}
	buf := make([]byte, hlen)
	if n, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("%w: truncated header: %d of %d bytes", ErrBadHeader, n, hlen)
	}
	if err := parseHeaderDict(string(buf), h); err != nil {
		if errors.Is(err, ErrUnsupported) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", ErrBadHeader, err)
	}
	return h, nil
}

// parseHeaderDict parses the Python dict literal of a header into h.
func parseHeaderDict(s string, h *Header) error {
	p := &litParser{s: s}
	vals, err := p.dict()
	if err != nil {
		return err
	}
	p.skipSpace()
	if p.i != len(p.s) {
		return fmt.Errorf("unexpected text after the header dictionary at byte %d", p.i)
	}
	var haveDescr, haveOrder, haveShape bool
	for _, kv := range vals {
		switch kv.key {
		case "descr":
			if haveDescr {
				return fmt.Errorf("duplicate key 'descr'")
			}
			haveDescr = true
			if kv.val.kind != litString {
				if kv.val.kind == litList {
					return fmt.Errorf("%w: structured dtypes", ErrUnsupported)
				}
				return fmt.Errorf("'descr' is not a string")
			}
			h.Descr = kv.val.str
		case "fortran_order":
			if haveOrder {
				return fmt.Errorf("duplicate key 'fortran_order'")
			}
			haveOrder = true
			if kv.val.kind != litBool {
				return fmt.Errorf("'fortran_order' is not True or False")
			}
			if kv.val.b {
				return fmt.Errorf("%w: fortran_order True (save a C-ordered array: np.save(f, np.ascontiguousarray(a)))", ErrUnsupported)
			}
		case "shape":
			if haveShape {
				return fmt.Errorf("duplicate key 'shape'")
			}
			haveShape = true
			if kv.val.kind != litTuple {
				return fmt.Errorf("'shape' is not a tuple of integers")
			}
			h.Shape = kv.val.ints
		default:
			return fmt.Errorf("unexpected key %q in header", kv.key)
		}
	}
	if !haveDescr || !haveOrder || !haveShape {
		return fmt.Errorf("header lacks one of the keys 'descr', 'fortran_order', 'shape'")
	}
	dt, err := dtypeByDescr(h.Descr)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	h.dt = dt
	h.DType = dt.name
	n, err := numElements(h.Shape, dt.size)
	if err != nil {
		return err
	}
	h.N = n
	return nil
}

type litKind int

const (
	litString litKind = iota
	litBool
	litTuple
	litList
	litInt
)

type litValue struct {
	kind litKind
	str  string
	b    bool
	ints []int
}

type keyValue struct {
	key string
	val litValue
}

// litParser parses the subset of Python literals found in .npy headers:
// a dict with string keys whose values are strings, True/False, tuples of
// integers (optionally with Python 2's 'L' suffix) or, for structured
// dtypes, lists (only recognised, to be rejected).
type litParser struct {
	s string
	i int
}

func (p *litParser) skipSpace() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *litParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *litParser) expect(c byte) error {
	p.skipSpace()
	if p.peek() != c {
		if p.i >= len(p.s) {
			return fmt.Errorf("expected %q, found end of header", c)
		}
		return fmt.Errorf("expected %q at byte %d, found %q", c, p.i, p.s[p.i])
	}
	p.i++
	return nil
}

func (p *litParser) dict() ([]keyValue, error) {
	if err := p.expect('{'); err != nil {
		return nil, err
	}
	var out []keyValue
	for {
		p.skipSpace()
		if p.peek() == '}' {
			p.i++
			return out, nil
		}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		if err := p.expect(':'); err != nil {
			return nil, err
		}
		val, err := p.value()
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", key, err)
		}
		out = append(out, keyValue{key, val})
		p.skipSpace()
		switch p.peek() {
		case ',':
			p.i++
		case '}':
		default:
			if p.i >= len(p.s) {
				return nil, fmt.Errorf("unterminated dictionary")
			}
			return nil, fmt.Errorf("expected ',' or '}' at byte %d, found %q", p.i, p.s[p.i])
		}
	}
}

func (p *litParser) str() (string, error) {
	p.skipSpace()
	q := p.peek()
	if q != '\'' && q != '"' {
		if p.i >= len(p.s) {
			return "", fmt.Errorf("expected a string, found end of header")
		}
		return "", fmt.Errorf("expected a string at byte %d, found %q", p.i, p.s[p.i])
	}
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch c {
		case q:
			return b.String(), nil
		case '\\':
			if p.i >= len(p.s) {
				return "", fmt.Errorf("unterminated string")
			}
			b.WriteByte(p.s[p.i])
			p.i++
		case '\n':
			return "", fmt.Errorf("newline in string")
		default:
			b.WriteByte(c)
		}
	}
	return "", fmt.Errorf("unterminated string")
}

func (p *litParser) value() (litValue, error) {
	p.skipSpace()
	switch c := p.peek(); {
	case c == '\'' || c == '"':
		s, err := p.str()
		return litValue{kind: litString, str: s}, err
	case c == '(':
		p.i++
		ints, err := p.intSeq(')')
		return litValue{kind: litTuple, ints: ints}, err
	case c == '[':
		return litValue{kind: litList}, p.skipBalanced()
	case strings.HasPrefix(p.s[p.i:], "True"):
		p.i += 4
		return litValue{kind: litBool, b: true}, nil
	case strings.HasPrefix(p.s[p.i:], "False"):
		p.i += 5
		return litValue{kind: litBool, b: false}, nil
	case c >= '0' && c <= '9' || c == '-':
		v, err := p.int()
		return litValue{kind: litInt, ints: []int{v}}, err
	case p.i >= len(p.s):
		return litValue{}, fmt.Errorf("expected a value, found end of header")
	default:
		return litValue{}, fmt.Errorf("unsupported value at byte %d", p.i)
	}
}

// intSeq parses "a, b, c)" after the opening bracket.
func (p *litParser) intSeq(closer byte) ([]int, error) {
	ints := []int{}
	for {
		p.skipSpace()
		if p.peek() == closer {
			p.i++
			return ints, nil
		}
		v, err := p.int()
		if err != nil {
			return nil, err
		}
		ints = append(ints, v)
		p.skipSpace()
		switch p.peek() {
		case ',':
			p.i++
		case closer:
		default:
			if p.i >= len(p.s) {
				return nil, fmt.Errorf("unterminated tuple")
			}
			return nil, fmt.Errorf("expected ',' or %q at byte %d, found %q", closer, p.i, p.s[p.i])
		}
	}
}

func (p *litParser) int() (int, error) {
	p.skipSpace()
	start := p.i
	if p.peek() == '-' {
		p.i++
	}
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	lit := p.s[start:p.i]
	if p.peek() == 'L' { // Python 2 long suffix
		p.i++
	}
	v, err := strconv.ParseInt(lit, 10, 64)
	if err != nil || int64(int(v)) != v {
		return 0, fmt.Errorf("invalid integer %q at byte %d", lit, start)
	}
	return int(v), nil
}

// skipBalanced skips a bracketed list literal (used only to report
// structured dtypes with a clear message).
func (p *litParser) skipBalanced() error {
	depth := 0
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case '[', '(':
			depth++
		case ']', ')':
			depth--
		case '\'', '"':
			if _, err := p.str(); err != nil {
				return err
			}
			continue
		}
		p.i++
		if depth == 0 {
			return nil
		}
	}
	return fmt.Errorf("unterminated list")
}

// growthAxisMaxDigits is numpy's spare room after the header dict (numpy ≥ 1.24).
const growthAxisMaxDigits = 21

// encodeHeader returns the full preamble (magic, version, length, padded
// dict) for an array of the given dtype and shape, exactly as numpy.save
// writes it: version 1.0 unless the header is too long for it.
func encodeHeader(dt dtype, shape []int) ([]byte, error) {
	dict := "{'descr': '" + dt.descr + "', 'fortran_order': False, 'shape': " + formatShape(shape) + ", }"
	if len(shape) > 0 {
		dict += strings.Repeat(" ", max(0, growthAxisMaxDigits-len(strconv.Itoa(shape[0]))))
	}
	hlen := len(dict) + 1 // + final newline
	for _, v := range []struct {
		major   byte
		lenSize int
	}{{1, 2}, {2, 4}} {
		pre := len(Magic) + 2 + v.lenSize
		pad := 64 - (pre+hlen)%64
		// Like numpy, pad is 64 (not 0) when the length is already aligned.
		total := hlen + pad
		if v.lenSize == 2 && total > 0xffff || int64(total) > 0xffffffff {
			continue
		}
		out := make([]byte, 0, pre+total)
		out = append(out, Magic...)
		out = append(out, v.major, 0)
		if v.lenSize == 2 {
			out = binary.LittleEndian.AppendUint16(out, uint16(total))
		} else {
			out = binary.LittleEndian.AppendUint32(out, uint32(total))
		}
		out = append(out, dict...)
		out = append(out, strings.Repeat(" ", pad)...)
		out = append(out, '\n')
		return out, nil
	}
	return nil, fmt.Errorf("header for shape of %d dimensions is too long", len(shape))
}
