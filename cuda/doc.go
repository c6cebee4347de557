// Package cuda is gnaudit's GPU path: our own CUDA kernels (cuda/kernels, compiled
// to PTX and embedded) launched through gorgonia.org/cu's driver API, so that a
// binary needs only the driver's libcuda.so.1 at run time (no cuBLAS, no cuDNN).
//
// The GPU code is built only with the build tag `gnaudit_cuda` (go build
// -tags gnaudit_cuda, or `make build-cuda`), which needs cuda.h at build time
// (Debian's nvidia-cuda-toolkit). The tag is not plain `cuda` because that tag
// also switches on gorgonia's own CUDA engine, which needs cuDNN and does not
// build here. Without the tag the package still builds: Open reports
// ErrNotBuilt, so `--device cuda` is a clear error on a CPU build.
//
// A cuda build must run on a machine with a usable CUDA device:
// gorgonia.org/cu initialises the driver when the program starts and exits if
// that fails. The package cuda/internal/precheck, which the cuda build links first,
// turns that into a clear message (and into a skip for test binaries).
package cuda

import "errors"

// ErrNotBuilt is returned by Open in a build without the `gnaudit_cuda` tag.
var ErrNotBuilt = errors.New("this gnaudit was built without CUDA support: rebuild with `make build-cuda` (go build -tags gnaudit_cuda) on a machine with Debian's nvidia-cuda-toolkit")

// Info describes the device in use.
type Info struct {
	Name              string `json:"name"`
	ComputeCapability string `json:"compute_capability"`
	TotalMemory       int64  `json:"total_memory"`
	FreeMemory        int64  `json:"free_memory"`
	DriverVersion     int    `json:"driver_version"`
}
