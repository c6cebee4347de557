package series

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gnaudit/gnaudit/internal/approx"
)

func ar1(r *rand.Rand, phi float64, n int) []float64 {
	x := make([]float64, n)
	v := r.NormFloat64() / math.Sqrt(1-phi*phi)
	for i := range x {
		v = phi*v + r.NormFloat64()
		x[i] = v
	}
	return x
}

// The batch-means error bars of an AR(1) series are calibrated: the
// standard errors match the exact asymptotic ones and the z-scores of
// the estimates have unit spread.
func TestCalibratedOnAR1(t *testing.T) {
	const phi, n, reps = 0.9, 20000, 300
	r := rand.New(rand.NewPCG(1, 2))
	varX := 1 / (1 - phi*phi)
	seMean := math.Sqrt(varX * (1 + phi) / (1 - phi) / n)
	var zm, zv, sem float64
	for k := 0; k < reps; k++ {
		x := ar1(r, phi, n)
		m, err := Mean(Blocks, x)
		if err != nil {
			t.Fatal(err)
		}
		v, err := Variance(Blocks, x)
		if err != nil {
			t.Fatal(err)
		}
		zm += (m.Est / m.SE) * (m.Est / m.SE)
		zv += ((v.Est - varX) / v.SE) * ((v.Est - varX) / v.SE)
		sem += m.SE
	}
	approx.Rel(t, "mean SE against the exact one", sem/reps, seMean, 0.1)
	// E z² of a t-like statistic with 19 degrees of freedom ≈ 1.12
	for _, c := range []struct {
		name string
		z2   float64
	}{{"mean", zm / reps}, {"variance", zv / reps}} {
		if c.z2 < 0.8 || c.z2 > 1.5 {
			t.Errorf("%s: E z² = %.3f, want ≈ 1.1", c.name, c.z2)
		}
	}
}

func TestCovariances(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	n := 200000
	x := ar1(r, 0.5, n)
	y := make([]float64, n)
	for i := range y {
		y[i] = 0.5*x[i] + r.NormFloat64()
	}
	varX := 1 / (1 - 0.25)
	c, err := Covariance(Blocks, x, y)
	if err != nil {
		t.Fatal(err)
	}
	approx.SE(t, "Cov", c.Est, 0.5*varX, c.SE, 4)
	l, err := LagCovariance(Blocks, x, x)
	if err != nil {
		t.Fatal(err)
	}
	approx.SE(t, "lag-1 Cov against φ Var", l.Est, 0.5*varX, l.SE, 4)
}

func TestErrors(t *testing.T) {
	if _, err := BlockMeans(make([]float64, 5), 10); err == nil {
		t.Error("5 samples in 10 blocks accepted")
	}
	if _, err := Estimate(4, func(m []float64) float64 { return 0 }, make([]float64, 8), make([]float64, 9)); err == nil {
		t.Error("series of unequal length accepted")
	}
	if _, err := Estimate(4, nil); err == nil {
		t.Error("no series accepted")
	}
}

// Value reads its own form, nulls and a bare number (an older file's
// estimate without its standard error).
func TestValueUnmarshal(t *testing.T) {
	for _, tc := range []struct {
		in      string
		est, se float64 // NaN: null
	}{
		{`{"value": 1.5, "se": 0.25}`, 1.5, 0.25},
		{`{"value": null, "se": null}`, math.NaN(), math.NaN()},
		{`0.04`, 0.04, math.NaN()},
		{`null`, math.NaN(), math.NaN()},
	} {
		var v Value
		if err := json.Unmarshal([]byte(tc.in), &v); err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		same := func(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }
		if !same(v.Est, tc.est) || !same(v.SE, tc.se) {
			t.Errorf("%s: %+v, want %v ± %v", tc.in, v, tc.est, tc.se)
		}
	}
	var v Value
	if err := json.Unmarshal([]byte(`"x"`), &v); err == nil {
		t.Error("a string read as a Value")
	}
}
