package stats

import (
	"encoding/json"
	"errors"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/internal/approx"
)

// ntRefVector is one vector of testdata/normtest_scipy.json
// (scripts/fixtures/gen_normtest.py).
type ntRefVector struct {
	ID           string     `json:"id"`
	Kind         string     `json:"kind"`
	N            int        `json:"n"`
	JB           [2]float64 `json:"jb"`
	SkewTest     [2]float64 `json:"skewtest"`
	KurtosisTest [2]float64 `json:"kurtosistest"`
	NormalTest   [2]float64 `json:"normaltest"`
	Anderson     float64    `json:"anderson"`
	NortestAD    []float64  `json:"nortest_ad"`
	Exact        struct {
		Skew, Kurtosis, JB, SkewTest, KurtosisTest, NormalTest, Anderson float64
	} `json:"exact"`
	X []float64 `json:"x"`
}

func loadNTRef(t *testing.T) []ntRefVector {
	t.Helper()
	b, err := os.ReadFile("testdata/normtest_scipy.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Vectors []ntRefVector `json:"vectors"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("testdata/normtest_scipy.json: %v", err)
	}
	if len(f.Vectors) < 50 {
		t.Fatalf("only %d vectors", len(f.Vectors))
	}
	return f.Vectors
}

// TestNormalityTestsAgainstScipy compares each statistic with scipy 1.10
// and with the same formulas in 50-digit arithmetic (the fixture's "exact"):
// within 1e-12 relative of the exact value (z-scores relative to
// max(|z|, 1)), and within 1e-9 of scipy — or 3× scipy's own distance to the
// exact value where that is larger (scipy's skewness loses ~1e-9 on data
// with a large offset). p-values: within 1e-9 relative (1e-15 absolute below
// 1e-6) of scipy, and of R's nortest for Anderson–Darling.
func TestNormalityTestsAgainstScipy(t *testing.T) {
	worst := map[string]float64{}
	for _, v := range loadNTRef(t) {
		if len(v.X) != v.N {
			t.Fatalf("%s: %d values, n=%d", v.ID, len(v.X), v.N)
		}
		orig := slices.Clone(v.X)
		check := func(name string, got, want, floor, tol float64) {
			t.Helper()
			worst[name] = max(worst[name], approx.RelErrFloor(got, want, floor))
			approx.RelFloor(t, v.ID+" "+name, got, want, tol, floor)
		}
		// stat checks a statistic against the exact value and scipy.
		stat := func(name string, got, scipy, exact, floor float64) {
			t.Helper()
			check(name+" vs exact", got, exact, floor, approx.Float64)
			check(name+" vs scipy", got, scipy, floor, max(approx.Reference, 3*approx.RelErrFloor(scipy, exact, floor)))
		}
		const pfloor, ptol = 1e-6, 1e-9
		symmetric := v.Kind == "symmetric"

		s, p, err := JarqueBera(v.X)
		if err != nil {
			t.Fatalf("%s: %v", v.ID, err)
		}
		stat("jb", s, v.JB[0], v.Exact.JB, 1e-300)
		check("jb p vs scipy", p, v.JB[1], pfloor, ptol)

		z, p, err := SkewTest(v.X)
		if err != nil {
			t.Fatalf("%s: %v", v.ID, err)
		}
		if symmetric {
			if z != 0 || p != 1 || v.Exact.SkewTest != 0 {
				t.Errorf("%s: skewtest on symmetric data: z=%g p=%g (exact %g), want 0, 1", v.ID, z, p, v.Exact.SkewTest)
			}
		} else {
			stat("skewtest z", z, v.SkewTest[0], v.Exact.SkewTest, 1)
			check("skewtest p vs scipy", p, v.SkewTest[1], pfloor, max(ptol, 3*approx.RelErrFloor(v.SkewTest[0], v.Exact.SkewTest, 1)))
		}

		zk, pk, err := KurtosisTest(v.X)
		if err != nil {
			t.Fatalf("%s: %v", v.ID, err)
		}
		stat("kurtosistest z", zk, v.KurtosisTest[0], v.Exact.KurtosisTest, 1)
		check("kurtosistest p vs scipy", pk, v.KurtosisTest[1], pfloor, max(ptol, 3*approx.RelErrFloor(v.KurtosisTest[0], v.Exact.KurtosisTest, 1)))

		k2, p, err := DAgostinoPearson(v.X)
		if err != nil {
			t.Fatalf("%s: %v", v.ID, err)
		}
		if symmetric {
			check("normaltest K² = z_kurt² (symmetric)", k2, zk*zk, 1e-300, 1e-15)
			check("normaltest vs exact", k2, v.Exact.NormalTest, 1e-300, 1e-12)
		} else {
			stat("normaltest K²", k2, v.NormalTest[0], v.Exact.NormalTest, 1e-300)
			check("normaltest p vs scipy", p, v.NormalTest[1], pfloor, max(ptol, 3*approx.RelErrFloor(v.NormalTest[0], v.Exact.NormalTest, 1e-300)))
		}

		a2, pa, err := AndersonDarling(v.X)
		if err != nil {
			t.Fatalf("%s: %v", v.ID, err)
		}
		stat("anderson A²", a2, v.Anderson, v.Exact.Anderson, 1e-300)
		if len(v.NortestAD) == 2 {
			check("anderson A² vs nortest", a2, v.NortestAD[0], 1e-300, 1e-9)
			check("anderson p vs nortest", pa, v.NortestAD[1], pfloor, ptol)
		} else {
			t.Errorf("%s: fixture lacks nortest::ad.test values", v.ID)
		}
		if !slices.Equal(v.X, orig) {
			t.Fatalf("%s: input modified", v.ID)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(worst)) {
		t.Logf("max relative difference %-38s %.3g", name, worst[name])
	}
}

func TestNormalityTestsErrors(t *testing.T) {
	type fn func([]float64) (float64, float64, error)
	tests := []struct {
		name string
		f    fn
		minN int
	}{
		{"jarque-bera", JarqueBera, JarqueBeraMinN},
		{"skewtest", SkewTest, SkewTestMinN},
		{"kurtosistest", KurtosisTest, KurtosisTestMinN},
		{"dagostino-pearson", DAgostinoPearson, SkewTestMinN},
		{"anderson-darling", AndersonDarling, AndersonDarlingMinN},
	}
	for _, tc := range tests {
		for n := 0; n < tc.minN; n++ {
			x := make([]float64, n)
			for i := range x {
				x[i] = float64(i * i)
			}
			_, _, err := tc.f(x)
			if !errors.Is(err, ErrSampleSize) {
				t.Errorf("%s n=%d: err=%v", tc.name, n, err)
			} else if !strings.HasPrefix(err.Error(), tc.name+": n=") {
				t.Errorf("%s: message %q", tc.name, err)
			}
		}
		x := make([]float64, 20)
		for i := range x {
			x[i] = float64(i) * 0.5
		}
		for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
			y := slices.Clone(x)
			y[13] = bad
			s, p, err := tc.f(y)
			if !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), "x[13]") {
				t.Errorf("%s %v: err=%v", tc.name, bad, err)
			}
			if !math.IsNaN(s) || !math.IsNaN(p) {
				t.Errorf("%s %v: stat %g p %g, want NaN with the error", tc.name, bad, s, p)
			}
		}
		for _, c := range []float64{0, 7, -1e300} {
			y := make([]float64, 30)
			for i := range y {
				y[i] = c
			}
			if _, _, err := tc.f(y); !errors.Is(err, ErrZeroVariance) {
				t.Errorf("%s constant %g: err=%v", tc.name, c, err)
			}
		}
		// Variance below float64 resolution relative to the mean.
		y := make([]float64, 30)
		for i := range y {
			y[i] = 1e9
		}
		y[3] = math.Nextafter(1e9, 2e9)
		if _, _, err := tc.f(y); !errors.Is(err, ErrZeroVariance) {
			t.Errorf("%s near-constant: err=%v", tc.name, err)
		}
	}
}

