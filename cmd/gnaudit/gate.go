package main

import (
	"fmt"
	"io"

	"github.com/gnaudit/gnaudit/gate"
)

func init() {
	register("gate", "check a report.json or dynamics.json against a policy (exit 0 pass, 1 fail, 2 bad input); JUnit XML", runGate)
}

const gateUsage = `Usage: gnaudit gate --policy gates.yaml [--junit FILE] report.json
       gnaudit gate --policy dynamics-gates.yaml [--junit FILE] dynamics.json

Evaluates the gates of the policy on the report (gnaudit audit's
report.json, or gnaudit dynamics' dynamics.json, told apart by their schema)
and prints one line per check. Exit status: 0 all checks passed, 1 some
check failed, 2 bad usage or input (an invalid policy or report, or a policy
whose gates are for the other kind of file). When $GITHUB_STEP_SUMMARY is
set the Markdown summary is appended to it. See docs/ci.md and
docs/dynamics.md.
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
		return cmdUsagef(f.cmd, "want --policy FILE and one report.json or dynamics.json")
	}
	p, err := gate.ReadPolicy(*policy)
	if err != nil {
		return usagef("%v", err)
	}
	in, err := gate.ReadInput(files[0])
	if err != nil {
		return usagef("%v", err)
	}
	res, err := gate.EvaluateInput(p, in)
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
