package cuda

import "fmt"

// DefaultBatch is the number of samples of one batched pass on the GPU when
// none is asked for.
const DefaultBatch = 256

// MemoryShare is the share of the free device memory a batch plan may use.
const MemoryShare = 0.8

// BatchPlan is the device-memory plan of a net (Device.PlanBatch): the batch
// size to use and the measured memory it is derived from.
type BatchPlan struct {
	// Batch is the number of samples of one batched pass.
	Batch int
	// PerSample and Fixed are the device bytes per sample of the batch and
	// those independent of it; Free is the free device memory measured.
	PerSample, Fixed, Free int64
}

// Bytes is the device memory the plan uses: Fixed + Batch × PerSample.
func (p BatchPlan) Bytes() int64 { return p.Fixed + int64(p.Batch)*p.PerSample }

// String is the plan as the audit prints it.
func (p BatchPlan) String() string {
	return fmt.Sprintf("device memory: %s + %d × %s per sample = %s of %s free",
		gib(p.Fixed), p.Batch, gib(p.PerSample), gib(p.Bytes()), gib(p.Free))
}

// planBatch derives the plan from the device bytes of the net at batch
// sizes 1 and 2 and the free memory: the requested batch (DefaultBatch if
// want ≤ 0), lowered to what fits in MemoryShare of the free memory. It
// fails when not even one sample fits.
func planBatch(bytes1, bytes2, free int64, want int) (BatchPlan, error) {
	per := max(bytes2-bytes1, 1)
	fixed := max(bytes1-per, 0)
	fit := int((float64(free)*MemoryShare - float64(fixed)) / float64(per))
	if fit < 1 {
		return BatchPlan{}, fmt.Errorf("the model needs %s + %s per sample on the device, %s is free", gib(fixed), gib(per), gib(free))
	}
	batch := want
	if batch <= 0 {
		batch = DefaultBatch
	}
	return BatchPlan{Batch: min(batch, fit), PerSample: per, Fixed: fixed, Free: free}, nil
}

func gib(b int64) string { return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30)) }
