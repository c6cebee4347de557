package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// helpCommands are every command and subcommand with a help text.
var helpCommands = [][]string{
	{"audit"}, {"report"}, {"gate"}, {"stats"}, {"grads"}, {"doctor"}, {"version"},
	{"models"}, {"models", "list"}, {"models", "export"}, {"models", "inspect"},
	{"plugins"}, {"plugins", "list"}, {"plugins", "serve"},
}

// singleDash matches a flag written Go-style (-name) in a help text; the
// convention is GNU-style --name.
var singleDash = regexp.MustCompile(`(^|[\s\[(])-[a-z][a-z-]+`)

// TestHelpEverywhere: -h, --help and "help CMD" print the usage on stdout
// and exit 0, for every command and subcommand; no help text writes a flag
// with one dash.
func TestHelpEverywhere(t *testing.T) {
	for cmd := range commands {
		found := false
		for _, c := range helpCommands {
			found = found || c[0] == cmd
		}
		if found {
			continue
		}
		// A verb not listed above (add it): its help must at least exit 0.
		code, out, errs := runCLI(cmd, "--help")
		if code != exitOK || !strings.Contains(out+errs, "Usage") {
			t.Errorf("%s --help: exit %d, output %.80q; want 0 and its usage", cmd, code, out+errs)
		}
		if !strings.HasPrefix(out, "Usage:") {
			t.Logf("%s --help: the usage should go to stdout (newFlags does it); add %q to helpCommands", cmd, cmd)
		}
	}
	for _, c := range helpCommands {
		for _, args := range [][]string{append(c[:len(c):len(c)], "-h"), append(c[:len(c):len(c)], "--help"), append([]string{"help"}, c...)} {
			code, out, errs := runCLI(args...)
			if code != exitOK || !strings.HasPrefix(out, "Usage:") || errs != "" {
				t.Errorf("%v: exit %d, stdout %.60q, stderr %q; want 0 and the usage on stdout", args, code, out, errs)
				continue
			}
			if m := singleDash.FindString(out); m != "" {
				t.Errorf("%v: help writes a flag with one dash: %q", args, m)
			}
		}
	}
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		if code, out, _ := runCLI(args...); code != exitOK || !strings.Contains(out, "Commands:") {
			t.Errorf("%v: exit %d, %.80q", args, code, out)
		}
	}
	if code, _, errs := runCLI(); code != exitUsage || !strings.Contains(errs, "Commands:") {
		t.Errorf("no arguments: exit %d, stderr %.80q", code, errs)
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		if code, out, _ := runCLI(args...); code != exitOK || out != "gnaudit "+version+"\n" {
			t.Errorf("%v: exit %d, %q", args, code, out)
		}
	}
}

// TestUnknownFlag: an unknown flag or command is one line and a hint, exit
// 2, on every command; the message names the (sub)command once.
func TestUnknownFlag(t *testing.T) {
	for _, c := range helpCommands {
		if c[0] == "models" && len(c) == 1 || c[0] == "plugins" && len(c) == 2 && c[1] == "serve" {
			continue // a subcommand is expected there
		}
		args := append(c[:len(c):len(c)], "--no-such-flag")
		code, out, errs := runCLI(args...)
		name := strings.Join(c, " ")
		if c[0] == "plugins" {
			name = "plugins list"
		}
		want := "gnaudit " + name + ": unknown flag --no-such-flag\nRun 'gnaudit " + name + " --help' for usage.\n"
		if code != exitUsage || errs != want || out != "" {
			t.Errorf("%v: exit %d, stderr %q, stdout %.40q; want 2 and %q", args, code, errs, out, want)
		}
	}
	code, _, errs := runCLI("frobnicate")
	if code != exitUsage || strings.Count(errs, "\n") != 2 || !strings.Contains(errs, "gnaudit --help") {
		t.Errorf("unknown command: exit %d, %q", code, errs)
	}
	code, _, errs = runCLI("models", "frobnicate")
	if code != exitUsage || errs != "gnaudit models: unknown subcommand \"frobnicate\" (list, export, inspect)\nRun 'gnaudit models --help' for usage.\n" {
		t.Errorf("unknown subcommand: exit %d, %q", code, errs)
	}
}

