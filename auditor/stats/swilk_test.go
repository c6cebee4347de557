package stats

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/gnaudit/gnaudit/internal/approx"
)

// swRefVector is one vector of testdata/swilk_r.json (scripts/fixtures/gen_swilk.R).
type swRefVector struct {
	ID   string    `json:"id"`
	Kind string    `json:"kind"`
	N    int       `json:"n"`
	W    float64   `json:"w"`
	P    float64   `json:"p"`
	X    []float64 `json:"x"`
}

func loadSWRef(t testing.TB) []swRefVector {
	t.Helper()
	b, err := os.ReadFile("testdata/swilk_r.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		RVersion string        `json:"r_version"`
		Vectors  []swRefVector `json:"vectors"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("testdata/swilk_r.json: %v", err)
	}
	if len(f.Vectors) < 200 {
		t.Fatalf("testdata/swilk_r.json: %d vectors, want ≥ 200", len(f.Vectors))
	}
	return f.Vectors
}

// swPClose applies the fixture tolerance on p-values: absolute 1e-5, or
// relative 1e-3 when the reference is below 1e-3.
func swPClose(got, want float64) bool {
	if want < 1e-3 {
		return approx.Close(got, want, 0, 1e-3)
	}
	return approx.Close(got, want, 1e-5, 0)
}

// TestShapiroWilkAgainstR checks W and p against R's shapiro.test on every
// fixture vector: |ΔW| ≤ 1e-6, |Δp| ≤ 1e-5 (relative 1e-3 below 1e-3).
func TestShapiroWilkAgainstR(t *testing.T) {
	vecs := loadSWRef(t)
	var maxDW, maxDP, maxRelP float64
	var maxDWClean, maxDPClean float64 // without offset kinds: R loses digits on 1e6/1e9 + N(0,1)
	sizes := map[int]bool{}
	for _, v := range vecs {
		if len(v.X) != v.N {
			t.Fatalf("%s: %d values, n=%d", v.ID, len(v.X), v.N)
		}
		sizes[v.N] = true
		r, err := ShapiroWilkTest(v.X)
		if err != nil {
			t.Errorf("%s: %v", v.ID, err)
			continue
		}
		if r.Degenerate {
			t.Errorf("%s: degenerate, R computed W=%g", v.ID, v.W)
		}
		dw, dp := approx.Diff(r.W, v.W), approx.Diff(r.P, v.P)
		maxDW = max(maxDW, dw)
		if !strings.HasPrefix(v.Kind, "offset") {
			maxDWClean = max(maxDWClean, dw)
			if v.P >= 1e-3 {
				maxDPClean = max(maxDPClean, dp)
			}
		}
		if v.P >= 1e-3 {
			maxDP = max(maxDP, dp)
		} else if v.P > 0 {
			maxRelP = max(maxRelP, dp/v.P)
		}
		if dw > 1e-6 || !swPClose(r.P, v.P) {
			t.Errorf("%s: W=%.17g p=%.17g, R: W=%.17g p=%.17g", v.ID, r.W, r.P, v.W, v.P)
		}
	}
	for _, n := range []int{3, 4, 5, 11, 12, 20, 50, 200, 600, 1000, 5000} {
		if !sizes[n] {
			t.Errorf("fixture lacks n=%d", n)
		}
	}
	t.Logf("%d vectors vs R: max |ΔW| = %.3g (%.3g without the offset kinds), max |Δp| (p ≥ 1e-3) = %.3g (%.3g), max relative Δp (p < 1e-3) = %.3g",
		len(vecs), maxDW, maxDWClean, maxDP, maxDPClean, maxRelP)
}

// TestShapiroWilkAgainstScipy reports, and bounds, the distance to
// scipy.stats.shapiro (single-precision Fortran AS R94) on the same vectors.
func TestShapiroWilkAgainstScipy(t *testing.T) {
	vecs := loadSWRef(t)
	b, err := os.ReadFile("testdata/swilk_scipy.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Scipy   string `json:"scipy_version"`
		Results []struct {
			ID string  `json:"id"`
			W  float64 `json:"w"`
			P  float64 `json:"p"`
		} `json:"results"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("testdata/swilk_scipy.json: %v", err)
	}
	byID := map[string]swRefVector{}
	for _, v := range vecs {
		byID[v.ID] = v
	}
	if len(f.Results) != len(vecs) {
		t.Fatalf("scipy fixture has %d results for %d vectors", len(f.Results), len(vecs))
	}
	var maxDW, maxDP, maxRDW, maxRDP float64
	var worstW, worstP string
	for _, s := range f.Results {
		v, ok := byID[s.ID]
		if !ok {
			t.Fatalf("scipy fixture: unknown id %q", s.ID)
		}
		r, err := ShapiroWilkTest(v.X)
		if err != nil {
			t.Fatalf("%s: %v", v.ID, err)
		}
		if dw := approx.Diff(r.W, s.W); dw > maxDW {
			maxDW, worstW = dw, v.ID
		}
		if dp := approx.Diff(r.P, s.P); dp > maxDP {
			maxDP, worstP = dp, v.ID
		}
		maxRDW = max(maxRDW, approx.Diff(v.W, s.W))
		maxRDP = max(maxRDP, approx.Diff(v.P, s.P))
	}
	t.Logf("scipy %s, %d vectors: max |ΔW| = %.3g (%s), max |Δp| = %.3g (%s); R vs scipy: %.3g, %.3g",
		f.Scipy, len(f.Results), maxDW, worstW, maxDP, worstP, maxRDW, maxRDP)
	if maxDW > 2e-5 || maxDP > 5e-3 {
		t.Errorf("distance to scipy above bounds (2e-5 in W, 5e-3 in p)")
	}
}

