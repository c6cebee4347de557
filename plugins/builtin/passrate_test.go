package builtin_test

import (
	"fmt"
	"testing"

	"github.com/gnaudit/gnaudit/internal/approx"
	"github.com/gnaudit/gnaudit/plugins/builtin"
	"github.com/gnaudit/gnaudit/plugins/synth"
)

// TestPassRateKnownAnswer: a layer of 180 Gaussian, 80 Cauchy and 40 dead
// coordinates. The primary pass rate excludes the dead ones (≈ 0.95·180/260
// = 65.8 %), the 1−α ceiling is 95 %, and the non-Gaussian share — (R−α)/(1−α)
// and Storey's 1−π̂₀ — recovers the 80/260 = 30.8 % Cauchy coordinates.
func TestPassRateKnownAnswer(t *testing.T) {
	laws := append(synth.Repeat(180, synth.Gaussian), synth.Repeat(80, synth.Cauchy)...)
	laws = append(laws, synth.Repeat(40, synth.Zero)...)
	set, err := synth.Set(synth.Spec{Seed: 11, Pool: 4000, Batches: 200, BatchSizes: []int{4, 20},
		Layers: []synth.LayerSpec{{Name: "mix", Parameter: "mix.weight", Laws: laws}}})
	if err != nil {
		t.Fatal(err)
	}
	l := runAll(t, set, nil)[builtin.NormalityName].Layer("mix.weight")
	if c := l.Number(builtin.KeyCeilingPercent, 0); c != 95 {
		t.Errorf("ceiling %v, want 95", c)
	}
	for _, b := range set.BatchSizes {
		nd := l.Number(builtin.KeyNonDegeneratePercent, b)
		lo, hi := l.Number(builtin.KeyPercentLow, b), l.Number(builtin.KeyPercentHigh, b)
		want := 95 * 180.0 / 260
		if !(lo <= want && want <= hi) || hi-lo > 13 || hi-lo < 8 {
			t.Errorf("B=%d: pass rate %.1f%% [%.1f, %.1f], want an interval of ≈ ±5.7 around %.1f%%", b, nd, lo, hi, want)
		}
		if all := l.Number(builtin.KeyGaussianityPercent, b); all <= nd {
			t.Errorf("B=%d: the old share (dead counted Gaussian) %.1f%% should exceed the non-degenerate %.1f%%", b, all, nd)
		}
		ng, st := l.Number(builtin.KeyNonGaussianPercent, b), l.Number(builtin.KeyNonGaussianStorey, b)
		ngLo, ngHi := l.Number(builtin.KeyNonGaussianLow, b), l.Number(builtin.KeyNonGaussianHigh, b)
		want = 100 * 80.0 / 260
		approx.Abs(t, fmt.Sprintf("B=%d: non-Gaussian share", b), ng, want, 6)
		approx.Abs(t, fmt.Sprintf("B=%d: Storey's non-Gaussian share", b), st, want, 12) // SE ≈ 5 points here
		if !(ngLo <= want && want <= ngHi) {
			t.Errorf("B=%d: non-Gaussian share %.1f%% [%.1f, %.1f] does not cover %.1f%%", b, ng, ngLo, ngHi, want)
		}
	}
}

// TestPassRateCoverage: exactly Gaussian noise (B = 1 of Gaussian samples)
// over 60 seeds of 256 coordinates: the pass rate centres on the ceiling
// 1−α = 95 %, its Wilson interval covers 95 % in ≥ 88 % of the seeds, and
// the non-Gaussian share's interval contains 0 as often.
func TestPassRateCoverage(t *testing.T) {
	const seeds = 60
	cover, zero := 0, 0
	sum := 0.0
	for s := uint64(0); s < seeds; s++ {
		set, err := synth.Set(synth.Spec{Seed: 100 + s, Pool: 200, Batches: 200, BatchSizes: []int{1},
			Layers: []synth.LayerSpec{{Name: "g", Parameter: "g.weight", Laws: synth.Repeat(256, synth.Gaussian)}}})
		if err != nil {
			t.Fatal(err)
		}
		l := runAll(t, set, map[string]map[string]string{"alpha-stable": {"bins": "2"}})[builtin.NormalityName].Layer("g.weight")
		p := l.Number(builtin.KeyNonDegeneratePercent, 1)
		sum += p
		if l.Number(builtin.KeyPercentLow, 1) <= 95 && 95 <= l.Number(builtin.KeyPercentHigh, 1) {
			cover++
		}
		if l.Number(builtin.KeyNonGaussianLow, 1) == 0 {
			zero++
		}
	}
	mean := sum / seeds
	t.Logf("Gaussian noise: mean pass rate %.2f%%, Wilson coverage %d/%d, non-Gaussian interval from 0 in %d/%d", mean, cover, seeds, zero, seeds)
	approx.Abs(t, "mean pass rate of Gaussian noise", mean, 95, 0.8)
	if cover < seeds*88/100 || zero < seeds*88/100 {
		t.Errorf("coverage %d/%d, zero in interval %d/%d", cover, seeds, zero, seeds)
	}
}
