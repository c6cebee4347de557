package sgemm

import "testing"

// BenchmarkKernel is the microkernel alone on packed strips in L1 (kc =
// 256): its peak, against which the whole product's GFLOP/s compare.
func BenchmarkKernel(b *testing.B) {
	a := make([]float32, kc*mr)
	bb := make([]float32, kc*nr)
	c := make([]float32, mr*nr)
	for i := range a {
		a[i] = float32(i%7) - 3
	}
	for i := range bb {
		bb[i] = float32(i%5) - 2
	}
	for _, name := range []string{"asm", "generic"} {
		if name == "asm" && !hasAsm {
			continue
		}
		b.Run(name, func(b *testing.B) {
			forceGeneric = name == "generic"
			defer func() { forceGeneric = false }()
			kern := kernel()
			start := cpuTime()
			for i := 0; i < b.N; i++ {
				kern(kc, a, bb, nr, c, nr, 1, 0, modeOne)
			}
			flops := 2 * float64(mr*nr*kc) * float64(b.N)
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			if cpu := (cpuTime() - start).Seconds(); cpu > 0 {
				b.ReportMetric(flops/cpu/1e9, "GFLOP/cpu-s")
			}
		})
	}
}
