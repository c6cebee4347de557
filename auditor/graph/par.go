package graph

import (
	"runtime"
	"sync"
	"sync/atomic"
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
	parallelW(n, perItem, align, func(_, lo, hi int) { fn(lo, hi) })
}

// parallelW is parallel with the range's index w (0 ≤ w < nw, nw ≤
// GOMAXPROCS; range w is [w·step, (w+1)·step)) passed to fn, for kernels
// that keep per-range buffers; it returns nw.
//
// The ranges are fixed by n, perItem and align alone, and each is run by
// one call of fn, so a kernel's result does not depend on which goroutine
// runs which range. The calling goroutine and nw − 1 helpers take the
// ranges in turn from a shared counter: when a helper starts late (its
// thread asleep, or the machine busy with other jobs) the caller runs the
// ranges that are still free itself instead of waiting for it.
func parallelW(n, perItem, align int, fn func(w, lo, hi int)) int {
	nw := min(workers(n*max(perItem, 1)), (n+align-1)/align)
	if nw <= 1 {
		fn(0, 0, n)
		return 1
	}
	step := (n + nw - 1) / nw
	step = (step + align - 1) / align * align
	nw = (n + step - 1) / step
	var next atomic.Int32
	run := func() {
		for {
			w := int(next.Add(1)) - 1
			if w >= nw {
				return
			}
			fn(w, w*step, min((w+1)*step, n))
		}
	}
	var wg sync.WaitGroup
	wg.Add(nw - 1)
	for range nw - 1 {
		go func() {
			defer wg.Done()
			run()
		}()
	}
	run()
	wg.Wait()
	return nw
}
