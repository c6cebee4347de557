package builtin

import (
	"testing"

	"github.com/gnaudit/gnaudit/plugins/synth"
)

// TestColumnsEqualsColumn: the blocked gather gives Layer.Column's values.
func TestColumnsEqualsColumn(t *testing.T) {
	set, err := synth.Set(synth.Spec{Seed: 2, Pool: 300, Batches: 30, BatchSizes: []int{2, 8},
		Layers: []synth.LayerSpec{{Name: "l", Parameter: "p", Laws: synth.Repeat(150, synth.Gaussian)}}})
	if err != nil {
		t.Fatal(err)
	}
	l := &set.Layers[0]
	var buf []float64
	for k := range set.BatchSizes {
		for lo := 0; lo < 150; lo += 64 {
			hi := min(150, lo+64)
			var n int
			buf, n = columns(l, k, lo, hi, buf)
			for c := lo; c < hi; c++ {
				want := l.Column(k, c, nil)
				for r := range want {
					if buf[(c-lo)*n+r] != want[r] {
						t.Fatalf("k %d column %d row %d: %v, want %v", k, c, r, buf[(c-lo)*n+r], want[r])
					}
				}
			}
		}
	}
}

// BenchmarkGather compares the blocked gather with Layer.Column, per
// coordinate (4096 coordinates, n = 200), in the same run.
func BenchmarkGather(b *testing.B) {
	set, _ := synth.Set(synth.Spec{Seed: 1, Pool: 200 * 16, Batches: 200, BatchSizes: []int{16},
		Layers: []synth.LayerSpec{{Name: "l", Parameter: "l.weight", Laws: synth.Repeat(4096, synth.Gaussian)}}})
	l := &set.Layers[0]
	b.Run("Column", func(b *testing.B) {
		var buf []float64
		for i := 0; i < b.N; i++ {
			for c := 0; c < 4096; c++ {
				buf = l.Column(0, c, buf)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/4096, "ns/coord")
	})
	b.Run("blocked", func(b *testing.B) {
		var buf []float64
		for i := 0; i < b.N; i++ {
			for lo := 0; lo < 4096; lo += blockSize {
				buf, _ = columns(l, 0, lo, lo+blockSize, buf)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/4096, "ns/coord")
	})
}
