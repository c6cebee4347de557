package audit

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/atomicfile"
	"github.com/gnaudit/gnaudit/auditor/audit/audittest"
	"github.com/gnaudit/gnaudit/reports"
)

// TestFaultsOutputDirectory is the audit's part of the fault battery: a
// full disk while the report is written, and a rerun into a complete
// audit's --out.
func TestFaultsOutputDirectory(t *testing.T) {
	f := newTiny(t)
	out := filepath.Join(f.dir, "out")
	cfg := f.config(out)
	cfg.FineTune.Steps = 0
	cfg.AuditAt = nil
	if _, err := Run(context.Background(), cfg, nil); err != nil {
		t.Fatal(err)
	}
	metaBefore, err := os.ReadFile(filepath.Join(out, MetaName))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("full disk", func(t *testing.T) {
		// The disk fills while each file of the rendering is written in
		// turn: the error names the file, no file is truncated, no
		// temporary file is left, and report.json exists only when the
		// whole rendering succeeded.
		for _, victim := range []string{ReportJSON, ReportMD, ".svg"} {
			restore := atomicfile.SetTestHook(atomicfile.FullDisk(func(p string) bool { return strings.HasSuffix(p, victim) }, 64))
			_, err := Render(context.Background(), out, RenderOptions{}, nil)
			restore()
			if !errors.Is(err, atomicfile.ErrNoSpace) || !strings.Contains(err.Error(), out) {
				t.Fatalf("%s: error %v, want the simulated full disk naming the file", victim, err)
			}
			if _, err := os.Stat(filepath.Join(out, ReportJSON)); !os.IsNotExist(err) {
				t.Errorf("%s: report.json exists after a failed rendering (%v)", victim, err)
			}
			filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
				if err == nil && strings.Contains(d.Name(), ".tmp") {
					t.Errorf("%s: temporary file left: %s", victim, p)
				}
				return nil
			})
			if b, _ := os.ReadFile(filepath.Join(out, MetaName)); !bytes.Equal(b, metaBefore) {
				t.Errorf("%s: audit.json changed", victim)
			}
		}
		// Space again: gnaudit report DIR writes the report from the kept
		// noise sets.
		if _, err := Render(context.Background(), out, RenderOptions{}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := reports.ReadFile(filepath.Join(out, ReportJSON)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("rerun refused", func(t *testing.T) {
		_, err := Run(context.Background(), cfg, nil)
		var ie *InputError
		if !errors.As(err, &ie) || !errors.Is(err, ErrOutHoldsAudit) || !strings.Contains(err.Error(), "--force") {
			t.Fatalf("rerun: %v, want an input error naming --force", err)
		}
		if b, _ := os.ReadFile(filepath.Join(out, MetaName)); !bytes.Equal(b, metaBefore) {
			t.Errorf("the refused rerun changed audit.json")
		}
		if _, err := reports.ReadFile(filepath.Join(out, ReportJSON)); err != nil {
			t.Errorf("the refused rerun damaged report.json: %v", err)
		}
		// --plan touches no output directory: allowed.
		pc := cfg
		pc.PlanOnly = true
		if _, err := Run(context.Background(), pc, nil); err != nil {
			t.Errorf("--plan next to a complete audit: %v", err)
		}
	})

	t.Run("rerun forced", func(t *testing.T) {
		fc := cfg
		fc.Force = true
		fc.Seed++
		if _, err := Run(context.Background(), fc, nil); err != nil {
			t.Fatal(err)
		}
		m, err := ReadMeta(out)
		if err != nil || m.Status != StatusComplete || m.Config.Seed != fc.Seed {
			t.Fatalf("forced rerun: %v %+v", err, m)
		}
	})

	t.Run("partial audit replaced", func(t *testing.T) {
		m, _ := ReadMeta(out)
		m.Status, m.Reason = StatusPartial, "interrupted"
		if err := writeMeta(out, m); err != nil {
			t.Fatal(err)
		}
		if _, err := Run(context.Background(), cfg, nil); err != nil {
			t.Fatalf("rerun over a partial audit (resume): %v", err)
		}
	})
}

// TestFaultsBrokenTestSplit: broken t10k files (count mismatch, truncated,
// wrong magic, one of the pair missing) are errors naming the file; only a
// missing test split falls back to held-out training samples, with a note.
func TestFaultsBrokenTestSplit(t *testing.T) {
	raw := func(t *testing.T, dir string, eval int) (*rawData, error) {
		return loadData(DataConfig{Dir: dir, EvalSamples: eval}, 1)
	}
	gz := func(b []byte) []byte {
		var w bytes.Buffer
		zw := gzip.NewWriter(&w)
		zw.Write(b)
		zw.Close()
		return w.Bytes()
	}
	idx := func(dims []int, payload int) []byte {
		h := []byte{0, 0, 8, byte(len(dims))}
		for _, d := range dims {
			h = binary.BigEndian.AppendUint32(h, uint32(d))
		}
		return append(h, make([]byte, payload)...)
	}
	const img, lab = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"
	cases := []struct {
		name  string
		file  string
		bytes []byte // nil removes the file
		want  string
	}{
		{"count mismatch", lab, gz(idx([]int{7}, 7)), "has 20 images but"},
		{"truncated images", img, gz(idx([]int{20, 8, 8}, 500)), "truncated"},
		{"truncated gzip", img, gz(idx([]int{20, 8, 8}, 20*64))[:30], "truncated gzip stream"},
		{"wrong magic", lab, gz(append([]byte{0, 0, 0x42, 1}, make([]byte, 24)...)), "bad magic number"},
		{"labels missing", lab, nil, "test split incomplete"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := audittest.WriteMNIST(dir, 60, 20, 1); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, c.file)
			if c.bytes == nil {
				os.Remove(p)
			} else if err := os.WriteFile(p, c.bytes, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := raw(t, dir, 10)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "t10k-") {
				t.Fatalf("error %v, want one naming the t10k file and %q", err, c.want)
			}
			// Without evaluation the test split is not read.
			if _, err := raw(t, dir, 0); err != nil {
				t.Errorf("--eval-samples 0: %v", err)
			}
		})
	}
	t.Run("no test split", func(t *testing.T) {
		dir := t.TempDir()
		if err := audittest.WriteMNIST(dir, 60, 20, 1); err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(dir, img))
		os.Remove(filepath.Join(dir, lab))
		r, err := raw(t, dir, 10)
		if err != nil {
			t.Fatal(err)
		}
		if r.eval.Len() != 10 || r.train.Len() != 50 || len(r.notes) == 0 || !strings.Contains(r.notes[0], "held out") {
			t.Errorf("eval %d train %d notes %q", r.eval.Len(), r.train.Len(), r.notes)
		}
	})
}

