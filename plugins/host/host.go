// Package host assembles the analyses of an audit: the built-ins (in-process,
// or isolated in plugin subprocesses with --isolate), the external plugins
// named with --plugin or found in $GNAUDIT_PLUGIN_DIR (pinned by SHA-256
// where a pin is given), and runs them over a noise set with the
// plugins.Runner. It also lists them (gnaudit plugins list) and serves a
// built-in as a plugin (gnaudit plugins serve NAME).
package host

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gnaudit/gnaudit/auditor/noise"
	"github.com/gnaudit/gnaudit/plugins"
	"github.com/gnaudit/gnaudit/plugins/builtin"
	"github.com/gnaudit/gnaudit/plugins/grpcplugin"
)

// EnvPluginDir names the directory whose executables are loaded as plugins.
const EnvPluginDir = "GNAUDIT_PLUGIN_DIR"

// PinFile is the optional file of SHA-256 pins in the plugin directory, in
// sha256sum's format ("HEX  NAME" per line). When it exists every plugin of
// the directory must be listed and match.
const PinFile = "SHA256SUMS"

// Options configure the analyses of a run.
type Options struct {
	// Plugins are external plugin executables, "PATH" or
	// "PATH@sha256:HEX" (pinned).
	Plugins []string
	// PluginDir holds plugin executables; empty means $GNAUDIT_PLUGIN_DIR.
	PluginDir string
	// Builtins selects the built-ins by name; nil means all, and the single
	// name "none" means none.
	Builtins []string
	// Isolate runs the built-ins as plugin subprocesses (SelfExe SelfArgs
	// NAME) through the same protocol as external plugins.
	Isolate bool
	// Timeout bounds each call into an analysis and the start of each
	// plugin process (0: no limit for calls, 1 minute for starts).
	Timeout time.Duration
	// Params are "analysis.param=value" settings.
	Params []string
	// ChunkBytes bounds one streamed message (0: 1 MiB).
	ChunkBytes int
	// SelfExe and SelfArgs start a built-in as a subprocess; the defaults
	// are this executable and "plugins serve".
	SelfExe  string
	SelfArgs []string
	// Stderr, when set, receives the plugins' standard error.
	Stderr io.Writer
	// Tester, when set, runs the in-process normality analysis's
	// Shapiro–Wilk tests (e.g. on the GPU); isolated built-ins ignore it.
	Tester builtin.ColumnTester
}

// AddFlags registers the analysis flags on fs, bound to the fields of o:
// --plugin (repeatable), --plugin-dir, --plugin-timeout, --isolate,
// --builtins, --param (repeatable). The current values of o are the
// defaults (gnaudit plugins list sets Timeout first).
func (o *Options) AddFlags(fs *flag.FlagSet) {
	AddFlags(fs, FlagTargets{Plugins: &o.Plugins, PluginDir: &o.PluginDir, Timeout: &o.Timeout,
		Isolate: &o.Isolate, Builtins: &o.Builtins, Params: &o.Params})
}

// FlagTargets are the variables the analysis flags set; gnaudit audit binds
// them to its configuration, gnaudit plugins list to an Options.
type FlagTargets struct {
	Plugins, Builtins, Params *[]string
	PluginDir                 *string
	Timeout                   *time.Duration
	Isolate                   *bool
}

// AddFlags defines the analysis flags, the one definition that gnaudit
// audit and gnaudit plugins list share. The current values of t are the
// defaults; the first --plugin (or --param) on the command line replaces a
// list set before (e.g. by a config file), the next ones append.
func AddFlags(fs *flag.FlagSet, t FlagTargets) {
	fs.Var(&replaceList{p: t.Plugins}, "plugin", "external analysis plugin `PATH[@sha256:HEX]` (repeatable; a pin refuses a file with another SHA-256)")
	fs.StringVar(t.PluginDir, "plugin-dir", *t.PluginDir, "`directory` of plugin executables (default $"+EnvPluginDir+")")
	fs.DurationVar(t.Timeout, "plugin-timeout", *t.Timeout, "limit for each call into an analysis (start, each layer, finish) and for a plugin's start; past it the analysis is reported as failed (0: none)")
	fs.BoolVar(t.Isolate, "isolate", *t.Isolate, "run the built-in analyses as plugin subprocesses (same protocol as external plugins)")
	fs.Var(commaList{t.Builtins}, "builtins", "built-in analyses to run, comma-separated `names` (default all; \"none\" for none): "+strings.Join(builtin.Names(), ", "))
	AddParamFlag(fs, t.Params, "analysis parameter `analysis.name=value` (repeatable), e.g. normality.alpha=0.01")
}

