package stats

import (
	"encoding/json"
	"math"
	"strconv"
)

// Number is a statistic as gnaudit's JSON outputs carry it (report.json,
// `gnaudit stats`): a float64 whose NaN and ±Inf ("not defined": a ratio with
// a zero denominator, a median of nothing, a test on a degenerate column) are
// written as null, and null reads back as NaN. Finite values are written
// exactly as encoding/json writes a float64.
type Number float64

// MarshalJSON implements json.Marshaler.
func (x Number) MarshalJSON() ([]byte, error) { return x.AppendJSON(nil), nil }

// AppendJSON appends x's JSON encoding to b: the bytes encoding/json writes
// for float64(x), or null when x is NaN or infinite (for hand-written
// encoders that must match json.Marshal byte for byte).
func (x Number) AppendJSON(b []byte) []byte {
	f := float64(x)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// Like encoding/json: e-09 becomes e-9.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// UnmarshalJSON implements json.Unmarshaler (null reads as NaN).
func (x *Number) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*x = Number(math.NaN())
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*x = Number(f)
	return nil
}

// Defined reports whether x is a finite number (not null in JSON).
func (x Number) Defined() bool { return !math.IsNaN(float64(x)) && !math.IsInf(float64(x), 0) }
