package data

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/gnaudit/gnaudit/auditor/npy"
)

// LoadNPY loads a pair of NumPy files: images, [N, C, H, W] or [N, H, W]
// (one channel), of any numeric dtype (float32 and uint8 are usual; values
// are kept as stored, converted to float32), and labels, [N], of an integer
// dtype (int64, int32, uint8 …). classes is the class count; 0 takes the
// largest label plus one. The images are streamed in chunks, so the peak
// memory is the float32 pixel array.
func LoadNPY(images, labels string, classes int) (Dataset, error) {
	if classes < 0 {
		return Dataset{}, fmt.Errorf("npy data set %s: class count %d", images, classes)
	}
	lf, err := npy.Open(labels)
	if err != nil {
		return Dataset{}, err
	}
	defer lf.Close()
	lh := lf.Header()
	if len(lh.Shape) != 1 {
		return Dataset{}, fmt.Errorf("npy: %s: labels must have shape [N], the file has %v", labels, lh.Shape)
	}
	switch lh.DType {
	case npy.Float32, npy.Float64:
		return Dataset{}, fmt.Errorf("npy: %s: labels must have an integer dtype (int64, int32, uint8 …), the file has %s", labels, lh.DType)
	}
	raw := make([]int64, lh.Shape[0])
	if _, err := lf.ReadInt64(raw); err != nil && !errors.Is(err, io.EOF) {
		return Dataset{}, err
	}
	ys, maxY, err := intLabels("npy: "+labels, len(raw), func(i int) float64 { return float64(raw[i]) }, classes)
	if err != nil {
		return Dataset{}, err
	}
	for i, v := range raw { // exactness beyond 2^53
		if int64(ys[i]) != v {
			return Dataset{}, fmt.Errorf("npy: %s: label %d is %d", labels, i, v)
		}
	}
	if classes == 0 {
		classes = maxY + 1
	}

	imf, err := npy.Open(images)
	if err != nil {
		return Dataset{}, err
	}
	defer imf.Close()
	ih := imf.Header()
	var shape Shape
	switch len(ih.Shape) {
	case 4:
		shape = Shape{ih.Shape[1], ih.Shape[2], ih.Shape[3]}
	case 3:
		shape = Shape{1, ih.Shape[1], ih.Shape[2]}
	case 2:
		shape = Shape{1, 1, ih.Shape[1]} // [N, T]: token ids or feature vectors
	default:
		return Dataset{}, fmt.Errorf("npy: %s: samples must have shape [N, C, H, W], [N, H, W] or [N, T], the file has %v", images, ih.Shape)
	}
	if !shape.valid() {
		return Dataset{}, fmt.Errorf("npy: %s: images have an empty dimension in shape %v", images, ih.Shape)
	}
	if ih.Shape[0] != len(ys) {
		return Dataset{}, fmt.Errorf("npy: %s has %d images (shape %v) but %s has %d labels", images, ih.Shape[0], ih.Shape, labels, len(ys))
	}
	pix := make([]float32, int64(len(ys))*int64(shape.Size()))
	buf := make([]float64, 1<<16)
	for k := 0; k < len(pix); {
		n, err := imf.ReadFloat64(buf[:min(len(buf), len(pix)-k)])
		for i := 0; i < n; i++ {
			pix[k+i] = float32(buf[i])
		}
		k += n
		if err != nil && !errors.Is(err, io.EOF) {
			return Dataset{}, err
		}
		if n == 0 {
			return Dataset{}, fmt.Errorf("npy: %s: data ended after %d of %d values", images, k, len(pix))
		}
	}
	st := &store{shape: shape, pix: pix, labels: ys, files: []string{images, labels}, imageFile: images, labelFile: labels}
	return newFromStore(filepath.Base(images), st, classes), nil
}
