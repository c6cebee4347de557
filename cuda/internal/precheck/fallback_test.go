package precheck

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestFallback(t *testing.T) {
	const reason = "CUDA_ERROR_NO_DEVICE"
	for _, tc := range []struct {
		args    []string
		handled bool
		want    string
	}{
		{[]string{"version"}, true, "gnaudit dev (CUDA build; no usable CUDA device: CUDA_ERROR_NO_DEVICE)\n"},
		{[]string{"--version"}, true, "no usable CUDA device"},
		{[]string{"doctor"}, true, "GPU        no usable CUDA device (CUDA_ERROR_NO_DEVICE)"},
		{[]string{"doctor", "--json"}, true, `"cuda_built": true`},
		{[]string{"--help"}, true, "use the CPU build"},
		{[]string{"audit"}, false, ""},
		{nil, false, ""},
	} {
		var b bytes.Buffer
		handled, code := Fallback(tc.args, reason, &b)
		if handled != tc.handled || code != 0 || !strings.Contains(b.String(), tc.want) {
			t.Errorf("%v: handled %v, exit %d, output %q; want %v, 0, %q", tc.args, handled, code, b.String(), tc.handled, tc.want)
		}
		if len(tc.args) == 2 && tc.args[1] == "--json" {
			var r map[string]any
			if err := json.Unmarshal(b.Bytes(), &r); err != nil || r["gpu_error"] == nil {
				t.Errorf("doctor --json: %v, %v", err, r)
			}
		}
	}
}
