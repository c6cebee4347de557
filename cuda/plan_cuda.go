//go:build gnaudit_cuda

package cuda

import "github.com/gnaudit/gnaudit/auditor/ir"

// PlanBatch measures the device memory of m's net at batch sizes 1 and 2
// (after a warm-up pass, so that scratch buffers are counted) and returns
// the batch size to use: want (DefaultBatch if 0), lowered to what fits in
// MemoryShare of the free memory. It fails when not even one sample fits.
func (d *Device) PlanBatch(m *ir.Model, want int) (BatchPlan, error) {
	var bytes [2]int64
	for i, b := range []int{1, 2} {
		net, err := d.NewNet(m, b)
		if err != nil {
			return BatchPlan{}, err
		}
		err = net.Warm()
		bytes[i] = net.DeviceBytes()
		net.Close()
		if err != nil {
			return BatchPlan{}, err
		}
	}
	free, err := d.FreeMemory()
	if err != nil {
		return BatchPlan{}, err
	}
	return planBatch(bytes[0], bytes[1], free, want)
}
