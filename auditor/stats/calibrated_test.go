package stats

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/internal/approx"
)

func TestNoncentralChi2SF2AgainstScipy(t *testing.T) {
	// scipy.stats.ncx2.sf(x, 2, λ) (chi2.sf for λ = 0), scipy 1.10.
	crit := -2 * math.Log(0.05)
	for _, c := range []struct{ x, lambda, want float64 }{
		{crit, 0, 0.05},
		{crit, 1, 0.1327100142325168},
		{crit, 9.5, 0.7940511432311311},
		{crit, 40, 0.9999684252504332},
		{2, 3, 0.7477930575739611},
		{20, 10, 0.11979375231607833},
		{crit, 300, 1},
	} {
		got := NoncentralChi2SF2(c.x, c.lambda)
		approx.Abs(t, fmt.Sprintf("NoncentralChi2SF2(%v, %v) against scipy", c.x, c.lambda), got, c.want, approx.Float64)
	}
	if !math.IsNaN(NoncentralChi2SF2(1, -1)) || NoncentralChi2SF2(0, 3) != 1 {
		t.Error("edge cases")
	}
	// Large arguments (e^{−x/2} underflows): the mean is 2+λ, the median
	// near it; and across the shortcut √λ − √x = 9.
	approx.Abs(t, "SF(1500; 1498)", NoncentralChi2SF2(1500, 1498), 0.5, 0.02)
	x := 4.0
	l9 := (9 + math.Sqrt(x)) * (9 + math.Sqrt(x))
	approx.Abs(t, "SF across the shortcut", NoncentralChi2SF2(x, l9-1e-9), NoncentralChi2SF2(x, l9+1e-9), approx.Rounding)
}

func TestWilson(t *testing.T) {
	// Wilson score interval, z = Φ⁻¹(0.975) (the textbook formula, values
	// from scipy.stats.norm.ppf; 0/50 → 0.0713 is the classic example).
	for _, c := range []struct {
		k, n   int
		lo, hi float64
	}{
		{243, 256, 0.9150689403789347, 0.9700861886134464},
		{128, 256, 0.43920555858906296, 0.560794441410937},
		{0, 50, 0, 0.07134759913335872},
		{50, 50, 0.9286524008666414, 1},
	} {
		lo, hi := Wilson(c.k, c.n, 0.05)
		approx.Abs(t, fmt.Sprintf("Wilson(%d, %d) lower", c.k, c.n), lo, c.lo, approx.Reference)
		approx.Abs(t, fmt.Sprintf("Wilson(%d, %d) upper", c.k, c.n), hi, c.hi, approx.Reference)
	}
	// Coverage by simulation: p = 0.9, n = 256, 2000 seeds.
	r := rand.New(rand.NewPCG(1, 2))
	cover := 0
	for s := 0; s < 2000; s++ {
		k := 0
		for i := 0; i < 256; i++ {
			if r.Float64() < 0.9 {
				k++
			}
		}
		if lo, hi := Wilson(k, 256, 0.05); lo <= 0.9 && 0.9 <= hi {
			cover++
		}
	}
	if c := float64(cover) / 2000; c < 0.93 || c > 0.97 {
		t.Errorf("Wilson coverage %.3f, want 0.95 ± 0.02", c)
	}
}

func TestHolm(t *testing.T) {
	// m = 4, α = 0.05: levels 0.0125, 0.0167, 0.025, 0.05 in sorted order.
	ps := []float64{0.04, 0.01, 0.03, 0.005}
	rej, lev := Holm(ps, 0.05)
	want := []bool{false, true, false, true} // 0.005 ≤ .0125, 0.01 ≤ .0167, 0.03 > .025 stops
	for i := range ps {
		if rej[i] != want[i] {
			t.Errorf("Holm reject[%d] = %v, want %v (levels %v)", i, rej[i], want[i], lev)
		}
	}
	approx.Abs(t, "Holm level of the smallest p", lev[3], 0.0125, approx.Rounding)
	approx.Abs(t, "Holm level of the largest p", lev[0], 0.05, approx.Rounding)
	// Family-wise error under the global null: 16 independent uniform
	// p-values, 4000 families: rate ≤ α (it is ≈ 0.049).
	r := rand.New(rand.NewPCG(3, 4))
	fw := 0
	for f := 0; f < 4000; f++ {
		p := make([]float64, 16)
		for i := range p {
			p[i] = r.Float64()
		}
		rj, _ := Holm(p, 0.05)
		for _, x := range rj {
			if x {
				fw++
				break
			}
		}
	}
	if rate := float64(fw) / 4000; rate > 0.06 {
		t.Errorf("Holm family-wise error %.3f > 0.05 (+MC slack)", rate)
	}
}

