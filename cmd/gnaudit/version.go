package main

import (
	"fmt"
	"io"
)

// version is set at link time with -ldflags "-X main.version=...".
var version = "dev"

const versionUsage = `Usage: gnaudit version   (or: gnaudit --version)

Prints the version of this binary; 'gnaudit doctor' says how it was built.
`

func init() {
	register("version", "print the version", func(args []string, stdout, _ io.Writer) error {
		f := newFlags("version", versionUsage, stdout)
		pos, err := f.parse(args)
		if err != nil {
			return err
		}
		if len(pos) > 0 {
			return cmdUsagef("version", "unexpected argument %q", pos[0])
		}
		fmt.Fprintf(stdout, "gnaudit %s\n", version)
		return nil
	})
}
