package blascore

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// Environment variables.
const (
	// EnvCoreType is OpenBLAS's own variable: the core to use instead of
	// the detected one. Set by the user, it wins.
	EnvCoreType = "OPENBLAS_CORETYPE"
	// EnvDetect set to "0" or "off" keeps OpenBLAS's choice (for
	// benchmarks of the detected core).
	EnvDetect = "GNAUDIT_BLAS_DETECT"
	// envDetected carries OpenBLAS's own choice into the re-executed
	// process; its presence marks OPENBLAS_CORETYPE as set by gnaudit.
	envDetected = "GNAUDIT_BLAS_DETECTED"
)

// How Info.Core was chosen.
const (
	SourceOpenBLAS = "openblas"          // OpenBLAS's own detection
	SourceGnaudit  = "gnaudit"           // switched by Start
	SourceUser     = "OPENBLAS_CORETYPE" // set by the user
)

// Info is the CPU and BLAS the process computes with.
type Info struct {
	CPU   string `json:"cpu"`       // CPUModel
	Level string `json:"cpu_level"` // highest instruction level for BLAS kernels: "AVX-512 BF16", …
	BLAS  string `json:"blas"`      // "openblas" or "gonum" (pure Go)
	// Core is the OpenBLAS core in use; Detected OpenBLAS's own choice when
	// gnaudit switched it; Source how Core was chosen.
	Core     string `json:"core,omitempty"`
	Detected string `json:"detected,omitempty"`
	Source   string `json:"source,omitempty"`
	// Note explains a switch, or a user setting slower than the CPU allows.
	Note string `json:"note,omitempty"`
	// Said reports that Start already printed Note on stderr, so that
	// later summaries (the audit plan) need not repeat it.
	Said bool `json:"-"`
}

// BLASString describes the BLAS in a few words: "OpenBLAS, Cooperlake
// kernels (OpenBLAS's choice)", "gonum (pure Go)".
func (i Info) BLASString() string {
	if i.BLAS != "openblas" {
		return i.BLAS + " (pure Go)"
	}
	var how string
	switch i.Source {
	case SourceGnaudit:
		how = "chosen by gnaudit; OpenBLAS detected " + i.Detected
	case SourceUser:
		how = "set by OPENBLAS_CORETYPE"
	default:
		how = "OpenBLAS's choice"
	}
	return fmt.Sprintf("OpenBLAS, %s kernels (%s)", i.Core, how)
}

// String is the CPU and the BLAS on one line, to print next to a speed
// figure.
func (i Info) String() string { return i.CPU + ", " + i.Level + "; " + i.BLASString() }

// step is what Start does: restart the binary with env added, or record
// info and print message.
type step struct {
	reexec  bool
	env     []string // added to the environment of the restarted binary
	unset   bool     // remove envDetected from the environment
	info    Info
	message string
}

// plan decides Start's step from the environment, the CPU's features,
// whether the binary uses OpenBLAS and the core it initialised with.
func plan(getenv func(string) (string, bool), f Features, openblas bool, core string) step {
	s := step{info: Info{Level: f.Level().String(), BLAS: "gonum"}}
	if !openblas {
		return s
	}
	s.info.BLAS, s.info.Core, s.info.Source = "openblas", core, SourceOpenBLAS
	want, userSet := getenv(EnvCoreType)
	if detected, ok := getenv(envDetected); ok {
		// The restarted process: OPENBLAS_CORETYPE was set by gnaudit.
		s.unset = true
		if !strings.EqualFold(core, want) {
			s.info.Note = fmt.Sprintf("asked OpenBLAS for its %s kernels (OPENBLAS_CORETYPE), but it runs %s", want, core)
			s.message = s.info.Note
			return s
		}
		s.info.Source, s.info.Detected = SourceGnaudit, detected
		s.info.Note = Decide(f, detected, "").Note
		s.message = s.info.Note + " (set OPENBLAS_CORETYPE to choose yourself)"
		return s
	}
	if userSet && want != "" {
		s.info.Source = SourceUser
		s.info.Note = Decide(f, core, want).Note
		return s
	}
	d := Decide(f, core, "")
	if d.Core == "" {
		return s
	}
	if v, _ := getenv(EnvDetect); v == "0" || strings.EqualFold(v, "off") {
		s.info.Note = fmt.Sprintf("OpenBLAS runs its %s kernels; this CPU supports %s (%s=%s keeps them)", core, d.Best, EnvDetect, v)
		return s
	}
	s.reexec = true
	s.env = []string{EnvCoreType + "=" + d.Core, envDetected + "=" + core}
	return s
}

var (
	mu      sync.Mutex
	started bool
	current Info
)

// Start applies the decision to the process; call it first thing in main.
// In the openblas build, when OpenBLAS chose kernels older than the CPU
// supports and OPENBLAS_CORETYPE is not set, it restarts the binary (same
// arguments) with OPENBLAS_CORETYPE set to the right core, since OpenBLAS
// reads it only when it initialises; the restarted process says so once on
// stderr. It does not restart twice: OPENBLAS_CORETYPE is then set. When
// the restart fails, the process goes on with OpenBLAS's choice and a
// warning. In the pure-Go build it only records Current.
func Start(stderr io.Writer) {
	mu.Lock()
	defer mu.Unlock()
	if started {
		return
	}
	started = true
	s := plan(os.LookupEnv, HostFeatures(), Built, coreName())
	s.info.CPU = CPUModel()
	if s.reexec {
		err := reexec(append(os.Environ(), s.env...)) // returns only on failure
		s.info.Note = fmt.Sprintf("OpenBLAS chose its %s kernels, older than this CPU supports (%s); restarting with %s failed: %v",
			s.info.Core, s.info.Level, s.env[0], err)
		s.message = s.info.Note
	}
	if s.unset {
		os.Unsetenv(envDetected) // children (plugins) see a user setting
	}
	if s.message != "" && stderr != nil {
		fmt.Fprintln(stderr, "gnaudit: "+s.message)
		s.info.Said = true
	}
	current = s.info
}

// Current is the CPU and BLAS of the process. Without Start (tests, other
// programs) it describes OpenBLAS's state as it is, without restarting.
func Current() Info {
	mu.Lock()
	defer mu.Unlock()
	if !started {
		s := plan(os.LookupEnv, HostFeatures(), Built, coreName())
		s.info.CPU = CPUModel()
		if s.reexec {
			s.info.Note = fmt.Sprintf("OpenBLAS runs its %s kernels; this CPU supports %s (Start, which would switch, did not run in this program)",
				s.info.Core, strings.TrimPrefix(s.env[0], EnvCoreType+"="))
		}
		return s.info
	}
	return current
}
