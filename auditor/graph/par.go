package graph

import (
	"runtime"
	"sync"
)

// Parallel kernels. With OpenBLAS the executor runs OpenBLAS single-threaded
// (blas_openblas.go) and spreads the work over GOMAXPROCS goroutines itself:
// matrix products are split into column or row blocks, the Go kernels
// (im2col, col2im, pooling, elementwise) into ranges. One split for every
// kernel keeps both cores busy through the whole pass, where OpenBLAS's own
// threads would spin idle during the Go kernels and the Go kernels would run
// on one core.

// minParWork is the number of elements (or multiply-adds) below which a
// kernel runs on the calling goroutine.
const minParWork = 1 << 15

// workers is the number of goroutines a kernel of work units splits into.
func workers(work int) int {
	if work < 2*minParWork {
		return 1
	}
	return min(runtime.GOMAXPROCS(0), work/minParWork)
}

// parallel calls fn on contiguous ranges covering [0, n), on up to
// GOMAXPROCS goroutines when n items of perItem work units each are worth it.
// Ranges are multiples of align (except the last).
func parallel(n, perItem, align int, fn func(lo, hi int)) {
	nw := min(workers(n*max(perItem, 1)), (n+align-1)/align)
	if nw <= 1 {
		fn(0, n)
		return
	}
	step := (n + nw - 1) / nw
	step = (step + align - 1) / align * align
	var wg sync.WaitGroup
	for lo := step; lo < n; lo += step {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(lo, min(lo+step, n))
	}
	fn(0, min(step, n))
	wg.Wait()
}

// parallelW is parallel with the worker's index w (0 ≤ w < nw, nw ≤
// GOMAXPROCS) passed to fn, for kernels that keep per-worker buffers; it
// returns nw.
func parallelW(n, perItem, align int, fn func(w, lo, hi int)) int {
	nw := min(workers(n*max(perItem, 1)), (n+align-1)/align)
	if nw <= 1 {
		fn(0, 0, n)
		return 1
	}
	step := (n + nw - 1) / nw
	step = (step + align - 1) / align * align
	var wg sync.WaitGroup
	w := 1
	for lo := step; lo < n; lo += step {
		wg.Add(1)
		go func(w, lo, hi int) {
			defer wg.Done()
			fn(w, lo, hi)
		}(w, lo, min(lo+step, n))
		w++
	}
	fn(0, 0, min(step, n))
	wg.Wait()
	return w
}