func TestShapiroWilkSampleSize(t *testing.T) {
	for _, n := range []int{-1, 0, 1, 2, 5001, 100000} {
		_, err := NewShapiroWilk(n)
		if !errors.Is(err, ErrSampleSize) {
			t.Fatalf("n=%d: err=%v, want ErrSampleSize", n, err)
		}
		if !strings.Contains(err.Error(), "3 ≤ n ≤ 5000") || !strings.HasPrefix(err.Error(), "shapiro-wilk: n=") {
			t.Errorf("n=%d: message %q does not state the valid range", n, err)
		}
		var c SWCache
		if _, err := c.Get(n); !errors.Is(err, ErrSampleSize) {
			t.Errorf("cache n=%d: err=%v", n, err)
		}
		if _, err := ShapiroWilkTest(make([]float64, max(n, 0))); !errors.Is(err, ErrSampleSize) {
			t.Errorf("ShapiroWilkTest n=%d: err=%v", n, err)
		}
	}
	if got := func() string { _, err := NewShapiroWilk(2); return err.Error() }(); got != "shapiro-wilk: n=2: need 3 ≤ n ≤ 5000" {
		t.Errorf("message %q", got)
	}
	s, err := NewShapiroWilk(10)
	if err != nil {
		t.Fatal(err)
	}
	if s.N() != 10 {
		t.Fatalf("N()=%d", s.N())
	}
	for _, m := range []int{0, 9, 11} {
		if _, err := s.Test(make([]float64, m)); !errors.Is(err, ErrSampleSize) {
			t.Errorf("Test len %d: err=%v", m, err)
		}
		if _, err := s.TestSorted(make([]float64, m)); !errors.Is(err, ErrSampleSize) {
			t.Errorf("TestSorted len %d: err=%v", m, err)
		}
	}
}

func TestShapiroWilkDegenerate(t *testing.T) {
	for _, n := range []int{3, 4, 11, 12, 600, 5000} {
		for _, c := range []float64{0, -3.5, 1e300, 5e-324} {
			x := make([]float64, n)
			for i := range x {
				x[i] = c
			}
			r, err := ShapiroWilkTest(x)
			if err != nil {
				t.Fatalf("n=%d c=%g: %v", n, c, err)
			}
			if r != (SWResult{W: 1, P: 1, Degenerate: true}) {
				t.Errorf("n=%d c=%g: %+v", n, c, r)
			}
		}
	}
}

func TestShapiroWilkNonFinite(t *testing.T) {
	s, _ := NewShapiroWilk(12)
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		for _, pos := range []int{0, 5, 11} {
			x := make([]float64, 12)
			for i := range x {
				x[i] = float64(i * i)
			}
			x[pos] = bad
			_, err := s.Test(x)
			if !errors.Is(err, ErrNonFinite) {
				t.Errorf("Test %v at %d: err=%v", bad, pos, err)
			}
			slices.Sort(x) // NaN first, ±Inf at the ends
			if _, err := s.TestSorted(x); !errors.Is(err, ErrNonFinite) {
				t.Errorf("TestSorted %v at %d: err=%v", bad, pos, err)
			}
		}
	}
	_, err := s.Test([]float64{0, 1, 2, 3, 4, 5, math.NaN(), 7, 8, 9, 10, 11})
	if err == nil || !strings.Contains(err.Error(), "x[6]=NaN") {
		t.Errorf("error %v does not name the index", err)
	}
}

