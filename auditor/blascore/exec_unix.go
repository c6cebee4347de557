//go:build unix

package blascore

import (
	"os"
	"syscall"
)

// reexec replaces the process by a fresh run of its binary with env.
func reexec(env []string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	return syscall.Exec(exe, os.Args, env)
}
