package approx

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// recorder is a TB that keeps the messages.
type recorder struct{ msgs []string }

func (r *recorder) Helper()                      {}
func (r *recorder) Errorf(f string, args ...any) { r.msgs = append(r.msgs, fmt.Sprintf(f, args...)) }

func TestCloseness(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	cases := []struct {
		got, want, diff, rel float64
	}{
		{1, 1, 0, 0},
		{1.5, 1, 0.5, 0.5},
		{-3, -2, 1, 0.5},
		{1e-3, 0, 1e-3, 1e-3}, // a zero reference: absolute
		{nan, nan, 0, 0},
		{inf, inf, 0, 0},
		{nan, 1, inf, inf},
		{1, nan, inf, inf},
		{inf, 1, inf, inf},
		{-inf, inf, inf, inf},
	}
	for _, c := range cases {
		if d := Diff(c.got, c.want); d != c.diff {
			t.Errorf("Diff(%g, %g) = %g, want %g", c.got, c.want, d, c.diff)
		}
		if r := RelErr(c.got, c.want); r != c.rel {
			t.Errorf("RelErr(%g, %g) = %g, want %g", c.got, c.want, r, c.rel)
		}
	}
	if RelErrFloor(0.5, 0.25, 1) != 0.25 || RelErrFloor(3, 2, 1) != 0.5 || RelErrFloor(math.NaN(), math.NaN(), 1) != 0 {
		t.Error("RelErrFloor: |Δ| / max(|want|, floor)")
	}
	if !Close(1.09, 1, 0.05, 0.05) || Close(1.11, 1, 0.05, 0.05) || !Close(nan, nan, 0, 0) || Close(nan, 0, 1, 1) {
		t.Error("Close: abs + rel·|want|")
	}
}

func TestHelpersReport(t *testing.T) {
	var r recorder
	ok := []bool{
		Rel(&r, "x", 1+1e-13, 1, Float64),
		Abs(&r, "x", 1e-16, 0, Rounding),
		Within(&r, "x", 100.5, 100, 0, 0.01),
		Same(&r, "x", math.NaN(), math.NaN()),
		RelFloor(&r, "x", 1e-12, 0, 1e-11, 1),
		SE(&r, "mean", 1.02, 1, 0.01, 3),
		Slice(&r, "v", []float64{1, 2}, []float64{1, 2 + 1e-13}, 0, Float64),
	}
	for i, o := range ok {
		if !o {
			t.Errorf("check %d failed", i)
		}
	}
	if len(r.msgs) != 0 {
		t.Fatalf("passing checks reported %q", r.msgs)
	}
	fails := []bool{
		Rel(&r, "W of n=20", 0.9, 1, Float64),
		Abs(&r, "p", 0.5, 0.4, Reference),
		Within(&r, "S4", 2, 1, 0.1, 0.1),
		Same(&r, "sum", 1, math.Nextafter(1, 2)),
		RelFloor(&r, "q", 0.1, 0, 1e-3, 1),
		SE(&r, "mean", 1.05, 1, 0.01, 3),
		Slice(&r, "v", []float64{1, 2, 3, 4, 5}, []float64{0, 0, 0, 0, 0}, 0, 0),
		Slice(&r, "w", []float64{1}, []float64{1, 2}, 0, 0),
	}
	for i, f := range fails {
		if f {
			t.Errorf("failing check %d passed", i)
		}
	}
	for _, want := range []string{"W of n=20 = 0.9", "want 1 ", "relative 1e-12", "p = 0.5", "absolute 1e-09", "S4 = 2",
		"absolute 0.1 + relative 0.1", "sum = 1, want 1.0000000000000002", "3 standard errors of 0.01", "v[0] = 1", "v[2]",
		"q = 0.1", "0.001 relative to max(|want|, 1)", "v: 5 of 5 values out of tolerance", "w: 1 values, want 2"} {
		if !strings.Contains(strings.Join(r.msgs, "\n"), want) {
			t.Errorf("messages lack %q:\n%s", want, strings.Join(r.msgs, "\n"))
		}
	}
	if strings.Contains(strings.Join(r.msgs, "\n"), "v[3]") {
		t.Error("Slice reported more than three elements")
	}
}
