//go:build openblas

package blascore

/*
#cgo LDFLAGS: -lopenblas
char* openblas_get_corename(void);
*/
import "C"

// Built reports whether the binary uses OpenBLAS (the openblas build tag).
const Built = true

// coreName is the core OpenBLAS initialised with.
func coreName() string { return C.GoString(C.openblas_get_corename()) }
