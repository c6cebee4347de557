//go:build !gnaudit_cuda

package audit

import "github.com/gnaudit/gnaudit/auditor/ir"

// openCUDAEngine is --device cuda in a build without the gnaudit_cuda tag:
// ErrNoCUDA (engine_cuda.go is the GPU engine).
func openCUDAEngine(*ir.Model, EngineOptions) (Engine, error) { return nil, ErrNoCUDA }
