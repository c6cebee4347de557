package main

// The docs-commands test: every shell command of README.md and docs/*.md
// runs as written after the README's two set-up commands (make demo, make
// test). Run it with
//
//	make test-docs        # GNAUDIT_DOCS_TEST=1 go test -run TestDocsCommands ./cmd/gnaudit
//
// (.ci/run does; it takes a few minutes, so plain go test skips it). It
// copies the repository's files (git ls-files) into a scratch directory,
// builds bin/gnaudit there as a wrapper around a fresh build that appends
// docsAuditFlags to every `gnaudit audit` (a tiny audit: the commands are
// checked, not the numbers), runs the demo's audit into out/audit as make
// demo does, then runs each shell block of each file in order (README.md
// first, then docs/*.md by name) as one bash script (set -e: as pasted
// into a terminal at the repository root, a cd inside a block holds for
// the rest of it), each block seeing what the earlier ones wrote. `make
// build`, `make build-openblas`, `make build-purego` and `make demo` are
// no-ops there (already built). A block fails the test when one of its
// commands exits with a status not allowed below.
//
// A shell block is a fenced block labelled sh, bash, shell or console, or an
// unlabelled one whose first line looks like a command (bin/, ./, scripts/,
// /usr/bin/, gnaudit, go, make, VAR=...). A synopsis that is not meant to be
// pasted belongs in a ```text block. Commands that cannot run here (GPU,
// other data, minutes-long benchmarks, fixture generators that rewrite
// committed files) are in docsSkip, each with its reason: add yours there.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// docsAuditFlags make every audit of the docs tiny; appended last, they
// override the command's own flags and config file.
const docsAuditFlags = "--finetune-steps 2 --finetune-batch 16 --audit-at 0,last --data-limit 512 --eval-samples 32 " +
	"--pool 64 --batch-sizes 8,16 --batches 4 --coords-per-layer 2"

// docsRule matches the commands of a file that start with prefix.
type docsRule struct {
	file, prefix string
	reason       string
	codes        []int // docsAllow: the exit statuses allowed besides 0
}

// docsSkip lists the commands that are not run, and why.
var docsSkip = []docsRule{
	{file: "README.md", prefix: "make demo", reason: "the set-up command itself (simulated: bin/gnaudit and out/audit exist)"},
	{file: "README.md", prefix: "make test", reason: "the set-up command itself (the docs test runs under it)"},
	{file: "docs/gpu.md", prefix: "scripts/gpu-check.sh", reason: "needs nvidia-cuda-toolkit and an NVIDIA GPU"},
	{file: "docs/paper.md", prefix: "scripts/paper/run.sh", reason: "needs CIFAR-10 in /data and hours of audits"},
	{file: "docs/paper.md", prefix: "bin/gnaudit audit --config experiments/paper/", reason: "needs CIFAR-10 in /data"},
	{file: "docs/performance.md", prefix: "go test -run", reason: "a benchmark (minutes); figures are recorded in the doc"},
	{file: "docs/performance.md", prefix: "go test -run '^$' -bench", reason: "a benchmark (minutes)"},
	{file: "docs/performance.md", prefix: "./scripts/bench", reason: "a benchmark script (minutes, needs torch/scipy)"},
	{file: "docs/performance.md", prefix: "scripts/bench", reason: "a benchmark script (minutes, needs torch/scipy)"},
	{file: "docs/scale.md", prefix: "PREP=/shared/gnaudit/prep", reason: "needs a Slurm cluster (sbatch); the recipe is run with a stand-in sbatch by TestShardedAuditEqualsSingle"},
	{file: "docs/statistics.md", prefix: "GNAUDIT_TAIL_BIAS=1 go test", reason: "the bias-table simulation (minutes)"},
	{file: "docs/statistics.md", prefix: "/usr/bin/Rscript scripts/fixtures/", reason: "a fixture generator: rewrites committed fixtures (needs R)"},
	{file: "docs/statistics.md", prefix: "/usr/bin/python3 scripts/fixtures/", reason: "a fixture generator: rewrites committed fixtures (needs scipy, R)"},
}

