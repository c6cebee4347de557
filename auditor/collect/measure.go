package collect

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// maxMeasureBlocks is the most engine batches MeasurePerSample asks for.
const maxMeasureBlocks = 16

// errMeasured stops a timing pass once it has measured enough.
var errMeasured = errors.New("collect: measured")

// MeasurePerSample times what one pool sample costs the collection of cfg:
// the source's per-sample gradients with the collection's own request (its
// tested coordinates; with full, the norms and sums of Request.Full) and,
// for a request with full of a scheme that has a first pass (in-memory,
// two-pass), the collector's own work on every block of that pass (absorb:
// the sums of the tested values and of the full gradients, the kept norms
// and, in the in-memory scheme, the copy into a store of fresh memory, whose
// page faults the run pays as well). The moment and mini-batch updates are
// not included: Estimate.SecondsSplit counts them per operation.
//
// It asks for the first 16 engine batches of the pool (block: the source's
// engine batch, > 0) and stops as soon as it has timed minTime: the first
// batch warms up buffers and threads and is not timed when there is a
// second; the batches after it are timed until they took at least minTime
// (or the 16 run out). It returns seconds per sample.
func MeasurePerSample(ctx context.Context, src Source, cfg Config, block int, full bool, minTime time.Duration) (float64, error) {
	if block < 1 {
		return 0, fmt.Errorf("collect: timing with an engine batch of %d samples", block)
	}
	r, err := newRun(src, cfg)
	if err != nil {
		return 0, err
	}
	n := min(r.cfg.Pool, maxMeasureBlocks*block)
	req := Request{Indices: r.pool[:n], Tested: r.coords, Full: full}
	firstPass := full && r.est.Scheme != SchemeCentred
	var cs *centreSums
	if firstPass {
		cs = r.newCentreSums(n, true, r.est.Scheme == SchemeInMemory)
	}
	start := time.Now()
	var t0, end time.Time
	warm, done := 0, 0
	err = src.PerSample(ctx, req, func(b Block) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.checkBlock(b, req, done); err != nil {
			return err
		}
		if firstPass {
			r.absorb(cs, b, true, r.est.Scheme == SchemeInMemory)
		}
		done += b.Rows
		end = time.Now()
		switch {
		case warm == 0 && done < n:
			warm, t0 = done, end // the warm-up block: time from its end
		case warm > 0 && end.Sub(t0) >= minTime:
			return errMeasured
		}
		return nil
	})
	if err != nil && !errors.Is(err, errMeasured) {
		if ctx.Err() != nil {
			return 0, err
		}
		return 0, fmt.Errorf("collect: timing the source: %w", err)
	}
	if warm == 0 || done == warm {
		// One block held every sample asked for: it is timed whole.
		if done == 0 {
			return 0, fmt.Errorf("collect: timing the source: no samples delivered")
		}
		return end.Sub(start).Seconds() / float64(done), nil
	}
	return end.Sub(t0).Seconds() / float64(done-warm), nil
}
