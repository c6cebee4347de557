package data

import (
	"math"
	"slices"
	"testing"
)

func TestRandDeterministic(t *testing.T) {
	a, b := NewRand(42, "pool"), NewRand(42, "pool")
	c := NewRand(42, "coords")
	same, diff := true, false
	for i := 0; i < 100; i++ {
		x, y, z := a.Uint64(), b.Uint64(), c.Uint64()
		same = same && x == y
		diff = diff || x != z
	}
	if !same || !diff {
		t.Errorf("streams: same seed+name equal %v, different names differ %v", same, diff)
	}
	// Regression pin: the draws of a seed must never change between
	// versions (saved audits rely on it). The values are what this code gave
	// when written; PCG-DXSM is fixed by math/rand/v2's specification.
	got := NewRand(1, "pin").Perm(10)
	want := []int{5, 7, 0, 9, 4, 3, 8, 2, 1, 6}
	if !slices.Equal(got, want) {
		t.Errorf("Perm(10) of seed 1 = %v, was %v", got, want)
	}
}

// TestIntNUniform is a chi-square test of IntN on a bound that is not a power
// of two (fixed seed: deterministic).
func TestIntNUniform(t *testing.T) {
	r := NewRand(3, "uniform")
	const n, draws = 7, 70000
	counts := make([]float64, n)
	for i := 0; i < draws; i++ {
		v := r.IntN(n)
		if v < 0 || v >= n {
			t.Fatalf("IntN(7) = %d", v)
		}
		counts[v]++
	}
	chi := 0.0
	for _, c := range counts {
		e := float64(draws) / n
		chi += (c - e) * (c - e) / e
	}
	if chi > 22.46 { // 0.999 quantile of chi-square with 6 degrees of freedom
		t.Errorf("chi-square %v for counts %v", chi, counts)
	}
	if r.IntN(1) != 0 || r.IntN(0) != 0 {
		t.Error("IntN(1), IntN(0) must be 0")
	}
}

// TestSampler checks that repeated draws are distinct values and that every
// value is drawn equally often over many draws.
func TestSampler(t *testing.T) {
	s := NewSampler(NewRand(5, "s"), 20)
	counts := make([]float64, 20)
	const draws = 4000
	for i := 0; i < draws; i++ {
		d := s.Draw(5)
		seen := map[int]bool{}
		for _, v := range d {
			if seen[v] || v < 0 || v >= 20 {
				t.Fatalf("draw %v repeats or is out of range", d)
			}
			seen[v] = true
			counts[v]++
		}
	}
	e := float64(draws) * 5 / 20
	chi := 0.0
	for _, c := range counts {
		chi += (c - e) * (c - e) / e
	}
	if chi > 43.82 { // 0.999 quantile, 19 degrees of freedom
		t.Errorf("chi-square %v", chi)
	}
	if len(s.Draw(30)) != 20 || len(NewRand(1, "x").Sample(5, 6)) != 0 {
		t.Error("clamping")
	}
	smp := NewRand(1, "x").Sample(100, 100)
	slices.Sort(smp)
	for i, v := range smp {
		if v != i {
			t.Fatalf("Sample(100,100) is not a permutation")
		}
	}
	f := NewRand(1, "f").Float64()
	if f < 0 || f >= 1 || math.IsNaN(f) {
		t.Errorf("Float64 = %v", f)
	}
}
