package statsrun

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// WriteJSON writes r as gnaudit.stats/v1 JSON: one column object per line.
// The bytes decode to the same values as json.Marshal(r) would give.
func WriteJSON(w io.Writer, r *Report) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	b := make([]byte, 0, 4096)
	b = append(b, `{"schema":`...)
	b = appendString(b, r.Schema)
	b = append(b, `,"rows":`...)
	b = strconv.AppendInt(b, int64(r.Rows), 10)
	if len(r.ColumnNames) > 0 {
		b = append(b, `,"column_names":[`...)
		for i, n := range r.ColumnNames {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, n)
		}
		b = append(b, ']')
	}
	b = append(b, `,"columns":[`...)
	for i := range r.Columns {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '\n')
		b = appendColumn(b, &r.Columns[i])
		if len(b) > 1<<16 {
			if _, err := bw.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	b = append(b, "\n]}\n"...)
	if _, err := bw.Write(b); err != nil {
		return err
	}
	return bw.Flush()
}

// Summary counts the Shapiro–Wilk outcomes of a report at level alpha.
type Summary struct {
	Columns    int // columns in the report
	Tested     int // columns with a Shapiro–Wilk result (ok or degenerate)
	Gaussian   int // p > alpha, degenerate columns included
	Degenerate int // all values equal
	Errors     int // Shapiro–Wilk could not be computed
}

// Summarize counts the Shapiro–Wilk outcomes; a column counts as Gaussian
// when p > alpha or when it is degenerate (METHOD.md §3).
func Summarize(r *Report, alpha float64) Summary {
	s := Summary{Columns: len(r.Columns)}
	for i := range r.Columns {
		sh := r.Columns[i].Shapiro
		switch {
		case sh == nil:
		case sh.Status == StatusError:
			s.Errors++
		case sh.Status == StatusDegenerate:
			s.Tested++
			s.Gaussian++
			s.Degenerate++
		default:
			s.Tested++
			if float64(sh.P) > alpha {
				s.Gaussian++
			}
		}
	}
	return s
}

// MarkdownOptions configure WriteMarkdown.
type MarkdownOptions struct {
	// Source names the input (shown in the heading line).
	Source string
	// Alpha is the Shapiro–Wilk level of the summary (default 0.05).
	Alpha float64
}

