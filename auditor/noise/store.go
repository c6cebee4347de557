package noise

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/gnaudit/gnaudit/auditor/atomicfile"
)

// On-disk layout of a saved Set: a directory holding
//
//	manifest.json  the Set's JSON fields, plus "format", and "binary": the
//	               data file's name, size, SHA-256 and the list of arrays
//	arrays.bin     a 16-byte header ("GNNOISE" 0x00, uint32 version, uint32
//	               reserved 0), then, per layer in order, Mean, S2, S3, S4, A3
//	               (float64, one per tested coordinate) and MiniBatch[k] for
//	               each batch size (float32, Batches × len(Coords)); all
//	               little endian
const (
	ManifestName = "manifest.json"
	BinaryName   = "arrays.bin"
	formatName   = "gnaudit-noise-set"
	binaryMagic  = "GNNOISE\x00"
	headerBytes  = 16
)

// ErrVersion is wrapped by Load's error for a format version it cannot read.
var ErrVersion = errors.New("unsupported noise set version")

// manifest is the JSON document of a saved set.
type manifest struct {
	Format string `json:"format"`
	*Set
	Binary binaryInfo `json:"binary"`
}

// binaryInfo describes arrays.bin.
type binaryInfo struct {
	File   string      `json:"file"`
	Bytes  int64       `json:"bytes"`
	SHA256 string      `json:"sha256"`
	Arrays []arrayInfo `json:"arrays"`
}

// arrayInfo locates one array in arrays.bin.
type arrayInfo struct {
	Layer  int    `json:"layer"` // index into layers
	Name   string `json:"name"`  // mean, s2, s3, s4, a3, minibatch
	Batch  int    `json:"batch_size,omitempty"`
	DType  string `json:"dtype"` // float64 or float32
	Offset int64  `json:"offset"`
	Count  int    `json:"count"`
}

// Validate checks the internal consistency of the set: version, pool and
// batch counts, ascending batch sizes, unique parameter names, shapes
// against sizes, ascending in-range coordinates, and every array's length.
func (s *Set) Validate() error {
	if s == nil {
		return errors.New("noise set: nil")
	}
	if s.Version != Version {
		return fmt.Errorf("noise set: %w %d (this gnaudit reads version %d)", ErrVersion, s.Version, Version)
	}
	if s.Pool < 0 || s.Batches < 0 {
		return fmt.Errorf("noise set: pool %d, batches %d", s.Pool, s.Batches)
	}
	for i, b := range s.BatchSizes {
		if b < 1 || (i > 0 && b <= s.BatchSizes[i-1]) {
			return fmt.Errorf("noise set: batch sizes %v are not positive and ascending", s.BatchSizes)
		}
	}
	seen := map[string]bool{}
	for li := range s.Layers {
		l := &s.Layers[li]
		if l.Parameter == "" || seen[l.Parameter] {
			return fmt.Errorf("noise set: layer %d (%q): parameter name %q empty or repeated", li, l.Name, l.Parameter)
		}
		seen[l.Parameter] = true
		size := 1
		for _, d := range l.Shape {
			size *= d
		}
		if size != l.Size || l.Size < 1 {
			return fmt.Errorf("noise set: layer %q: size %d does not match shape %v", l.Parameter, l.Size, l.Shape)
		}
		nc := len(l.Coords)
		for i, c := range l.Coords {
			if c < 0 || c >= l.Size || (i > 0 && c <= l.Coords[i-1]) {
				return fmt.Errorf("noise set: layer %q: coordinate %d (index %d) out of range [0,%d) or not ascending", l.Parameter, c, i, l.Size)
			}
		}
		for _, a := range []struct {
			name string
			v    []float64
		}{{"mean", l.Mean}, {"s2", l.S2}, {"s3", l.S3}, {"s4", l.S4}, {"a3", l.A3}} {
			if len(a.v) != nc {
				return fmt.Errorf("noise set: layer %q: %s has %d values for %d tested coordinates", l.Parameter, a.name, len(a.v), nc)
			}
		}
		if len(l.MiniBatch) != len(s.BatchSizes) {
			return fmt.Errorf("noise set: layer %q: %d mini-batch matrices for %d batch sizes", l.Parameter, len(l.MiniBatch), len(s.BatchSizes))
		}
		for k, m := range l.MiniBatch {
			if len(m) != s.Batches*nc {
				return fmt.Errorf("noise set: layer %q, batch size %d: %d mini-batch values, want %d×%d", l.Parameter, s.BatchSizes[k], len(m), s.Batches, nc)
			}
		}
		if len(l.Overlap) != 0 && len(l.Overlap) != len(s.BatchSizes) {
			return fmt.Errorf("noise set: layer %q: %d overlap flags for %d batch sizes", l.Parameter, len(l.Overlap), len(s.BatchSizes))
		}
	}
	if c := s.Collection; c != nil {
		if c.Rows != nil {
			if len(c.Rows) != len(s.BatchSizes) {
				return fmt.Errorf("noise set: collection rows for %d batch sizes, the set has %d", len(c.Rows), len(s.BatchSizes))
			}
			for k, r := range c.Rows {
				if len(r) != s.Batches {
					return fmt.Errorf("noise set: collection lists %d rows for batch size %d, the set has %d", len(r), s.BatchSizes[k], s.Batches)
				}
				for i, v := range r {
					if v < 0 || v >= c.BatchesPerSize || (i > 0 && v <= r[i-1]) {
						return fmt.Errorf("noise set: collection rows of batch size %d are not ascending in [0,%d)", s.BatchSizes[k], c.BatchesPerSize)
					}
				}
			}
		}
		n := 0
		for i, r := range c.PoolRanges {
			if r[0] < 0 || r[1] <= r[0] || r[1] > c.PoolSize || (i > 0 && r[0] < c.PoolRanges[i-1][1]) {
				return fmt.Errorf("noise set: collection pool ranges %v are not ascending, disjoint intervals of [0,%d)", c.PoolRanges, c.PoolSize)
			}
			n += r[1] - r[0]
		}
		if c.PoolRanges != nil && n != s.Pool {
			return fmt.Errorf("noise set: collection pool ranges %v hold %d samples, the set says %d", c.PoolRanges, n, s.Pool)
		}
	}
	return nil
}

