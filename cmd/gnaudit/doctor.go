package main

import (
	"flag"
	"io"

	"github.com/gnaudit/gnaudit/auditor/doctor"
)

func init() {
	register("doctor", "report the build (tags, BLAS), the GPU and the optional data packages", runDoctor)
}

func runDoctor(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	r := doctor.Collect(version)
	if *asJSON {
		return r.WriteJSON(stdout)
	}
	return r.WriteText(stdout)
}
