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
	if r.done != 0 {
		return fmt.Errorf("npy: %s: ReadColumnMajor needs an unread array (%d elements read)", r.name, r.done)
	}
	if int64(len(dst)) != r.h.N {
		return fmt.Errorf("npy: %s: ReadColumnMajor: dst holds %d values, the array %d", r.name, len(dst), r.h.N)
	}
	var rows, cols int
	switch len(r.h.Shape) {
	case 1:
		rows, cols = r.h.Shape[0], 1
	case 2:
		rows, cols = r.h.Shape[0], r.h.Shape[1]
	default:
		return fmt.Errorf("npy: %s: ReadColumnMajor needs a 1-D or 2-D array, shape is %s", r.name, formatShape(r.h.Shape))
	}
	if rows == 0 || cols == 0 {
		return nil
	}
	if cols == 1 {
		for len(dst) > 0 {
			n, err := r.ReadFloat64(dst)
			if err != nil {
				return err
			}
			dst = dst[n:]
		}
		return nil
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	size := r.h.dt.size
	rowBytes := cols * size
	block := max(1, min(rows, colMajorBlockBytes/rowBytes))
	raw := make([]byte, block*rowBytes)
	// Columns are split among workers in ranges of whole tiles; a tile is
	// as many columns as fit one 64-byte cache line of the source rows.
	tile := max(1, 64/size)
	tiles := (cols + tile - 1) / tile
	workers = max(1, min(workers, tiles))
	for i0 := 0; i0 < rows; i0 += block {
		nr := min(block, rows-i0)
		b := raw[:nr*rowBytes]
		if n, err := io.ReadFull(r.r, b); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return r.truncated(int64(i0)*int64(rowBytes) + int64(n))
			}
			return fmt.Errorf("npy: %s: reading data: %w", r.name, err)
		}
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			lo := w * tiles / workers * tile
			hi := min(cols, (w+1)*tiles/workers*tile)
			wg.Add(1)
			go func() {
				defer wg.Done()
				transposeRaw(r.h.dt.name, dst, rows, i0, nr, cols, lo, hi, tile, b)
			}()
		}
		wg.Wait()
		r.done += int64(nr) * int64(cols)
	}
	return nil
}

// transposeRaw converts columns [lo, hi) of the raw row-major block b (nr
// rows starting at row i0, cols columns) into the column-major dst.
func transposeRaw(dtype string, dst []float64, rows, i0, nr, cols, lo, hi, tile int, b []byte) {
	le := binary.LittleEndian
	for j0 := lo; j0 < hi; j0 += tile {
		for j := j0; j < min(j0+tile, hi); j++ {
			col := dst[j*rows+i0 : j*rows+i0+nr]
			switch dtype {
			case Float32:
				for i := range col {
					col[i] = float64(math.Float32frombits(le.Uint32(b[(i*cols+j)*4:])))
				}
			case Float64:
				for i := range col {
					col[i] = math.Float64frombits(le.Uint64(b[(i*cols+j)*8:]))
				}
			default:
				size := len(b) / (nr * cols)
				for i := range col {
					off := (i*cols + j) * size
					decodeFloat64(dtype, col[i:i+1], b[off:off+size])
				}
			}
		}
	}
}
