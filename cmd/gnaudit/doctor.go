package main

import (
	"io"

	"github.com/gnaudit/gnaudit/auditor/doctor"
)

func init() {
	register("doctor", "report the build (tags, BLAS), the GPU and the optional data packages", runDoctor)
}

const doctorUsage = `Usage: gnaudit doctor [--json]

Prints what this binary was built with (build tags, the BLAS of the CPU
executor), the GPU it sees (CUDA builds only) and whether the optional
Debian data packages are installed. Include it in bug reports.
`

func runDoctor(args []string, stdout, stderr io.Writer) error {
	f := newFlags("doctor", doctorUsage, stdout)
	asJSON := f.Bool("json", false, "print JSON")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return cmdUsagef("doctor", "unexpected argument %q", pos[0])
	}
	r := doctor.Collect(version)
	if *asJSON {
		return r.WriteJSON(stdout)
	}
	return r.WriteText(stdout)
}
