// Package statsrun computes per-column statistics of an observation matrix
// (Shapiro–Wilk, moments, Berry–Esseen bounds, tail indices) in parallel and
// writes them as JSON (schema "gnaudit.stats/v1") or Markdown. It is the
// engine of "gnaudit stats"; the statistics themselves are auditor/stats.
//
// # Schema gnaudit.stats/v1
//
//	{"schema": "gnaudit.stats/v1",
//	 "rows": N,                       // observations per column
//	 "column_names": ["a", ...],      // only when the input had a CSV header
//	 "columns": [
//	   {"index": 0, "n": N,
//	    "shapiro": {"w": W, "p": P, "status": "ok|degenerate|error", "error": "..."},
//	    "moments": {"mean": .., "variance": .., "skewness": .., "excess_kurtosis": ..,
//	                "abs3_standardized": .., "sqrt_kurtosis": .., "error": "..."},
//	    "berry_esseen": [{"batch_size": B, "bound": .., "error": "..."}, ...],
//	    "tail_index": {"mohammadi": .., "mohammadi_error": "...",
//	                   "mcculloch": {"alpha": .., "beta": .., "scale": .., "location": ..,
//	                                 "error": "..."}}}]}
//
// Every number that cannot be computed is null (JSON has no NaN), and an
// "error" key next to it (for mohammadi: "mohammadi_error") gives the reason;
// the error keys are present only when something failed. A section that was
// not requested (Options.Sections) is null as a whole.
//
// Definitions: moments are population moments (numpy/scipy defaults:
// variance with ddof 0, scipy.stats.skew and kurtosis with bias=True);
// abs3_standardized is ρ/σ³ = E|x−mean|³/σ³; sqrt_kurtosis is √κ; the
// Berry–Esseen bound is 0.4748·ρ/(σ³√B). The Shapiro–Wilk test is AS R94
// (3 ≤ n ≤ 5000); a column whose values are all equal is "degenerate" with
// W = P = 1. The Mohammadi tail index is computed on the column minus its
// mean unless Options.NoCenter is set; McCulloch's fit is location-free.
package statsrun

import (
	"encoding/json"
	"math"
	"strconv"
)

// Schema is the value of the "schema" key.
const Schema = "gnaudit.stats/v1"

// Number is a float64 that encodes NaN and ±Inf as JSON null (and decodes
// null as NaN).
type Number float64

// MarshalJSON implements json.Marshaler.
func (x Number) MarshalJSON() ([]byte, error) { return appendNumber(nil, float64(x)), nil }

// UnmarshalJSON implements json.Unmarshaler.
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

// Valid reports whether x is a finite number (encoded as a JSON number).
func (x Number) Valid() bool { return !math.IsNaN(float64(x)) && !math.IsInf(float64(x), 0) }

// Report is the whole output of one run.
type Report struct {
	Schema      string   `json:"schema"`
	Rows        int      `json:"rows"`
	ColumnNames []string `json:"column_names,omitempty"`
	Columns     []Column `json:"columns"`
}

// Column holds the statistics of one column. A nil section was not
// requested.
type Column struct {
	Index       int          `json:"index"`
	N           int          `json:"n"`
	Shapiro     *Shapiro     `json:"shapiro"`
	Moments     *Moments     `json:"moments"`
	BerryEsseen []BerryBound `json:"berry_esseen"`
	TailIndex   *TailIndex   `json:"tail_index"`
}

// Shapiro–Wilk outcomes.
const (
	StatusOK         = "ok"
	StatusDegenerate = "degenerate"
	StatusError      = "error"
)

