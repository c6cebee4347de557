//go:build linux

package graph

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// threadCPU locks the goroutine to its thread and returns a function that
// reads the thread's CPU time (user + system): a benchmark timed by it is
// less disturbed by other jobs on a shared machine than by wall time.
func threadCPU() (now func() time.Duration, ok bool) {
	runtime.LockOSThread()
	return func() time.Duration {
		var ru unix.Rusage
		if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
			return 0
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}, true
}

// processCPU returns a function that reads the process's CPU time (user +
// system, all threads).
func processCPU() (now func() time.Duration, ok bool) {
	return func() time.Duration {
		var ru unix.Rusage
		if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
			return 0
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}, true
}
