package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gnaudit/gnaudit/auditor/atomicfile"
	"github.com/gnaudit/gnaudit/auditor/matrix"
	"github.com/gnaudit/gnaudit/auditor/statsrun"
)

func init() {
	register("stats", "per-column statistics of a matrix (.npy or .csv): Shapiro–Wilk, moments, Berry–Esseen, tail index", runStats)
}

const statsUsage = `Usage: gnaudit stats [flags] FILE

Computes, for every column of FILE (rows = observations), the Shapiro–Wilk
test, moments, Berry–Esseen bounds and tail indices, and prints them as JSON
(schema gnaudit.stats/v1) or Markdown.

FILE is a .npy array (1-D: one column; 2-D: rows × columns; float32/64 or
integer, C order) or a .csv file (optional header row, comma-separated).
Exit status: 0 done, 1 failed, 2 bad usage or input (the message names the
file, and for CSV the line and column).
`

// runStats implements "gnaudit stats".
func runStats(args []string, stdout, stderr io.Writer) error {
	fl := newFlags("stats", statsUsage, stdout)
	fs := fl.FlagSet
	format := fs.String("format", "json", "output format: json or md")
	out := fs.String("out", "", "write the output to this file instead of stdout")
	batchSizes := fs.String("batch-sizes", joinInts(statsrun.DefaultBatchSizes), "comma-separated batch sizes B of the Berry–Esseen bounds")
	alpha := fs.Float64("alpha", 0.05, "Shapiro–Wilk level of the Markdown summary (p > alpha counts as Gaussian)")
	only := fs.String("only", "all", "sections to compute: all, or a comma list of shapiro, moments, berry_esseen, tail_index (the others are null)")
	center := fs.Bool("center", true, "centre each column on its mean before the Mohammadi tail index (--center=false for data already centred, e.g. gradient noise)")
	workers := fs.Int("workers", 0, "worker goroutines (0: GOMAXPROCS)")
	example := fs.String("example", "", "write an example matrix of known distributions to this .npy or .csv `file` and exit")
	exampleRows := fs.Int("example-rows", 600, "rows of the --example matrix")
	seed := fs.Uint64("seed", 1, "random seed of the --example matrix")
	timings := fs.Bool("timings", false, "print the load, compute and write times to stderr")

	files, err := fl.parse(args)
	if err != nil {
		return err
	}

	if *example != "" {
		if len(files) > 0 {
			return usagef("--example writes a matrix and takes no input file (got %q)", files[0])
		}
		m, err := statsrun.ExampleMatrix(*exampleRows, *seed)
		if err != nil {
			return usagef("%v", err)
		}
		if err := os.MkdirAll(filepath.Dir(*example), 0o755); err != nil {
			return err
		}
		if err := m.Save(*example); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "gnaudit stats: wrote %s (%d rows × %d columns: %s)\n", *example, m.Rows, m.Cols, strings.Join(m.Names, ", "))
		return nil
	}

	if len(files) != 1 {
		return cmdUsagef(fl.cmd, "want exactly one input file, got %d", len(files))
	}
	if *format != "json" && *format != "md" {
		return usagef("--format %q: want json or md", *format)
	}
	bs, err := parseInts(*batchSizes)
	if err != nil {
		return usagef("--batch-sizes: %v", err)
	}
	secs, err := statsrun.ParseSections(*only)
	if err != nil {
		return usagef("--only: %v", err)
	}
	if !(*alpha > 0 && *alpha < 1) {
		return usagef("--alpha %v: want 0 < alpha < 1", *alpha)
	}

	t0 := time.Now()
	m, err := matrix.Load(files[0])
	if err != nil {
		return usageError{err} // bad input: exit 2; the message names the file
	}
	t1 := time.Now()
	rep, err := statsrun.Run(m, statsrun.Options{BatchSizes: bs, Sections: secs, Workers: *workers, NoCenter: !*center})
	if err != nil {
		return usagef("%v", err)
	}
	t2 := time.Now()

	w := stdout
	var f *atomicfile.File
	if *out != "" {
		if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
			return err
		}
		f, err = atomicfile.Create(*out)
		if err != nil {
			return err
		}
		defer f.Abort()
		w = f
	}
	if *format == "md" {
		err = statsrun.WriteMarkdown(w, rep, statsrun.MarkdownOptions{Source: files[0], Alpha: *alpha})
	} else {
		err = statsrun.WriteJSON(w, rep)
	}
	if err == nil && f != nil {
		err = f.Commit()
	}
	if err != nil {
		return fmt.Errorf("writing the output: %w", err)
	}
	t3 := time.Now()
	if *out != "" {
		fmt.Fprintf(stderr, "gnaudit stats: wrote %s (%d rows × %d columns)\n", *out, m.Rows, m.Cols)
	}
	if *timings {
		fmt.Fprintf(stderr, "gnaudit stats: timings: load %.3fs compute %.3fs write %.3fs (%d rows × %d columns)\n",
			t1.Sub(t0).Seconds(), t2.Sub(t1).Seconds(), t3.Sub(t2).Seconds(), m.Rows, m.Cols)
	}
	return nil
}

// parseInts parses a comma-separated list of positive integers.
func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, v)
	}
	return out, nil
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}
