package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runStatsCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestStatsCLI(t *testing.T) {
	dir := t.TempDir()
	npyPath := filepath.Join(dir, "sub", "ex.npy") // -example creates sub/
	csvPath := filepath.Join(dir, "ex.csv")
	for _, p := range []string{npyPath, csvPath} {
		if code, _, stderr := runStatsCLI("stats", "-example", p, "-example-rows", "100"); code != 0 || !strings.Contains(stderr, "wrote "+p) {
			t.Fatalf("-example %s: code %d, %s", p, code, stderr)
		}
	}

	// JSON to stdout, flags after the file name.
	code, out, stderr := runStatsCLI("stats", npyPath, "-batch-sizes", "64,128")
	if code != 0 {
		t.Fatalf("code %d: %s", code, stderr)
	}
	var doc struct {
		Schema  string `json:"schema"`
		Rows    int    `json:"rows"`
		Columns []struct {
			BerryEsseen []struct {
				BatchSize int `json:"batch_size"`
			} `json:"berry_esseen"`
		} `json:"columns"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	if doc.Schema != "gnaudit.stats/v1" || doc.Rows != 100 || len(doc.Columns) != 8 || len(doc.Columns[0].BerryEsseen) != 2 ||
		doc.Columns[0].BerryEsseen[1].BatchSize != 128 {
		t.Errorf("unexpected document: %+v", doc)
	}

	// Markdown to a file; the CSV's header names appear.
	mdPath := filepath.Join(dir, "ex.md")
	code, out, stderr = runStatsCLI("stats", "-format", "md", "-out", mdPath, "-timings", csvPath)
	if code != 0 || out != "" || !strings.Contains(stderr, "timings: load") {
		t.Fatalf("md: code %d stdout %q stderr %s", code, out, stderr)
	}
	md, err := os.ReadFile(mdPath)
	if err != nil || !strings.Contains(string(md), "| 6 | cauchy | 100 |") {
		t.Errorf("markdown: %v\n%s", err, md)
	}

	// -only leaves the other sections null.
	code, out, _ = runStatsCLI("stats", "-only", "moments", csvPath)
	if code != 0 || !strings.Contains(out, `"shapiro":null`) || !strings.Contains(out, `"column_names":["normal",`) {
		t.Errorf("-only moments: code %d, %.300s", code, out)
	}
}

func TestStatsCLIErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("a,b\n1,2\n3\n"), 0o644)
	notNPY := filepath.Join(dir, "x.npy")
	os.WriteFile(notNPY, []byte("hello"), 0o644)
	good := filepath.Join(dir, "good.csv")
	os.WriteFile(good, []byte("1,2\n3,4\n5,7\n"), 0o644)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"stats"}, 2, "want exactly one input file"},
		{[]string{"stats", good, good}, 2, "want exactly one input file, got 2"},
		{[]string{"stats", filepath.Join(dir, "missing.npy")}, 2, "missing.npy"},
		{[]string{"stats", bad}, 2, bad + ": line 3 has 1 fields"},
		{[]string{"stats", notNPY}, 2, notNPY + ": not a .npy file"},
		{[]string{"stats", "-format", "xml", good}, 2, `-format "xml"`},
		{[]string{"stats", "-batch-sizes", "64,x", good}, 2, `"x" is not a positive integer`},
		{[]string{"stats", "-batch-sizes", "0", good}, 2, `"0" is not a positive integer`},
		{[]string{"stats", "-only", "kurtosis", good}, 2, `unknown section "kurtosis"`},
		{[]string{"stats", "-alpha", "2", good}, 2, "want 0 < alpha < 1"},
		{[]string{"stats", "-nosuchflag", good}, 2, "unknown flag --nosuchflag"},
		{[]string{"stats", "-example", filepath.Join(dir, "e.npy"), good}, 2, "takes no input file"},
		{[]string{"stats", "-out", filepath.Join(good, "dir.json"), good}, 1, "good.csv"},
	}
	for _, tc := range tests {
		code, _, stderr := runStatsCLI(tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: code %d, stderr %q; want code %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
	if code, _, _ := runStatsCLI("stats", "-h"); code != 0 {
		t.Errorf("-h: code %d", code)
	}
}
