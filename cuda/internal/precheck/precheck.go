//go:build gnaudit_cuda

// Package precheck runs before gorgonia.org/cu is initialised (Go initialises
// packages in import-path order, and this path sorts before gorgonia.org/cu).
// cu's own init calls cuInit and exits with a terse message when no device is
// usable; this package calls cuInit first and, when it fails, exits with a
// message that says what to do instead. In a test binary (name ending in
// ".test") it prints a skip notice and exits 0, so `go test -tags gnaudit_cuda` on a
// machine without a GPU skips the GPU tests instead of failing; `gnaudit
// version` and `gnaudit doctor` still answer (Fallback), with exit status 0.
package precheck

// #cgo LDFLAGS: -lcuda
// #include <cuda.h>
import "C"

import (
	"fmt"
	"os"
	"strings"
)

func init() {
	r := C.cuInit(0)
	if r == C.CUDA_SUCCESS {
		var n C.int
		if C.cuDeviceGetCount(&n) == C.CUDA_SUCCESS && n > 0 {
			return
		}
	}
	var name *C.char
	C.cuGetErrorName(r, &name)
	reason := fmt.Sprintf("cuInit returned %d", int(r))
	if name != nil {
		reason = C.GoString(name)
	}
	if strings.HasSuffix(os.Args[0], ".test") {
		fmt.Printf("SKIP: no usable CUDA device (%s); the cuda-tagged tests need a GPU\nPASS\n", reason)
		os.Exit(0)
	}
	// version and doctor (the bug-report command) still answer.
	if handled, code := Fallback(os.Args[1:], reason, os.Stdout); handled {
		os.Exit(code)
	}
	fmt.Fprintf(os.Stderr, "gnaudit: this is the CUDA build of gnaudit and no usable CUDA device was found (%s).\n"+
		"Use the CPU build (`make build`) on machines without an NVIDIA GPU.\n", reason)
	os.Exit(2)
}
