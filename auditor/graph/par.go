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
// Ranges are multiples of align (except the last). The ranges are finer
// than one per goroutine (parChunks per goroutine), taken in turn by the
// goroutines, so that a goroutine that starts late (its thread asleep, the
// machine busy with other jobs) still takes a share: fn must compute the
// same whatever the ranges (each element, plane or channel by itself).
func parallel(n, perItem, align int, fn func(lo, hi int)) {
	parallelS(n, perItem, align, func(_, lo, hi int) { fn(lo, hi) })
}

// parChunks is the number of ranges per goroutine of parallel and
// parallelS.
const parChunks = 4

// parallelS is parallel with the goroutine's slot s (0 ≤ s < nw, nw ≤
// GOMAXPROCS, the value it returns) passed to fn, for kernels that keep a
// buffer per goroutine: no two calls of fn with the same slot run at the
// same time.
func parallelS(n, perItem, align int, fn func(s, lo, hi int)) int {
	nw := min(workers(n*max(perItem, 1)), (n+align-1)/align)
	if nw <= 1 {
		fn(0, 0, n)
		return 1
	}
	nr := min(nw*parChunks, (n+align-1)/align)
	step := (n + nr - 1) / nr
	step = (step + align - 1) / align * align
	nr = (n + step - 1) / step
	runJob(&parJob{fn: fn, n: n, step: step, nr: int32(nr), nw: int32(nw), bySlot: true})
	return nw
}

// parallelW is parallel with the range's index w (0 ≤ w < nw, nw ≤
// GOMAXPROCS; range w is [w·step, (w+1)·step)) passed to fn, one range
// per goroutine, for kernels that keep per-range buffers and products
// whose sums may depend on the split (gemm's blocks); it returns nw.
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
	runJob(&parJob{fn: fn, n: n, step: step, nr: int32(nw), nw: int32(nw)})
	return nw
}

// runJob runs j on the caller and nw − 1 new goroutines.
func runJob(j *parJob) {
	var wg sync.WaitGroup
	wg.Add(int(j.nw) - 1)
	for range j.nw - 1 {
		go func() {
			defer wg.Done()
			j.work()
		}()
	}
	j.work()
	wg.Wait()
}

// parJob is one call of parallelS or parallelW.
type parJob struct {
	fn      func(w, lo, hi int)
	n, step int
	nr      int32        // ranges
	nw      int32        // goroutines at most
	bySlot  bool         // fn takes the goroutine's slot, not the range's index
	slots   atomic.Int32 // slots taken
	next    atomic.Int32 // the next range to take
}

// work runs free ranges of j until none is left, on a slot of its own
// (none left: the job has its nw goroutines).
func (j *parJob) work() {
	s := j.slots.Add(1) - 1
	if s >= j.nw {
		return
	}
	for {
		w := j.next.Add(1) - 1
		if w >= j.nr {
			return
		}
		a := w
		if j.bySlot {
			a = s
		}
		j.fn(int(a), int(w)*j.step, min(int(w+1)*j.step, j.n))
	}
}
