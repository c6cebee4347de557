package stats

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/cmplx"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gnaudit/gnaudit/internal/approx"
)

// readTailFixture decodes testdata/<name> (written by
// scripts/fixtures/gen_tail.py) into v.
func readTailFixture(t testing.TB, name string, v any) {
	t.Helper()
	path := filepath.Join("testdata", name)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s (regenerate with /usr/bin/python3 scripts/fixtures/gen_tail.py): %v", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
}

// TestMcCullochMatchesScipy compares McCulloch with scipy 1.10's
// levy_stable._fitstart (S1) on samples drawn by scipy itself, including
// the clamped corners of the tables (α = 0.5 data, β = 1, Gaussian and
// uniform data with ν_α < 2.439, n = 7), and on 350 constructed samples
// that sweep the tables.
func TestMcCullochMatchesScipy(t *testing.T) {
	var f struct {
		Cases []struct {
			Name               string
			X                  []float64
			Alpha, Beta, Scale float64
			LocationS1         float64 `json:"location_s1"`
			LocationS0         float64 `json:"location_s0"`
		}
		Grid []struct {
			X                  []float64
			Alpha, Beta, Scale float64
			LocationS1         float64 `json:"location_s1"`
		}
	}
	readTailFixture(t, "tail_mcculloch.json", &f)
	if len(f.Cases) < 10 {
		t.Fatalf("only %d cases", len(f.Cases))
	}
	const tol = 1e-6 // measured: ≤ 4e-15
	worst := 0.0
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			orig := slices.Clone(c.X)
			p, err := McCulloch(c.X)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(orig, c.X) {
				t.Error("McCulloch modified its input")
			}
			// McCullochSorted on a sorted copy gives the same bits.
			if ps, err := McCullochSorted(slices.Sorted(slices.Values(c.X))); err != nil || ps != p {
				t.Errorf("McCullochSorted = %+v, %v; McCulloch %+v", ps, err, p)
			}
			for _, q := range []struct {
				what      string
				got, want float64
			}{
				{"alpha", p.Alpha, c.Alpha}, {"beta", p.Beta, c.Beta}, {"scale", p.Scale, c.Scale},
				{"location S1", p.Location, c.LocationS1}, {"location S0", p.LocationS0(), c.LocationS0},
			} {
				worst = max(worst, approx.RelErrFloor(q.got, q.want, 1))
				approx.RelFloor(t, q.what+" against scipy", q.got, q.want, tol, 1)
			}
		})
	}
	// The grid cases place (ν_α, ν_β) on every node and cell of Tables
	// III/IV (and past their edges), so a mistyped table entry shows here.
	if len(f.Grid) < 300 {
		t.Fatalf("only %d grid cases", len(f.Grid))
	}
	for i, c := range f.Grid {
		p, err := McCulloch(c.X)
		if err != nil {
			t.Fatalf("grid case %d: %v", i, err)
		}
		for _, q := range [][2]float64{{p.Alpha, c.Alpha}, {p.Beta, c.Beta}, {p.Scale, c.Scale}, {p.Location, c.LocationS1}} {
			e := approx.RelErrFloor(q[0], q[1], 1)
			worst = max(worst, e)
			if !(e <= tol) {
				t.Errorf("grid case %d: got %+v, scipy α=%.17g β=%.17g γ=%.17g δ=%.17g",
					i, p, c.Alpha, c.Beta, c.Scale, c.LocationS1)
				break
			}
		}
	}
	t.Logf("largest difference to scipy: %.3g", worst)
}

func TestMohammadiMatchesPython(t *testing.T) {
	var f struct {
		Cases []struct {
			Name   string
			X      []float64
			Alpha  float64
			K1, K2 int
		}
	}
	readTailFixture(t, "tail_mohammadi.json", &f)
	if len(f.Cases) < 5 {
		t.Fatalf("only %d cases", len(f.Cases))
	}
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			nz := 0
			for _, v := range c.X {
				if v != 0 {
					nz++
				}
			}
			k1, k2, _ := MohammadiSplit(nz)
			if k1 != c.K1 || k2 != c.K2 {
				t.Errorf("split of %d = (%d, %d), python (%d, %d)", nz, k1, k2, c.K1, c.K2)
			}
			a, err := TailIndexMohammadi(c.X)
			if err != nil {
				t.Fatal(err)
			}
			approx.Rel(t, "alpha", a, c.Alpha, 1e-12)
		})
	}
}

func TestMohammadiSplit(t *testing.T) {
	cases := []struct{ k, k1, k2, used int }{
		{0, 0, 0, 0}, {3, 0, 0, 0},
		{4, 2, 2, 4}, {5, 2, 2, 4}, {6, 2, 3, 6}, {9, 3, 3, 9},
		{16, 4, 4, 16}, {17, 4, 4, 16}, {100, 10, 10, 100},
		{600, 24, 25, 600}, {2000, 40, 50, 2000}, {20000, 125, 160, 20000},
		{997, 31, 32, 992},   // prime: fallback ⌊√K⌋
		{1994, 44, 45, 1980}, // 2·997: divisor 2 < 44/2, fallback
		{1000, 25, 40, 1000},
	}
	for _, c := range cases {
		k1, k2, used := MohammadiSplit(c.k)
		if k1 != c.k1 || k2 != c.k2 || used != c.used {
			t.Errorf("MohammadiSplit(%d) = (%d, %d, %d), want (%d, %d, %d)", c.k, k1, k2, used, c.k1, c.k2, c.used)
		}
	}
}

