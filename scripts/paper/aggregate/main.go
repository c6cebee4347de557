// Command aggregate reads the report.json files of the paper experiments
// (RESULTS/NAME/seed-S/report.json, written by scripts/paper/run.sh) and
// writes the tables (OUT/results.md), a summary (OUT/summary.json) and the
// figures (OUT/*.svg) of docs/paper.md.
//
//	go run ./scripts/paper/aggregate -results out/paper -out docs/paper -doc docs/paper.md
//
// Several -results directories may be given (comma-separated): runs of the
// same experiment and seed found in a later directory are ignored.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/gnaudit/gnaudit/scripts/paper"
)

// notRun matches the "# seeds:" line of a config that is not run.
var notRun = regexp.MustCompile(`(?m)^# seeds:.*not run`)

func main() {
	results := flag.String("results", "out/paper", "results directories, comma-separated")
	out := flag.String("out", "docs/paper", "output directory")
	configs := flag.String("configs", "experiments/paper", "config directory (experiments without results are marked pending)")
	doc := flag.String("doc", "", "Markdown file whose <!-- BEGIN name --> … <!-- END name --> tables are refreshed (e.g. docs/paper.md)")
	allowMissing := flag.Bool("allow-missing", false, "write even when an experiment to run has no results (it is marked pending)")
	flag.Parse()
	if err := run(*results, *out, *configs, *doc, *allowMissing); err != nil {
		fmt.Fprintln(os.Stderr, "aggregate:", err)
		os.Exit(1)
	}
}

func run(results, out, configs, doc string, allowMissing bool) error {
	byName := map[string]*paper.Experiment{}
	var order []*paper.Experiment
	for _, dir := range strings.Split(results, ",") {
		exps, err := paper.Load(dir)
		if err != nil {
			return err
		}
		for _, e := range exps {
			have, ok := byName[e.Name]
			if !ok {
				byName[e.Name] = e
				order = append(order, e)
				continue
			}
			seen := map[int]bool{}
			for _, r := range have.Runs {
				seen[r.Seed] = true
			}
			for _, r := range e.Runs {
				if !seen[r.Seed] {
					have.Runs = append(have.Runs, r)
				}
			}
		}
	}
	var pending []string
	cfgs, _ := filepath.Glob(filepath.Join(configs, "*.yaml"))
	for _, c := range cfgs {
		n := strings.TrimSuffix(filepath.Base(c), ".yaml")
		if e, ok := byName[n]; !ok || len(e.Runs) == 0 {
			pending = append(pending, n)
		}
	}
	// Nothing is written from missing data: an experiment that is to be run
	// (its "# seeds:" line does not say "not run") without results would
	// turn its tables in docs/paper.md into "pending".
	var missing []string
	for _, n := range pending {
		b, err := os.ReadFile(filepath.Join(configs, n+".yaml"))
		if err != nil {
			return err
		}
		if !notRun.Match(b) {
			missing = append(missing, n)
		}
	}
	withRuns := 0
	for _, e := range order {
		if len(e.Runs) > 0 {
			withRuns++
		}
	}
	if withRuns == 0 {
		return fmt.Errorf("no results in %s: nothing written", results)
	}
	if len(missing) > 0 && !allowMissing {
		return fmt.Errorf("no results in %s for %s: nothing written (run scripts/paper/run.sh for them, or pass -allow-missing to mark them pending)",
			results, strings.Join(missing, ", "))
	}
	for _, e := range order {
		paper.SortRuns(e)
	}
	paper.SortExperiments(order)
	blocks := map[string]string{}
	if err := paper.Write(out, order, paper.Options{Results: results, Pending: pending, Blocks: blocks}); err != nil {
		return err
	}
	if doc == "" {
		return nil
	}
	b, err := os.ReadFile(doc)
	if err != nil {
		return err
	}
	s, missing := paper.RefreshBlocks(string(b), blocks)
	for _, m := range missing {
		fmt.Fprintf(os.Stderr, "aggregate: %s: no table %q (left as it is)\n", doc, m)
	}
	return os.WriteFile(doc, []byte(s), 0o644)
}
