//go:build gnaudit_cuda

package cuda_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/gnaudit/gnaudit/cuda"
	"github.com/gnaudit/gnaudit/internal/approx"
	"github.com/gnaudit/gnaudit/plugins"
	"github.com/gnaudit/gnaudit/plugins/builtin"
	"github.com/gnaudit/gnaudit/plugins/synth"
)

// TestNormalityOnGPU runs the audit's normality analysis with the GPU
// Shapiro–Wilk (Device.ShapiroWilkColumns) and on the CPU over the same
// synthetic noise set (Gaussian, Cauchy, exponential, dead columns) and
// requires the same p-values (to 1e-8 + 1e-6·p) and Gaussianity percentages.
func TestNormalityOnGPU(t *testing.T) {
	dev, err := cuda.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	set, err := synth.Set(synth.Spec{
		Seed: 3, Pool: 6400, Batches: 200, BatchSizes: []int{8, 32},
		Layers: []synth.LayerSpec{
			{Name: "g", Parameter: "g.weight", Laws: synth.Repeat(300, synth.Gaussian)},
			{Name: "c", Parameter: "c.weight", Laws: synth.Repeat(100, synth.Cauchy)},
			{Name: "e", Parameter: "e.weight", Laws: synth.Repeat(200, synth.Exponential)},
			{Name: "d", Parameter: "d.weight", Laws: synth.Repeat(20, synth.Zero)},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	run := func(a plugins.Analysis) *plugins.Result {
		r := &plugins.Runner{}
		res, err := r.Run(context.Background(), set, []plugins.Candidate{{Analysis: a, Origin: "builtin"}})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Failed() {
			t.Fatal(res[0].Failure)
		}
		return res[0]
	}
	cpu, gpu := run(builtin.Normality{}), run(builtin.Normality{Tester: dev})
	for li, l := range cpu.Layers {
		for vi, v := range l.PerCoordinate {
			w := gpu.Layers[li].PerCoordinate[vi]
			for i := range v.Array {
				// p-values (≥ 0): |CPU| = CPU
				if !approx.Within(t, fmt.Sprintf("%s %s[%d]: GPU against CPU", l.Parameter, v.Key, i), w.Array[i], v.Array[i], 1e-8, 1e-6) {
					t.FailNow()
				}
			}
		}
		for _, b := range set.BatchSizes {
			if g, c := gpu.Layers[li].Number(builtin.KeyGaussianityPercent, b), l.Number(builtin.KeyGaussianityPercent, b); g != c {
				t.Fatalf("%s B=%d: GPU %v%%, CPU %v%%", l.Parameter, b, g, c)
			}
		}
	}
}
