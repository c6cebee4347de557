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

// Plain-line mode writes one line per tenth of the total (or after
// LogEvery), none at 0 % or for the 100th update, and the final line with
// the time spent.
func TestLinesMode(t *testing.T) {
	var buf bytes.Buffer
	c := &clock{t: time.Unix(1000, 0)}
	b := New(&buf, 100, Options{Mode: Lines, Width: -1, Now: c.now, LogEvery: time.Minute})
	b.Update(0)
	for i := 1; i <= 100; i++ {
		c.t = c.t.Add(time.Second)
		b.Update(i, F("loss", "%d", i))
	}
	b.Finish()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	// 10, 20, ..., 90, Finish.
	if len(lines) != 10 {
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
	if lines[0] != "step 10/100 loss 10 ETA 1m30s" {
		t.Errorf("first line %q", lines[0])
	}
	if lines[8] != "step 90/100 loss 90 ETA 10s" {
		t.Errorf("ninth line %q", lines[8])
	}
	if lines[9] != "step 100/100 loss 100 in 1m40s" {
		t.Errorf("last line %q", lines[9])
	}
	if strings.Contains(buf.String(), "\r") {
		t.Error("carriage return in plain-line mode")
	}

	// LogEvery forces a line within a tenth, and counts from the last line.
	buf.Reset()
	c.t = time.Unix(0, 0)
	b = New(&buf, 1000, Options{Mode: Lines, Width: -1, Now: c.now, LogEvery: 10 * time.Second})
	c.t = c.t.Add(2 * time.Second)
	b.Update(1) // first tenth, 2 s: no line
	c.t = c.t.Add(5 * time.Second)
	b.Update(2) // same tenth, 7 s: no line
	c.t = c.t.Add(4 * time.Second)
	b.Update(3) // same tenth, 11 s: a line
	c.t = c.t.Add(9 * time.Second)
	b.Update(4) // 9 s after it: no line
	if got := strings.Count(buf.String(), "\n"); got != 1 || !strings.HasPrefix(buf.String(), "step 3/1000") {
		t.Errorf("%d lines, want 1 (step 3):\n%s", got, buf.String())
	}
}

// A phase done in under Options.Quiet writes nothing in plain-line mode,
// however many tenths it crosses; a longer one writes from the Quiet time
// on; a negative Quiet writes at once.
func TestQuiet(t *testing.T) {
	for _, c := range []struct {
		name  string
		quiet time.Duration
		step  time.Duration // per unit of 10
		want  []string
	}{
		{"sub-second", 0, 90 * time.Millisecond, nil},
		{"just over", 0, 110 * time.Millisecond, []string{"step 10/10 in 1s"}},
		{"two seconds", 0, 200 * time.Millisecond, []string{"step 5/10 ETA 1s", "step 6/10 ETA 1s", "step 7/10 ETA 1s",
			"step 8/10 ETA 0s", "step 9/10 ETA 0s", "step 10/10 in 2s"}},
		{"no quiet time", -1, time.Millisecond, []string{"step 1/10 ETA 0s", "step 2/10 ETA 0s", "step 3/10 ETA 0s",
			"step 4/10 ETA 0s", "step 5/10 ETA 0s", "step 6/10 ETA 0s", "step 7/10 ETA 0s", "step 8/10 ETA 0s",
			"step 9/10 ETA 0s", "step 10/10 in 0s"}},
	} {
		var buf bytes.Buffer
		clk := &clock{t: time.Unix(0, 0)}
		b := New(&buf, 10, Options{Mode: Lines, Width: -1, Now: clk.now, Quiet: c.quiet})
		for i := 1; i <= 10; i++ {
			clk.t = clk.t.Add(c.step)
			b.Update(i)
		}
		b.Finish()
		var got []string
		if s := strings.TrimSuffix(buf.String(), "\n"); s != "" {
			got = strings.Split(s, "\n")
		}
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
	// Redraw mode (a terminal) is not quiet.
	var buf bytes.Buffer
	b := New(&buf, 2, Options{Mode: Redraw, Width: -1, Now: (&clock{t: time.Unix(0, 0)}).now})
	b.Update(1)
	b.Finish()
	if buf.String() != "\rstep 1/2 ETA 0s\rstep 1/2 in 0s \n" {
		t.Errorf("redraw: %q", buf.String())
	}
}

// An unknown total writes a line every LogEvery.
func TestLinesUnknownTotal(t *testing.T) {
	var buf bytes.Buffer
	c := &clock{t: time.Unix(0, 0)}
	b := New(&buf, 0, Options{Mode: Lines, Now: c.now})
	for i := 1; i <= 100; i++ {
		c.t = c.t.Add(time.Second)
		b.Update(i)
	}
	b.Finish()
	want := "step 30\nstep 60\nstep 90\nstep 100 in 1m40s\n"
	if buf.String() != want {
		t.Errorf("got %q, want %q", buf.String(), want)
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

// Time between Pause and Resume is left out of the ETA and of the final
// time, which shows it apart.
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
	want := "step 1/4 ETA 3s\nstep 2/4 ETA 2s\nstep 3/4 ETA 1s\nstep 3/4 in 2s (+1h01m paused)\n"
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
	b := New(&buf, 400, Options{Mode: Lines, Quiet: -1})
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
