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
)

func init() {
	register("merge", "merge the shards of a sharded audit and write its report", runMerge)
}

const mergeUsage = `Usage: gnaudit merge [--partial] PREP [SHARD_DIR...]

Merges the shards of the audit prepared in PREP (gnaudit audit --prepare --out
PREP; shards by gnaudit audit --shard k/K --from PREP) into PREP's noise sets,
runs the analyses and writes PREP/report.json and PREP/report.md. With no
SHARD_DIR it takes every PREP/shards/*/. The shards must belong to PREP (same
checkpoints, centres, model, data, seed, pool, mini-batches, batch sizes and
coordinates); a shard given twice, one of another K or another prepared audit
is refused, and so is a missing or unfinished shard unless --partial (the
report is then marked partial). See docs/scale.md.

Flags:
`

func runMerge(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("merge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), mergeUsage)
		fs.PrintDefaults()
	}
	partial := fs.Bool("partial", false, "merge an incomplete set of shards into a report marked partial")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err}
	}
	if fs.NArg() < 1 {
		fs.Usage()
		return usagef("merge needs the prepared audit directory PREP")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out, err := audit.MergeShards(ctx, fs.Arg(0), fs.Args()[1:], audit.MergeOptions{Partial: *partial},
		&audit.Env{Stdout: stdout, Stderr: stderr, ToolVersion: version})
	if err == nil && out.Rendered != nil {
		rd := out.Rendered
		state := ""
		if rd.Partial {
			state = " (PARTIAL)"
		}
		fmt.Fprintf(stdout, "report%s: %s\n        %s\n", state, rd.MDPath, rd.JSONPath)
		if rd.Gate != nil {
			rd.Gate.WriteText(stdout)
		}
	}
	return auditExit(out, err)
}
