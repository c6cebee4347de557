//go:build !unix

package grpcplugin

import (
	"os"
	"os/exec"
)

// setProcessGroup does nothing where process groups do not exist.
func setProcessGroup(*exec.Cmd) {}

// killProcessGroup kills the process only.
func killProcessGroup(p *os.Process, _ int) error { return p.Kill() }
