//go:build !gnaudit_cuda

package cuda

// Device is a CUDA device; in a build without the `gnaudit_cuda` tag it cannot be opened.
type Device struct{}

// Open opens the CUDA device with the given ordinal. Without the `gnaudit_cuda` build
// tag it always fails with ErrNotBuilt.
func Open(ordinal int) (*Device, error) { return nil, ErrNotBuilt }

// Built reports whether this binary was built with CUDA support.
func Built() bool { return false }

// Info returns nothing in a build without CUDA.
func (d *Device) Info() Info { return Info{} }

// Close does nothing in a build without CUDA.
func (d *Device) Close() error { return nil }
