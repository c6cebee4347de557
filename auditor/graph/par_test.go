package graph

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
)

// TestParallelRanges checks that parallelW calls fn once per range, with
// range w = [w·step, min((w+1)·step, n)) for the step that n, the work and
// align give (whichever goroutine runs it), that the ranges cover [0, n)
// once, that it returns their number, and that parallel covers [0, n) the
// same way; with GOMAXPROCS 1, 2 and 4.
func TestParallelRanges(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, procs := range []int{1, 2, 4} {
		runtime.GOMAXPROCS(procs)
		for _, tc := range []struct{ n, perItem, align int }{
			{1, 1, 1}, {10, 1, 1}, {10, 1 << 20, 1}, {7, 1 << 20, 1}, {100, 1 << 12, 16},
			{33, 1 << 20, 16}, {3, 1 << 20, 1}, {1000, 100, 1}, {0, 1, 1},
		} {
			t.Run(fmt.Sprint(procs, "/", tc), func(t *testing.T) {
				nw0 := min(workers(tc.n*max(tc.perItem, 1)), (tc.n+tc.align-1)/tc.align)
				step := tc.n
				if nw0 > 1 {
					step = (tc.n + nw0 - 1) / nw0
					step = (step + tc.align - 1) / tc.align * tc.align
				}
				var mu sync.Mutex
				seen := map[int][2]int{}
				cover := make([]int, tc.n)
				nw := parallelW(tc.n, tc.perItem, tc.align, func(w, lo, hi int) {
					mu.Lock()
					defer mu.Unlock()
					if _, dup := seen[w]; dup {
						t.Errorf("range %d run twice", w)
					}
					seen[w] = [2]int{lo, hi}
					for i := lo; i < hi; i++ {
						cover[i]++
					}
				})
				if len(seen) != nw {
					t.Errorf("%d ranges run, parallelW returned %d", len(seen), nw)
				}
				for w, r := range seen {
					if want := [2]int{w * step, min((w+1)*step, tc.n)}; nw > 1 && r != want {
						t.Errorf("range %d is %v, want %v", w, r, want)
					}
				}
				cover2 := make([]int, tc.n)
				parallel(tc.n, tc.perItem, tc.align, func(lo, hi int) {
					mu.Lock()
					defer mu.Unlock()
					for i := lo; i < hi; i++ {
						cover2[i]++
					}
				})
				for i := range cover {
					if cover[i] != 1 || cover2[i] != 1 {
						t.Fatalf("index %d covered %d times by parallelW, %d by parallel", i, cover[i], cover2[i])
					}
				}
			})
		}
	}
}

// TestParallelSlots checks that parallelS covers [0, n) once in ranges
// that are multiples of align (except the last), passes slots below the
// number it returns (at most GOMAXPROCS), and never runs two ranges of one
// slot at the same time; with GOMAXPROCS 1, 2 and 4.
func TestParallelSlots(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, procs := range []int{1, 2, 4} {
		runtime.GOMAXPROCS(procs)
		for _, tc := range []struct{ n, perItem, align int }{
			{1, 1, 1}, {10, 1 << 20, 1}, {7, 1 << 20, 1}, {100, 1 << 12, 16},
			{33, 1 << 20, 16}, {1000, 100, 1}, {70001, 1, 64}, {0, 1, 1},
		} {
			t.Run(fmt.Sprint(procs, "/", tc), func(t *testing.T) {
				var mu sync.Mutex
				busy := make([]bool, procs)
				cover := make([]int, tc.n)
				nw := parallelS(tc.n, tc.perItem, tc.align, func(s, lo, hi int) {
					mu.Lock()
					if s < 0 || s >= procs || busy[s] {
						mu.Unlock()
						t.Errorf("slot %d out of range or busy", s)
						return
					}
					busy[s] = true
					if lo%tc.align != 0 || (hi%tc.align != 0 && hi != tc.n) {
						t.Errorf("range [%d, %d) not aligned to %d", lo, hi, tc.align)
					}
					for i := lo; i < hi; i++ {
						cover[i]++
					}
					mu.Unlock()
					runtime.Gosched() // let another range of the slot try to run
					mu.Lock()
					busy[s] = false
					mu.Unlock()
				})
				if nw < 1 || nw > procs {
					t.Errorf("parallelS returned %d slots, GOMAXPROCS %d", nw, procs)
				}
				for i, c := range cover {
					if c != 1 {
						t.Fatalf("index %d covered %d times", i, c)
					}
				}
			})
		}
	}
}