func TestTailIndexErrors(t *testing.T) {
	cases := []struct {
		name string
		x    []float64
		want error
	}{
		{"empty", nil, ErrAllZero},
		{"three", []float64{1, -2, 3}, ErrAllZero},
		{"zeros", make([]float64, 100), ErrAllZero},
		{"mostly zeros", append(make([]float64, 100), 1, 2, 3), ErrAllZero},
		{"cancelling blocks", []float64{1, -1, 2, -2, 3, -3}, ErrAllZero},
		{"nan", []float64{1, 2, math.NaN(), 4, 5}, ErrNonFinite},
		{"inf", []float64{1, 2, 3, 4, math.Inf(1)}, ErrNonFinite},
	}
	for _, c := range cases {
		t.Run("mohammadi/"+c.name, func(t *testing.T) {
			a, err := TailIndexMohammadi(c.x)
			if !errors.Is(err, c.want) || !math.IsNaN(a) {
				t.Errorf("got (%g, %v), want (NaN, %v)", a, err, c.want)
			}
		})
	}
	mc := []struct {
		name string
		x    []float64
		want error
	}{
		{"four", []float64{1, 2, 3, 4}, ErrSampleSize},
		{"nan", []float64{1, 2, math.NaN(), 4, 5}, ErrNonFinite},
		{"iqr zero", []float64{0, 0, 0, 0, 0, 0, 0, 5, -5}, ErrDegenerateQuantiles},
	}
	for _, c := range mc {
		t.Run("mcculloch/"+c.name, func(t *testing.T) {
			p, err := McCulloch(c.x)
			if !errors.Is(err, c.want) || !math.IsNaN(p.Alpha) {
				t.Errorf("got (%+v, %v), want (NaN…, %v)", p, err, c.want)
			}
		})
	}
}

// TestMohammadiProperties: invariance under scale and sign, and exact
// zeros are dropped (zero-inflating a sample does not change α̂ as long as
// the non-zero values keep their order).
func TestMohammadiProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float64, 600)
	for i := range x {
		x[i] = SampleStable(rng, 1.5, 0, 1, 0)
	}
	a0, err := TailIndexMohammadi(x)
	if err != nil {
		t.Fatal(err)
	}
	scaled := make([]float64, len(x))
	for i, v := range x {
		scaled[i] = -1e-4 * v
	}
	a1, err := TailIndexMohammadi(scaled)
	if err != nil {
		t.Fatal(err)
	}
	approx.Rel(t, "alpha(-1e-4·x)", a1, a0, 1e-10)
	var zi []float64
	for i, v := range x {
		zi = append(zi, v)
		if i%3 == 0 {
			zi = append(zi, 0, 0)
		}
	}
	a2, err := TailIndexMohammadi(zi)
	if err != nil {
		t.Fatal(err)
	}
	if a2 != a0 {
		t.Errorf("with zeros inserted: %g, want %g", a2, a0)
	}
	// A two-point (discrete, light-tailed) sample: α̂ is clipped to 2.
	pm := make([]float64, 400)
	for i := range pm {
		pm[i] = float64(2*rng.IntN(2) - 1)
	}
	if a, err := TailIndexMohammadi(pm); err != nil || a != 2 {
		t.Errorf("Rademacher: (%g, %v), want (2, nil)", a, err)
	}
}

// stableCF is the S1 characteristic function E e^{itX} (see StableParams).
func stableCF(t, alpha, beta, scale, loc float64) complex128 {
	at := math.Abs(scale * t)
	var e complex128
	if alpha == 1 {
		e = complex(-at, -at*beta*(2/math.Pi)*sign(t)*math.Log(math.Abs(t)))
	} else {
		p := math.Pow(at, alpha)
		e = complex(-p, p*beta*sign(t)*math.Tan(math.Pi*alpha/2))
	}
	return cmplx.Exp(e + complex(0, loc*t))
}

func sign(x float64) float64 {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}

