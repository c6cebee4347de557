package sgemm

import "testing"

// BenchmarkKernel is each variant's microkernel alone on packed strips in
// L1 (kc = 256): its peak, against which the whole product's GFLOP/s
// compare.
func BenchmarkKernel(b *testing.B) {
	for _, v := range variants {
		a := make([]float32, kc*v.mr)
		bb := make([]float32, kc*v.nr)
		c := make([]float32, v.mr*v.nr)
		for i := range a {
			a[i] = float32(i%7) - 3
		}
		for i := range bb {
			bb[i] = float32(i%5) - 2
		}
		b.Run(v.name, func(b *testing.B) {
			start := cpuTime()
			for i := 0; i < b.N; i++ {
				v.kern(kc, a, bb, v.nr, c, v.nr, 1, 0, modeOne)
			}
			flops := 2 * float64(v.mr*v.nr*kc) * float64(b.N)
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			if cpu := (cpuTime() - start).Seconds(); cpu > 0 {
				b.ReportMetric(flops/cpu/1e9, "GFLOP/cpu-s")
			}
		})
	}
}