// AddParamFlag defines --param alone (gnaudit report --reanalyze takes it
// without the other analysis flags), with the given usage.
func AddParamFlag(fs *flag.FlagSet, params *[]string, usage string) {
	fs.Var(&replaceList{p: params}, "param", usage)
}

// replaceList is a repeatable flag: its first use replaces the list, the
// next ones append.
type replaceList struct {
	p    *[]string
	seen bool
}

func (f *replaceList) String() string {
	if f == nil || f.p == nil {
		return ""
	}
	return strings.Join(*f.p, " ")
}

func (f *replaceList) Set(s string) error {
	if !f.seen {
		f.seen = true
		*f.p = nil
	}
	*f.p = append(*f.p, s)
	return nil
}

// commaList is a comma-separated list of names.
type commaList struct{ p *[]string }

func (f commaList) String() string {
	if f.p == nil {
		return ""
	}
	return strings.Join(*f.p, ",")
}

func (f commaList) Set(s string) error {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	*f.p = out
	return nil
}

// Spec is one analysis to load.
type Spec struct {
	// Builtin is the name of a built-in; empty for an external plugin.
	Builtin string
	// Path is the executable of an external plugin.
	Path string
	// Pin is the required SHA-256 (nil: unpinned).
	Pin []byte
	// Err is set when the plugin must not be loaded (e.g. not pinned in
	// a directory with a SHA256SUMS file); it is reported as failed.
	Err error
}

func (s Spec) name() string {
	if s.Builtin != "" {
		return s.Builtin
	}
	return filepath.Base(s.Path)
}

// ParsePluginArg splits "PATH@sha256:HEX" into the path and the pin.
func ParsePluginArg(arg string) (string, []byte, error) {
	path, pin := arg, []byte(nil)
	if i := strings.LastIndex(arg, "@sha256:"); i >= 0 {
		h := arg[i+len("@sha256:"):]
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != 32 {
			return "", nil, fmt.Errorf("plugin %q: pin %q is not 64 hex digits", arg, h)
		}
		path, pin = arg[:i], b
	}
	if path == "" {
		return "", nil, fmt.Errorf("plugin %q: empty path", arg)
	}
	return path, pin, nil
}

// Discover lists the analyses that o selects: built-ins first (in their
// running order), then the --plugin executables, then those of the plugin
// directory (sorted by name). Bad flags, missing files and an unreadable
// directory are errors; a plugin refused by the directory's pin file is a
// Spec with Err.
func Discover(o *Options) ([]Spec, error) {
	var specs []Spec
	names, err := selectBuiltins(o.Builtins)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		specs = append(specs, Spec{Builtin: n})
	}
	for _, arg := range o.Plugins {
		path, pin, err := ParsePluginArg(arg)
		if err != nil {
			return nil, err
		}
		if err := checkExecutable(path); err != nil {
			return nil, fmt.Errorf("--plugin %s: %w", path, err)
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("--plugin %s: %w", path, err)
		}
		specs = append(specs, Spec{Path: abs, Pin: pin})
	}
	dir := o.PluginDir
	if dir == "" {
		dir = os.Getenv(EnvPluginDir)
	}
	if dir != "" {
		ds, err := discoverDir(dir)
		if err != nil {
			return nil, err
		}
		specs = append(specs, ds...)
	}
	return specs, nil
}

func selectBuiltins(sel []string) ([]string, error) {
	var all []string
	for _, a := range builtin.All() {
		d, _ := a.Describe(context.Background())
		all = append(all, d.Name)
	}
	if sel == nil {
		return all, nil
	}
	if len(sel) == 1 && strings.TrimSpace(sel[0]) == "none" {
		return nil, nil
	}
	want := map[string]bool{}
	for _, s := range sel {
		s = strings.TrimSpace(s)
		if _, err := builtin.Lookup(s); err != nil {
			return nil, fmt.Errorf("--builtins: %w", err)
		}
		want[s] = true
	}
	var out []string
	for _, n := range all {
		if want[n] {
			out = append(out, n)
		}
	}
	return out, nil
}

