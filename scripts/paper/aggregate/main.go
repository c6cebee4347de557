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
	"strings"

	"github.com/gnaudit/gnaudit/scripts/paper"
)

func main() {
	results := flag.String("results", "out/paper", "results directories, comma-separated")
	out := flag.String("out", "docs/paper", "output directory")
	configs := flag.String("configs", "experiments/paper", "config directory (experiments without results are marked pending)")
	doc := flag.String("doc", "", "Markdown file whose <!-- BEGIN name --> … <!-- END name --> tables are refreshed (e.g. docs/paper.md)")
	flag.Parse()
	if err := run(*results, *out, *configs, *doc); err != nil {
		fmt.Fprintln(os.Stderr, "aggregate:", err)
		os.Exit(1)
	}
}

func run(results, out, configs, doc string) error {
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