// layout lists the arrays of s in file order, with their offsets.
func layout(s *Set) ([]arrayInfo, int64) {
	var arrs []arrayInfo
	off := int64(headerBytes)
	for li := range s.Layers {
		l := &s.Layers[li]
		nc := len(l.Coords)
		for _, name := range []string{"mean", "s2", "s3", "s4", "a3"} {
			arrs = append(arrs, arrayInfo{Layer: li, Name: name, DType: "float64", Offset: off, Count: nc})
			off += 8 * int64(nc)
		}
		for k, b := range s.BatchSizes {
			n := len(l.MiniBatch[k])
			arrs = append(arrs, arrayInfo{Layer: li, Name: "minibatch", Batch: b, DType: "float32", Offset: off, Count: n})
			off += 4 * int64(n)
		}
	}
	return arrs, off
}

// f64s returns the float64 array named by a.
func f64s(s *Set, a arrayInfo) *[]float64 {
	l := &s.Layers[a.Layer]
	switch a.Name {
	case "mean":
		return &l.Mean
	case "s2":
		return &l.S2
	case "s3":
		return &l.S3
	case "s4":
		return &l.S4
	default:
		return &l.A3
	}
}

// Save writes s into directory dir (created if needed; existing files of a
// set are replaced). The binary file is written first and the manifest last,
// each through a temporary file and a rename, so a directory never holds a
// manifest that points to a missing or different binary.
func Save(dir string, s *Set) error {
	if err := s.Validate(); err != nil {
		return fmt.Errorf("save %s: %w", dir, err)
	}
	if err := checkScalars(s); err != nil {
		// JSON has no NaN: name the layer instead of "json: unsupported
		// value: NaN".
		return fmt.Errorf("save %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save noise set: %w", err)
	}
	arrs, total := layout(s)
	h := sha256.New()
	err := writeAtomic(filepath.Join(dir, BinaryName), func(f io.Writer) error {
		w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
		var hdr [headerBytes]byte
		copy(hdr[:], binaryMagic)
		binary.LittleEndian.PutUint32(hdr[8:], uint32(Version))
		w.Write(hdr[:])
		var b [8]byte
		for _, a := range arrs {
			if a.DType == "float64" {
				for _, v := range *f64s(s, a) {
					binary.LittleEndian.PutUint64(b[:], math.Float64bits(v))
					w.Write(b[:])
				}
				continue
			}
			for _, v := range s.Layers[a.Layer].MiniBatch[indexOf(s.BatchSizes, a.Batch)] {
				binary.LittleEndian.PutUint32(b[:4], math.Float32bits(v))
				w.Write(b[:4])
			}
		}
		return w.Flush()
	})
	if err != nil {
		return fmt.Errorf("save %s: %w", dir, err)
	}
	m := manifest{Format: formatName, Set: s, Binary: binaryInfo{File: BinaryName, Bytes: total, SHA256: hex.EncodeToString(h.Sum(nil)), Arrays: arrs}}
	js, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return fmt.Errorf("save %s: %w", dir, err)
	}
	err = writeAtomic(filepath.Join(dir, ManifestName), func(f io.Writer) error {
		_, err := f.Write(append(js, '\n'))
		return err
	})
	if err != nil {
		return fmt.Errorf("save %s: %w", dir, err)
	}
	return nil
}

