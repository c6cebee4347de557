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
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
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

// CaseName is the JUnit test-case name of a check.
func CaseName(c reports.GateCheck) string {
	s := c.Layer
	if c.BatchSize > 0 {
		s += " B=" + strconv.Itoa(c.BatchSize)
	}
	return s + " step " + strconv.Itoa(c.Step)
}

func describe(c reports.GateCheck) string {
	return fmt.Sprintf("%s of %s at step %d: measured %s, threshold %s %s", c.Gate, CaseName(c), c.Step,
		numStr(c.Measured), c.Op, numStr(c.Threshold))
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
	for _, c := range r.Checks {
		jc := junitCase{Classname: "gnaudit.gate." + c.Gate, Name: CaseName(c), Time: "0", SystemOut: describe(c)}
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
	width := len("LAYER")
	for _, c := range r.Checks {
		width = max(width, len(c.Layer))
	}
	fmt.Fprintf(w, "%-4s  %-24s  %-*s  %6s  %5s  %12s  %s\n", "", "GATE", width, "LAYER", "B", "STEP", "MEASURED", "THRESHOLD")
	for _, c := range r.Checks {
		mark := "PASS"
		if !c.Pass {
			mark = "FAIL"
		}
		b := "-"
		if c.BatchSize > 0 {
			b = strconv.Itoa(c.BatchSize)
		}
		line := fmt.Sprintf("%-4s  %-24s  %-*s  %6s  %5d  %12s  %s %s", mark, c.Gate, width, c.Layer, b, c.Step, numStr(c.Measured), c.Op, numStr(c.Threshold))
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
}
