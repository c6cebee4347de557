package main

import (
	"errors"
	"flag"
)

// parseInterleaved parses args with fs, accepting flags before, between and
// after the positional arguments (Go's flag package stops at the first
// positional one: gnaudit stats x.npy --format md), and returns the
// positional arguments in order. A "--" ends the flags up to the next
// positional argument only: the flags after that are parsed again. Its
// error is fs.Parse's, flag.ErrHelp for -h; flagError maps it.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// flagError maps an error of fs.Parse to a verb's result: nil for -h (the
// usage was printed: not a failure), a usage error (exit status 2)
// otherwise.
func flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return usagef("%v", err)
}
