package host_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gnaudit/gnaudit/plugins/host"
)

// TestPreflight: the built-ins pass; an executable that is not a plugin is
// named in a UsageError; a missing one is a UsageError too.
func TestPreflight(t *testing.T) {
	if err := host.Preflight(context.Background(), &host.Options{Timeout: time.Minute}); err != nil {
		t.Errorf("built-ins: %v", err)
	}
	if _, err := os.Stat("/bin/true"); err == nil {
		err := host.Preflight(context.Background(), &host.Options{Plugins: []string{"/bin/true"}, Builtins: []string{"none"}, Timeout: time.Minute})
		var ue host.UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "/bin/true") || !strings.Contains(err.Error(), "1 analysis plugin(s) failed to start") {
			t.Errorf("/bin/true: %v", err)
		}
	}
	err := host.Preflight(context.Background(), &host.Options{Plugins: []string{"/no/such/plugin"}})
	var ue host.UsageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "/no/such/plugin") {
		t.Errorf("missing plugin: %v", err)
	}
}
