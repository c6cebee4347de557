package blascore

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestHelperProcess is the process TestStartReexec runs: Start, then
// Current as JSON on stdout.
func TestHelperProcess(t *testing.T) {
	if os.Getenv("GNAUDIT_BLASCORE_HELPER") != "1" {
		t.Skip("helper process of TestStartReexec")
	}
	Start(os.Stderr)
	json.NewEncoder(os.Stdout).Encode(Current())
	os.Exit(0)
}

// TestStartReexec runs Start end to end in the OpenBLAS build (go test
// -tags openblas ./auditor/blascore): a stand-in openblas_get_corename,
// preloaded, reports Prescott unless OPENBLAS_CORETYPE is set, as Debian's
// OpenBLAS 0.3.21 does on an Intel Xeon of model 207. The process must
// restart once with the CPU's best core, say so once, and leave a user's
// setting alone.
func TestStartReexec(t *testing.T) {
	if !Built {
		t.Skip("pure-Go build: no OpenBLAS to switch (go test -tags openblas)")
	}
	best := Best(HostFeatures())
	if LevelOf(best) <= LevelSSE3 {
		t.Skipf("this CPU's best core %q is not above Prescott", best)
	}
	cc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("no gcc for the stand-in library")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "fakecore.c")
	so := filepath.Join(dir, "fakecore.so")
	if err := os.WriteFile(src, []byte(`#include <stdlib.h>
char *openblas_get_corename(void) { char *v = getenv("OPENBLAS_CORETYPE"); return v && *v ? v : "Prescott"; }
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(cc, "-shared", "-fPIC", "-o", so, src).CombinedOutput(); err != nil {
		t.Skipf("cannot build the stand-in library: %v\n%s", err, out)
	}
	run := func(extra ...string) (Info, string) {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, EnvCoreType+"=") && !strings.HasPrefix(kv, envDetected+"=") && !strings.HasPrefix(kv, EnvDetect+"=") {
				env = append(env, kv)
			}
		}
		cmd.Env = append(env, append([]string{"GNAUDIT_BLASCORE_HELPER=1", "LD_PRELOAD=" + so}, extra...)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("helper: %v\n%s", err, stderr.String())
		}
		var i Info
		if err := json.Unmarshal(out, &i); err != nil {
			t.Fatalf("helper output %q: %v", out, err)
		}
		return i, stderr.String()
	}

	i, msg := run()
	if i.Core != best || i.Detected != "Prescott" || i.Source != SourceGnaudit {
		t.Errorf("switched: %+v, want core %s detected Prescott source gnaudit", i, best)
	}
	if strings.Count(msg, "gnaudit: ") != 1 || !strings.Contains(msg, "chose its Prescott kernels") {
		t.Errorf("stderr %q, want one message about Prescott", msg)
	}

	i, msg = run(EnvCoreType + "=Prescott")
	if i.Core != "Prescott" || i.Source != SourceUser || !strings.Contains(i.Note, "OPENBLAS_CORETYPE=Prescott is set") || msg != "" {
		t.Errorf("user setting: %+v, stderr %q", i, msg)
	}

	i, msg = run(EnvDetect + "=0")
	if i.Core != "Prescott" || i.Source != SourceOpenBLAS || msg != "" {
		t.Errorf("detection off: %+v, stderr %q", i, msg)
	}
}
