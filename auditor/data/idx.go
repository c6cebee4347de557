package data

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
)

// IDX element types (the third byte of the magic number).
const (
	IDXUint8   byte = 0x08
	IDXInt8    byte = 0x09
	IDXInt16   byte = 0x0B
	IDXInt32   byte = 0x0C
	IDXFloat32 byte = 0x0D
	IDXFloat64 byte = 0x0E
)

// idxElemSize returns the size of an IDX element type, 0 when unknown.
func idxElemSize(t byte) int {
	switch t {
	case IDXUint8, IDXInt8:
		return 1
	case IDXInt16:
		return 2
	case IDXInt32, IDXFloat32:
		return 4
	case IDXFloat64:
		return 8
	}
	return 0
}

// maxIDXBytes bounds the payload a header may announce (16 GiB).
const maxIDXBytes = int64(16) << 30

// IDX is the content of an IDX file (the MNIST format): a big-endian array.
type IDX struct {
	Path string // the file read
	Type byte   // element type, IDXUint8 …
	Dims []int  // dimensions, the first one the sample count
	Data []byte // payload, big-endian, product(Dims)·element size bytes
}

// Len returns the number of elements.
func (x *IDX) Len() int { return len(x.Data) / idxElemSize(x.Type) }

// At returns element i as a float64.
func (x *IDX) At(i int) float64 {
	b := x.Data
	switch x.Type {
	case IDXUint8:
		return float64(b[i])
	case IDXInt8:
		return float64(int8(b[i]))
	case IDXInt16:
		return float64(int16(binary.BigEndian.Uint16(b[2*i:])))
	case IDXInt32:
		return float64(int32(binary.BigEndian.Uint32(b[4*i:])))
	case IDXFloat32:
		return float64(math.Float32frombits(binary.BigEndian.Uint32(b[4*i:])))
	default:
		return math.Float64frombits(binary.BigEndian.Uint64(b[8*i:]))
	}
}

// isInteger reports whether the element type is an integer type.
func (x *IDX) isInteger() bool {
	return x.Type == IDXUint8 || x.Type == IDXInt8 || x.Type == IDXInt16 || x.Type == IDXInt32
}

// ReadIDX reads an IDX file, gzip-compressed or not (detected from the
// content, not the name). It checks the magic number (two zero bytes, a known
// element type, 1 to 8 dimensions), and that the payload holds exactly the
// announced number of elements: a truncated file, a truncated or corrupt gzip
// stream and trailing bytes are errors naming the file.
func ReadIDX(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("idx: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("idx: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("idx: %s: is a directory", path)
	}
	br := bufio.NewReaderSize(f, 1<<16)
	var r io.Reader = br
	gz := false
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("idx: %s: gzip: %w", path, err)
		}
		defer zr.Close()
		r = zr
		gz = true
	}
	fail := func(format string, a ...any) (*IDX, error) {
		return nil, fmt.Errorf("idx: %s: %s", path, fmt.Sprintf(format, a...))
	}
	readErr := func(what string, err error) (*IDX, error) {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			if gz {
				return fail("truncated gzip stream while reading the %s", what)
			}
			return fail("truncated file while reading the %s", what)
		}
		return fail("reading the %s: %v", what, err)
	}
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return readErr("magic number", err)
	}
	if magic[0] != 0 || magic[1] != 0 || idxElemSize(magic[2]) == 0 || magic[3] == 0 || magic[3] > 8 {
		return fail("bad magic number %#08x (want 0x0000TTDD: element type TT in 08,09,0B,0C,0D,0E, 1 to 8 dimensions DD)",
			binary.BigEndian.Uint32(magic[:]))
	}
	x := &IDX{Path: path, Type: magic[2], Dims: make([]int, magic[3])}
	dimBytes := make([]byte, 4*len(x.Dims))
	if _, err := io.ReadFull(r, dimBytes); err != nil {
		return readErr("dimensions", err)
	}
	size := int64(idxElemSize(x.Type))
	for i := range x.Dims {
		d := int64(binary.BigEndian.Uint32(dimBytes[4*i:]))
		if d == 0 {
			return fail("dimension %d is zero", i)
		}
		if size > maxIDXBytes/d {
			return fail("dimensions %v announce more than %d bytes", dimsOf(dimBytes), maxIDXBytes)
		}
		size *= d
		x.Dims[i] = int(d)
	}
	hdr := int64(4 + len(dimBytes))
	if !gz && st.Size()-hdr != size {
		if st.Size()-hdr < size {
			return fail("truncated: %d data bytes, the header (dimensions %v) needs %d", st.Size()-hdr, x.Dims, size)
		}
		return fail("%d unexpected bytes after the data (dimensions %v need %d)", st.Size()-hdr-size, x.Dims, size)
	}
	// ReadAll grows as data arrives, so a lying gzip header cannot make us
	// allocate the announced size up front.
	data, err := io.ReadAll(io.LimitReader(r, size+1))
	if err != nil {
		return readErr("data", err)
	}
	switch {
	case int64(len(data)) < size:
		return fail("truncated: %d data bytes, the header (dimensions %v) needs %d", len(data), x.Dims, size)
	case int64(len(data)) > size:
		return fail("unexpected bytes after the data (dimensions %v need %d)", x.Dims, size)
	}
	if gz {
		// Drain to the end of the stream so that the gzip checksum is verified.
		if _, err := io.Copy(io.Discard, r); err != nil {
			return readErr("end of the gzip stream", err)
		}
	}
	x.Data = data
	return x, nil
}

