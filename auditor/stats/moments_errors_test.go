package stats

import (
	"errors"
	"math"
	"testing"
)

// TestErrorsMatchPackageSentinels: the moment and tail-index errors wrap the
// package's one set of sentinels (errors.go) that doc.go promises, and only
// the ones of their meaning.
func TestErrorsMatchPackageSentinels(t *testing.T) {
	nan := []float64{1, 2, math.NaN(), 4, 5, 6}
	_, e1 := Describe(nan)
	_, e2 := McCulloch(nan)
	_, e3 := TailIndexMohammadi(nan)
	for i, err := range []error{e1, e2, e3} {
		if !errors.Is(err, ErrNonFinite) || errors.Is(err, ErrSampleSize) || errors.Is(err, ErrAllZero) {
			t.Errorf("non-finite error %d = %v: wrong sentinels", i, err)
		}
	}
	_, e1 = Describe(nil)
	_, e2 = McCulloch([]float64{1, 2})
	for i, err := range []error{e1, e2} {
		if !errors.Is(err, ErrSampleSize) || errors.Is(err, ErrNonFinite) || errors.Is(err, ErrAllZero) {
			t.Errorf("size error %d = %v: wrong sentinels", i, err)
		}
	}
	if _, err := TailIndexMohammadi([]float64{0, 0, 1, 2, 3}); !errors.Is(err, ErrAllZero) || !errors.Is(err, ErrSampleSize) {
		t.Errorf("three non-zero values: %v", err)
	}
	if _, err := TailIndexMohammadi([]float64{1, -1, 2, -2}); !errors.Is(err, ErrAllZero) || errors.Is(err, ErrSampleSize) {
		t.Errorf("cancelling blocks: %v", err)
	}
	if _, err := Describe([]float64{2, 2}); !errors.Is(err, ErrZeroVariance) || errors.Is(err, ErrSampleSize) {
		t.Errorf("constant data: %v", err)
	}
	if _, err := Describe([]float64{1, 2, math.Inf(1)}); err.Error() != "describe: value 2 is +Inf: non-finite value" {
		t.Errorf("message %q", err.Error())
	}
}
