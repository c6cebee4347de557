package builtin_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/stats"
	"github.com/gnaudit/gnaudit/plugins"
	"github.com/gnaudit/gnaudit/plugins/builtin"
)

// hostTester is a ColumnTester that runs auditor/stats column by column on a
// row-major matrix, as an accelerator would see it: it checks the wiring and
// the layout (rows = mini-batches, columns = coordinates).
type hostTester struct{ calls int }

func (h *hostTester) ShapiroWilkColumns(m []float32, cols int, sw *stats.ShapiroWilk) ([]stats.SWResult, error) {
	h.calls++
	n := sw.N()
	if len(m) != n*cols {
		return nil, errors.New("matrix size")
	}
	out := make([]stats.SWResult, cols)
	col := make([]float64, n)
	for c := range out {
		for r := 0; r < n; r++ {
			col[r] = float64(m[r*cols+c])
		}
		res, err := sw.Test(col)
		if err != nil {
			return nil, err
		}
		out[c] = res
	}
	return out, nil
}

type failingTester struct{}

func (failingTester) ShapiroWilkColumns([]float32, int, *stats.ShapiroWilk) ([]stats.SWResult, error) {
	return nil, errors.New("device lost")
}

func runNormality(t *testing.T, a plugins.Analysis) *plugins.Result {
	t.Helper()
	r := &plugins.Runner{}
	res, err := r.Run(context.Background(), set(t), []plugins.Candidate{{Analysis: a, Origin: "builtin"}})
	if err != nil {
		t.Fatal(err)
	}
	return res[0]
}

// TestNormalityColumnTester: a ColumnTester gives the same per-coordinate
// p-values and summaries as the CPU path, and its failure fails the analysis
// (reported, not a crash).
func TestNormalityColumnTester(t *testing.T) {
	h := &hostTester{}
	cpu := runNormality(t, builtin.Normality{})
	acc := runNormality(t, builtin.Normality{Tester: h})
	if acc.Failed() || cpu.Failed() {
		t.Fatalf("failures: %v %v", cpu.Failure, acc.Failure)
	}
	if want := len(set(t).Layers) * len(set(t).BatchSizes); h.calls != want {
		t.Fatalf("tester called %d times, want %d (one per layer and batch size)", h.calls, want)
	}
	for li, l := range cpu.Layers {
		for vi, v := range l.PerCoordinate {
			w := acc.Layers[li].PerCoordinate[vi]
			for i := range v.Array {
				if v.Array[i] != w.Array[i] && !(math.IsNaN(v.Array[i]) && math.IsNaN(w.Array[i])) {
					t.Fatalf("%s %s[%d]: CPU %v, tester %v", l.Parameter, v.Key, i, v.Array[i], w.Array[i])
				}
			}
		}
		for _, b := range set(t).BatchSizes {
			if g, w := acc.Layers[li].Number(builtin.KeyGaussianityPercent, b), l.Number(builtin.KeyGaussianityPercent, b); g != w {
				t.Fatalf("%s B=%d: %v%% with the tester, %v%% without", l.Parameter, b, g, w)
			}
		}
	}
	bad := runNormality(t, builtin.Normality{Tester: failingTester{}})
	if !bad.Failed() || !strings.Contains(bad.Failure.Error(), "device lost") {
		t.Fatalf("failing tester: failure %v", bad.Failure)
	}
}