// docsAllow lists commands documented to exit non-zero on the tiny audit.
var docsAllow = []docsRule{
	{file: "README.md", prefix: "bin/gnaudit gate ", codes: []int{1}, reason: "a gate may fail on the tiny audit (exit 1 is documented)"},
	{file: "README.md", prefix: "bin/gnaudit audit --gate ", codes: []int{1}, reason: "a gate may fail on the tiny audit"},
	{file: "docs/ci.md", prefix: "bin/gnaudit gate ", codes: []int{1}, reason: "a gate may fail on the tiny audit"},
	{file: "docs/dynamics.md", prefix: "bin/gnaudit gate ", codes: []int{1}, reason: "the example dynamics.json fails its fdr_ratio gate (documented)"},
}

func matchRule(rules []docsRule, file, cmd string) *docsRule {
	for i := range rules {
		if rules[i].file == file && strings.HasPrefix(cmd, rules[i].prefix) {
			return &rules[i]
		}
	}
	return nil
}

// docCommand is one command of a shell block.
type docCommand struct {
	file string
	line int
	cmd  string
}

// docBlock is one shell block: its commands in order.
type docBlock struct {
	file string
	line int
	cmds []docCommand
}

var (
	fenceRe   = regexp.MustCompile("(?ms)^```([A-Za-z]*)[^\n]*\n(.*?)^```")
	commandRe = regexp.MustCompile(`^(\./|bin/|scripts/|/usr/bin/|gnaudit |go |make |[A-Z_]+=)`)
)

