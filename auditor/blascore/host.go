package blascore

import (
	"bufio"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/cpu"
)

// HostFeatures returns the features of the CPU the process runs on.
func HostFeatures() Features {
	x := cpu.X86
	info := cpuinfo()
	family, _ := strconv.Atoi(info.Family)
	return Features{
		Arch: runtime.GOARCH, Vendor: info.Vendor, Family: family,
		SSE3: x.HasSSE3, SSSE3: x.HasSSSE3, SSE41: x.HasSSE41, SSE42: x.HasSSE42,
		AVX: x.HasAVX, AVX2: x.HasAVX2, FMA: x.HasFMA,
		AVX512F: x.HasAVX512F, AVX512CD: x.HasAVX512CD, AVX512BW: x.HasAVX512BW,
		AVX512DQ: x.HasAVX512DQ, AVX512VL: x.HasAVX512VL, AVX512BF16: x.HasAVX512BF16,
	}
}

// CPUInfo is what /proc/cpuinfo says about the first processor.
type CPUInfo struct {
	Model  string // "model name", e.g. "Intel(R) Xeon(R) Platinum 8581C CPU @ 2.10GHz"
	Vendor string // "vendor_id", e.g. "GenuineIntel"
	Family string // "cpu family", e.g. "6"
	Number string // "model", e.g. "207"
}

// String is the model name with the family and model number, which tell
// apart CPUs that a virtual machine names vaguely ("AMD EPYC (family 26,
// model 2)"); "unknown CPU" when nothing is known.
func (c CPUInfo) String() string {
	s := c.Model
	if s == "" {
		s = "unknown CPU"
	}
	if c.Family != "" && c.Number != "" {
		s += " (family " + c.Family + ", model " + c.Number + ")"
	}
	return s
}

// ParseCPUInfo reads the first processor's entry of a /proc/cpuinfo text.
func ParseCPUInfo(r io.Reader) CPUInfo {
	var c CPUInfo
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" && (c.Model != "" || c.Vendor != "") {
			break // end of the first processor
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "model name":
			c.Model = v
		case "vendor_id":
			c.Vendor = v
		case "cpu family":
			c.Family = v
		case "model":
			c.Number = v
		}
	}
	return c
}

// cpuinfo parses /proc/cpuinfo (empty off Linux).
func cpuinfo() CPUInfo {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return CPUInfo{}
	}
	defer f.Close()
	return ParseCPUInfo(f)
}

// CPUModel describes the CPU for a speed figure or a bug report, e.g.
// "AMD EPYC (family 26, model 2)".
func CPUModel() string { return cpuinfo().String() }