// TestMissingFiles: a missing input file is exit status 2 on every command,
// with a message that names the file once and no stutter.
func TestMissingFiles(t *testing.T) {
	dir := t.TempDir()
	none := filepath.Join(dir, "none")
	const policy = "../../docs/examples/gates.yaml"
	x, y := "../../testdata/torch/alexnet/x.npy", "../../testdata/torch/alexnet/labels.npy"
	for _, args := range [][]string{
		{"models", "inspect", none + ".onnx"},
		{"grads", "--model", none + ".onnx", "--input", x, "--labels", y, "--out", dir},
		{"grads", "--model", "../../testdata/torch/alexnet/opset13.onnx", "--input", none + ".npy", "--labels", y, "--out", dir},
		{"stats", none + ".npy"},
		{"gate", "--policy", none + ".yaml", none + ".json"},
		{"gate", "--policy", policy, none + ".json"},
		{"report", none + ".json"},
		{"audit", "--model", none + ".onnx", "--plan"},
		{"audit", "--config", none + ".yaml"},
		{"plugins", "list", "--plugin", none},
		{"plugins", "list", "--plugin-dir", none},
	} {
		code, _, errs := runCLI(args...)
		if code != exitUsage || !strings.Contains(errs, "none") {
			t.Errorf("%v: exit %d, stderr %q; want 2 and the file named", args, code, errs)
		}
		if stutter(errs) {
			t.Errorf("%v: stuttering message %q", args, errs)
		}
	}
}

// stutter reports whether a message repeats its command name or a word
// ("gnaudit models: models export:", "McCulloch: mcculloch:").
func stutter(msg string) bool {
	parts := strings.Split(strings.ToLower(strings.TrimPrefix(msg, "gnaudit ")), ": ")
	for i := 1; i < len(parts); i++ {
		prev := strings.Fields(parts[i-1])
		if len(prev) > 0 && strings.HasPrefix(parts[i], prev[len(prev)-1]) {
			return true
		}
	}
	return false
}

func TestStutter(t *testing.T) {
	for msg, want := range map[string]bool{
		"gnaudit models: models export: -o required": true,
		"McCulloch: mcculloch: too few values":       true,
		"gnaudit grads: open x.npy: no such file":    false,
	} {
		if stutter(msg) != want {
			t.Errorf("stutter(%q) = %v", msg, !want)
		}
	}
}

// TestStatsMarkdownNoStutter: a column too short for every estimator gives
// notes that name each estimator once, and no "(NaN %)".
func TestStatsMarkdownNoStutter(t *testing.T) {
	f := filepath.Join(t.TempDir(), "short.csv")
	if err := os.WriteFile(f, []byte("a,b\n1,2\n3,4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI("stats", "--format", "md", f)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, bad := range []string{"NaN %", "McCulloch: mcculloch", "Shapiro–Wilk: shapiro", "Mohammadi: tail index"} {
		if strings.Contains(out, bad) {
			t.Errorf("output has %q:\n%s", bad, out)
		}
	}
	if !strings.Contains(out, "McCulloch: 2 values, need at least 5") {
		t.Errorf("the McCulloch note is missing:\n%s", out)
	}
}

// TestPluginPreflight: a plugin that cannot start stops the audit before any
// work (exit 2, no output directory), and plugins list --plugin-dir lists it
// as FAILED without widening the table.
func TestPluginPreflight(t *testing.T) {
	if _, err := os.Stat("/bin/true"); err != nil {
		t.Skip("no /bin/true")
	}
	out := filepath.Join(t.TempDir(), "audit")
	code, _, errs := runCLI("audit", "--plugin", "/bin/true", "--out", out)
	if code != exitUsage || !strings.Contains(errs, "/bin/true") || !strings.Contains(errs, "failed to start") {
		t.Errorf("audit --plugin /bin/true: exit %d, stderr %.200q", code, errs)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("the refused audit created %s", out)
	}

	dir := t.TempDir()
	b, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "broken"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ := runCLI("plugins", "list", "--plugin-dir", dir)
	if code != exitFail || !strings.Contains(stdout, "broken") || !strings.Contains(stdout, "FAILED") {
		t.Fatalf("plugins list --plugin-dir: exit %d, %s", code, stdout)
	}
	table, _, _ := strings.Cut(stdout, "\n\n")
	for _, l := range strings.Split(table, "\n") {
		if len(l) > 160 {
			t.Errorf("table row of %d characters: %q", len(l), l)
		}
	}
}