func TestStoreyPi0AndNonNullShare(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	// 70 % nulls (uniform p), 30 % strong alternatives (p ≈ 0).
	ps := make([]float64, 20000)
	for i := range ps {
		if i%10 < 7 {
			ps[i] = r.Float64()
		} else {
			ps[i] = r.Float64() * 1e-4
		}
	}
	approx.Abs(t, "Storey π̂0", StoreyPi0(ps, 0.5), 0.7, 0.02)
	rej := 0
	for _, p := range ps {
		if p <= 0.05 {
			rej++
		}
	}
	approx.Abs(t, "(R−α)/(1−α)", NonNullShare(float64(rej)/float64(len(ps)), 0.05), 0.3, 0.02)
}

func TestPoolSkewFactor(t *testing.T) {
	// Exact third central moment of a without-replacement sample mean from
	// a small population, by enumeration of all C(8, 3) samples.
	pop := []float64{0, 0, 0, 0, 0, 1, 3, 10}
	N, B := len(pop), 3
	mu := 0.0
	for _, x := range pop {
		mu += x
	}
	mu /= float64(N)
	var m2, m3 float64
	for _, x := range pop {
		m2 += (x - mu) * (x - mu)
		m3 += (x - mu) * (x - mu) * (x - mu)
	}
	m2 /= float64(N)
	m3 /= float64(N)
	g1 := m3 / math.Pow(m2, 1.5)
	var s2, s3 float64
	cnt := 0
	for a := 0; a < N; a++ {
		for b := a + 1; b < N; b++ {
			for c := b + 1; c < N; c++ {
				d := (pop[a]+pop[b]+pop[c])/3 - mu
				s2 += d * d
				s3 += d * d * d
				cnt++
			}
		}
	}
	s2 /= float64(cnt)
	s3 /= float64(cnt)
	got := s3 / math.Pow(s2, 1.5)
	want := g1 / math.Sqrt(float64(B)) * PoolSkewFactor(B, N)
	approx.Abs(t, "skewness of the without-replacement mean against the formula", got, want, approx.Float64)
	if PoolSkewFactor(10, 0) != 1 || PoolSkewFactor(50, 100) != 0 {
		t.Error("edge cases")
	}
}

// calLaw is a per-sample law with known skewness and excess kurtosis.
type calLaw struct {
	name   string
	g1, g2 float64
	draw   func(*rand.Rand) float64
}

func calLaws() []calLaw {
	w := math.Exp(0.25) // lognormal σ = 0.5
	p := 0.05           // sparse exponential: Bernoulli(p)·Exp(1)
	m2 := 2*p - p*p
	m3 := 6*p - 6*p*p + 2*p*p*p
	m4 := 24*p - 24*p*p + 12*p*p*p - 3*p*p*p*p
	q := 0.1 // point masses at 0 and 1
	return []calLaw{
		{"exponential", 2, 6, func(r *rand.Rand) float64 { return r.ExpFloat64() }},
		{"lognormal σ=0.5", (w + 2) * math.Sqrt(w-1), w*w*w*w + 2*w*w*w + 3*w*w - 6,
			func(r *rand.Rand) float64 { return math.Exp(0.5 * r.NormFloat64()) }},
		{"sparse exponential p=0.05", m3 / math.Pow(m2, 1.5), m4/(m2*m2) - 3, func(r *rand.Rand) float64 {
			if r.Float64() < p {
				return r.ExpFloat64()
			}
			return 0
		}},
		{"point mass Bernoulli(0.1)", (1 - 2*q) / math.Sqrt(q*(1-q)), (1 - 6*q*(1-q)) / (q * (1 - q)), func(r *rand.Rand) float64 {
			if r.Float64() < q {
				return 1
			}
			return 0
		}},
		{"uniform", 0, -1.2, func(r *rand.Rand) float64 { return r.Float64() }},
	}
}

// simRejection is the Monte Carlo Shapiro–Wilk rejection rate at level
// alpha of n means of B i.i.d. draws, over reps repetitions.
func simRejection(t *testing.T, r *rand.Rand, draw func(*rand.Rand) float64, b, n, reps int, alpha float64) float64 {
	sw, err := NewShapiroWilk(n)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float64, n)
	rej := 0
	for s := 0; s < reps; s++ {
		for i := range x {
			sum := 0.0
			for j := 0; j < b; j++ {
				sum += draw(r)
			}
			x[i] = sum / float64(b)
		}
		res, err := sw.Test(x)
		if err != nil {
			t.Fatal(err)
		}
		if res.P <= alpha {
			rej++
		}
	}
	return float64(rej) / float64(reps)
}

