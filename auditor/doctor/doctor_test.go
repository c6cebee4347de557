package doctor

import (
	"bytes"
	"encoding/json"
	"os"
	"runtime"
	"strings"
	"testing"
)

func TestCollect(t *testing.T) {
	r := Collect("test")
	if r.Platform != runtime.GOOS+"/"+runtime.GOARCH || r.CPUs != runtime.NumCPU() {
		t.Fatalf("platform %q cpus %d", r.Platform, r.CPUs)
	}
	if r.BLAS != "gonum" && r.BLAS != "openblas" {
		t.Fatalf("BLAS %q", r.BLAS)
	}
	if !r.CUDABuilt && (r.GPU != nil || !strings.Contains(r.GPUError, "without CUDA")) {
		t.Fatalf("CPU build: GPU %+v, error %q", r.GPU, r.GPUError)
	}
	for _, p := range r.Data {
		_, err := os.Stat(p.Path)
		if p.Present != (err == nil) {
			t.Fatalf("%s: present=%v but stat says %v", p.Path, p.Present, err)
		}
	}
	var txt, js bytes.Buffer
	if err := r.WriteText(&txt); err != nil {
		t.Fatal(err)
	}
	if r.CPU == "" || r.BLASCore.BLAS != r.BLAS || (r.BLAS == "openblas") != (r.BLASCore.Core != "") {
		t.Fatalf("CPU %q, BLAS %q, core %+v", r.CPU, r.BLAS, r.BLASCore)
	}
	for _, want := range []string{"gnaudit test", "CPU:          " + r.CPU, "CPU BLAS:", "GPU:", "fashion-mnist"} {
		if !strings.Contains(txt.String(), want) {
			t.Fatalf("text report lacks %q:\n%s", want, txt.String())
		}
	}
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.BLAS != r.BLAS || back.CUDABuilt != r.CUDABuilt || len(back.Data) != len(r.Data) || back.BLASCore != r.BLASCore {
		t.Fatalf("JSON round trip: %+v", back)
	}
}