func TestShapiroWilkNotSorted(t *testing.T) {
	s, _ := NewShapiroWilk(5)
	for _, x := range [][]float64{{1, 0, 2, 3, 4}, {0, 1, 3, 2, 4}, {0, 5, 1, 2, 0}, {4, 3, 2, 1, 0}} {
		if _, err := s.TestSorted(x); !errors.Is(err, ErrNotSorted) {
			t.Errorf("%v: err=%v, want ErrNotSorted", x, err)
		}
		if _, err := s.Test(x); err != nil {
			t.Errorf("Test %v: %v", x, err)
		}
	}
}

// TestShapiroWilkNoMutationAndSortedEqual: Test leaves its input alone and
// gives bit-for-bit the result of TestSorted on the sorted copy.
func TestShapiroWilkNoMutationAndSortedEqual(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{3, 7, 12, 100, 600} {
		s, err := NewShapiroWilk(n)
		if err != nil {
			t.Fatal(err)
		}
		for rep := 0; rep < 5; rep++ {
			x := make([]float64, n)
			for i := range x {
				x[i] = rng.NormFloat64() * math.Exp(rng.NormFloat64())
			}
			orig := slices.Clone(x)
			r1, err := s.Test(x)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(x, orig) {
				t.Fatalf("n=%d: Test modified its input", n)
			}
			y := slices.Clone(x)
			sort.Float64s(y)
			r2, err := s.TestSorted(y)
			if err != nil {
				t.Fatal(err)
			}
			if r1 != r2 {
				t.Errorf("n=%d: Test %+v, TestSorted %+v", n, r1, r2)
			}
			if r3, _ := ShapiroWilkTest(x); r3 != r1 {
				t.Errorf("n=%d: ShapiroWilkTest %+v, Test %+v", n, r3, r1)
			}
		}
	}
}

// TestShapiroWilkInvariance: W and p do not depend on location and scale,
// including offsets and scales at the ends of the float64 range.
func TestShapiroWilkInvariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	n := 50
	s, _ := NewShapiroWilk(n)
	z := make([]float64, n)
	for i := range z {
		z[i] = rng.ExpFloat64()
	}
	ref, _ := s.Test(z)
	zmin, zmax := slices.Min(z), slices.Max(z)
	for _, tc := range []struct {
		a, b float64
		sym  bool // map z onto [−b, b] first
	}{
		{0, 1e-300, false}, {0, 1e-310, false}, {0, 1e300, false}, {1e5, 1, false},
		{-7, 3, false}, {0, -1, false}, {0, 1, true},
		{0, 1.7e308, true}, // the range overflows float64
	} {
		x := make([]float64, n)
		for i := range x {
			u := z[i]
			if tc.sym {
				u = 2*(z[i]-zmin)/(zmax-zmin) - 1
			}
			x[i] = tc.a + tc.b*u
		}
		r, err := s.Test(x)
		if err != nil {
			t.Fatalf("a=%g b=%g: %v", tc.a, tc.b, err)
		}
		tol := approx.Float64
		if tc.b == 1e-310 { // subnormal: the data themselves are rounded
			tol = approx.Float32
		}
		approx.Abs(t, fmt.Sprintf("W of a=%g b=%g", tc.a, tc.b), r.W, ref.W, tol)
		approx.Abs(t, fmt.Sprintf("p of a=%g b=%g", tc.a, tc.b), r.P, ref.P, tol*10)
	}
}

