package stats

import (
	"encoding/json"
	"math"
	"testing"
)

// TestNumberJSON: finite Numbers encode to the bytes encoding/json writes for
// the float64 (through MarshalJSON and AppendJSON), NaN and ±Inf to null, and
// everything reads back (null as NaN).
func TestNumberJSON(t *testing.T) {
	for _, x := range []float64{0, math.Copysign(0, -1), 1, -2.5, 0.1, 1e-6, 9.99e-7, 1.5e-5, 1e-9, -3e-300,
		5e-324, 1e7, 123456789, 1e20, 1e21, -1.7976931348623157e308, 1.0 / 3} {
		want, err := json.Marshal(x)
		if err != nil {
			t.Fatal(err)
		}
		got, err := json.Marshal(Number(x))
		if err != nil || string(got) != string(want) {
			t.Errorf("Marshal(Number(%v)) = %s, %v; want %s", x, got, err, want)
		}
		if app := Number(x).AppendJSON([]byte("[")); string(app) != "["+string(want) {
			t.Errorf("AppendJSON(%v) = %s, want [%s", x, app, want)
		}
		var back Number
		if err := json.Unmarshal(got, &back); err != nil || float64(back) != x || !back.Defined() {
			t.Errorf("Unmarshal(%s) = %v, %v", got, back, err)
		}
	}
	for _, x := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		got, err := json.Marshal(Number(x))
		if err != nil || string(got) != "null" {
			t.Errorf("Marshal(Number(%v)) = %s, %v; want null", x, got, err)
		}
		if Number(x).Defined() {
			t.Errorf("Number(%v).Defined() = true", x)
		}
	}
	var back = Number(1)
	if err := json.Unmarshal([]byte("null"), &back); err != nil || !math.IsNaN(float64(back)) {
		t.Errorf("Unmarshal(null) = %v, %v; want NaN", back, err)
	}
	if err := json.Unmarshal([]byte(`"x"`), &back); err == nil {
		t.Error(`Unmarshal("x"): no error`)
	}
}