// Shapiro is the Shapiro–Wilk test of one column.
type Shapiro struct {
	W      Number `json:"w"`
	P      Number `json:"p"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// Moments are the population moments of one column.
type Moments struct {
	Mean             Number `json:"mean"`
	Variance         Number `json:"variance"`
	Skewness         Number `json:"skewness"`
	ExcessKurtosis   Number `json:"excess_kurtosis"`
	Abs3Standardized Number `json:"abs3_standardized"`
	SqrtKurtosis     Number `json:"sqrt_kurtosis"`
	Error            string `json:"error,omitempty"`
}

// BerryBound is the Berry–Esseen bound of one column at one batch size.
type BerryBound struct {
	BatchSize int    `json:"batch_size"`
	Bound     Number `json:"bound"`
	Error     string `json:"error,omitempty"`
}

// TailIndex holds the tail-index estimates of one column.
type TailIndex struct {
	Mohammadi      Number  `json:"mohammadi"`
	MohammadiError string  `json:"mohammadi_error,omitempty"`
	McCulloch      *Stable `json:"mcculloch"`
}

// Stable holds McCulloch's α-stable fit (S1 parameterization).
type Stable struct {
	Alpha    Number `json:"alpha"`
	Beta     Number `json:"beta"`
	Scale    Number `json:"scale"`
	Location Number `json:"location"`
	Error    string `json:"error,omitempty"`
}

// appendNumber appends x as encoding/json formats a float64 (the same
// bytes), or null when x is NaN or infinite.
func appendNumber(b []byte, x float64) []byte {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return append(b, "null"...)
	}
	abs := math.Abs(x)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, x, format, -1, 64)
	if format == 'e' {
		// Like encoding/json: e-09 becomes e-9.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendString appends s as a JSON string, exactly as encoding/json does.
func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // cannot fail for a string
	return append(b, q...)
}

// appendColumn appends the JSON object of one column, byte-identical to
// json.Marshal(c) (checked by the tests) but several times faster.
func appendColumn(b []byte, c *Column) []byte {
	b = append(b, `{"index":`...)
	b = strconv.AppendInt(b, int64(c.Index), 10)
	b = append(b, `,"n":`...)
	b = strconv.AppendInt(b, int64(c.N), 10)
	b = append(b, `,"shapiro":`...)
	if s := c.Shapiro; s == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"w":`...)
		b = appendNumber(b, float64(s.W))
		b = append(b, `,"p":`...)
		b = appendNumber(b, float64(s.P))
		b = append(b, `,"status":`...)
		b = appendString(b, s.Status)
		b = appendErr(b, "error", s.Error)
		b = append(b, '}')
	}
	b = append(b, `,"moments":`...)
	if m := c.Moments; m == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"mean":`...)
		b = appendNumber(b, float64(m.Mean))
		b = append(b, `,"variance":`...)
		b = appendNumber(b, float64(m.Variance))
		b = append(b, `,"skewness":`...)
		b = appendNumber(b, float64(m.Skewness))
		b = append(b, `,"excess_kurtosis":`...)
		b = appendNumber(b, float64(m.ExcessKurtosis))
		b = append(b, `,"abs3_standardized":`...)
		b = appendNumber(b, float64(m.Abs3Standardized))
		b = append(b, `,"sqrt_kurtosis":`...)
		b = appendNumber(b, float64(m.SqrtKurtosis))
		b = appendErr(b, "error", m.Error)
		b = append(b, '}')
	}
	b = append(b, `,"berry_esseen":`...)
	if c.BerryEsseen == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, be := range c.BerryEsseen {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"batch_size":`...)
			b = strconv.AppendInt(b, int64(be.BatchSize), 10)
			b = append(b, `,"bound":`...)
			b = appendNumber(b, float64(be.Bound))
			b = appendErr(b, "error", be.Error)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"tail_index":`...)
	if t := c.TailIndex; t == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"mohammadi":`...)
		b = appendNumber(b, float64(t.Mohammadi))
		b = appendErr(b, "mohammadi_error", t.MohammadiError)
		b = append(b, `,"mcculloch":`...)
		if s := t.McCulloch; s == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, `{"alpha":`...)
			b = appendNumber(b, float64(s.Alpha))
			b = append(b, `,"beta":`...)
			b = appendNumber(b, float64(s.Beta))
			b = append(b, `,"scale":`...)
			b = appendNumber(b, float64(s.Scale))
			b = append(b, `,"location":`...)
			b = appendNumber(b, float64(s.Location))
			b = appendErr(b, "error", s.Error)
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendErr appends ,"key":"msg" when msg is not empty.
func appendErr(b []byte, key, msg string) []byte {
	if msg == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendString(b, msg)
}