// TestPredictedRejectionAgainstShapiroWilk is the known-answer test of the
// calibrated prediction (docs/statistics.md, "Calibrated Gaussian share"):
// on four continuous laws with known γ₁, γ₂ (exponential, lognormal,
// sparse exponential — a point mass at 0 mixed with an exponential —,
// uniform), at B = 16, 64, 256 and n = 50, 200, the predicted Shapiro–Wilk
// rejection rate agrees with the simulated one (300 seeded repetitions,
// Monte Carlo SE ≤ 0.029) within 0.10, and within 0.05 on average. B = 4
// (|γ₁|/√B ≥ 0.87: the Edgeworth model overpredicts at n = 50) and a
// lattice law (Bernoulli: the batch mean takes few distinct values, which
// Shapiro–Wilk rejects beyond what moments predict) are outside the model;
// they are printed, and the lattice law is checked to be rejected at least
// as often as predicted (the prediction is optimistic there, never
// pessimistic). Run with -v to print the table recorded in the docs.
func TestPredictedRejectionAgainstShapiroWilk(t *testing.T) {
	const alpha, reps = 0.05, 300
	r := rand.New(rand.NewPCG(2026, 15))
	var b strings.Builder
	fmt.Fprintf(&b, "| law | γ₁ | γ₂ | n | B | predicted | simulated SW | in model |\n|---|---:|---:|---:|---:|---:|---:|---|\n")
	sumErr, cases := 0.0, 0
	for _, l := range calLaws() {
		lattice := strings.HasPrefix(l.name, "point mass")
		for _, n := range []int{50, 200} {
			for _, bs := range []int{4, 16, 64, 256} {
				pred := PredictedRejection(l.g1, l.g2, bs, n, 0, alpha)
				sim := simRejection(t, r, l.draw, bs, n, reps, alpha)
				in := !lattice && bs >= 16
				fmt.Fprintf(&b, "| %s | %.2f | %.2f | %d | %d | %.3f | %.3f | %s |\n", l.name, l.g1, l.g2, n, bs, pred, sim, map[bool]string{true: "yes", false: "no"}[in])
				d := approx.Diff(pred, sim)
				switch {
				case in:
					sumErr += d
					cases++
					if d > 0.10 {
						t.Errorf("%s, n=%d, B=%d: predicted rejection %.3f, simulated %.3f", l.name, n, bs, pred, sim)
					}
				case lattice && sim < pred-0.08:
					t.Errorf("%s, n=%d, B=%d: lattice law rejected %.3f, less than predicted %.3f", l.name, n, bs, sim, pred)
				}
			}
		}
	}
	if m := sumErr / float64(cases); m > 0.05 {
		t.Errorf("mean |predicted − simulated| = %.3f over %d cases, want ≤ 0.05", m, cases)
	}
	fmt.Fprintf(&b, "\nmean |predicted − simulated| = %.3f over the %d cases in the model\n", sumErr/float64(cases), cases)
	t.Log("\n" + b.String())
}

// TestPredictedRejectionPool checks the pool factor against simulation:
// batches of B = 256 drawn without replacement from a pool of N = 2048
// sparse-exponential samples are rejected less often than i.i.d. batches,
// and the prediction with the pool's own moments and PoolSkewFactor follows
// the simulated rate within 0.10.
func TestPredictedRejectionPool(t *testing.T) {
	const alpha, n, b, N, reps = 0.05, 200, 256, 2048, 150
	l := calLaws()[2]
	r := rand.New(rand.NewPCG(7, 8))
	sw, _ := NewShapiroWilk(n)
	pool := make([]float64, N)
	perm := make([]int, N)
	x := make([]float64, n)
	rej := 0
	predSum := 0.0
	for s := 0; s < reps; s++ {
		var cs CentredSums
		mean := 0.0
		for i := range pool {
			pool[i] = l.draw(r)
			mean += pool[i]
			perm[i] = i
		}
		mean /= N
		for i := range pool {
			cs.Add(pool[i] - mean)
		}
		predSum += PredictedRejection(cs.Skewness(), cs.ExcessKurtosis(), b, n, N, alpha)
		for i := range x {
			sum := 0.0
			for j := 0; j < b; j++ {
				k := j + r.IntN(N-j)
				perm[j], perm[k] = perm[k], perm[j]
				sum += pool[perm[j]]
			}
			x[i] = sum / b
		}
		res, _ := sw.Test(x)
		if res.P <= alpha {
			rej++
		}
	}
	sim, pred := float64(rej)/reps, predSum/reps
	iid := PredictedRejection(l.g1, l.g2, b, n, 0, alpha)
	t.Logf("N=%d B=%d: simulated %.3f, predicted with pool factor %.3f, i.i.d. prediction %.3f", N, b, sim, pred, iid)
	approx.Abs(t, "pool: simulated rejection rate against the prediction", sim, pred, 0.10)
	if !(pred < iid) {
		t.Errorf("pool prediction %.3f not below i.i.d. %.3f", pred, iid)
	}
}
