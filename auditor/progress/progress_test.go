package progress

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// clock is a settable fake clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestLine(t *testing.T) {
	fs := []Field{F("loss", "%.3f", 0.6131), F("acc", "%.1f%%", 78.14), F("lr", "%g", 0.1)}
	for _, c := range []struct {
		name               string
		done, total, width int
		fields             []Field
		tail               string
		want               string
	}{
		{"issue example", 120, 500, 10, fs, "ETA 1m12s", "step 120/500 [=>        ] loss 0.613 acc 78.1% lr 0.1 ETA 1m12s"},
		{"start", 0, 500, 10, nil, "", "step 0/500 [>         ]"},
		{"half", 250, 500, 10, nil, "", "step 250/500 [====>     ]"},
		{"almost", 499, 500, 10, nil, "", "step 499/500 [========> ]"},
		{"done", 500, 500, 10, nil, "in 3s", "step 500/500 [==========] in 3s"},
		{"over", 600, 500, 4, nil, "", "step 600/500 [====]"},
		{"unknown total", 7, 0, 10, fs[:1], "", "step 7 loss 0.613"},
		{"no bar", 3, 9, -1, nil, "", "step 3/9"},
		{"key only", 1, 2, -1, []Field{{Key: "stopped"}}, "", "step 1/2 stopped"},
	} {
		if got := Line("step", c.done, c.total, c.width, c.fields, c.tail); got != c.want {
			t.Errorf("%s: got\n%q\nwant\n%q", c.name, got, c.want)
		}
	}
}

func TestDuration(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"},
		{0, "0s"},
		{400 * time.Millisecond, "0s"},
		{600 * time.Millisecond, "1s"},
		{45 * time.Second, "45s"},
		{72 * time.Second, "1m12s"},
		{59*time.Minute + 59*time.Second, "59m59s"},
		{time.Hour, "1h00m"},
		{2*time.Hour + 3*time.Minute + 29*time.Second, "2h03m"},
		{2*time.Hour + 3*time.Minute + 31*time.Second, "2h04m"},
	} {
		if got := Duration(c.d); got != c.want {
			t.Errorf("Duration(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}

// Plain-line mode writes the first update, then one line per tenth of the
// total (or after LogEvery), and the final line with the elapsed time.
func TestLinesMode(t *testing.T) {
	var buf bytes.Buffer
	c := &clock{t: time.Unix(1000, 0)}
	b := New(&buf, 100, Options{Mode: Lines, Width: -1, Now: c.now, LogEvery: time.Minute})
	for i := 1; i <= 100; i++ {
		c.t = c.t.Add(time.Second)
		b.Update(i, F("loss", "%d", i))
	}
	b.Finish()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	// first update (1), 10, 20, ..., 100 (the 100th update), Finish.
	if len(lines) != 12 {
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
	if lines[0] != "step 1/100 loss 1 ETA 1m39s" {
		t.Errorf("first line %q", lines[0])
	}
	if lines[1] != "step 10/100 loss 10 ETA 1m30s" {
		t.Errorf("second line %q", lines[1])
	}
	if lines[11] != "step 100/100 loss 100 in 1m40s" {
		t.Errorf("last line %q", lines[11])
	}
	if strings.Contains(buf.String(), "\r") {
		t.Error("carriage return in plain-line mode")
	}

	// LogEvery forces a line within a tenth.
	buf.Reset()
	c.t = time.Unix(0, 0)
	b = New(&buf, 1000, Options{Mode: Lines, Width: -1, Now: c.now, LogEvery: 10 * time.Second})
	b.Update(1)
	c.t = c.t.Add(5 * time.Second)
	b.Update(2) // same tenth, 5 s: no line
	c.t = c.t.Add(6 * time.Second)
	b.Update(3) // same tenth, 11 s: a line
	if got := strings.Count(buf.String(), "\n"); got != 2 {
		t.Errorf("%d lines, want 2:\n%s", got, buf.String())
	}
}

// Redraw mode rewrites one line with '\r', padding over a longer previous
// line, at most every Redraw; Break and Finish end it with a newline.
func TestRedrawMode(t *testing.T) {
	var buf bytes.Buffer
	c := &clock{t: time.Unix(0, 0)}
	b := New(&buf, 10, Options{Mode: Redraw, Width: 4, Now: c.now, Redraw: time.Second})
	c.t = c.t.Add(time.Second)
	b.Update(1, F("loss", "1.2345"))
	c.t = c.t.Add(100 * time.Millisecond)
	b.Update(2, F("loss", "9")) // within Redraw: skipped
	c.t = c.t.Add(time.Second)
	b.Update(3, F("loss", "0.5"))
	b.Break()
	b.Break() // nothing pending: no second newline
	c.t = c.t.Add(time.Second)
	b.Update(4)
	c.t = c.t.Add(time.Second)
	b.Finish(F("loss", "0.1"))
	b.Update(5) // after Finish: ignored
	want := "\rstep 1/10 [>   ] loss 1.2345 ETA 9s" +
		"\rstep 3/10 [>   ] loss 0.5 ETA 5s   " +
		"\n" +
		"\rstep 4/10 [>   ] ETA 5s" +
		"\rstep 4/10 [>   ] loss 0.1 in 4s\n"
	if got := buf.String(); got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

// Time between Pause and Resume is left out of the ETA but not of the
// final elapsed time.
func TestPause(t *testing.T) {
	var buf bytes.Buffer
	c := &clock{t: time.Unix(0, 0)}
	b := New(&buf, 4, Options{Mode: Lines, Width: -1, Now: c.now})
	c.t = c.t.Add(time.Second)
	b.Update(1) // 1 s per unit: ETA 3s
	b.Pause()
	c.t = c.t.Add(time.Hour)
	b.Resume()
	c.t = c.t.Add(time.Second)
	b.Update(2) // 2 s of work for 2 units: ETA 2s
	b.Pause()
	c.t = c.t.Add(time.Minute)
	b.Update(3) // still paused: 2 s of work for 3 units
	b.Resume()
	b.Finish()
	want := "step 1/4 ETA 3s\nstep 2/4 ETA 2s\nstep 3/4 ETA 1s\nstep 3/4 in 1h01m\n"
	if got := buf.String(); got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

func TestNilWriterAndNilBar(t *testing.T) {
	b := New(nil, 5, Options{})
	b.Update(1)
	b.Break()
	b.Pause()
	b.Resume()
	b.Finish()
	var nb *Bar
	nb.Update(1)
	nb.Break()
	nb.Pause()
	nb.Resume()
	nb.Finish()
}

func TestIsTerminal(t *testing.T) {
	if IsTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is not a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "p")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) {
		t.Error("a regular file is not a terminal")
	}
	if New(f, 3, Options{}).redraw {
		t.Error("Auto mode redraws into a file")
	}
	if IsTerminal((*os.File)(nil)) {
		t.Error("nil file")
	}
}

func TestConcurrentUpdates(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, 400, Options{Mode: Lines})
	done := make(chan bool)
	for g := 0; g < 4; g++ {
		go func(g int) {
			for i := 0; i < 100; i++ {
				b.Update(g*100 + i)
			}
			done <- true
		}(g)
	}
	for g := 0; g < 4; g++ {
		<-done
	}
	b.Finish()
	if !strings.HasSuffix(buf.String(), "\n") {
		t.Error("no final newline")
	}
}
