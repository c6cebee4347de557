//go:build gnaudit_cuda

package cuda

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/gnaudit/gnaudit/auditor/stats"
)

// ColumnMoments returns, for each column j of the row-major matrix x
// [rows × cols] on the device, the mean and the sums of (x−mean)², (x−mean)³,
// (x−mean)⁴ and |x−mean|³ (two passes, float64 accumulation), as
// out[5j : 5j+5].
func (d *Device) ColumnMoments(x *Buffer, rows, cols int) ([]float64, error) {
	if rows < 1 || cols < 1 || rows*cols > x.Len {
		return nil, fmt.Errorf("cuda: column moments of %d×%d over a buffer of %d", rows, cols, x.Len)
	}
	out, err := d.Alloc(5*cols, 8)
	if err != nil {
		return nil, err
	}
	defer d.Free(out)
	err = d.do(func() error {
		return d.launch("column_moments", [3]int{(cols + 127) / 128, 1, 1}, [3]int{128, 1, 1}, 0,
			pb(x), pi(rows), pi(cols), pb(out))
	})
	if err != nil {
		return nil, err
	}
	return d.DownloadF64(out)
}

// MaxSWRows is the largest n the GPU Shapiro–Wilk kernel takes (its column
// must fit in shared memory as doubles, padded to a power of two).
const MaxSWRows = 4096

// ShapiroWilkW computes the Shapiro–Wilk statistic of every column of the
// row-major matrix x [n × cols] on the device, sorting each column in shared
// memory. aHalf holds AS R94's coefficients of the upper half (n/2 values,
// a_i multiplies x_(n−1−i) − x_(i)), normalised so that 2·Σ aHalf² = 1.
// It returns W and the range of each column (range 0: degenerate column).
func (d *Device) ShapiroWilkW(x *Buffer, n, cols int, aHalf []float64) (w, rng []float64, err error) {
	if n < 3 || n > MaxSWRows {
		return nil, nil, fmt.Errorf("cuda: shapiro-wilk: n=%d: the GPU kernel takes 3 ≤ n ≤ %d", n, MaxSWRows)
	}
	if len(aHalf) != n/2 {
		return nil, nil, fmt.Errorf("cuda: shapiro-wilk: %d coefficients for n=%d, want %d", len(aHalf), n, n/2)
	}
	if n*cols > x.Len {
		return nil, nil, fmt.Errorf("cuda: shapiro-wilk of %d×%d over a buffer of %d", n, cols, x.Len)
	}
	np2 := 1 << bits.Len(uint(n-1))
	threads := np2 / 2
	if threads > 1024 {
		threads = 1024
	}
	if threads < 32 {
		threads = 32
	}
	shared := (np2 + threads) * 8
	if shared > 48*1024 {
		return nil, nil, fmt.Errorf("cuda: shapiro-wilk: n=%d needs %d bytes of shared memory", n, shared)
	}
	a, err := d.UploadF64(aHalf)
	if err != nil {
		return nil, nil, err
	}
	out, err := d.Alloc(2*cols, 8)
	if err != nil {
		d.Free(a)
		return nil, nil, err
	}
	defer d.Free(a, out)
	err = d.do(func() error {
		return d.launch("swilk_w", [3]int{cols, 1, 1}, [3]int{threads, 1, 1}, shared,
			pb(x), pi(n), pi(cols), pi(np2), pb(a), pb(out))
	})
	if err != nil {
		return nil, nil, err
	}
	res, err := d.DownloadF64(out)
	if err != nil {
		return nil, nil, err
	}
	w, rng = make([]float64, cols), make([]float64, cols)
	for j := 0; j < cols; j++ {
		w[j], rng[j] = res[2*j], res[2*j+1]
		if math.IsNaN(w[j]) {
			return nil, nil, fmt.Errorf("cuda: shapiro-wilk: column %d: W is NaN (non-finite data?)", j)
		}
	}
	return w, rng, nil
}

// ShapiroWilk runs the Shapiro–Wilk test on every column of the row-major
// matrix x [n × cols] on the device: the statistic on the GPU with the
// coefficients of sw (computed once per n on the host), the p-value on the
// host by sw.PValue (O(1) per column). Columns of zero range are degenerate
// (W = 1, P = 1), as in auditor/stats.
func (d *Device) ShapiroWilk(x *Buffer, cols int, sw *stats.ShapiroWilk) ([]stats.SWResult, error) {
	n := sw.N()
	w, rng, err := d.ShapiroWilkW(x, n, cols, sw.Coefficients())
	if err != nil {
		return nil, err
	}
	out := make([]stats.SWResult, cols)
	for j := range out {
		if rng[j] == 0 {
			out[j] = stats.SWResult{W: 1, P: 1, Degenerate: true}
			continue
		}
		out[j] = stats.SWResult{W: w[j], P: sw.PValue(w[j])}
	}
	return out, nil
}

// ShapiroWilkColumns tests every column of the host matrix m (row-major,
// sw.N() rows × cols) on the device: it implements plugins/builtin's
// ColumnTester, so that the audit's normality analysis runs on the GPU. For
// n > MaxSWRows it tests on the host.
func (d *Device) ShapiroWilkColumns(m []float32, cols int, sw *stats.ShapiroWilk) ([]stats.SWResult, error) {
	n := sw.N()
	if len(m) != n*cols {
		return nil, fmt.Errorf("cuda: shapiro-wilk: matrix of %d values for %d×%d", len(m), n, cols)
	}
	if n > MaxSWRows {
		out := make([]stats.SWResult, cols)
		col := make([]float64, n)
		for c := range out {
			for r := 0; r < n; r++ {
				col[r] = float64(m[r*cols+c])
			}
			var err error
			if out[c], err = sw.Test(col); err != nil {
				return nil, fmt.Errorf("column %d: %w", c, err)
			}
		}
		return out, nil
	}
	for i, v := range m {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("cuda: shapiro-wilk: column %d: %w", i%cols, stats.ErrNonFinite)
		}
	}
	x, err := d.UploadF32(m)
	if err != nil {
		return nil, err
	}
	defer d.Free(x)
	return d.ShapiroWilk(x, cols, sw)
}