// docBlocks extracts the shell blocks of a Markdown file and their
// commands: one per line, lines ending in a backslash joined, comment lines
// dropped.
func docBlocks(file, text string) []docBlock {
	var out []docBlock
	for _, m := range fenceRe.FindAllStringSubmatchIndex(text, -1) {
		lang, body := text[m[2]:m[3]], text[m[4]:m[5]]
		first := strings.TrimSpace(strings.SplitN(body, "\n", 2)[0])
		switch lang {
		case "sh", "bash", "shell", "console":
		case "":
			if !commandRe.MatchString(first) {
				continue
			}
		default:
			continue
		}
		line := strings.Count(text[:m[4]], "\n") + 1
		b := docBlock{file: file, line: line}
		var cur strings.Builder
		start := 0
		for i, l := range strings.Split(strings.TrimRight(body, "\n"), "\n") {
			if lang == "console" {
				l = strings.TrimPrefix(l, "$ ")
			}
			t := strings.TrimSpace(l)
			if cur.Len() == 0 && (t == "" || strings.HasPrefix(t, "#")) {
				continue
			}
			if cur.Len() == 0 {
				start = line + i
			}
			if s, ok := strings.CutSuffix(t, `\`); ok {
				cur.WriteString(strings.TrimSpace(s) + " ")
				continue
			}
			cur.WriteString(t)
			b.cmds = append(b.cmds, docCommand{file: file, line: start, cmd: cur.String()})
			cur.Reset()
		}
		if len(b.cmds) > 0 {
			out = append(out, b)
		}
	}
	return out
}

// script is the bash script of a block: skipped commands left out (and
// logged), allowed exit statuses accepted, the first failing command named.
func (b docBlock) script(logf func(string, ...any)) (string, int) {
	var s strings.Builder
	s.WriteString("set -eo pipefail\ntrap 'echo \"docs test: this command failed: $BASH_COMMAND\" >&2' ERR\n")
	n := 0
	for _, c := range b.cmds {
		if r := matchRule(docsSkip, c.file, c.cmd); r != nil {
			logf("%s:%d: skipped (%s): %s", c.file, c.line, r.reason, c.cmd)
			continue
		}
		n++
		if r := matchRule(docsAllow, c.file, c.cmd); r != nil {
			conds := make([]string, len(r.codes))
			for i, k := range r.codes {
				conds[i] = fmt.Sprintf("$? -eq %d", k)
			}
			fmt.Fprintf(&s, "{\n%s\n} || [ %s ]\n", c.cmd, strings.Join(conds, " -o "))
			continue
		}
		s.WriteString(c.cmd + "\n")
	}
	return s.String(), n
}

func TestDocBlocksParse(t *testing.T) {
	text := "x\n```sh\n# comment\nbin/gnaudit a \\\n  --b c   # note\n\nmake build\n```\n" +
		"```\nplain text\n```\n```\ngo test ./x\n```\n```text\nbin/gnaudit synopsis\n```\n"
	got := docBlocks("f.md", text)
	want := []docBlock{
		{"f.md", 3, []docCommand{{"f.md", 4, "bin/gnaudit a --b c   # note"}, {"f.md", 7, "make build"}}},
		{"f.md", 13, []docCommand{{"f.md", 13, "go test ./x"}}},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	script, n := docBlock{"README.md", 1, []docCommand{{"README.md", 1, "make demo"}, {"README.md", 2, "bin/gnaudit gate x # c"}, {"README.md", 3, "ls"}}}.script(t.Logf)
	if n != 2 || !strings.Contains(script, "{\nbin/gnaudit gate x # c\n} || [ $? -eq 1 ]\nls\n") || strings.Contains(script, "make demo") {
		t.Errorf("script (%d commands):\n%s", n, script)
	}
}

func TestDocsCommands(t *testing.T) {
	if os.Getenv("GNAUDIT_DOCS_TEST") == "" {
		t.Skip("set GNAUDIT_DOCS_TEST=1 (make test-docs) to run every command of README.md and docs/*.md")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	ws := t.TempDir()
	copyRepo(t, root, ws)
	tools := t.TempDir()
	real := filepath.Join(tools, "gnaudit-real")
	build := exec.Command("go", "build", "-o", real, "./cmd/gnaudit")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	wrapper := fmt.Sprintf("#!/bin/sh\n# docs test: tiny audits\nif [ \"$1\" = audit ]; then shift; exec %q audit \"$@\" %s; fi\nexec %q \"$@\"\n", real, docsAuditFlags, real)
	for _, name := range []string{"gnaudit", "gnaudit-openblas", "gnaudit-purego"} {
		writeExec(t, filepath.Join(ws, "bin", name), wrapper)
	}
	makePath, err := exec.LookPath("make")
	if err != nil {
		t.Fatal(err)
	}
	writeExec(t, filepath.Join(tools, "shim", "make"), fmt.Sprintf(`#!/bin/sh
case "$*" in
  build|build-openblas|build-purego|demo) echo "docs test: make $* already done"; exit 0;;
esac
exec %q "$@"
`, makePath))
	env := []string{"PATH=" + filepath.Join(tools, "shim") + string(os.PathListSeparator) + os.Getenv("PATH")}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "PATH", "GITHUB_STEP_SUMMARY", "GNAUDIT_PLUGIN_DIR", "GNAUDIT_DOCS_TEST":
			continue
		}
		env = append(env, kv)
	}
	runIn := func(cmd string) (int, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		c := exec.CommandContext(ctx, "bash", "-o", "pipefail", "-c", cmd)
		c.Dir, c.Env = ws, env
		var out bytes.Buffer
		c.Stdout, c.Stderr = &out, &out
		err := c.Run()
		code := 0
		if err != nil {
			code = -1
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
		}
		return code, out.String()
	}
	// make demo's result: bin/gnaudit and the default audit in out/audit.
	if code, out := runIn("bin/gnaudit audit --out out/audit"); code != 0 {
		t.Fatalf("set-up audit: exit %d\n%s", code, out)
	}

	files := []string{"README.md"}
	docs, _ := filepath.Glob(filepath.Join(ws, "docs", "*.md"))
	sort.Strings(docs)
	for _, d := range docs {
		files = append(files, "docs/"+filepath.Base(d))
	}
	ran := 0
	for _, f := range files {
		text, err := os.ReadFile(filepath.Join(ws, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range docBlocks(f, string(text)) {
			script, n := b.script(t.Logf)
			if n == 0 {
				continue
			}
			t0 := time.Now()
			code, out := runIn(script)
			ran += n
			if code != 0 {
				t.Errorf("%s:%d: the block fails (exit %d):\n%s", b.file, b.line, code, lastLines(out, 20))
			} else {
				t.Logf("%s:%d: ok (%d commands, %.1fs)", b.file, b.line, n, time.Since(t0).Seconds())
			}
		}
	}
	t.Logf("%d commands run", ran)
}

// copyRepo copies the files git knows (tracked, and untracked ones not
// ignored) from root to dst.
func copyRepo(t *testing.T, root, dst string) {
	t.Helper()
	c := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	c.Dir = root
	out, err := c.Output()
	var files []string
	if err == nil {
		files = strings.Split(strings.TrimRight(string(out), "\x00"), "\x00")
	} else {
		// Not a git checkout (e.g. a source archive): every file but the
		// build outputs.
		t.Logf("git ls-files: %v; copying the tree without bin/, out/, .git/", err)
		err = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if d.IsDir() && (rel == "bin" || rel == "out" || rel == ".git" || rel == ".devdata") {
				return filepath.SkipDir
			}
			if !d.IsDir() {
				files = append(files, rel)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		src := filepath.Join(root, f)
		st, err := os.Lstat(src)
		if err != nil || !st.Mode().IsRegular() {
			continue // deleted in the worktree, or a link
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dst, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, st.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
}

func writeExec(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// yamlBlocks returns the ```yaml blocks of text whose first line starts with
// the comment first ("# .github/workflows/", "# gates.yaml").
func yamlBlocks(text, first string) []string {
	var out []string
	for _, m := range fenceRe.FindAllStringSubmatch(text, -1) {
		if m[1] == "yaml" && strings.HasPrefix(m[2], first) {
			out = append(out, m[2])
		}
	}
	return out
}

// TestCIWorkflow: the GitHub Actions workflows of the docs pass actionlint
// (bin/actionlint from make actionlint, or on the PATH; required by make
// test-docs, skipped otherwise), and their gate policies parse.
func TestCIWorkflow(t *testing.T) {
	docs, _ := filepath.Glob("../../docs/*.md")
	docs = append(docs, "../../README.md")
	var workflows, policies []string
	for _, d := range docs {
		b, err := os.ReadFile(d)
		if err != nil {
			t.Fatal(err)
		}
		workflows = append(workflows, yamlBlocks(string(b), "# .github/workflows/")...)
		policies = append(policies, yamlBlocks(string(b), "# gates.yaml")...)
	}
	if len(workflows) == 0 || len(policies) == 0 {
		t.Fatalf("docs/ci.md should show a workflow and a policy: %d, %d found", len(workflows), len(policies))
	}
	dir := t.TempDir()
	for i, p := range policies {
		f := filepath.Join(dir, fmt.Sprintf("gates%d.yaml", i))
		if err := os.WriteFile(f, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
		if code, _, errs := runCLI("gate", "--policy", f, "no-such-report.json"); code != exitUsage || strings.Contains(errs, "policy") {
			t.Errorf("policy %d of the docs: %s\n%s", i, errs, p)
		}
	}
	lint, err := filepath.Abs("../../bin/actionlint")
	if err == nil {
		_, err = os.Stat(lint)
	}
	if err != nil {
		if lint, err = exec.LookPath("actionlint"); err != nil {
			if os.Getenv("GNAUDIT_DOCS_TEST") != "" {
				t.Fatal("actionlint not found (make actionlint installs it into bin/)")
			}
			t.Skip("actionlint not installed (make actionlint; make test-docs runs this)")
		}
	}
	for i, w := range workflows {
		f := filepath.Join(dir, fmt.Sprintf("workflow%d.yml", i))
		if err := os.WriteFile(f, []byte(w), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(lint, "-no-color", f).CombinedOutput(); err != nil {
			t.Errorf("actionlint on the workflow of the docs: %v\n%s\n%s", err, out, w)
		}
	}
}

// TestArchitectureNamesEveryPackage: docs/ARCHITECTURE.md names every
// package of the module (as `path` in its table). Run by make test-docs, so
// that a new package is placed in a layer when it lands.
func TestArchitectureNamesEveryPackage(t *testing.T) {
	if os.Getenv("GNAUDIT_DOCS_TEST") == "" {
		t.Skip("set GNAUDIT_DOCS_TEST=1 (make test-docs)")
	}
	b, err := os.ReadFile("../../docs/ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	c := exec.Command("go", "list", "./...")
	c.Dir = "../.."
	out, err := c.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		rel := strings.TrimPrefix(strings.TrimPrefix(p, "github.com/gnaudit/gnaudit"), "/")
		if !strings.Contains(string(b), "`"+rel+"`") {
			t.Errorf("docs/ARCHITECTURE.md does not name package %s (add it to the layer table)", rel)
		}
	}
}
