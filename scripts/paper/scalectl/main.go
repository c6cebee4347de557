// Command scalectl is the bookkeeping of scripts/paper/scale.sh (the paper
// at its own scale, docs/paper.md):
//
//	scalectl next -config CFG -run DIR -seed S        # shell lines: the next epoch, or DONE=status
//	scalectl final -config CFG -run DIR -seed S [-unfinished]  # shell lines: the trained model
//	scalectl keep -work out/paper-scale -configs experiments/paper/scale -out experiments/paper/scale/results
//	scalectl aggregate -results experiments/paper/scale/results -configs experiments/paper/scale -out docs/paper/scale -doc docs/paper.md
//
// next and final also write DIR/training.json (the epochs, the rule, the
// status). final refuses a run that has not plateaued (or hit max_epochs)
// unless -unfinished; keep copies only small files (reports, audit.json,
// training.json, source.json, the plan, and each training run's last model
// when it has at most 5 MB) and refuses a report over 5 MB;
// aggregate refuses, before writing anything, when there are no results or
// when docs/paper.md holds a table whose results are now missing.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gnaudit/gnaudit/auditor/atomicfile"
	"github.com/gnaudit/gnaudit/scripts/paper"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: scalectl next|final|keep|aggregate [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "next", "final":
		err = cmdRun(os.Args[1], os.Args[2:], os.Stdout)
	case "keep":
		err = cmdKeep(os.Args[2:])
	case "aggregate":
		err = cmdAggregate(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (next, final, keep, aggregate)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scalectl:", err)
		os.Exit(1)
	}
}

// loadRun reads a training run and writes its training.json.
func loadRun(cfg, run string, seed int, needModels bool) (*paper.TrainingRun, error) {
	h, err := paper.Header(cfg)
	if err != nil {
		return nil, err
	}
	rule, err := paper.ParsePlateauRule(h)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg, err)
	}
	tr, err := paper.ReadTrainingRun(run, filepath.Base(cfg), seed, rule, needModels)
	if err != nil {
		return nil, err
	}
	if len(tr.Epochs) == 0 {
		if _, err := os.Stat(run); err != nil {
			return tr, nil // nothing to record, and nothing is created for a run that never started
		}
	}
	if err := os.MkdirAll(run, 0o755); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(tr, "", " ")
	if err != nil {
		return nil, err
	}
	return tr, atomicfile.WriteFile(filepath.Join(run, "training.json"), append(b, '\n'))
}

func cmdRun(cmd string, args []string, w io.Writer) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	cfg := fs.String("config", "", "training config (experiments/paper/scale/train-*.yaml)")
	run := fs.String("run", "", "training run directory (WORK/train-NAME/seed-S)")
	seed := fs.Int("seed", 1, "seed")
	unfinished := fs.Bool("unfinished", false, "final: accept a run that has not plateaued (its last epoch)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cfg == "" || *run == "" {
		return errors.New("-config and -run are required")
	}
	tr, err := loadRun(*cfg, *run, *seed, true)
	if err != nil {
		return err
	}
	if cmd == "next" {
		e, lr, done := tr.Next()
		if done != "" {
			fmt.Fprintf(w, "DONE=%s EPOCH=%d\n", done, len(tr.Epochs))
			return nil
		}
		model := ""
		if e > 1 {
			model = paper.EpochModel(*run, e-1)
		}
		fmt.Fprintf(w, "EPOCH=%d LR=%g MODEL=%q RUNSEED=%d\n", e, lr, model, paper.EpochSeed(*seed, e))
		return nil
	}
	n := len(tr.Epochs)
	if n == 0 {
		return fmt.Errorf("%s: no finished epoch: run scripts/paper/scale.sh train %s first", *run, strings.TrimSuffix(filepath.Base(*cfg), ".yaml"))
	}
	plateau := tr.Status == "plateau"
	if tr.Status == "running" && !*unfinished {
		return fmt.Errorf("%s: training has not plateaued after %d epochs (status %s): finish it with scale.sh train, or pass -u to audit epoch %d as it is", *run, n, tr.Status, n)
	}
	fmt.Fprintf(w, "MODEL=%q EPOCH=%d PLATEAU=%t\n", paper.EpochModel(*run, n), n, plateau)
	return nil
}

// small lists the files keep copies.
var small = map[string]bool{"report.json": true, "audit.json": true, "training.json": true, "source.json": true, "dynamics.json": true, "dynamics.md": true}

