package cliflag_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/cmd/gnaudit/internal/cliflag"
)

func TestPrintDefaults(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.String("out", "", "output `file`")
	fs.String("format", "svg", "plot format")
	fs.Bool("json", false, "print JSON")
	fs.Int("seed", 1, "seed")
	cliflag.Alias(fs, "o", "out")
	var b bytes.Buffer
	cliflag.PrintDefaults(&b, fs)
	got := b.String()
	for _, tc := range []struct {
		want string
		in   bool
	}{
		{"  --out file\n    \toutput file\n", true},
		{"  --format string\n    \tplot format (default \"svg\")\n", true},
		{"  --json\n    \tprint JSON\n", true},
		{"  --seed int\n    \tseed (default 1)\n", true},
		{"  --o\n", false}, // the hidden alias
		{"\n  -o", false},
	} {
		if strings.Contains(got, tc.want) != tc.in {
			t.Errorf("contains %q = %v, want %v; output:\n%s", tc.want, !tc.in, tc.in, got)
		}
	}
	for _, l := range strings.Split(got, "\n") {
		if strings.HasPrefix(l, "  -") && !strings.HasPrefix(l, "  --") {
			t.Errorf("single-dash flag line %q", l)
		}
	}
	if err := fs.Parse([]string{"-o", "f"}); err != nil || fs.Lookup("out").Value.String() != "f" {
		t.Errorf("alias -o: err %v, out %q", err, fs.Lookup("out").Value.String())
	}
	if !cliflag.HasVisible(fs) || cliflag.HasVisible(flag.NewFlagSet("y", flag.ContinueOnError)) {
		t.Error("HasVisible")
	}
}

// A renamed flag stays accepted under its old name, and the help shows the
// new one only, with two dashes.
func ExampleAlias() {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	out := fs.String("out", "", "output `file`")
	cliflag.Alias(fs, "o", "out") // the old name, hidden
	_ = fs.Parse([]string{"-o", "m.onnx"})
	fmt.Println(*out)
	cliflag.PrintDefaults(os.Stdout, fs)
	// Output:
	// m.onnx
	//   --out file
	//     	output file
}
