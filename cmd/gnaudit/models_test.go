package main

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/gnaudit/gnaudit/internal/onnxpb"
	"github.com/gnaudit/gnaudit/models"
)

func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestModelsList(t *testing.T) {
	code, out, errs := runCLI("models", "list")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, s := range models.List() {
		m, err := models.Build(s.Name, models.Options{})
		if err != nil {
			t.Fatal(err)
		}
		want := s.Name + " " + strconv.FormatInt(models.ParamCount(m), 10)
		found := false
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(strings.Join(strings.Fields(line), " "), want+" ") {
				found = true
			}
		}
		if !found {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "272474") || !strings.Contains(out, "2603850") {
		t.Errorf("list lacks the resnet20/alexnet-cifar counts:\n%s", out)
	}
}

func TestModelsExport(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		name string
		opt  models.Options
	}{
		// flags after the positional name, before it, and mixed
		{[]string{"resnet20", "-o", "@OUT", "--seed", "3"}, "resnet20", models.Options{Seed: 3}},
		{[]string{"-o", "@OUT", "--input", "1x28x28", "alexnet-cifar-bn", "--classes", "5"},
			"alexnet-cifar-bn", models.Options{Input: [3]int{1, 28, 28}, Classes: 5, Seed: 1}},
		{[]string{"--seed=7", "alexnet-cifar", "-o=@OUT"}, "alexnet-cifar", models.Options{Seed: 7}},
	} {
		path := filepath.Join(dir, tc.name+".onnx")
		args := append([]string{"models", "export"}, tc.args...)
		for i, a := range args {
			args[i] = strings.Replace(a, "@OUT", path, 1)
		}
		code, out, errs := runCLI(args...)
		if code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
		if !strings.Contains(out, "wrote "+path) {
			t.Errorf("%v: output %q", args, out)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var got onnxpb.ModelProto
		if err := proto.Unmarshal(raw, &got); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		want, err := models.Build(tc.name, tc.opt)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(&got, want) {
			t.Errorf("%v: file differs from models.Build(%s, %+v)", args, tc.name, tc.opt)
		}
	}
}

func TestModelsUsageErrors(t *testing.T) {
	out := filepath.Join(t.TempDir(), "x.onnx")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"models"}, "missing subcommand"},
		{[]string{"models", "frobnicate"}, "unknown subcommand"},
		{[]string{"models", "export", "-o", out}, "missing model name"},
		{[]string{"models", "export", "resnet20"}, "--out FILE.onnx is required"},
		{[]string{"models", "export", "vgg", "-o", out}, "unknown model"},
		{[]string{"models", "export", "resnet20", "extra", "-o", out}, "unexpected argument"},
		{[]string{"models", "export", "resnet20", "-o", out, "--input", "3x32"}, "want CxHxW"},
		{[]string{"models", "export", "resnet20", "-o", out, "--classes", "0"}, "classes"},
		{[]string{"models", "export", "resnet20", "-o", out, "--bogus"}, "unknown flag --bogus"},
		{[]string{"models", "list", "extra"}, "unexpected argument"},
	} {
		code, _, errs := runCLI(tc.args...)
		if code != exitUsage || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, code, errs, exitUsage, tc.want)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed export left %s behind", out)
	}
	// The output directory is created, as stats and grads do.
	code, _, errs := runCLI("models", "export", "resnet20", "--out", filepath.Join(t.TempDir(), "missing", "x.onnx"))
	if code != exitOK {
		t.Errorf("export into a new directory: exit %d, %q", code, errs)
	}
}

func newTestFlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// `models inspect` dispatches to runModelsInspect, with flags after the file.
func TestModelsInspectDispatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.onnx")
	if code, _, errs := runCLI("models", "export", "resnet20", "-o", path, "--classes", "7"); code != exitOK {
		t.Fatalf("export: exit %d: %s", code, errs)
	}
	code, out, errs := runCLI("models", "inspect", path, "-json")
	if code != exitOK {
		t.Fatalf("inspect: exit %d: %s", code, errs)
	}
	if !strings.HasPrefix(strings.TrimSpace(out), "{") || !strings.Contains(out, "logits") || !strings.Contains(out, "layer3.2.conv2.weight") {
		t.Errorf("inspect -json output lacks the model's interface or parameters:\n%.400s", out)
	}
	if code, _, _ := runCLI("models", "inspect"); code != exitUsage {
		t.Errorf("inspect without a file: exit %d, want %d", code, exitUsage)
	}
}
