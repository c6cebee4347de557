package cuda

import (
	"strings"
	"testing"
)

// TestPlanBatch checks the batch plan against hand-computed answers: per
// sample = bytes(2) − bytes(1), fixed = bytes(1) − per sample, and the batch
// the largest that fits in MemoryShare of the free memory.
func TestPlanBatch(t *testing.T) {
	const mib = 1 << 20
	cases := []struct {
		name             string
		b1, b2, free     int64
		want             int
		batch            int
		perSample, fixed int64
		err              string
	}{
		// 0.8 × 10000 MiB = 8000 MiB; (8000 − 1000) / 100 = 70 samples.
		{"lowered to fit", 1100 * mib, 1200 * mib, 10000 * mib, 0, 70, 100 * mib, 1000 * mib, ""},
		{"requested fits", 1100 * mib, 1200 * mib, 10000 * mib, 10, 10, 100 * mib, 1000 * mib, ""},
		// 0.8 × 1e6 MiB − 1000 MiB leaves room for 7990 samples: DefaultBatch.
		{"default", 1100 * mib, 1200 * mib, 1e6 * mib, 0, DefaultBatch, 100 * mib, 1000 * mib, ""},
		// A net that does not grow with the batch: 1 byte per sample.
		{"flat net", 100, 100, 1000, 3, 3, 1, 99, ""},
		{"nothing fits", 1100 * mib, 1200 * mib, 1000 * mib, 0, 0, 0, 0, "per sample on the device"},
	}
	for _, c := range cases {
		p, err := planBatch(c.b1, c.b2, c.free, c.want)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want one containing %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if p.Batch != c.batch || p.PerSample != c.perSample || p.Fixed != c.fixed || p.Free != c.free {
			t.Errorf("%s: %+v, want batch %d, per sample %d, fixed %d, free %d", c.name, p, c.batch, c.perSample, c.fixed, c.free)
		}
		if p.Bytes() > int64(MemoryShare*float64(c.free)) {
			t.Errorf("%s: the plan uses %d bytes, over %g of %d", c.name, p.Bytes(), MemoryShare, c.free)
		}
	}
	p := BatchPlan{Batch: 2, PerSample: 1 << 29, Fixed: 1 << 30, Free: 8 << 30}
	if got, want := p.String(), "device memory: 1.00 GiB + 2 × 0.50 GiB per sample = 2.00 GiB of 8.00 GiB free"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