// TestSampleStableCharacteristicFunction verifies the CMS sampler against
// the closed-form S1 characteristic function: the empirical CF of 40,000
// draws must be within 5 standard errors (|Δ| ≤ 5/√(2n) ≈ 0.018 per part)
// at t ∈ {±0.3, 0.7, 1.5, 3}, for symmetric and skewed laws, α = 1 included.
func TestSampleStableCharacteristicFunction(t *testing.T) {
	const n = 40000
	tol := 5 / math.Sqrt(2*n)
	cases := []struct{ alpha, beta, scale, loc float64 }{
		{2, 0, 1, 0}, {1.9, 0, 0.5, 0}, {1.5, 0, 1, 0}, {1.1, 0, 2, 0}, {0.7, 0, 1, 0},
		{1.5, 0.5, 2, 1}, {1.3, -0.9, 1, -2}, {0.8, 0.6, 1, 0},
		{1, 0, 1, 0}, {1, 0.5, 2, 0.5}, {1, -1, 0.3, 0},
	}
	for i, c := range cases {
		t.Run(fmt.Sprintf("a=%g,b=%g,s=%g,l=%g", c.alpha, c.beta, c.scale, c.loc), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 99))
			x := make([]float64, n)
			for j := range x {
				x[j] = SampleStable(rng, c.alpha, c.beta, c.scale, c.loc)
			}
			for _, tt := range []float64{-0.3, 0.3, 0.7, 1.5, 3} {
				var re, im float64
				for _, v := range x {
					s, co := math.Sincos(tt * v)
					re += co
					im += s
				}
				emp := complex(re/n, im/n)
				want := stableCF(tt, c.alpha, c.beta, c.scale, c.loc)
				approx.Abs(t, fmt.Sprintf("t=%g: real part of the empirical CF", tt), real(emp), real(want), tol)
				approx.Abs(t, fmt.Sprintf("t=%g: imaginary part of the empirical CF", tt), imag(emp), imag(want), tol)
			}
		})
	}
}

// TestSampleStableQuantiles verifies the sampler against scipy.stats.
// levy_stable's quantiles (testdata/tail_levy_quantiles.json): the share of
// 100,000 draws below scipy's p-quantile must be p within 5 binomial
// standard errors; and McCulloch's estimate from those draws recovers α and
// β within 0.05 and 0.1.
func TestSampleStableQuantiles(t *testing.T) {
	var f struct {
		Cases []struct {
			Alpha, Beta, Scale, Loc float64
			Probs, Quantiles        []float64
		}
	}
	readTailFixture(t, "tail_levy_quantiles.json", &f)
	if len(f.Cases) < 4 {
		t.Fatalf("only %d cases", len(f.Cases))
	}
	const n = 100000
	for i, c := range f.Cases {
		t.Run(fmt.Sprintf("a=%g,b=%g", c.Alpha, c.Beta), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 1976))
			x := make([]float64, n)
			for j := range x {
				x[j] = SampleStable(rng, c.Alpha, c.Beta, c.Scale, c.Loc)
			}
			for k, p := range c.Probs {
				below := 0
				for _, v := range x {
					if v <= c.Quantiles[k] {
						below++
					}
				}
				got := float64(below) / n
				approx.SE(t, fmt.Sprintf("P(X ≤ q_%g = %.4f)", p, c.Quantiles[k]), got, p, math.Sqrt(p*(1-p)/n), 5)
			}
			est, err := McCulloch(x)
			if err != nil {
				t.Fatal(err)
			}
			approx.Abs(t, fmt.Sprintf("McCulloch α on %d draws", n), est.Alpha, c.Alpha, 0.05)
			approx.Abs(t, fmt.Sprintf("McCulloch β on %d draws", n), est.Beta, c.Beta, 0.1)
		})
	}
}

func TestSampleStableInvalid(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, p := range [][4]float64{{0, 0, 1, 0}, {2.1, 0, 1, 0}, {1.5, 1.1, 1, 0}, {1.5, 0, 0, 0},
		{1.5, 0, -1, 0}, {math.NaN(), 0, 1, 0}, {1.5, 0, 1, math.Inf(1)}, {1.5, 0, math.Inf(1), 0}} {
		if v := SampleStable(rng, p[0], p[1], p[2], p[3]); !math.IsNaN(v) {
			t.Errorf("SampleStable%v = %g, want NaN", p, v)
		}
	}
	if v := SampleStable(nil, 1.5, 0, 1, 0); !math.IsNaN(v) {
		t.Errorf("nil rng: %g, want NaN", v)
	}
}

// TestTailIndexRecoversAlpha: on 20,000 symmetric CMS draws, both
// estimators average (over 5 seeds) within 0.1 of the true α.
func TestTailIndexRecoversAlpha(t *testing.T) {
	const n, seeds, tol = 20000, 5, 0.1
	x := make([]float64, n)
	for _, alpha := range []float64{1.1, 1.3, 1.5, 1.7, 1.9, 2.0} {
		var sumMo, sumMc float64
		for s := range seeds {
			rng := rand.New(rand.NewPCG(uint64(s), math.Float64bits(alpha)))
			for i := range x {
				x[i] = SampleStable(rng, alpha, 0, 1, 0)
			}
			mo, err := TailIndexMohammadi(x)
			if err != nil {
				t.Fatal(err)
			}
			mc, err := McCulloch(x)
			if err != nil {
				t.Fatal(err)
			}
			sumMo += mo
			sumMc += mc.Alpha
		}
		mo, mc := sumMo/seeds, sumMc/seeds
		t.Logf("α=%.1f: Mohammadi %.4f, McCulloch %.4f (mean of %d seeds, n=%d)", alpha, mo, mc, seeds, n)
		approx.Abs(t, fmt.Sprintf("α=%g: Mohammadi mean", alpha), mo, alpha, tol)
		approx.Abs(t, fmt.Sprintf("α=%g: McCulloch mean", alpha), mc, alpha, tol)
	}
}
