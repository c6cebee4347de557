//go:build !linux

package graph

import "time"

// threadCPU is not available off Linux: ok is false.
func threadCPU() (now func() time.Duration, ok bool) { return nil, false }

// processCPU is not available off Linux: ok is false.
func processCPU() (now func() time.Duration, ok bool) { return nil, false }
