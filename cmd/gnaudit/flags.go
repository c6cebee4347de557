package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"

	"github.com/gnaudit/gnaudit/cmd/gnaudit/internal/cliflag"
)

// errHelp is returned by a verb that printed its usage for -h/--help: the
// exit status is 0 and nothing more is printed.
var errHelp = errors.New("help printed")

// flags is the flag set of one (sub)command. Its usage (the synopsis, then
// every flag in GNU style, --name) goes to stdout on -h/--help; a parse error
// is one line (the caller adds the hint to run --help).
type flags struct {
	*flag.FlagSet
	cmd    string // "models export"
	usage  string // the synopsis and description, before the flags
	stdout io.Writer
}

// newFlags returns the flag set of the command cmd ("grads",
// "models export") with the usage text printed before the flags on --help.
func newFlags(cmd, usage string, stdout io.Writer) *flags {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flags{FlagSet: fs, cmd: cmd, usage: usage, stdout: stdout}
}

// printHelp writes the usage text and the flags to w.
func (f *flags) printHelp(w io.Writer) {
	fmt.Fprint(w, f.usage)
	if cliflag.HasVisible(f.FlagSet) {
		fmt.Fprint(w, "\nFlags:\n")
		cliflag.PrintDefaults(w, f.FlagSet)
	}
}

// parse parses args, accepting flags before, between and after the
// positional arguments, and returns the positional ones in order; "--" ends
// the flags. On -h/--help it prints the help to stdout and returns errHelp;
// a bad flag is a usage error of the command.
func (f *flags) parse(args []string) ([]string, error) {
	pos, err := parseInterleaved(f.FlagSet, args)
	if err != nil {
		return nil, f.flagError(err)
	}
	return pos, nil
}

// flagError maps an error of flag parsing: errHelp after printing the
// help for -h, a usage error of the command otherwise.
func (f *flags) flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		f.printHelp(f.stdout)
		return errHelp
	}
	return cmdUsage(f.cmd, gnuFlagError(err))
}

var (
	notDefinedRe = regexp.MustCompile(`^flag provided but not defined: -+(.*)$`)
	flagNameRe   = regexp.MustCompile(`(flag(?: needs an argument:)?) -+([A-Za-z0-9][A-Za-z0-9-]*)`)
)

// gnuFlagError rewrites the flag package's messages in the convention of
// the help texts: "unknown flag --x" for "flag provided but not defined:
// -x", and --name for -name elsewhere ("invalid value ... for flag
// --param").
func gnuFlagError(err error) error {
	msg := err.Error()
	if m := notDefinedRe.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("unknown flag --%s", m[1])
	}
	if out := flagNameRe.ReplaceAllString(msg, "$1 --$2"); out != msg {
		return errors.New(out)
	}
	return err
}

// parseInterleaved parses args with fs, accepting flags before, between and
// after the positional arguments (Go's flag package stops at the first
// positional one: gnaudit stats x.npy --format md), and returns the
// positional arguments in order. Everything after "--" is positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// flagError maps an error of fs.Parse for a verb that prints its own usage
// (fs.Usage): nil for -h, a usage error (exit status 2) otherwise. Verbs
// built on newFlags get the GNU-style help and the hint instead.
func flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return usagef("%v", err)
}
