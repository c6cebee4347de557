package main

import (
	"errors"
	"math"
	"testing"

	"github.com/gnaudit/gnaudit/internal/approx"
)

// References: scipy.stats.jarque_bera (scipy 1.10).
func TestJarqueBeraAgainstScipy(t *testing.T) {
	for _, tc := range []struct {
		x     []float64
		jb, p float64
	}{
		{[]float64{0.3, -1.2, 2.5, 0.1, 0.0, -0.7, 1.9, -3.3, 0.8, 0.45, -0.05, 1.1}, 1.305543589295001, 0.5206007766182131},
		{[]float64{1, 2, 3, 4, 100}, 1.8815278619618137, 0.3903295366074221},
	} {
		jb, p, err := JarqueBera(tc.x)
		if err != nil {
			t.Fatal(err)
		}
		approx.Rel(t, "JB against scipy", jb, tc.jb, approx.Float64)
		approx.Abs(t, "JB p against scipy", p, tc.p, approx.Float64)
	}
	if _, _, err := JarqueBera([]float64{2, 2, 2}); !errors.Is(err, errConstant) {
		t.Errorf("constant sample: %v", err)
	}
	if _, _, err := JarqueBera([]float64{1, math.NaN()}); err == nil {
		t.Error("NaN accepted")
	}
}
