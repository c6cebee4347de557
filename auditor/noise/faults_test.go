package noise

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFaultsNonFiniteScalars: a set whose per-layer scalars are NaN or Inf
// (a model overflowing) is refused by Save naming the layer, the field and
// the first non-finite mean coordinate, instead of leaking "json:
// unsupported value: NaN"; nothing is left in the directory.
func TestFaultsNonFiniteScalars(t *testing.T) {
	for _, field := range []string{"trace_cov", "grad_norm_sq", "sum_norm_sq"} {
		s := sample()
		l := &s.Layers[1]
		switch field {
		case "trace_cov":
			l.TraceCov = math.NaN()
		case "grad_norm_sq":
			l.GradNormSq = math.Inf(1)
		default:
			l.SumNormSq = math.NaN()
		}
		l.Mean[1] = math.NaN()
		dir := filepath.Join(t.TempDir(), "set")
		err := Save(dir, s)
		if err == nil {
			t.Fatalf("%s: saved", field)
		}
		for _, want := range []string{`"conv1.bias"`, field, "coordinate 1 (tested index 1)", "non-finite"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q lacks %q", field, err, want)
			}
		}
		if strings.Contains(err.Error(), "json:") {
			t.Errorf("%s: %v", field, err)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s: the set's directory was created", field)
		}
	}
}
