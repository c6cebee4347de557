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
	"strconv"

	"github.com/gnaudit/gnaudit/auditor/stats"
)

// Schema is the value of the "schema" key.
const Schema = "gnaudit.stats/v1"

// Number is [stats.Number]: a float64 that encodes NaN and ±Inf as JSON null
// (and decodes null as NaN), the same type as reports.Number.
type Number = stats.Number

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
		b = s.W.AppendJSON(b)
		b = append(b, `,"p":`...)
		b = s.P.AppendJSON(b)
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
		b = m.Mean.AppendJSON(b)
		b = append(b, `,"variance":`...)
		b = m.Variance.AppendJSON(b)
		b = append(b, `,"skewness":`...)
		b = m.Skewness.AppendJSON(b)
		b = append(b, `,"excess_kurtosis":`...)
		b = m.ExcessKurtosis.AppendJSON(b)
		b = append(b, `,"abs3_standardized":`...)
		b = m.Abs3Standardized.AppendJSON(b)
		b = append(b, `,"sqrt_kurtosis":`...)
		b = m.SqrtKurtosis.AppendJSON(b)
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
			b = be.Bound.AppendJSON(b)
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
		b = t.Mohammadi.AppendJSON(b)
		b = appendErr(b, "mohammadi_error", t.MohammadiError)
		b = append(b, `,"mcculloch":`...)
		if s := t.McCulloch; s == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, `{"alpha":`...)
			b = s.Alpha.AppendJSON(b)
			b = append(b, `,"beta":`...)
			b = s.Beta.AppendJSON(b)
			b = append(b, `,"scale":`...)
			b = s.Scale.AppendJSON(b)
			b = append(b, `,"location":`...)
			b = s.Location.AppendJSON(b)
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