// dimsOf decodes big-endian uint32 dimensions, for messages.
func dimsOf(b []byte) []uint32 {
	out := make([]uint32, len(b)/4)
	for i := range out {
		out[i] = binary.BigEndian.Uint32(b[4*i:])
	}
	return out
}

// LoadIDX loads an image file ([N, H, W], one channel, any element type) and
// a label file ([N], integer type) in IDX format, gzip-compressed or not. The
// class count is the largest label plus one.
func LoadIDX(images, labels string) (Dataset, error) {
	return loadIDX(images, labels, 0, nil)
}

// loadIDX is LoadIDX with a known class count (0: from the labels).
func loadIDX(images, labels string, classes int, names []string) (Dataset, error) {
	im, err := ReadIDX(images)
	if err != nil {
		return Dataset{}, err
	}
	if len(im.Dims) != 3 {
		return Dataset{}, fmt.Errorf("idx: %s: images must have 3 dimensions [N, H, W], the file has %v", images, im.Dims)
	}
	lb, err := ReadIDX(labels)
	if err != nil {
		return Dataset{}, err
	}
	if len(lb.Dims) != 1 || !lb.isInteger() {
		return Dataset{}, fmt.Errorf("idx: %s: labels must be a 1-dimensional integer array, the file has dimensions %v, type %#02x", labels, lb.Dims, lb.Type)
	}
	n := im.Dims[0]
	if lb.Dims[0] != n {
		return Dataset{}, fmt.Errorf("idx: %s has %d images but %s has %d labels", images, n, labels, lb.Dims[0])
	}
	ys, maxY, err := intLabels(labels, lb.Len(), func(i int) float64 { return lb.At(i) }, classes)
	if err != nil {
		return Dataset{}, err
	}
	if classes == 0 {
		classes = maxY + 1
	}
	pix := make([]float32, im.Len())
	if im.Type == IDXUint8 {
		for i, b := range im.Data {
			pix[i] = float32(b)
		}
	} else {
		for i := range pix {
			pix[i] = float32(im.At(i))
		}
	}
	st := &store{shape: Shape{1, im.Dims[1], im.Dims[2]}, pix: pix, labels: ys, files: []string{images, labels}, imageFile: images, labelFile: labels, classNames: names}
	return newFromStore(filepath.Base(images), st, classes), nil
}

// intLabels converts n labels and checks them: non-negative integers, below
// classes when classes > 0. It returns the labels and the largest one.
func intLabels(file string, n int, at func(int) float64, classes int) ([]int, int, error) {
	ys := make([]int, n)
	maxY := -1
	for i := range ys {
		v := at(i)
		y := int(v)
		if float64(y) != v || y < 0 {
			return nil, 0, fmt.Errorf("%s: label %d is %v (labels must be non-negative integers)", file, i, v)
		}
		if classes > 0 && y >= classes {
			return nil, 0, fmt.Errorf("%s: label %d is %d, outside the %d classes [0,%d)", file, i, y, classes, classes)
		}
		ys[i] = y
		maxY = max(maxY, y)
	}
	return ys, maxY, nil
}

// DefaultFashionMNISTDir is where Debian's dataset-fashion-mnist package
// installs the Fashion-MNIST files.
const DefaultFashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// FashionMNISTClasses are the Fashion-MNIST class names, by label.
var FashionMNISTClasses = []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}

// MNISTFiles returns the image and label files of split ("train" or "test")
// of an MNIST-layout directory: train-images-idx3-ubyte, train-labels-idx1-ubyte,
// t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each with or without .gz.
func MNISTFiles(dir, split string) (images, labels string, err error) {
	var prefix string
	switch split {
	case "train":
		prefix = "train"
	case "test", "t10k":
		prefix = "t10k"
	default:
		return "", "", fmt.Errorf("mnist: split %q (want train or test)", split)
	}
	find := func(base string) (string, error) {
		for _, name := range []string{base + ".gz", base} {
			p := filepath.Join(dir, name)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
		return "", fmt.Errorf("mnist: %s: neither %s nor %s.gz found", dir, base, base)
	}
	if images, err = find(prefix + "-images-idx3-ubyte"); err != nil {
		return "", "", err
	}
	if labels, err = find(prefix + "-labels-idx1-ubyte"); err != nil {
		return "", "", err
	}
	return images, labels, nil
}

// LoadMNIST loads split ("train" or "test") of an MNIST-layout directory
// (MNIST, Fashion-MNIST, KMNIST …): 10 classes, 1×28×28 images, pixels 0..255.
func LoadMNIST(dir, split string) (Dataset, error) {
	images, labels, err := MNISTFiles(dir, split)
	if err != nil {
		return Dataset{}, err
	}
	d, err := loadIDX(images, labels, 10, nil)
	if err != nil {
		return Dataset{}, err
	}
	return d.WithName("mnist " + split), nil
}

// LoadFashionMNIST loads split ("train" or "test") of Fashion-MNIST from dir
// (DefaultFashionMNISTDir when empty), with its class names.
func LoadFashionMNIST(dir, split string) (Dataset, error) {
	if dir == "" {
		dir = DefaultFashionMNISTDir
	}
	images, labels, err := MNISTFiles(dir, split)
	if err != nil {
		return Dataset{}, err
	}
	d, err := loadIDX(images, labels, 10, FashionMNISTClasses)
	if err != nil {
		return Dataset{}, err
	}
	return d.WithName("fashion-mnist " + split), nil
}
