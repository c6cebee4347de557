package stats

import (
	"errors"
	"math"
	"testing"

	"github.com/gnaudit/gnaudit/internal/approx"
)

func TestDescribeErrors(t *testing.T) {
	cases := []struct {
		name     string
		x        []float64
		wantErr  error
		mean     float64 // NaN: expect NaN
		variance float64
	}{
		{"empty", nil, ErrSampleSize, math.NaN(), math.NaN()},
		{"one", []float64{4.5}, ErrSampleSize, 4.5, 0},
		{"constant", []float64{0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1}, ErrZeroVariance, 0.1, 0},
		{"zeros", []float64{0, 0, 0}, ErrZeroVariance, 0, 0},
		{"nan", []float64{1, math.NaN(), 3}, ErrNonFinite, math.NaN(), math.NaN()},
		{"inf", []float64{1, 2, math.Inf(-1)}, ErrNonFinite, math.NaN(), math.NaN()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := Describe(c.x)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
			if d.N != len(c.x) {
				t.Errorf("N = %d, want %d", d.N, len(c.x))
			}
			approx.Same(t, "Mean", d.Mean, c.mean)
			approx.Same(t, "Variance", d.Variance, c.variance)
			for name, v := range map[string]float64{"Skewness": d.Skewness, "ExcessKurtosis": d.ExcessKurtosis,
				"Abs3Standardized": d.Abs3Standardized, "SqrtKurtosis": d.SqrtKurtosis} {
				if !math.IsNaN(v) {
					t.Errorf("%s = %g, want NaN", name, v)
				}
			}
		})
	}
}

// TestDescribeKnownValues checks small hand-computed samples.
func TestDescribeKnownValues(t *testing.T) {
	// {-1, 1}: mean 0, σ² = 1, skew 0, κ = 1, E|d|³/σ³ = 1.
	d, err := Describe([]float64{-1, 1})
	if err != nil {
		t.Fatal(err)
	}
	want := Description{N: 2, Mean: 0, Variance: 1, Skewness: 0, ExcessKurtosis: -2, Abs3Standardized: 1, SqrtKurtosis: 1}
	if d != want {
		t.Errorf("Describe({-1,1}) = %+v, want %+v", d, want)
	}
	// {0, 0, 0, 3}: mean 3/4, d = (−3/4)×3, 9/4; m2 = 27/16, m3 = 81/32,
	// m4 = 1701/256 → skew = (81/32)/(27/16)^{1.5}, κ = (1701/256)/(27/16)²
	// = 7/3, E|d|³ = (3·27/64 + 729/64)/4 = 810/256.
	d, err = Describe([]float64{0, 0, 0, 3})
	if err != nil {
		t.Fatal(err)
	}
	m2 := 27.0 / 16
	approx.Rel(t, "mean", d.Mean, 0.75, 1e-15)
	approx.Rel(t, "var", d.Variance, m2, 1e-15)
	approx.Rel(t, "skew", d.Skewness, (81.0/32)/math.Pow(m2, 1.5), 1e-15)
	approx.Rel(t, "excess kurtosis", d.ExcessKurtosis, 7.0/3-3, 1e-14)
	approx.Rel(t, "abs3", d.Abs3Standardized, (810.0/256)/math.Pow(m2, 1.5), 1e-15)
	approx.Rel(t, "sqrt kurtosis", d.SqrtKurtosis, math.Sqrt(7.0/3), 1e-15)
	if !(d.Abs3Standardized <= d.SqrtKurtosis) {
		t.Errorf("Cauchy–Schwarz violated: ρ/σ³ = %g > √κ = %g", d.Abs3Standardized, d.SqrtKurtosis)
	}
}

func TestMomentsEdgeCases(t *testing.T) {
	var empty Moments
	for name, v := range map[string]float64{"Variance": empty.Variance(), "Skewness": empty.Skewness(),
		"Kurtosis": empty.Kurtosis(), "ExcessKurtosis": empty.ExcessKurtosis()} {
		if !math.IsNaN(v) {
			t.Errorf("empty %s = %g, want NaN", name, v)
		}
	}
	var one Moments
	one.Add(7)
	if one.N != 1 || one.Mean != 7 || one.Variance() != 0 || !math.IsNaN(one.Skewness()) || !math.IsNaN(one.Kurtosis()) {
		t.Errorf("one value: %+v var %g skew %g kurt %g", one, one.Variance(), one.Skewness(), one.Kurtosis())
	}
	var c Moments
	c.AddSlice([]float64{0.1, 0.1, 0.1})
	if c.Variance() != 0 || !math.IsNaN(c.Skewness()) || !math.IsNaN(c.ExcessKurtosis()) {
		t.Errorf("constant: var %g skew %g exkurt %g", c.Variance(), c.Skewness(), c.ExcessKurtosis())
	}
	if got := empty.Merge(one); got != one {
		t.Errorf("empty.Merge(one) = %+v, want %+v", got, one)
	}
	if got := one.Merge(empty); got != one {
		t.Errorf("one.Merge(empty) = %+v, want %+v", got, one)
	}
	// Two singletons merge to the two-point sample {7, 10}: mean 8.5,
	// M2 = 4.5, M3 = 0, M4 = 2·1.5⁴.
	var ten Moments
	ten.Add(10)
	m := one.Merge(ten)
	want := Moments{N: 2, Mean: 8.5, M2: 4.5, M3: 0, M4: 2 * math.Pow(1.5, 4)}
	if m != want {
		t.Errorf("{7}∪{10} = %+v, want %+v", m, want)
	}
}

func TestCentredSumsEdgeCases(t *testing.T) {
	var e CentredSums
	for name, v := range map[string]float64{"Variance": e.Variance(), "Abs3Standardized": e.Abs3Standardized(),
		"Kurtosis": e.Kurtosis(), "SqrtKurtosis": e.SqrtKurtosis()} {
		if !math.IsNaN(v) {
			t.Errorf("empty %s = %g, want NaN", name, v)
		}
	}
	var z CentredSums
	z.AddSlice([]float64{0, 0})
	if z.Variance() != 0 || !math.IsNaN(z.Abs3Standardized()) || !math.IsNaN(z.Kurtosis()) {
		t.Errorf("zeros: %+v", z)
	}
	// {−2, 1, 1} about 0: S2 = 6, S3 = −6, S4 = 18, A3 = 10.
	var s CentredSums
	s.AddSlice([]float64{-2, 1, 1})
	if want := (CentredSums{N: 3, S2: 6, S3: -6, S4: 18, A3: 10}); s != want {
		t.Fatalf("sums = %+v, want %+v", s, want)
	}
	approx.Rel(t, "Variance", s.Variance(), 2, 0)
	approx.Rel(t, "Abs3Standardized", s.Abs3Standardized(), (10.0/3)/math.Pow(2, 1.5), 1e-15)
	approx.Rel(t, "Kurtosis", s.Kurtosis(), 6.0/4, 1e-15)
	approx.Rel(t, "SqrtKurtosis", s.SqrtKurtosis(), math.Sqrt(1.5), 1e-15)
}