// TestShapiroWilkCoefficients checks the AS R94 coefficients by the
// properties they must have (positive, decreasing, 2·Σa² = 1) and against
// Shapiro & Wilk's (1965) exact table for small n.
func TestShapiroWilkCoefficients(t *testing.T) {
	// Shapiro & Wilk (1965), Table 5: exact a_{n−i+1} for n = 3…6, 10.
	exact := map[int][]float64{
		3:  {0.7071},
		4:  {0.6872, 0.1677},
		5:  {0.6646, 0.2413},
		6:  {0.6431, 0.2806, 0.0875},
		10: {0.5739, 0.3291, 0.2141, 0.1224, 0.0399},
	}
	for n, want := range exact {
		s, _ := NewShapiroWilk(n)
		got := s.Coefficients()
		for i := range want {
			// AS R94 approximates the exact values to about 1e-3.
			approx.Abs(t, fmt.Sprintf("n=%d a_%d against the exact table", n, i+1), got[i], want[i], 2e-3)
		}
	}
	for _, n := range []int{3, 4, 5, 6, 11, 12, 600, 5000} {
		s, _ := NewShapiroWilk(n)
		a := s.Coefficients()
		ss := 0.0
		for i, v := range a {
			ss += 2 * v * v
			if v <= 0 || (i > 0 && v > a[i-1]) {
				t.Errorf("n=%d: a not positive decreasing at %d: %v", n, i, a[:min(len(a), 4)])
			}
		}
		approx.Abs(t, fmt.Sprintf("n=%d: 2Σa²", n), ss, 1, approx.Float64)
		a[0] = 42 // a copy
		if s.Coefficients()[0] == 42 {
			t.Errorf("Coefficients returned internal storage")
		}
	}
}

// TestShapiroWilkPValue: PValue(W) equals Test's p, and is NaN outside (0, 1].
func TestShapiroWilkPValue(t *testing.T) {
	for _, v := range loadSWRef(t)[:60] {
		s, _ := NewShapiroWilk(v.N)
		r, _ := s.Test(v.X)
		if p := s.PValue(r.W); !swPClose(p, r.P) {
			t.Errorf("%s: PValue(%g)=%g, Test p=%g", v.ID, r.W, p, r.P)
		}
	}
	s, _ := NewShapiroWilk(20)
	for _, w := range []float64{0, -0.1, 1.5, math.NaN()} {
		if !math.IsNaN(s.PValue(w)) {
			t.Errorf("PValue(%g) not NaN", w)
		}
	}
	if p := s.PValue(1); p != 1 && p < 0.999 {
		t.Errorf("PValue(1)=%g", p)
	}
}

// TestNormQuantile compares the quantile function with R's qnorm
// (sprintf("%.17g", qnorm(p)) in R 4.2.2).
func TestNormQuantile(t *testing.T) {
	for _, c := range []struct{ p, z float64 }{
		{0.5, 0},
		{0.97499999999999998, 1.9599639845400536},
		{0.025000000000000001, -1.9599639845400538},
		{1e-10, -6.3613409024040557},
		{0.10000000000000001, -1.2815515655446008},
		{0.41999999999999998, -0.20189347914185091},
		{0.99990000000000001, 3.7190164854557084},
		{0.00012499375031248437, -3.6622727355848306},
		{1e-300, -37.047096299361201},
	} {
		approx.RelFloor(t, fmt.Sprintf("qnorm(%g) against R", c.p), swNormQuantile(c.p), c.z, 4e-15, 1)
	}
}

func TestSWCacheConcurrent(t *testing.T) {
	c := &SWCache{Max: 3}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				n := 3 + (g+i)%6
				s, err := c.Get(n)
				if err != nil || s.N() != n {
					t.Errorf("Get(%d): %v, %v", n, s, err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	if len(c.m) > 3 {
		t.Errorf("cache holds %d sizes, Max 3", len(c.m))
	}
	a, _ := c.Get(7)
	b, _ := c.Get(7)
	if a != b {
		t.Errorf("Get(7) not memoised")
	}
}

// TestShapiroWilkConcurrent: one ShapiroWilk shared by many goroutines gives
// the sequential results (run with -race to check the scratch recycling).
func TestShapiroWilkConcurrent(t *testing.T) {
	const n = 200
	s, _ := NewShapiroWilk(n)
	cols := swBenchColumns(n, 64)
	want := make([]SWResult, len(cols))
	for j, c := range cols {
		want[j], _ = s.Test(c)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for k := 0; k < 3*len(cols); k++ {
				j := (g*7 + k) % len(cols)
				if r, err := s.Test(cols[j]); err != nil || r != want[j] {
					t.Errorf("goroutine %d column %d: %+v %v, want %+v", g, j, r, err, want[j])
					return
				}
			}
		}(g)
	}
	wg.Wait()
}