// WriteMarkdown writes r as a Markdown summary and one table row per column.
// Values that could not be computed are shown as "—", with the reasons in
// the last column.
func WriteMarkdown(w io.Writer, r *Report, opt MarkdownOptions) error {
	if opt.Alpha == 0 {
		opt.Alpha = 0.05
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	fmt.Fprintf(bw, "# gnaudit stats\n\n")
	if opt.Source != "" {
		fmt.Fprintf(bw, "Input: `%s`, ", opt.Source)
	} else {
		fmt.Fprint(bw, "Input: ")
	}
	fmt.Fprintf(bw, "%d rows × %d columns (schema %s).\n\n", r.Rows, len(r.Columns), r.Schema)
	if s := Summarize(r, opt.Alpha); s.Tested+s.Errors > 0 {
		pct := "no column tested" // not "(NaN %)"
		if s.Tested > 0 {
			pct = fmt.Sprintf("%.1f %%", 100*float64(s.Gaussian)/float64(s.Tested))
		}
		fmt.Fprintf(bw, "Shapiro–Wilk at α = %g: **%d of %d tested columns Gaussian (%s)** (p > α; degenerate, i.e. constant, columns count as Gaussian: %d); columns that could not be tested: %d.\n\n",
			opt.Alpha, s.Gaussian, s.Tested, pct, s.Degenerate, s.Errors)
	}

	var bs []int
	for i := range r.Columns {
		if r.Columns[i].BerryEsseen != nil {
			for _, b := range r.Columns[i].BerryEsseen {
				bs = append(bs, b.BatchSize)
			}
			break
		}
	}
	head := []string{"column"}
	if len(r.ColumnNames) > 0 {
		head = append(head, "name")
	}
	head = append(head, "n", "W", "p", "SW", "mean", "variance", "skewness", "excess kurtosis", "ρ/σ³", "√κ")
	for _, b := range bs {
		head = append(head, fmt.Sprintf("BE B=%d", b))
	}
	head = append(head, "α Mohammadi", "α McCulloch", "β McCulloch", "notes")
	fmt.Fprintf(bw, "| %s |\n|", strings.Join(head, " | "))
	for range head {
		bw.WriteString("---|")
	}
	bw.WriteString("\n")

	cells := make([]string, 0, len(head))
	for i := range r.Columns {
		c := &r.Columns[i]
		var notes []string
		note := func(what, msg string) {
			if msg == "" {
				return
			}
			// The estimators' errors may name themselves already
			// ("mcculloch: 3 values, need at least 5"): no "McCulloch: mcculloch:".
			if pre, rest, ok := strings.Cut(msg, ": "); ok && strings.Contains(foldDash(pre), foldDash(what)) {
				msg = rest
			}
			notes = append(notes, what+": "+msg)
		}
		cells = append(cells[:0], strconv.Itoa(c.Index))
		if len(r.ColumnNames) > 0 {
			name := ""
			if c.Index < len(r.ColumnNames) {
				name = r.ColumnNames[c.Index]
			}
			cells = append(cells, mdEscape(name))
		}
		cells = append(cells, strconv.Itoa(c.N))
		if sh := c.Shapiro; sh != nil {
			cells = append(cells, mdNum(sh.W), mdNum(sh.P), sh.Status)
			note("Shapiro–Wilk", sh.Error)
		} else {
			cells = append(cells, "", "", "")
		}
		if m := c.Moments; m != nil {
			cells = append(cells, mdNum(m.Mean), mdNum(m.Variance), mdNum(m.Skewness), mdNum(m.ExcessKurtosis),
				mdNum(m.Abs3Standardized), mdNum(m.SqrtKurtosis))
			note("moments", m.Error)
		} else {
			cells = append(cells, "", "", "", "", "", "")
		}
		for k := range bs {
			if k < len(c.BerryEsseen) {
				cells = append(cells, mdNum(c.BerryEsseen[k].Bound))
			} else {
				cells = append(cells, "")
			}
		}
		if k := len(c.BerryEsseen); k > 0 && c.BerryEsseen[0].Error != "" && (c.Moments == nil || c.Moments.Error == "") {
			note("Berry–Esseen", c.BerryEsseen[0].Error)
		}
		if t := c.TailIndex; t != nil {
			cells = append(cells, mdNum(t.Mohammadi))
			note("Mohammadi", t.MohammadiError)
			if s := t.McCulloch; s != nil {
				cells = append(cells, mdNum(s.Alpha), mdNum(s.Beta))
				note("McCulloch", s.Error)
			} else {
				cells = append(cells, "", "")
			}
		} else {
			cells = append(cells, "", "", "")
		}
		cells = append(cells, mdEscape(strings.Join(notes, "; ")))
		fmt.Fprintf(bw, "| %s |\n", strings.Join(cells, " | "))
	}
	bw.WriteString("\nBE B: Berry–Esseen bound 0.4748·ρ/(σ³√B) on the distance of the standardized mean of B values from N(0,1). ρ/σ³ = E|x−mean|³/σ³, √κ its upper bound from the kurtosis. α: tail index (2 = Gaussian).\n")
	return bw.Flush()
}

// mdNum formats a number for the Markdown table ("—" for null).
func mdNum(x Number) string {
	if !x.Defined() {
		return "—"
	}
	return strconv.FormatFloat(float64(x), 'g', 4, 64)
}

// mdEscape keeps a cell on one line and its pipes from splitting the table.
func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.Join(strings.Fields(s), " ")
}

// foldDash lower-cases s and replaces en dashes by hyphens, to compare
// "Shapiro–Wilk" with "shapiro-wilk".
func foldDash(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), "–", "-")
}
