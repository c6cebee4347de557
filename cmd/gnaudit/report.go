package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gnaudit/gnaudit/gate"
	"github.com/gnaudit/gnaudit/reports"
)

func init() {
	register("report", "render report.md and its plots from a report.json", runReport)
}

const reportUsage = `Usage: gnaudit report [--out DIR] [--format svg|png] [--policy gates.yaml] report.json
       gnaudit report [--format svg|png] [--policy gates.yaml] [--reanalyze] AUDIT_DIR

Validates report.json against the gnaudit.report/v1 schema and writes
DIR/report.md with its plots in DIR/plots/ (relative links: the directory
renders on GitHub as is). With --policy the gate outcome is evaluated and
shown first (the exit status stays 0: use gnaudit gate to fail a build).

Given the output directory of gnaudit audit instead, it re-renders report.md
and its plots there from the stored report.json, which it leaves as it was (no
analysis runs, no gate is evaluated; a --format is recorded in audit.json for
the next re-render). With --policy or --reanalyze it rebuilds report.json from
the saved noise sets, analysis results and metadata (no gradient is computed;
--reanalyze re-runs the analyses on the noise sets, e.g. with other --param
values; --policy replaces the audit's gate policy). A missing report.json is
rebuilt the same way.
`

func runReport(args []string, stdout, stderr io.Writer) error {
	f := newFlags("report", reportUsage, stdout)
	out := f.String("out", "", "output `directory` (default: the directory of report.json)")
	format := f.String("format", "svg", "plot format: svg or png")
	policy := f.String("policy", "", "gate policy `file` to evaluate and show in the report")
	dirFlags := addReportDirFlags(f.FlagSet)
	files, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(files) != 1 {
		return cmdUsagef(f.cmd, "want one report.json or audit directory")
	}
	if *format != "svg" && *format != "png" {
		return cmdUsagef(f.cmd, "--format %q: want svg or png", *format)
	}
	fs := f.FlagSet
	if st, err := os.Stat(files[0]); err == nil && st.IsDir() {
		return runReportDir(fs, files[0], *out, *format, *policy, dirFlags, stdout, stderr)
	}
	rep, err := reports.ReadFile(files[0])
	if err != nil {
		return usagef("%v", err)
	}
	if *policy != "" {
		p, err := gate.ReadPolicy(*policy)
		if err != nil {
			return usagef("%v", err)
		}
		res, err := gate.Evaluate(p, rep)
		if err != nil {
			return usagef("%v", err)
		}
		rep.Gates = res.Report()
	}
	dir := *out
	if dir == "" {
		dir = filepath.Dir(files[0])
	}
	if err := reports.RenderWith(dir, rep, reports.RenderOptions{Format: *format}); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s\n", filepath.Join(dir, "report.md"))
	return nil
}