// TestFaultsHugeEstimate: 1e15 fine-tuning steps used to print a negative
// (or zero) time estimate (time.Duration overflow); the estimate saturates
// and the plan is refused.
func TestFaultsHugeEstimate(t *testing.T) {
	for _, c := range []struct {
		s    float64
		want string
	}{{1e15 * 0.01, "more than 10 years (3.17e+05 years)"}, {math.Inf(1), "more than 10 years"}, {math.NaN(), "?"}, {-1, "?"}, {90, "1m30s"}} {
		if got := secs(c.s); got != c.want {
			t.Errorf("secs(%v) = %q, want %q", c.s, got, c.want)
		}
	}
	f := newTiny(t)
	cfg := f.config(filepath.Join(f.dir, "out"))
	cfg.FineTune.Steps = 1e15
	cfg.AuditAt = nil
	var stdout bytes.Buffer
	_, err := Run(context.Background(), cfg, &Env{Stdout: &stdout})
	var ie *InputError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "more than 10 years") || !strings.Contains(err.Error(), "--finetune-steps") {
		t.Fatalf("error %v\n%s", err, stdout.String())
	}
	if strings.Contains(stdout.String(), "total about -") || strings.Contains(stdout.String(), "= 0s;") {
		t.Errorf("plan prints a wrong estimate:\n%s", stdout.String())
	}
	if _, err := os.Stat(filepath.Join(cfg.Out, MetaName)); !os.IsNotExist(err) {
		t.Errorf("a refused plan started the audit")
	}
}

// TestFaultsConfigYAMLWords: YAML errors in a config name the keys, never
// Go types (they used to read "cannot unmarshal !!str into int").
func TestFaultsConfigYAMLWords(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ yaml, want string }{
		{"collect:\n  batches: many\n", "line 2: collect.batches: want an integer, got the string `many`"},
		{"collect: {poool: 3}\n", `line 1: collect: unknown key "poool" (known keys: pool, batch_sizes,`},
		{"finetune: [1]\n", "line 1: finetune: want a mapping (key: value), got a list"},
		{"collect: {batch_sizes: {a: 1}}\n", "line 1: collect.batch_sizes: want a list, got a mapping"},
	} {
		p := writeFile(t, dir, "c.yaml", c.yaml)
		_, err := LoadConfig(p, Defaults())
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%q: %v\nwant %q", c.yaml, err, c.want)
		} else if strings.Contains(err.Error(), "audit.") || strings.Contains(err.Error(), "!!") {
			t.Errorf("%q: Go type names in %v", c.yaml, err)
		}
	}
}
