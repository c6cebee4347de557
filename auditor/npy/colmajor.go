package npy

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"runtime"
	"sync"
)

// colMajorBlockBytes bounds the raw buffer of ReadColumnMajor (a block of
// whole rows); a variable so that tests can force many small blocks.
var colMajorBlockBytes = 64 << 20

// ReadColumnMajor reads a whole 1-D or 2-D array into dst in column-major
// order, converted to float64: for shape (rows, cols), dst[j*rows+i] =
// a[i, j]; a 1-D array is one column. len(dst) must equal the number of
// elements and no element may have been read yet. The conversion and
// transposition run on workers goroutines (≤ 0: GOMAXPROCS), block of rows
// by block of rows, so the file is read once, sequentially, with a bounded
// buffer. It is the fast path for per-column work on large matrices.
func (r *Reader) ReadColumnMajor(dst []float64, workers int) error {
	return readColumnMajor(r, dst, workers)
}

// ReadColumnMajorFloat32 is ReadColumnMajor into float32, for float32 arrays
// only (half the memory of float64, no rounding).
func (r *Reader) ReadColumnMajorFloat32(dst []float32, workers int) error {
	if r.h.DType != Float32 {
		return fmt.Errorf("npy: %s: ReadColumnMajorFloat32 needs a float32 array, dtype is %s", r.name, r.h.DType)
	}
	return readColumnMajor(r, dst, workers)
}

func readColumnMajor[T float32 | float64](r *Reader, dst []T, workers int) error {
	if r.done != 0 {
		return fmt.Errorf("npy: %s: reading column-major needs an unread array (%d elements read)", r.name, r.done)
	}
	if int64(len(dst)) != r.h.N {
		return fmt.Errorf("npy: %s: reading column-major: dst holds %d values, the array %d", r.name, len(dst), r.h.N)
	}
	var rows, cols int
	switch len(r.h.Shape) {
	case 1:
		rows, cols = r.h.Shape[0], 1
	case 2:
		rows, cols = r.h.Shape[0], r.h.Shape[1]
	default:
		return fmt.Errorf("npy: %s: reading column-major needs a 1-D or 2-D array, shape is %s", r.name, formatShape(r.h.Shape))
	}
	if rows == 0 || cols == 0 {
		return nil
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	size := r.h.dt.size
	rowBytes := cols * size
	block := max(1, min(rows, colMajorBlockBytes/rowBytes))
	// Two raw buffers: the next block is read while workers transpose the
	// current one.
	raws := [2][]byte{make([]byte, block*rowBytes), nil}
	if block < rows {
		raws[1] = make([]byte, block*rowBytes)
	}
	// Columns are split among workers in ranges of whole tiles; a tile is
	// as many columns as fit one 64-byte cache line of the source rows.
	tile := max(1, 64/size)
	tiles := (cols + tile - 1) / tile
	workers = max(1, min(workers, tiles))

	read := func(i0 int, b []byte) error {
		if n, err := io.ReadFull(r.r, b); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return r.truncated(int64(i0)*int64(rowBytes) + int64(n))
			}
			return fmt.Errorf("npy: %s: reading data: %w", r.name, err)
		}
		return nil
	}
	cur := raws[0][:min(block, rows)*rowBytes]
	if err := read(0, cur); err != nil {
		return err
	}
	for i0, k := 0, 0; i0 < rows; i0, k = i0+block, k+1 {
		nr := min(block, rows-i0)
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			lo := w * tiles / workers * tile
			hi := min(cols, (w+1)*tiles/workers*tile)
			wg.Add(1)
			go func(b []byte) {
				defer wg.Done()
				transposeRaw(r.h.dt.name, dst, rows, i0, nr, cols, lo, hi, tile, b)
			}(cur)
		}
		var readErr error
		var next []byte
		if i1 := i0 + block; i1 < rows {
			next = raws[(k+1)%2][:min(block, rows-i1)*rowBytes]
			readErr = read(i1, next)
		}
		wg.Wait()
		r.done += int64(nr) * int64(cols)
		if readErr != nil {
			return readErr
		}
		cur = next
	}
	return nil
}

// transposeRaw converts columns [lo, hi) of the raw row-major block b (nr
// rows starting at row i0, cols columns) into the column-major dst.
func transposeRaw[T float32 | float64](dtype string, dst []T, rows, i0, nr, cols, lo, hi, tile int, b []byte) {
	le := binary.LittleEndian
	var one [1]float64
	for j0 := lo; j0 < hi; j0 += tile {
		for j := j0; j < min(j0+tile, hi); j++ {
			col := dst[j*rows+i0 : j*rows+i0+nr]
			switch dtype {
			case Float32:
				for i := range col {
					col[i] = T(math.Float32frombits(le.Uint32(b[(i*cols+j)*4:])))
				}
			case Float64:
				for i := range col {
					col[i] = T(math.Float64frombits(le.Uint64(b[(i*cols+j)*8:])))
				}
			default:
				size := len(b) / (nr * cols)
				for i := range col {
					off := (i*cols + j) * size
					decodeFloat64(dtype, one[:], b[off:off+size])
					col[i] = T(one[0])
				}
			}
		}
	}
}