// indexOf returns the index of b in sizes (-1 when absent).
func indexOf(sizes []int, b int) int {
	for k, v := range sizes {
		if v == b {
			return k
		}
	}
	return -1
}

// writeAtomic writes path through a temporary file in the same directory
// (atomicfile: synced, renamed into place, mode 0644).
func writeAtomic(path string, write func(io.Writer) error) error {
	return atomicfile.Write(path, write)
}

// Load reads a set saved by Save from directory dir. It rejects a format or
// version it does not know (errors wrap ErrVersion), a binary file whose
// size, checksum, header or array layout does not match the manifest, and an
// inconsistent set (Validate).
func Load(dir string) (*Set, error) {
	mpath := filepath.Join(dir, ManifestName)
	js, err := os.ReadFile(mpath)
	if err != nil {
		return nil, fmt.Errorf("load noise set: %w", err)
	}
	var head struct {
		Format  string `json:"format"`
		Version *int   `json:"version"`
	}
	if err := json.Unmarshal(js, &head); err != nil {
		return nil, fmt.Errorf("load %s: %w", mpath, err)
	}
	if head.Format != formatName {
		return nil, fmt.Errorf("load %s: format %q is not a gnaudit noise set (%q)", mpath, head.Format, formatName)
	}
	if head.Version == nil || *head.Version != Version {
		v := "missing"
		if head.Version != nil {
			v = fmt.Sprint(*head.Version)
		}
		return nil, fmt.Errorf("load %s: %w %s (this gnaudit reads version %d)", mpath, ErrVersion, v, Version)
	}
	s := &Set{}
	m := manifest{Set: s}
	if err := json.Unmarshal(js, &m); err != nil {
		return nil, fmt.Errorf("load %s: %w", mpath, err)
	}
	// Check the announced size against the file before allocating, then
	// allocate the arrays from the JSON counts and check the manifest's
	// layout against the one they imply.
	bpath := filepath.Join(dir, BinaryName)
	if m.Binary.File != BinaryName {
		return nil, fmt.Errorf("load %s: binary file %q (want %q)", mpath, m.Binary.File, BinaryName)
	}
	want := int64(headerBytes)
	for li := range s.Layers {
		nc := int64(len(s.Layers[li].Coords))
		if s.Batches < 0 || s.Batches > math.MaxInt32 {
			return nil, fmt.Errorf("load %s: implausible batch count %d", mpath, s.Batches)
		}
		want += 40*nc + 4*nc*int64(s.Batches)*int64(len(s.BatchSizes))
	}
	st, err := os.Stat(bpath)
	if err != nil {
		return nil, fmt.Errorf("load noise set: %w", err)
	}
	if st.Size() != want || m.Binary.Bytes != want {
		return nil, fmt.Errorf("load %s: %d bytes, the manifest says %d and the set's arrays need %d (truncated, or from another save)", bpath, st.Size(), m.Binary.Bytes, want)
	}
	for li := range s.Layers {
		l := &s.Layers[li]
		nc := len(l.Coords)
		l.Mean, l.S2, l.S3, l.S4, l.A3 = make([]float64, nc), make([]float64, nc), make([]float64, nc), make([]float64, nc), make([]float64, nc)
		l.MiniBatch = make([][]float32, len(s.BatchSizes))
		for k := range l.MiniBatch {
			l.MiniBatch[k] = make([]float32, s.Batches*nc)
		}
	}
	arrs, total := layout(s)
	if len(arrs) != len(m.Binary.Arrays) || total != m.Binary.Bytes {
		return nil, fmt.Errorf("load %s: the binary layout (%d arrays, %d bytes) does not match the set (%d arrays, %d bytes)",
			mpath, len(m.Binary.Arrays), m.Binary.Bytes, len(arrs), total)
	}
	for i, a := range arrs {
		if m.Binary.Arrays[i] != a {
			return nil, fmt.Errorf("load %s: array %d is %+v in the manifest, the set implies %+v", mpath, i, m.Binary.Arrays[i], a)
		}
	}
	f, err := os.Open(bpath)
	if err != nil {
		return nil, fmt.Errorf("load noise set: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	r := bufio.NewReaderSize(io.TeeReader(f, h), 1<<20)
	var hdr [headerBytes]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("load %s: header: %w", bpath, err)
	}
	if string(hdr[:8]) != binaryMagic {
		return nil, fmt.Errorf("load %s: not a gnaudit noise array file (magic %q)", bpath, hdr[:8])
	}
	if v := binary.LittleEndian.Uint32(hdr[8:]); v != uint32(Version) {
		return nil, fmt.Errorf("load %s: %w %d in the binary header (this gnaudit reads version %d)", bpath, ErrVersion, v, Version)
	}
	var b [8]byte
	for _, a := range arrs {
		if a.DType == "float64" {
			dst := *f64s(s, a)
			for i := range dst {
				if _, err := io.ReadFull(r, b[:]); err != nil {
					return nil, fmt.Errorf("load %s: %w", bpath, err)
				}
				dst[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[:]))
			}
			continue
		}
		dst := s.Layers[a.Layer].MiniBatch[indexOf(s.BatchSizes, a.Batch)]
		for i := range dst {
			if _, err := io.ReadFull(r, b[:4]); err != nil {
				return nil, fmt.Errorf("load %s: %w", bpath, err)
			}
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[:4]))
		}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != m.Binary.SHA256 {
		return nil, fmt.Errorf("load %s: SHA-256 %s, the manifest says %s (corrupt or from another save)", bpath, got, m.Binary.SHA256)
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("load %s: %w", dir, err)
	}
	return s, nil
}

// checkScalars refuses a set whose per-layer scalars (written as JSON in
// the manifest) are non-finite, naming the layer, the field and the first
// non-finite tested coordinate of its mean.
func checkScalars(s *Set) error {
	for li := range s.Layers {
		l := &s.Layers[li]
		for _, f := range []struct {
			name string
			v    float64
		}{{"trace_cov", l.TraceCov}, {"grad_norm_sq", l.GradNormSq}, {"sum_norm_sq", l.SumNormSq}} {
			if !math.IsNaN(f.v) && !math.IsInf(f.v, 0) {
				continue
			}
			where := ""
			for k, v := range l.Mean {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					where = fmt.Sprintf("; the first non-finite mean gradient is at coordinate %d (tested index %d) = %v", l.Coords[k], k, v)
					break
				}
			}
			return fmt.Errorf("layer %q (parameter %q): %s is %v: the per-sample gradients are non-finite (the model overflows on these samples)%s",
				l.Name, l.Parameter, f.name, f.v, where)
		}
	}
	return nil
}
