package data

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// CIFAR-10 binary record layout: one label byte, then 3×32×32 pixel bytes,
// channel-major (all red, then green, then blue; rows top to bottom).
const (
	cifarPixels = 3 * 32 * 32
	cifarRecord = 1 + cifarPixels
)

// CIFAR10Classes are the CIFAR-10 class names, by label (as in
// batches.meta.txt).
var CIFAR10Classes = []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}

// CIFAR10Files returns the binary batch files of split ("train": the five
// data_batch_N.bin, "test": test_batch.bin) in dir, or in its
// cifar-10-batches-bin subdirectory (the layout of the official archive).
func CIFAR10Files(dir, split string) ([]string, error) {
	var names []string
	switch split {
	case "train":
		for i := 1; i <= 5; i++ {
			names = append(names, fmt.Sprintf("data_batch_%d.bin", i))
		}
	case "test":
		names = []string{"test_batch.bin"}
	default:
		return nil, fmt.Errorf("cifar10: split %q (want train or test)", split)
	}
	for _, d := range []string{dir, filepath.Join(dir, "cifar-10-batches-bin")} {
		if _, err := os.Stat(filepath.Join(d, names[0])); err == nil {
			files := make([]string, len(names))
			for i, n := range names {
				files[i] = filepath.Join(d, n)
				if _, err := os.Stat(files[i]); err != nil {
					return nil, fmt.Errorf("cifar10: %s split: %w", split, err)
				}
			}
			return files, nil
		}
	}
	return nil, fmt.Errorf("cifar10: %s: no %s (nor in cifar-10-batches-bin/)", dir, names[0])
}

// LoadCIFAR10 loads split ("train" or "test") of the CIFAR-10 binary version
// from dir: 10 classes, 3×32×32 images, pixels 0..255. Class names come from
// batches.meta.txt when present.
func LoadCIFAR10(dir, split string) (Dataset, error) {
	files, err := CIFAR10Files(dir, split)
	if err != nil {
		return Dataset{}, err
	}
	d, err := LoadCIFAR10Files(files...)
	if err != nil {
		return Dataset{}, err
	}
	if names := readCIFARMeta(filepath.Join(filepath.Dir(files[0]), "batches.meta.txt")); len(names) == 10 {
		d.st.classNames = names
	}
	return d.WithName("cifar10 " + split), nil
}

// readCIFARMeta reads the class names of batches.meta.txt (nil when absent
// or malformed).
func readCIFARMeta(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var names []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			names = append(names, l)
		}
	}
	return names
}

// LoadCIFAR10Files loads CIFAR-10 binary batch files, in order. Each file
// must hold a whole number of 3073-byte records (1 label byte + 3072 pixel
// bytes, CHW); labels must lie in 0..9. Errors name the file and record.
func LoadCIFAR10Files(files ...string) (Dataset, error) {
	if len(files) == 0 {
		return Dataset{}, fmt.Errorf("cifar10: no files")
	}
	var sizes []int64
	total := int64(0)
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return Dataset{}, fmt.Errorf("cifar10: %w", err)
		}
		if st.IsDir() {
			return Dataset{}, fmt.Errorf("cifar10: %s: is a directory", f)
		}
		if st.Size() == 0 || st.Size()%cifarRecord != 0 {
			return Dataset{}, fmt.Errorf("cifar10: %s: size %d bytes is not a positive multiple of the %d-byte record (%d whole records and %d bytes left: truncated or not a CIFAR-10 binary batch)",
				f, st.Size(), cifarRecord, st.Size()/cifarRecord, st.Size()%cifarRecord)
		}
		sizes = append(sizes, st.Size())
		total += st.Size() / cifarRecord
	}
	pix := make([]float32, total*cifarPixels)
	labels := make([]int, total)
	rec := make([]byte, cifarRecord)
	k := 0
	for fi, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return Dataset{}, fmt.Errorf("cifar10: %w", err)
		}
		br := bufio.NewReaderSize(fh, 1<<20)
		n := int(sizes[fi] / cifarRecord)
		for r := 0; r < n; r++ {
			if _, err := io.ReadFull(br, rec); err != nil {
				fh.Close()
				return Dataset{}, fmt.Errorf("cifar10: %s: record %d: %w", f, r, err)
			}
			if rec[0] > 9 {
				fh.Close()
				return Dataset{}, fmt.Errorf("cifar10: %s: record %d has label %d (want 0..9: is this CIFAR-100, whose records have 2 label bytes?)", f, r, rec[0])
			}
			labels[k] = int(rec[0])
			dst := pix[k*cifarPixels : (k+1)*cifarPixels]
			for i, b := range rec[1:] {
				dst[i] = float32(b)
			}
			k++
		}
		fh.Close()
	}
	name := filepath.Base(files[0])
	if len(files) > 1 {
		name = fmt.Sprintf("%s (+%d files)", name, len(files)-1)
	}
	st := &store{shape: Shape{3, 32, 32}, pix: pix, labels: labels,
		files: files, imageFile: strings.Join(files, ", "), labelFile: strings.Join(files, ", "), classNames: CIFAR10Classes}
	return newFromStore(name, st, 10), nil
}
