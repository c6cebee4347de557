package graph

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
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

// runJob runs j on the caller and the pool's helpers, or on the caller
// and nw − 1 new goroutines when the pool serves another caller (another
// Net on another goroutine, or a kernel inside a kernel's range).
func runJob(j *parJob) {
	if helperSpin > 0 && thePool.mu.TryLock() {
		defer thePool.mu.Unlock()
		thePool.run(j)
		return
	}
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
	done    atomic.Int32 // ranges finished (pool jobs)
	waiting atomic.Bool  // the caller sleeps until the last range finishes
	wake    chan struct{}
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
		if j.done.Add(1) == j.nr && j.waiting.CompareAndSwap(true, false) {
			j.wake <- struct{}{}
		}
	}
}

// The pool: helper goroutines (GOMAXPROCS − 1 of them, started on demand)
// that live on between kernels. A pass runs a few hundred parallel kernels
// with short serial stretches between them; a goroutine started per kernel
// waits for its thread to be woken, 70 µs and more on the 2-core virtual
// machine of docs/performance.md (section exec3), during which the caller
// works alone: about 7 % of resnet20's pass. So a helper, once it has run
// a kernel's ranges, watches for the next kernel for helperSpin before it
// sleeps, and the caller watches for the last ranges of its kernel to
// finish for callerSpin before it sleeps. Which goroutine runs which range
// changes nothing in the results (parallelS, parallelW).
type parPool struct {
	mu      sync.Mutex // held by the caller of the job in flight
	job     atomic.Pointer[parJob]
	seq     atomic.Uint64 // jobs published
	helpers []*parHelper
	wake    chan struct{} // the caller's (buffered, 1)
}

// parHelper is one helper goroutine's state.
type parHelper struct {
	sleeping atomic.Bool
	wake     chan struct{} // buffered, 1
}

var thePool = parPool{wake: make(chan struct{}, 1)}

// helperSpin and callerSpin bound how long a helper watches for the next
// job and how long the caller watches for its job's last ranges before
// sleeping; helperSpin 0 turns the pool off (variables for tests).
var helperSpin, callerSpin = 100 * time.Microsecond, 100 * time.Microsecond

// run runs j on the caller and the pool's helpers; p.mu is held.
func (p *parPool) run(j *parJob) {
	for len(p.helpers) < int(j.nw)-1 {
		h := &parHelper{wake: make(chan struct{}, 1)}
		p.helpers = append(p.helpers, h)
		go p.help(h, p.seq.Load())
	}
	j.wake = p.wake
	p.job.Store(j)
	p.seq.Add(1)
	for _, h := range p.helpers[:j.nw-1] {
		if h.sleeping.CompareAndSwap(true, false) {
			h.wake <- struct{}{}
		}
	}
	j.work()
	for t0 := time.Now(); j.done.Load() != j.nr; {
		if time.Since(t0) < callerSpin {
			continue
		}
		j.waiting.Store(true)
		if j.done.Load() == j.nr && j.waiting.CompareAndSwap(true, false) {
			return
		}
		<-p.wake
		return
	}
}

// help is a helper goroutine: it runs the ranges of each job published
// after seen.
func (p *parPool) help(h *parHelper, seen uint64) {
	for {
		t0 := time.Now()
		for p.seq.Load() == seen {
			if time.Since(t0) < helperSpin {
				continue
			}
			h.sleeping.Store(true)
			if p.seq.Load() != seen {
				if !h.sleeping.CompareAndSwap(true, false) {
					<-h.wake // the caller's wake-up is on its way
				}
				break
			}
			<-h.wake
			t0 = time.Now()
		}
		seen = p.seq.Load()
		if j := p.job.Load(); j != nil {
			j.work()
		}
	}
}
