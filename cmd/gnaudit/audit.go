package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/gnaudit/gnaudit/auditor/audit"
	"github.com/gnaudit/gnaudit/plugins/host"
)

// exitInterrupted is the exit status of an audit stopped by Ctrl-C (after
// its partial report was written), as a shell reports SIGINT.
const exitInterrupted = 130

func init() {
	register("audit", "fine-tune a model, collect its gradient noise, analyse it and write the report", runAudit)
}

func runAudit(args []string, stdout, stderr io.Writer) error {
	cfg, err := parseAuditArgs(args, stdout)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return cmdUsage("audit", gnuFlagError(err))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C ends the process at once
	}()
	return auditExit(audit.Run(ctx, cfg, &audit.Env{Stdout: stdout, Stderr: stderr, ToolVersion: version}))
}

// auditExit maps the outcome of an audit (or a report re-render) to the
// exit status: 2 bad input, 130 interrupted, 1 failed or a gate failed.
func auditExit(out *audit.Outcome, err error) error {
	var ie *audit.InputError
	switch {
	case errors.As(err, &ie):
		return usageError{err}
	case err != nil && (errors.Is(err, context.Canceled)) && out != nil && out.Rendered != nil:
		return exitError{code: exitInterrupted, err: fmt.Errorf("interrupted; partial report in %s", out.Rendered.MDPath)}
	case err != nil && errors.Is(err, context.Canceled):
		return exitError{code: exitInterrupted, err: err}
	case err != nil:
		return err
	case out.GateFailed():
		g := out.Rendered.Gate
		return exitError{code: exitFail, err: fmt.Errorf("%d of %d gate checks failed", g.Failed(), len(g.Checks))}
	}
	return nil
}

// reportDirFlags are the flags of gnaudit report that apply to an audit
// directory only.
type reportDirFlags struct {
	reanalyze *bool
	params    []string
}

func addReportDirFlags(fs *flag.FlagSet) *reportDirFlags {
	f := &reportDirFlags{}
	f.reanalyze = fs.Bool("reanalyze", false, "with an audit directory: re-run the analyses on the saved noise sets")
	host.AddParamFlag(fs, &f.params, "with --reanalyze: analysis parameter `analysis.name=value` (repeatable)")
	return f
}

// runReportDir re-renders the report of an audit directory.
func runReportDir(fs *flag.FlagSet, dir, out, format, policy string, f *reportDirFlags, stdout, stderr io.Writer) error {
	if out != "" {
		return usagef("--out: an audit directory's report is written in the directory itself")
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	o := audit.RenderOptions{Reanalyze: *f.reanalyze, Gate: policy}
	if set["format"] {
		o.Format = format
	}
	if len(f.params) > 0 {
		if !o.Reanalyze {
			return usagef("--param needs --reanalyze")
		}
		meta, err := audit.ReadMeta(dir)
		if err != nil {
			return usagef("%v", err)
		}
		ac := meta.Config.Analyses
		ac.Params = append(append([]string(nil), ac.Params...), f.params...)
		o.Analyses = &ac
	}
	rd, err := audit.Rerender(context.Background(), dir, o, &audit.Env{Stdout: stdout, Stderr: stderr, ToolVersion: version})
	if err != nil {
		return auditExit(nil, err)
	}
	state := ""
	if rd.Partial {
		state = " (PARTIAL)"
	}
	fmt.Fprintf(stdout, "report%s: %s\n        %s\n", state, rd.MDPath, rd.JSONPath)
	if rd.Gate != nil {
		rd.Gate.WriteText(stdout)
	}
	return nil
}