func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return errors.New("not a regular file")
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return errors.New("not executable")
	}
	return nil
}

func discoverDir(dir string) ([]Spec, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("plugin directory (%s): %w", EnvPluginDir, err)
	}
	pins, hasPins, err := readPins(filepath.Join(dir, PinFile))
	if err != nil {
		return nil, err
	}
	var specs []Spec
	for _, e := range ents {
		name := e.Name()
		if name == PinFile || strings.HasPrefix(name, ".") {
			continue
		}
		path := filepath.Join(dir, name)
		if checkExecutable(path) != nil {
			continue // data files, directories, non-executables
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, err
		}
		s := Spec{Path: abs}
		if hasPins {
			if pin, ok := pins[name]; ok {
				s.Pin = pin
			} else {
				s.Err = fmt.Errorf("plugin %s is not listed in %s: refusing to run it", abs, filepath.Join(dir, PinFile))
			}
		}
		specs = append(specs, s)
	}
	sort.Slice(specs, func(i, j int) bool { return specs[i].Path < specs[j].Path })
	return specs, nil
}

// readPins reads a sha256sum-format file.
func readPins(path string) (map[string][]byte, bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	pins := map[string][]byte{}
	sc := bufio.NewScanner(f)
	for ln := 1; sc.Scan(); ln++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return nil, false, fmt.Errorf("%s:%d: want \"SHA256  NAME\"", path, ln)
		}
		b, err := hex.DecodeString(fields[0])
		if err != nil || len(b) != 32 {
			return nil, false, fmt.Errorf("%s:%d: %q is not a SHA-256", path, ln, fields[0])
		}
		pins[strings.TrimPrefix(fields[1], "*")] = b
	}
	return pins, true, sc.Err()
}

func (o *Options) self() (string, []string, error) {
	exe := o.SelfExe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return "", nil, fmt.Errorf("--isolate: cannot find this executable: %w", err)
		}
	}
	args := o.SelfArgs
	if args == nil {
		args = []string{"plugins", "serve"}
	}
	return exe, args, nil
}

// Loaded is what Load returns: the candidates and a function that stops
// every plugin process.
type Loaded struct {
	Candidates []plugins.Candidate
	closers    []io.Closer
}

// Close stops every plugin process.
func (l *Loaded) Close() {
	for _, c := range l.closers {
		_ = c.Close()
	}
	l.closers = nil
}

// Load starts the plugin processes of specs. A plugin that cannot start (a
// pin mismatch, a failed handshake, a start timeout) becomes a candidate
// with Err, so that the runner reports it as failed.
func Load(specs []Spec, o *Options) (*Loaded, error) {
	out := &Loaded{}
	sums := map[string]string{} // the isolated built-ins share one executable
	launch := func(s Spec, path string, args []string, origin string) {
		c := plugins.Candidate{Name: s.name(), Origin: origin, Path: path}
		if sum, ok := sums[path]; ok {
			c.SHA256 = sum
		} else if sum, err := grpcplugin.FileSHA256(path); err == nil {
			c.SHA256 = hex.EncodeToString(sum)
			sums[path] = c.SHA256
		}
		if s.Err != nil {
			c.Err = s.Err
			out.Candidates = append(out.Candidates, c)
			return
		}
		p, err := grpcplugin.Launch(grpcplugin.Config{Path: path, Args: args, SHA256: s.Pin,
			StartTimeout: o.Timeout, ChunkBytes: o.ChunkBytes, Stderr: o.Stderr})
		if err != nil {
			c.Err = err
		} else {
			c.Analysis = p
			out.closers = append(out.closers, p)
		}
		out.Candidates = append(out.Candidates, c)
	}
	for _, s := range specs {
		switch {
		case s.Builtin != "" && !o.Isolate:
			a, err := builtin.Lookup(s.Builtin)
			if err != nil {
				return nil, err
			}
			origin := "builtin"
			if nm, ok := a.(builtin.Normality); ok && o.Tester != nil {
				nm.Tester = o.Tester
				a, origin = nm, "builtin (accelerated)"
			}
			out.Candidates = append(out.Candidates, plugins.Candidate{Analysis: a, Name: s.Builtin, Origin: origin})
		case s.Builtin != "":
			exe, args, err := o.self()
			if err != nil {
				return nil, err
			}
			launch(s, exe, append(append([]string(nil), args...), s.Builtin), "builtin (isolated)")
		default:
			launch(s, s.Path, nil, "plugin")
		}
	}
	return out, nil
}

