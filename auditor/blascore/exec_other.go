//go:build !unix

package blascore

import "errors"

// reexec is not available here: the process keeps OpenBLAS's choice.
func reexec([]string) error {
	return errors.New("re-executing the binary is not supported on this system")
}
