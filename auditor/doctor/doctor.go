// Package doctor describes the build and the machine gnaudit runs on: build
// tags, the BLAS behind the CPU executor, the CUDA device (when the binary is
// a cuda build), and the optional Debian data packages the defaults use. It is
// what `gnaudit doctor` prints, and what a bug report should include.
package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/gnaudit/gnaudit/auditor/blascore"
	"github.com/gnaudit/gnaudit/auditor/graph"
	"github.com/gnaudit/gnaudit/cuda"
)

// Default locations of the Debian packages the defaults and tests use.
const (
	FashionMNISTDir = "/usr/share/datasets/fashion-mnist"
	ONNXTestDataDir = "/usr/share/libonnx-testdata/data/node"
)

// Report is the state of the build and the machine.
type Report struct {
	Version   string   `json:"version"`
	GoVersion string   `json:"go_version"`
	Platform  string   `json:"platform"`
	CPUs      int      `json:"cpus"`
	Tags      []string `json:"build_tags"`
	BLAS      string   `json:"blas"`
	// CPU is the CPU model and BLASCore the kernels BLAS runs on it.
	CPU       string        `json:"cpu"`
	BLASCore  blascore.Info `json:"blas_core"`
	CUDABuilt bool          `json:"cuda_built"`
	GPU       *cuda.Info    `json:"gpu,omitempty"`
	GPUError  string        `json:"gpu_error,omitempty"`
	// Data lists optional inputs and whether they are present.
	Data []Presence `json:"data"`
}

// Presence tells whether an optional input is installed.
type Presence struct {
	Name    string `json:"name"`
	Path    string `json:"path"`
	Present bool   `json:"present"`
	Package string `json:"debian_package"`
}

// Collect inspects the build and the machine. It opens the CUDA device only
// when the binary was built with CUDA support.
func Collect(version string) Report {
	r := Report{
		Version:   version,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
		CPUs:      runtime.NumCPU(),
		BLAS:      graph.BLASName,
		CUDABuilt: cuda.Built(),
	}
	r.BLASCore = blascore.Current()
	r.CPU = r.BLASCore.CPU
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-tags" && s.Value != "" {
				r.Tags = append(r.Tags, s.Value)
			}
		}
	}
	if r.CUDABuilt {
		d, err := cuda.Open(0)
		if err != nil {
			r.GPUError = err.Error()
		} else {
			info := d.Info()
			r.GPU = &info
			d.Close()
		}
	} else {
		r.GPUError = cuda.ErrNotBuilt.Error()
	}
	for _, p := range []Presence{
		{Name: "Fashion-MNIST (default audit data)", Path: FashionMNISTDir, Package: "dataset-fashion-mnist"},
		{Name: "ONNX conformance tests (make test)", Path: ONNXTestDataDir, Package: "libonnx-testdata"},
	} {
		_, err := os.Stat(p.Path)
		p.Present = err == nil
		r.Data = append(r.Data, p)
	}
	return r
}

// WriteText prints the report for a person.
func (r Report) WriteText(w io.Writer) error {
	tags := "none"
	if len(r.Tags) > 0 {
		tags = fmt.Sprint(r.Tags)
	}
	fmt.Fprintf(w, "gnaudit %s (%s, %s, %d CPUs)\n", r.Version, r.GoVersion, r.Platform, r.CPUs)
	fmt.Fprintf(w, "build tags:   %s\n", tags)
	fmt.Fprintf(w, "CPU:          %s, %s\n", r.CPU, r.BLASCore.Level)
	fmt.Fprintf(w, "CPU BLAS:     %s\n", r.BLASCore.BLASString())
	if r.BLASCore.Note != "" {
		fmt.Fprintf(w, "              note: %s\n", r.BLASCore.Note)
	}
	switch {
	case r.GPU != nil:
		g := r.GPU
		fmt.Fprintf(w, "GPU:          %s (compute capability %s), driver API %d.%d, %.1f GiB total, %.1f GiB free\n",
			g.Name, g.ComputeCapability, g.DriverVersion/1000, g.DriverVersion%1000/10,
			float64(g.TotalMemory)/(1<<30), float64(g.FreeMemory)/(1<<30))
	default:
		fmt.Fprintf(w, "GPU:          not available: %s\n", r.GPUError)
	}
	for _, p := range r.Data {
		state := "present"
		if !p.Present {
			state = "missing (apt-get install " + p.Package + ")"
		}
		fmt.Fprintf(w, "%-40s %s: %s\n", p.Name+":", p.Path, state)
	}
	return nil
}

// WriteJSON prints the report as indented JSON.
func (r Report) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}
