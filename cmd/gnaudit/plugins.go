package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/gnaudit/gnaudit/plugins/host"
)

func init() {
	register("plugins", "list the analyses (built-ins and plugins) and their parameters", runPlugins)
}

const pluginsUsage = `Usage: gnaudit plugins list [flags]

Lists the built-in analyses and the external plugins given with --plugin or
found in $GNAUDIT_PLUGIN_DIR (each is started to ask for its description),
with their versions, parameters, SHA-256 and pin status.

(gnaudit plugins serve NAME serves a built-in as a plugin subprocess; the
--isolate flag of the audit uses it.)

Flags:
`

func runPlugins(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "serve" {
		// Hidden: started by --isolate with go-plugin's handshake.
		if len(args) != 2 {
			return usagef("usage: gnaudit plugins serve NAME")
		}
		if err := host.ServeBuiltin(args[1]); err != nil {
			return usagef("%v", err)
		}
		return nil
	}
	fs := flag.NewFlagSet("plugins", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o host.Options
	o.AddFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), pluginsUsage)
		fs.PrintDefaults()
	}
	if len(args) > 0 && args[0] == "list" {
		args = args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q (want: gnaudit plugins list [flags])", fs.Arg(0))
	}
	entries, err := host.List(context.Background(), &o)
	if err != nil {
		return usagef("%v", err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(entries)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tORIGIN\tPINNED\tSHA-256\tPARAMETERS")
	failed := 0
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Description.Name, e.Description.Version, origin, pinned, sum, strings.Join(ps, " "))
		if e.Error != "" {
			failed++
			fmt.Fprintf(tw, "  error:\t%s\t\t\t\t\n", e.Error)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if failed > 0 {
		return exitError{code: exitFail, err: fmt.Errorf("%d plugin(s) failed to load", failed)}
	}
	return nil
}
