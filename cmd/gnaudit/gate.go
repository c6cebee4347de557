package main

import (
	"fmt"
	"io"

	"github.com/gnaudit/gnaudit/gate"
	"github.com/gnaudit/gnaudit/reports"
)

func init() {
	register("gate", "check a report against a policy (exit 0 pass, 1 fail, 2 bad input); JUnit XML", runGate)
}

const gateUsage = `Usage: gnaudit gate --policy gates.yaml [--junit FILE] report.json

Evaluates the gates of the policy on the report and prints one line per
check. Exit status: 0 all checks passed, 1 some check failed, 2 bad usage or
input (an invalid policy or report). When $GITHUB_STEP_SUMMARY is set the
Markdown summary is appended to it. See docs/ci.md.
`

func runGate(args []string, stdout, stderr io.Writer) error {
	f := newFlags("gate", gateUsage, stdout)
	policy := f.String("policy", "", "gate policy `file` (YAML)")
	junit := f.String("junit", "", "write JUnit XML to this `file` (one test case per check)")
	files, err := f.parse(args)
	if err != nil {
		return err
	}
	if *policy == "" || len(files) != 1 {
		return cmdUsagef(f.cmd, "want --policy FILE and one report.json")
	}
	p, err := gate.ReadPolicy(*policy)
	if err != nil {
		return usagef("%v", err)
	}
	rep, err := reports.ReadFile(files[0])
	if err != nil {
		return usagef("%v", err)
	}
	res, err := gate.Evaluate(p, rep)
	if err != nil {
		return usagef("%v", err)
	}
	res.WriteText(stdout)
	if *junit != "" {
		if err := res.WriteJUnitFile(*junit); err != nil {
			return err
		}
	}
	if _, err := res.AppendStepSummary(files[0]); err != nil {
		fmt.Fprintf(stderr, "gnaudit gate: %v\n", err)
	}
	if !res.Passed() {
		return exitError{code: exitFail, err: fmt.Errorf("%d of %d gate checks failed", res.Failed(), len(res.Checks))}
	}
	return nil
}
