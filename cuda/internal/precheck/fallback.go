package precheck

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// Fallback answers the commands a CUDA build must still run on a machine
// without a usable GPU — version, doctor (the bug-report command) and help —
// before gorgonia.org/cu's initialisation would end the process. args are
// the command-line arguments after the program name, reason the CUDA
// driver's error. It reports whether it handled the command, and the exit
// status. It is plain Go (no cgo) so that it is tested in every build.
func Fallback(args []string, reason string, stdout io.Writer) (handled bool, code int) {
	if len(args) == 0 {
		return false, 0
	}
	switch args[0] {
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "gnaudit %s (CUDA build; no usable CUDA device: %s)\n", mainVersion(), reason)
		return true, 0
	case "doctor":
		r := report{Version: mainVersion(), GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH,
			CPUs: runtime.NumCPU(), Tags: buildTags(), CUDABuilt: true,
			GPUError: "no usable CUDA device (" + reason + ")",
			Note:     "the CUDA build stops before the rest of doctor can run; use the CPU build (make build) for the full report"}
		for _, a := range args[1:] {
			if a == "--json" || a == "-json" {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(r); err != nil {
					return true, 1
				}
				return true, 0
			}
		}
		fmt.Fprintf(stdout, "gnaudit %s\ngo         %s %s, %d CPUs\nbuild tags %s\nGPU        %s\nnote       %s\n",
			r.Version, r.GoVersion, r.Platform, r.CPUs, strings.Join(r.Tags, " "), r.GPUError, r.Note)
		return true, 0
	case "help", "-h", "--help", "-help":
		fmt.Fprintf(stdout, "This is the CUDA build of gnaudit and no usable CUDA device was found (%s).\n"+
			"Only 'gnaudit version' and 'gnaudit doctor' run here; use the CPU build (make build) for the rest and its help.\n", reason)
		return true, 0
	}
	return false, 0
}

// report is the part of doctor's report (auditor/doctor, same JSON keys)
// known before any package initialises.
type report struct {
	Version   string   `json:"version"`
	GoVersion string   `json:"go_version"`
	Platform  string   `json:"platform"`
	CPUs      int      `json:"cpus"`
	Tags      []string `json:"build_tags,omitempty"`
	CUDABuilt bool     `json:"cuda_built"`
	GPUError  string   `json:"gpu_error"`
	Note      string   `json:"note"`
}

// mainVersion is the version of the main module ("dev" for a local build,
// as main.version says).
func mainVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func buildTags() []string {
	var tags []string
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-tags" && s.Value != "" {
				tags = append(tags, s.Value)
			}
		}
	}
	return tags
}