// ParseParams turns "analysis.param=value" strings into the Runner's map.
func ParseParams(ps []string) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	for _, s := range ps {
		a, k, v, err := plugins.ParseParamFlag(s)
		if err != nil {
			return nil, err
		}
		if out[a] == nil {
			out[a] = map[string]string{}
		}
		out[a][k] = v
	}
	return out, nil
}

// UsageError marks an error in the options (flags, paths, parameters),
// as opposed to a failure of the work.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Analyze runs the analyses that o selects over set. Failing analyses are
// reported in their Result; the error is a UsageError for bad options, or
// the context's error.
func Analyze(ctx context.Context, set *noise.Set, o *Options) ([]*plugins.Result, error) {
	params, err := ParseParams(o.Params)
	if err != nil {
		return nil, UsageError{err}
	}
	specs, err := Discover(o)
	if err != nil {
		return nil, UsageError{err}
	}
	ld, err := Load(specs, o)
	if err != nil {
		return nil, UsageError{err}
	}
	defer ld.Close()
	r := &plugins.Runner{Timeout: o.Timeout, Params: params}
	res, err := r.Run(ctx, set, ld.Candidates)
	if err != nil && ctx.Err() == nil {
		return nil, UsageError{err}
	}
	return res, err
}

// Entry describes one available analysis (gnaudit plugins list).
type Entry struct {
	Description plugins.Description `json:"description"`
	Origin      string              `json:"origin"`
	Path        string              `json:"path,omitempty"`
	SHA256      string              `json:"sha256,omitempty"`
	Pinned      bool                `json:"pinned"`
	Error       string              `json:"error,omitempty"`
}

// List describes every analysis that o selects, starting each plugin to ask
// for its Description. A plugin that fails is listed with its error.
func List(ctx context.Context, o *Options) ([]Entry, error) {
	specs, err := Discover(o)
	if err != nil {
		return nil, UsageError{err}
	}
	ld, err := Load(specs, o)
	if err != nil {
		return nil, UsageError{err}
	}
	defer ld.Close()
	var out []Entry
	for i, c := range ld.Candidates {
		e := Entry{Origin: c.Origin, Path: c.Path, SHA256: c.SHA256, Pinned: specs[i].Pin != nil}
		e.Description.Name = c.Name
		if c.Err != nil {
			e.Error = c.Err.Error()
		} else {
			cctx, cancel := ctx, context.CancelFunc(func() {})
			if o.Timeout > 0 {
				cctx, cancel = context.WithTimeout(ctx, o.Timeout)
			}
			d, err := c.Analysis.Describe(cctx)
			cancel()
			if err == nil {
				err = d.Validate()
			}
			if err != nil {
				e.Error = err.Error()
			} else {
				e.Description = d
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// Preflight starts and handshakes every analysis that o selects (each is
// asked for its Description and stopped again), so that an audit refuses a
// plugin that cannot start before it spends minutes fine-tuning and
// collecting. The error, a UsageError, names every analysis that failed.
func Preflight(ctx context.Context, o *Options) error {
	entries, err := List(ctx, o)
	if err != nil {
		return err
	}
	var bad []string
	for _, e := range entries {
		if e.Error == "" {
			continue
		}
		name := e.Description.Name
		if e.Path != "" {
			name = e.Path
		}
		bad = append(bad, fmt.Sprintf("%s: %s", name, strings.TrimSpace(e.Error)))
	}
	if len(bad) > 0 {
		return UsageError{fmt.Errorf("%d analysis plugin(s) failed to start (gnaudit plugins list shows them): %s", len(bad), strings.Join(bad, "; "))}
	}
	return nil
}

// ServeBuiltin serves the built-in analysis name as a plugin on this
// process's stdin/stdout handshake (gnaudit plugins serve NAME). It returns
// only on an unknown name: serving ends the process.
func ServeBuiltin(name string) error {
	a, err := builtin.Lookup(name)
	if err != nil {
		return err
	}
	grpcplugin.Serve(a)
	return nil
}
