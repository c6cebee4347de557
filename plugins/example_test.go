package plugins_test

import (
	"context"
	"fmt"
	"math"

	"github.com/gnaudit/gnaudit/plugins"
	"github.com/gnaudit/gnaudit/plugins/synth"
)

// meanAbs is a minimal analysis: per layer and audited batch size, the mean
// over tested coordinates of the mean absolute mini-batch noise.
type meanAbs struct{}

func (meanAbs) Describe(context.Context) (plugins.Description, error) {
	return plugins.Description{Name: "mean-abs", Version: "1.0.0", Summary: "mean |mini-batch noise|"}, nil
}

func (meanAbs) Start(_ context.Context, req *plugins.StartRequest) (plugins.Session, error) {
	return &meanAbsSession{batchSizes: req.Set.BatchSizes}, nil
}

type meanAbsSession struct{ batchSizes []int }

func (s *meanAbsSession) Layer(_ context.Context, in *plugins.LayerInput) (*plugins.LayerResult, error) {
	l := in.Layer
	res := &plugins.LayerResult{Parameter: l.Parameter}
	var col []float64
	for k, b := range s.batchSizes {
		sum, n := 0.0, 0
		for c := range l.Coords {
			col = l.Column(k, c, col)
			for _, x := range col {
				sum += math.Abs(x)
				n++
			}
		}
		res.Summary = append(res.Summary, plugins.Num("mean_abs", b, sum/float64(n)))
	}
	return res, nil
}

func (s *meanAbsSession) Finish(context.Context) ([]plugins.Value, error) { return nil, nil }

// A minimal analysis run by the Runner over a synthetic noise set of two
// layers with per-sample noise N(0, 1) (1000 disjoint mini-batches per batch
// size). The mean |x| of a mean of B N(0, 1) values is √(2/(πB)); the
// measured values agree to within their sampling error (4 and 2 coordinates
// × 1000 mini-batches).
func ExampleRunner() {
	set, err := synth.Set(synth.Spec{
		Seed: 1, Pool: 16000, Batches: 1000, BatchSizes: []int{8, 16},
		Layers: []synth.LayerSpec{
			{Name: "fc", Parameter: "fc.weight", Laws: synth.Repeat(4, synth.Gaussian)},
			{Name: "fc", Parameter: "fc.bias", Laws: synth.Repeat(2, synth.Gaussian)},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	r := &plugins.Runner{}
	results, err := r.Run(context.Background(), set, []plugins.Candidate{{Analysis: meanAbs{}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, res := range results {
		fmt.Println(res.Description.Name, "failed:", res.Failed())
		for _, l := range res.Layers {
			fmt.Printf("%s: B=8 %.2f, B=16 %.2f\n", l.Parameter, l.Number("mean_abs", 8), l.Number("mean_abs", 16))
		}
	}
	fmt.Printf("expected: B=8 %.2f, B=16 %.2f\n", math.Sqrt(2/(math.Pi*8)), math.Sqrt(2/(math.Pi*16)))
	// Output:
	// mean-abs failed: false
	// fc.weight: B=8 0.27, B=16 0.20
	// fc.bias: B=8 0.28, B=16 0.21
	// expected: B=8 0.28, B=16 0.20
}