const keepLimit = 5 << 20

func cmdKeep(args []string) error {
	fs := flag.NewFlagSet("keep", flag.ContinueOnError)
	work := fs.String("work", "out/paper-scale", "work directory of scale.sh")
	out := fs.String("out", "experiments/paper/scale/results", "committed results directory")
	_ = fs.String("configs", "experiments/paper/scale", "config directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	n := 0
	err := filepath.WalkDir(*work, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "checkpoints" || d.Name() == "plots" {
				return filepath.SkipDir // per-checkpoint noise sets and plots stay in the work directory
			}
			return nil
		}
		rel, _ := filepath.Rel(*work, p)
		if e, ok := epochModel(d.Name()); ok {
			k, err := keepModel(p, filepath.Join(*out, rel), e)
			if k {
				n++
			}
			return err
		}
		keep := small[d.Name()] || strings.HasSuffix(d.Name(), ".seconds") || rel == "plan.txt"
		if !keep {
			return nil
		}
		// An epoch or audit directory (one with an audit.json) is kept only
		// when it finished.
		if _, err := os.Stat(filepath.Join(filepath.Dir(p), "audit.json")); err == nil && !completeAudit(filepath.Dir(p)) {
			return nil
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		b, err := paper.KeepBytes(p, raw, keepLimit)
		if err != nil {
			return err
		}
		dst := filepath.Join(*out, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		n++
		return atomicfile.WriteFile(dst, b)
	})
	if err != nil {
		return err
	}
	fmt.Printf("kept %d files in %s\n", n, *out)
	return nil
}

// epochModel reports whether name is a training run's saved model,
// epoch-NNN.onnx, and its epoch.
func epochModel(name string) (int, bool) {
	var e int
	if n, err := fmt.Sscanf(name, "epoch-%03d.onnx", &e); err != nil || n != 1 || name != filepath.Base(paper.EpochModel("", e)) {
		return 0, false
	}
	return e, true
}

// keepModel commits src, the model of epoch e of a training run, as dst
// when it is the run's last finished epoch (paper.LastEpoch) and at most
// keepLimit bytes, and removes the run's older models from dst's
// directory: one model per run is committed, the one a fresh machine
// resumes training from (scale.sh restores it) and audits. A larger model
// (alexnet-cifar's 10 MB) stays in the work directory, said once.
func keepModel(src, dst string, e int) (bool, error) {
	run := filepath.Dir(src)
	if paper.LastEpoch(run, true) != e {
		return false, nil
	}
	st, err := os.Stat(src)
	if err != nil {
		return false, err
	}
	if st.Size() > keepLimit {
		fmt.Printf("not kept: %s (%d bytes, over the %d-byte limit of committed results): its run resumes only from the work directory\n", src, st.Size(), keepLimit)
		return false, nil
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return false, err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return false, err
	}
	if err := atomicfile.WriteFile(dst, b); err != nil {
		return false, err
	}
	old, err := filepath.Glob(filepath.Join(filepath.Dir(dst), "epoch-*.onnx"))
	if err != nil {
		return false, err
	}
	for _, o := range old {
		if o != dst {
			if err := os.Remove(o); err != nil {
				return false, fmt.Errorf("removing the older model %s: %w", o, err)
			}
		}
	}
	return true, nil
}

// completeAudit reports whether dir/audit.json says "complete".
func completeAudit(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "audit.json"))
	if err != nil {
		return false
	}
	var a struct {
		Status string `json:"status"`
	}
	return json.Unmarshal(b, &a) == nil && a.Status == "complete"
}

func cmdAggregate(args []string) error {
	fs := flag.NewFlagSet("aggregate", flag.ContinueOnError)
	results := fs.String("results", "experiments/paper/scale/results", "committed results directory")
	configs := fs.String("configs", "experiments/paper/scale", "config directory")
	out := fs.String("out", "docs/paper/scale", "output directory (tables, summary.json, figures)")
	doc := fs.String("doc", "", "Markdown file whose <!-- BEGIN scale-... --> blocks are refreshed (docs/paper.md)")
	allowMissing := fs.Bool("allow-missing", false, "replace a table of -doc by 'not run' when its results are missing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return paper.AggregateScale(paper.ScaleOptions{Results: *results, Configs: *configs, Out: *out, Doc: *doc, AllowMissing: *allowMissing})
}
