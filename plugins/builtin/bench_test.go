package builtin_test

import (
	"context"
	"testing"

	"github.com/gnaudit/gnaudit/plugins"
	"github.com/gnaudit/gnaudit/plugins/builtin"
	"github.com/gnaudit/gnaudit/plugins/synth"
)

// benchLayer runs one analysis over one layer of 4096 Gaussian coordinates,
// n = 200 mini-batches, one batch size, on one goroutine.
func benchLayer(b *testing.B, a plugins.Analysis, params map[string]string) {
	set, err := synth.Set(synth.Spec{Seed: 1, Pool: 200 * 16, Batches: 200, BatchSizes: []int{16},
		Layers: []synth.LayerSpec{{Name: "l", Parameter: "l.weight", Laws: synth.Repeat(4096, synth.Gaussian)}}})
	if err != nil {
		b.Fatal(err)
	}
	d, _ := a.Describe(context.Background())
	p, err := d.Resolve(params)
	if err != nil {
		b.Fatal(err)
	}
	s, err := a.Start(context.Background(), &plugins.StartRequest{Set: plugins.InfoOf(set), Params: p})
	if err != nil {
		b.Fatal(err)
	}
	in := &plugins.LayerInput{Layer: &set.Layers[0]}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Layer(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/4096, "ns/coord")
}

func BenchmarkNormality4096x200(b *testing.B) {
	benchLayer(b, builtin.Normality{}, map[string]string{"workers": "1"})
}

func BenchmarkAlphaStable4096x200(b *testing.B) {
	benchLayer(b, builtin.AlphaStable{}, map[string]string{"workers": "1"})
}

func BenchmarkKurtosisBound4096(b *testing.B) {
	benchLayer(b, builtin.KurtosisBound{}, nil)
}
