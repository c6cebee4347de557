package main

import (
	"fmt"
	"io"
)

// version is set at link time with -ldflags "-X main.version=...".
var version = "dev"

func init() {
	register("version", "print the version", func(args []string, stdout, _ io.Writer) error {
		fmt.Fprintf(stdout, "gnaudit %s\n", version)
		return nil
	})
}
