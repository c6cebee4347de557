package gate

import (
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/gnaudit/gnaudit/auditor/atomicfile"
	"github.com/gnaudit/gnaudit/reports"
)

// Exit codes of gnaudit gate.
const (
	ExitPass  = 0 // every check passed
	ExitFail  = 1 // some check failed
	ExitUsage = 2 // bad usage or input (policy, report)
)

// ExitCode returns ExitPass or ExitFail for r.
func (r *Result) ExitCode() int {
	if r.Passed() {
		return ExitPass
	}
	return ExitFail
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string           `xml:"name,attr"`
	Tests      int              `xml:"tests,attr"`
	Failures   int              `xml:"failures,attr"`
	Errors     int              `xml:"errors,attr"`
	Skipped    int              `xml:"skipped,attr"`
	Time       string           `xml:"time,attr"`
	Properties *junitProperties `xml:"properties,omitempty"`
	Cases      []junitCase      `xml:"testcase"`
}

type junitProperties struct {
	Props []junitProperty `xml:"property"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Classname string        `xml:"classname,attr"`
	Name      string        `xml:"name,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// CaseName is the JUnit test-case name of a check: layer, batch size,
// step (none for a dynamics.json's checks) and, for tail-index checks, the estimator (WriteJUnit makes names
// unique within a gate by appending " #2", " #3" … to repeats).
func CaseName(c reports.GateCheck) string {
	s := c.Layer
	if c.BatchSize > 0 {
		s += " B=" + strconv.Itoa(c.BatchSize)
	}
	if !IsDynamicsGate(c.Gate) {
		s += " step " + strconv.Itoa(c.Step)
	}
	if c.Estimator != "" {
		s += " (" + c.Estimator + ")"
	}
	return s
}

func describe(c reports.GateCheck) string {
	s := fmt.Sprintf("%s of %s: measured %s, threshold %s %s", c.Gate, CaseName(c),
		numStr(c.Measured), c.Op, numStr(c.Threshold))
	if c.Bound.Set {
		s += fmt.Sprintf("; confidence bound %s at one-sided level %.3g (Holm), p = %.3g", numStr(c.Bound.N), c.Level.Float(), c.PValue.Float())
	}
	return s
}

func numStr(x reports.Number) string {
	if !x.Defined() {
		return "undefined"
	}
	return trim(float64(x))
}

// WriteJUnit writes r as JUnit XML: one test suite for the policy, one test
// case per check (class gnaudit.gate.<gate>), failed checks with a failure
// element.
func (r *Result) WriteJUnit(w io.Writer) error {
	s := junitSuite{Name: "gnaudit gate: " + r.Policy, Time: "0"}
	if r.Method != "" {
		s.Properties = &junitProperties{Props: []junitProperty{{Name: "method", Value: r.Method}}}
	}
	seen := map[string]int{}
	for _, c := range r.Checks {
		name := CaseName(c)
		key := c.Gate + "\x00" + name
		seen[key]++
		if k := seen[key]; k > 1 {
			name += " #" + strconv.Itoa(k)
		}
		out := describe(c)
		if r.Method != "" {
			out += "\nmethod: " + r.Method
		}
		jc := junitCase{Classname: "gnaudit.gate." + c.Gate, Name: name, Time: "0", SystemOut: out}
		if !c.Pass {
			jc.Failure = &junitFailure{Message: c.Message, Type: c.Gate, Text: describe(c)}
			s.Failures++
		}
		s.Cases = append(s.Cases, jc)
	}
	s.Tests = len(s.Cases)
	doc := junitSuites{Name: "gnaudit gate", Tests: s.Tests, Failures: s.Failures, Suites: []junitSuite{s}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// WriteJUnitFile writes the JUnit XML to path.
func (r *Result) WriteJUnitFile(path string) error {
	return atomicfile.Write(path, r.WriteJUnit)
}

// WriteMarkdown writes the verdict and the table of checks.
func (r *Result) WriteMarkdown(w io.Writer, reportName string) {
	if r.Passed() {
		fmt.Fprintf(w, "### gnaudit gate: ✅ PASS\n\nAll %d checks of `%s` passed on `%s`.\n\n", len(r.Checks), r.Policy, reportName)
	} else {
		fmt.Fprintf(w, "### gnaudit gate: ❌ FAIL\n\n%d of %d checks of `%s` failed on `%s`.\n\n", r.Failed(), len(r.Checks), r.Policy, reportName)
	}
	if r.Method != "" {
		fmt.Fprintf(w, "Method: %s.\n\n", r.Method)
	}
	reports.WriteGateTable(w, r.Checks)
}

// AppendStepSummary appends the Markdown summary to the file named by
// $GITHUB_STEP_SUMMARY, when it is set (GitHub Actions). It reports
// whether it wrote.
func (r *Result) AppendStepSummary(reportName string) (bool, error) {
	path := os.Getenv("GITHUB_STEP_SUMMARY")
	if path == "" {
		return false, nil
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return false, fmt.Errorf("GITHUB_STEP_SUMMARY: %w", err)
	}
	r.WriteMarkdown(f, reportName)
	return true, f.Close()
}

// WriteText writes a plain-text table of the checks (for a terminal).
func (r *Result) WriteText(w io.Writer) {
	width, gwidth := len("LAYER"), 24
	for _, c := range r.Checks {
		width = max(width, len(c.Layer))
		gwidth = max(gwidth, len(c.Gate)+len(c.Estimator)+min(1, len(c.Estimator)))
	}
	fmt.Fprintf(w, "%-4s  %-*s  %-*s  %6s  %5s  %12s  %12s  %s\n", "", gwidth, "GATE", width, "LAYER", "B", "STEP", "MEASURED", "BOUND", "THRESHOLD")
	for _, c := range r.Checks {
		mark := "PASS"
		if !c.Pass {
			mark = "FAIL"
		}
		b := "-"
		if c.BatchSize > 0 {
			b = strconv.Itoa(c.BatchSize)
		}
		bound := "-"
		if c.Bound.Set {
			bound = numStr(c.Bound.N)
		}
		gname := c.Gate
		if c.Estimator != "" {
			gname += "/" + c.Estimator
		}
		step := strconv.Itoa(c.Step)
		if IsDynamicsGate(c.Gate) {
			step = "-"
		}
		line := fmt.Sprintf("%-4s  %-*s  %-*s  %6s  %5s  %12s  %12s  %s %s", mark, gwidth, gname, width, c.Layer, b, step, numStr(c.Measured), bound, c.Op, numStr(c.Threshold))
		if !c.Pass && c.Message != "" {
			line += "  (" + c.Message + ")"
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
	if r.Passed() {
		fmt.Fprintf(w, "\nPASS: %d checks\n", len(r.Checks))
	} else {
		fmt.Fprintf(w, "\nFAIL: %d of %d checks failed\n", r.Failed(), len(r.Checks))
	}
	if r.Method != "" {
		fmt.Fprintf(w, "method: %s\n", r.Method)
	}
}
