// Package analysispb holds the Go code generated from analysis.proto, the
// gnaudit analysis plugin protocol (version 1). Regenerate with `make proto`.
// Only plugins/grpcplugin should import it.
package analysispb
