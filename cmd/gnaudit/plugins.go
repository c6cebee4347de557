package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gnaudit/gnaudit/plugins/builtin"
	"github.com/gnaudit/gnaudit/plugins/host"
)

func init() {
	register("plugins", "list the analyses (built-ins and plugins) and their parameters", runPlugins)
}

const pluginsUsage = `Usage: gnaudit plugins list [flags]

Lists the built-in analyses and the external plugins given with --plugin or
found in --plugin-dir or $GNAUDIT_PLUGIN_DIR (each is started to ask for its description),
with their versions, parameters, SHA-256 and pin status.

(gnaudit plugins serve NAME serves a built-in as a plugin subprocess; the
--isolate flag of the audit uses it.) Exit status: 0 all loaded, 1 some
plugin failed to load, 2 bad usage or a missing plugin file.
`

func runPlugins(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "serve" {
		// Hidden: started by --isolate with go-plugin's handshake.
		if len(args) == 2 && (args[1] == "-h" || args[1] == "--help") {
			fmt.Fprintf(stdout, "Usage: gnaudit plugins serve NAME\n\nServes the built-in analysis NAME (%s) as a go-plugin subprocess;\ngnaudit audit --isolate starts it. Not for interactive use.\n", strings.Join(builtin.Names(), ", "))
			return nil
		}
		if len(args) != 2 {
			return cmdUsagef("plugins serve", "want one built-in name: gnaudit plugins serve NAME")
		}
		if err := host.ServeBuiltin(args[1]); err != nil {
			return cmdUsage("plugins serve", err)
		}
		return nil
	}
	f := newFlags("plugins list", pluginsUsage, stdout)
	o := host.Options{Timeout: 10 * time.Minute}
	o.AddFlags(f.FlagSet)
	asJSON := f.Bool("json", false, "print JSON")
	if len(args) > 0 && args[0] == "list" {
		args = args[1:]
	}
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return cmdUsagef(f.cmd, "unexpected argument %q", pos[0])
	}
	if _, err := host.ParseParams(o.Params); err != nil {
		return cmdUsagef(f.cmd, "--param: %v", err)
	}
	entries, err := host.List(context.Background(), &o)
	if err != nil {
		return inCmd(f.cmd, usageError{err})
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(entries)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tORIGIN\tPINNED\tSHA-256\tPARAMETERS")
	var failures []string // printed under the table: a long error would widen its columns
	for _, e := range entries {
		var ps []string
		for _, p := range e.Description.Params {
			ps = append(ps, fmt.Sprintf("%s=%s", p.Name, p.Default))
		}
		sum := e.SHA256
		if len(sum) > 16 {
			sum = sum[:16] + "…"
		}
		origin := e.Origin
		if e.Path != "" && e.Origin == "plugin" {
			origin += " " + e.Path
		}
		pinned := "-"
		if e.Pinned {
			pinned = "yes"
		}
		ver := e.Description.Version
		if e.Error != "" {
			ver = "FAILED"
			failures = append(failures, fmt.Sprintf("  %s: %s", e.Description.Name, e.Error))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Description.Name, ver, origin, pinned, sum, strings.Join(ps, " "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(failures) > 0 {
		fmt.Fprintf(stdout, "\nfailed to load:\n%s\n", strings.Join(failures, "\n"))
		return exitError{code: exitFail, err: fmt.Errorf("%d plugin(s) failed to load", len(failures))}
	}
	return nil
}
