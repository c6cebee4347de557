// Command gnaudit audits the stochastic gradient noise of neural networks given
// as ONNX files. Each verb lives in its own file; the logic is in packages.
package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
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

// cmdError names the (sub)command an error came from ("models export"),
// for the "gnaudit models export: ..." prefix; with hint set it is a usage
// error and the message is followed by the hint to run --help.
type cmdError struct {
	cmd  string
	err  error
	hint bool
}

func (e cmdError) Error() string { return e.err.Error() }
func (e cmdError) Unwrap() error { return e.err }

// cmdUsage is a usage error of cmd: one line, then the --help hint.
func cmdUsage(cmd string, err error) error {
	return cmdError{cmd: cmd, err: usageError{err}, hint: true}
}

// cmdUsagef formats a usage error of cmd.
func cmdUsagef(cmd, format string, a ...any) error {
	return cmdUsage(cmd, fmt.Errorf(format, a...))
}

// inCmd attributes err to the subcommand cmd unless it names one already.
func inCmd(cmd string, err error) error {
	var ce cmdError
	if err == nil || errors.Is(err, errHelp) || errors.As(err, &ce) {
		return err
	}
	return cmdError{cmd: cmd, err: err}
}

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
	fmt.Fprintln(w, "\nRun 'gnaudit <command> --help' (or 'gnaudit help <command>') for the flags of a command,")
	fmt.Fprintln(w, "'gnaudit --version' for the version.")
}

func main() {
	// OpenBLAS build: restart with the right kernels when OpenBLAS chose
	// older ones than the CPU supports (auditor/blascore).
	blascore.Start(os.Stderr)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches to a verb and maps its error to an exit code: 0 done (and
// for --help), 1 failed, 2 bad usage or input (a missing file included),
// or the code of an exitError. A panic in a verb is turned into an error
// message: no panic reaches the user.
func run(args []string, stdout, stderr io.Writer) (code int) {
	if len(args) == 0 {
		printUsage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "--help", "-help":
		printUsage(stdout)
		return exitOK
	case "--version", "-version":
		fmt.Fprintf(stdout, "gnaudit %s\n", version)
		return exitOK
	case "help":
		if len(args) == 1 {
			printUsage(stdout)
			return exitOK
		}
		// gnaudit help CMD [SUB]: the help of that command.
		args = append(append([]string(nil), args[1:]...), "--help")
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "gnaudit: unknown command %q\nRun 'gnaudit --help' for the list of commands.\n", args[0])
		return exitUsage
	}
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "gnaudit %s: internal error: %v (please report this)\n", args[0], r)
			code = exitFail
		}
	}()
	err := cmd.run(args[1:], stdout, stderr)
	if err == nil || errors.Is(err, errHelp) {
		return exitOK
	}
	name := args[0]
	var ce cmdError
	if errors.As(err, &ce) {
		name = ce.cmd
	}
	fmt.Fprintf(stderr, "gnaudit %s: %v\n", name, err)
	code = exitCode(err)
	if ce.hint {
		fmt.Fprintf(stderr, "Run 'gnaudit %s --help' for usage.\n", name)
	}
	return code
}

// exitCode maps a verb's error to the exit status.
func exitCode(err error) int {
	var ue usageError
	var ee exitError
	switch {
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue), errors.Is(err, fs.ErrNotExist):
		return exitUsage
	default:
		return exitFail
	}
}
