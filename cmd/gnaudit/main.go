// Command gnaudit audits the stochastic gradient noise of neural networks given
// as ONNX files. Each verb lives in its own file; the logic is in packages.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/gnaudit/gnaudit/auditor/blascore"
)

// Exit codes shared by every verb.
const (
	exitOK    = 0
	exitFail  = 1 // a gate failed, or the work itself failed
	exitUsage = 2 // bad usage or bad input
)

// command is one verb of the CLI.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

// commands is filled by the init functions of the verb files.
var commands = map[string]command{}

func register(name, summary string, run func(args []string, stdout, stderr io.Writer) error) {
	commands[name] = command{summary: summary, run: run}
}

// usageError marks an error caused by bad flags or arguments (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// exitError carries an explicit exit code (e.g. a failed gate).
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "gnaudit audits the stochastic gradient noise of ONNX models.")
	fmt.Fprintln(w, "\nUsage: gnaudit <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'gnaudit <command> -h' for the flags of a command.")
}

func main() {
	// OpenBLAS build: restart with the right kernels when OpenBLAS chose
	// older ones than the CPU supports (auditor/blascore).
	blascore.Start(os.Stderr)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches to a verb and maps its error to an exit code. A panic in a
// verb is turned into an error message: no panic reaches the user.
func run(args []string, stdout, stderr io.Writer) (code int) {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "gnaudit: unknown command %q\n\n", args[0])
		printUsage(stderr)
		return exitUsage
	}
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "gnaudit %s: internal error: %v (please report this)\n", args[0], r)
			code = exitFail
		}
	}()
	err := cmd.run(args[1:], stdout, stderr)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "gnaudit %s: %v\n", args[0], err)
	var ue usageError
	var ee exitError
	switch {
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		return exitUsage
	default:
		return exitFail
	}
}
