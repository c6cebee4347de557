package host_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestWrapperChildrenKilledAtTimeout: a plugin behind a #!/bin/sh wrapper
// without exec leaves a child holding the plugin's stdout; at
// --plugin-timeout the whole process group is killed, so the host is not
// blocked until the child exits on its own (it used to wait for it: 30 s
// for a wrapper running sleep 30, 60 s for a slow start).
func TestWrapperChildrenKilledAtTimeout(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	cases := []struct{ name, body, stage, reason string }{
		{"sleeper", "sleep 30 &\necho $! > " + pidFile + "\nwait\n", "load", "timeout while waiting for plugin to start"},
		{"hang", testPlugin + " hang\n", "layer a.weight", "timed out after 2s"},
		{"slow-start", testPlugin + " slow-start\n", "load", "timeout while waiting for plugin to start"},
	}
	o := opts()
	o.Builtins = []string{"noise-scale"}
	o.Timeout = 2 * time.Second
	for _, c := range cases {
		p := filepath.Join(dir, c.name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+c.body), 0o755); err != nil {
			t.Fatal(err)
		}
		o.Plugins = append(o.Plugins, p)
	}
	start := time.Now()
	res := analyze(t, o)
	elapsed := time.Since(start)
	// Three plugins, each at most the 2 s timeout plus go-plugin's 2 s
	// graceful wait; without the group kill it took over 90 s.
	if elapsed > 20*time.Second {
		t.Errorf("the analyses took %v with a 2 s --plugin-timeout", elapsed)
	}
	for _, c := range cases {
		found := false
		for _, r := range res {
			if r.Description.Name != c.name {
				continue
			}
			found = true
			if r.Failure == nil || r.Failure.Stage != c.stage || !strings.Contains(r.Failure.Reason, c.reason) {
				t.Errorf("%s: %+v, want a failure at %q containing %q", c.name, r.Failure, c.stage, c.reason)
			}
		}
		if !found {
			t.Errorf("%s: no result", c.name)
		}
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // killed, perhaps not yet reaped by init
	}
	if err := syscall.Kill(pid, 0); err == nil {
		if st, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); !strings.Contains(string(st), ") Z") {
			t.Errorf("the wrapper's child %d survived the timeout", pid)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
