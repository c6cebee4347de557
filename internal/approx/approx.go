// Package approx is the tests' one vocabulary of numerical closeness: named
// tolerances that say what a comparison expects of its reference, and
// helpers that compare a computed value with a reference and, when they
// differ by more, report the quantity by name with both values, the
// absolute and relative differences and the tolerance.
//
// Tolerances are relative to the reference (want) unless a helper says
// absolute; Within combines both (|got − want| ≤ abs + rel·|want|, numpy's
// isclose). NaN equals NaN and an infinity equals the same infinity in
// every helper, so that "undefined" results compare as such. Statistical
// comparisons (a Monte Carlo mean against its expectation) use SE with the
// standard error of the simulation, not a fixed number.
//
// The named tolerances:
//
//	Rounding   1e-15  a float64 value against a closed form (a few ulps)
//	Float64    1e-12  a float64 computation against exact arithmetic
//	                  (50-digit, rationals) or another float64 algorithm,
//	                  after accumulated rounding
//	Reference  1e-9   against another implementation's output (scipy, R,
//	                  a root solved by brentq): the project's bar for a
//	                  statistic
//	Float32    1e-6   float32 storage or accumulation against float64
//
// A test with another tolerance writes it where it compares, with a comment
// deriving it (a reference's own precision, a Monte Carlo standard error).
package approx

import (
	"fmt"
	"math"
)

// Named tolerances (see the package comment).
const (
	Rounding  = 1e-15
	Float64   = 1e-12
	Reference = 1e-9
	Float32   = 1e-6
)

// TB is the part of testing.TB the helpers use.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
}

// SameNumber reports whether got and want are the same number: equal, both
// NaN, or the same infinity.
func SameNumber(got, want float64) bool {
	return got == want || math.IsNaN(got) && math.IsNaN(want)
}

// Diff returns |got − want|: 0 when they are the same number (NaN and
// NaN, an infinity and itself), +Inf when only one is NaN.
func Diff(got, want float64) float64 {
	switch {
	case SameNumber(got, want):
		return 0
	case math.IsNaN(got) || math.IsNaN(want):
		return math.Inf(1)
	}
	return math.Abs(got - want)
}

// RelErr returns |got − want| / |want|, or |got − want| when want is 0 (so
// that a zero reference asks for an absolute match); 0 and +Inf as Diff.
func RelErr(got, want float64) float64 {
	d := Diff(got, want)
	if d == 0 || want == 0 || math.IsInf(d, 1) {
		return d
	}
	return d / math.Abs(want)
}

// RelErrFloor returns |got − want| / max(|want|, floor): the relative
// error for references above floor in magnitude, the absolute error on the
// scale of floor below (a p-value near 0, a parameter near 0).
func RelErrFloor(got, want, floor float64) float64 {
	d := Diff(got, want)
	if d == 0 || math.IsInf(d, 1) {
		return d
	}
	return d / max(math.Abs(want), floor)
}

// Close reports whether |got − want| ≤ abs + rel·|want|.
func Close(got, want, abs, rel float64) bool {
	d := Diff(got, want)
	return d == 0 || d <= abs+rel*math.Abs(want)
}

func report(t TB, what string, got, want float64, tolerance string) {
	t.Helper()
	t.Errorf("%s = %.17g, want %.17g (|Δ| %.3g, relative %.3g; tolerance %s)", what, got, want, Diff(got, want), RelErr(got, want), tolerance)
}

// Rel checks RelErr(got, want) ≤ rel and reports what otherwise. It returns
// whether the check passed.
func Rel(t TB, what string, got, want, rel float64) bool {
	t.Helper()
	if RelErr(got, want) <= rel {
		return true
	}
	report(t, what, got, want, fmt.Sprintf("relative %.3g", rel))
	return false
}

// RelFloor checks RelErrFloor(got, want, floor) ≤ rel and reports what
// otherwise.
func RelFloor(t TB, what string, got, want, rel, floor float64) bool {
	t.Helper()
	if RelErrFloor(got, want, floor) <= rel {
		return true
	}
	report(t, what, got, want, fmt.Sprintf("%.3g relative to max(|want|, %.3g)", rel, floor))
	return false
}

// Abs checks |got − want| ≤ abs and reports what otherwise.
func Abs(t TB, what string, got, want, abs float64) bool {
	t.Helper()
	if Diff(got, want) <= abs {
		return true
	}
	report(t, what, got, want, fmt.Sprintf("absolute %.3g", abs))
	return false
}

// Within checks |got − want| ≤ abs + rel·|want| and reports what otherwise.
func Within(t TB, what string, got, want, abs, rel float64) bool {
	t.Helper()
	if Close(got, want, abs, rel) {
		return true
	}
	report(t, what, got, want, fmt.Sprintf("absolute %.3g + relative %.3g", abs, rel))
	return false
}

// Same checks that got and want are the same number (bit for bit but for
// the sign of zero and NaN payloads) and reports what otherwise.
func Same(t TB, what string, got, want float64) bool {
	t.Helper()
	if SameNumber(got, want) {
		return true
	}
	report(t, what, got, want, "none (the same number)")
	return false
}

// SE checks that a simulated got is within k standard errors se of its
// expectation want, and reports what otherwise.
func SE(t TB, what string, got, want, se, k float64) bool {
	t.Helper()
	if Diff(got, want) <= k*se {
		return true
	}
	report(t, what, got, want, fmt.Sprintf("%g standard errors of %.3g", k, se))
	return false
}

// Slice checks two slices element by element with Within (and their
// lengths), reporting what[i] for the first few elements out of tolerance.
// It returns whether every element passed.
func Slice(t TB, what string, got, want []float64, abs, rel float64) bool {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, want %d", what, len(got), len(want))
		return false
	}
	bad := 0
	for i := range got {
		if Close(got[i], want[i], abs, rel) {
			continue
		}
		if bad++; bad <= 3 {
			report(t, fmt.Sprintf("%s[%d]", what, i), got[i], want[i], fmt.Sprintf("absolute %.3g + relative %.3g", abs, rel))
		}
	}
	if bad > 3 {
		t.Errorf("%s: %d of %d values out of tolerance", what, bad, len(got))
	}
	return bad == 0
}
