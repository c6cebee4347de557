package graph

import (
	"sync"
	"testing"
)

// TestConcurrentNets builds and runs two Nets in parallel goroutines (run
// with -race): separate Nets share no mutable state.
func TestConcurrentNets(t *testing.T) {
	x := make([]float64, 2*3*32*32)
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := Build(alexnetCIFAR(), Options{Batch: 2})
			if err != nil {
				t.Error(err)
				return
			}
			for k := 0; k < 2; k++ {
				if _, err := n.LossGrad(x, []int{1, 2}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
}