// TestNormalityTestsKnownValues: hand-checkable cases.
func TestNormalityTestsKnownValues(t *testing.T) {
	// Two-point sample: skewness 0, kurtosis 1 → JB = n/6·(4/4) = n/6.
	x := []float64{-1, 1, -1, 1, -1, 1}
	s, p, err := JarqueBera(x)
	if err != nil {
		t.Errorf("JarqueBera two-point: %v", err)
	}
	approx.Abs(t, "JarqueBera two-point statistic", s, 1, approx.Rounding)
	approx.Abs(t, "JarqueBera two-point p", p, math.Exp(-0.5), approx.Rounding)
	// log Φ against values from R's pnorm(z, log.p = TRUE).
	for _, c := range []struct{ z, want float64 }{
		{0, -0.69314718055994529},
		{-5, -15.064998393988725},
		{8, -6.2209605742717868e-16},
		{-36.9, -685.33288316535061},
		{-37.1, -692.73828071562332},
		{-100, -5005.5242086942053},
	} {
		if got := ntLogNdtr(c.z); approx.RelErrFloor(got, c.want, 1e-300) > 1e-13 {
			t.Errorf("log Φ(%g) = %.17g, R %.17g", c.z, got, c.want)
		}
	}
	// D'Agostino–Stephens branches at their edges (nortest's formulas).
	for _, c := range []struct{ aa, want float64 }{
		{0.1, 1 - math.Exp(-13.436+10.114-2.2373)},
		{0.3, 1 - math.Exp(-8.318+42.796*0.3-59.938*0.09)},
		{0.5, math.Exp(0.9177 - 4.279*0.5 - 1.38*0.25)},
		{2, math.Exp(1.2937 - 5.709*2 + 0.0186*4)},
		{50, 3.7e-24},
	} {
		// n large: the modification factor is ~1.
		n := 1 << 30
		a2 := c.aa / (1 + 0.75/float64(n) + 2.25/float64(n)/float64(n))
		if got := ntADPValue(a2, n); approx.RelErrFloor(got, c.want, 1e-300) > 1e-12 {
			t.Errorf("AD p(A*²=%g) = %g, want %g", c.aa, got, c.want)
		}
	}
}

// TestNormalityTestsScaleInvariance: the statistics do not change when the
// data are scaled to the ends of the float64 range (powers up to the fourth
// would overflow or underflow without the internal rescaling).
func TestNormalityTestsScaleInvariance(t *testing.T) {
	v := loadNTRef(t)[3]
	fns := map[string]func([]float64) (float64, float64, error){
		"jb": JarqueBera, "skew": SkewTest, "kurt": KurtosisTest, "k2": DAgostinoPearson, "ad": AndersonDarling,
	}
	for name, f := range fns {
		s0, p0, err := f(v.X)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []float64{1e300, -1e300, 1e-300, 3e-250} {
			y := make([]float64, len(v.X))
			for i, x := range v.X {
				y[i] = c * x
			}
			s, p, err := f(y)
			if err != nil {
				t.Fatalf("%s ×%g: %v", name, c, err)
			}
			if c < 0 && name == "skew" {
				s = -s // mirrored data: the skewness changes sign
			}
			if approx.RelErrFloor(s, s0, 1) > 1e-12 || approx.RelErrFloor(p, p0, 1e-300) > 1e-10 {
				t.Errorf("%s ×%g: %g %g, unscaled %g %g", name, c, s, p, s0, p0)
			}
		}
	}
}
