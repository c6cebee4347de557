// Package progress draws progress bars for long gnaudit runs: fine-tuning,
// gradient collection, analyses. A [Bar] writes lines such as
//
//	step 120/500 [===>                ] loss 0.613 acc 78.1% lr 0.1 ETA 1m12s
//
// On a terminal the line is redrawn in place with a carriage return (at most
// every [Options.Redraw]); on anything else (a file, a pipe, a CI log) it
// writes plain lines, so logs stay short and readable: a line each time the
// work crosses a tenth of the total, or when [Options.LogEvery] has passed
// without one, and the final line from Finish; nothing at all for work done
// in under [Options.Quiet] (a second), and no line at 0 or 100 % besides the
// final one.
//
// A Bar is safe for concurrent use.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Field is one "key value" pair shown after the bar, e.g. {"loss", "0.613"}.
type Field struct{ Key, Value string }

// F formats a field: F("loss", "%.3f", 0.6131) is {"loss", "0.613"}.
func F(key, format string, args ...any) Field {
	return Field{Key: key, Value: fmt.Sprintf(format, args...)}
}

// Mode selects how a Bar writes.
type Mode int

// Modes.
const (
	// Auto redraws in place when the writer is a terminal and writes plain
	// lines otherwise.
	Auto Mode = iota
	// Redraw always redraws one line in place with '\r'.
	Redraw
	// Lines always writes plain, newline-terminated lines.
	Lines
)

// Options configure a Bar. The zero value is usable.
type Options struct {
	// Label is the word before the count ("step" when empty).
	Label string
	// Width is the bar's width in characters (20 when 0; negative: no bar).
	Width int
	// Mode: Auto (default), Redraw or Lines.
	Mode Mode
	// Redraw is the least time between two redraws in place (100 ms when 0).
	Redraw time.Duration
	// LogEvery is the longest time between two plain lines (30 s when 0);
	// a line is also written each time the count crosses a tenth of the
	// total.
	LogEvery time.Duration
	// Quiet: in plain-line mode nothing is written before the bar has run
	// this long, and a bar finished sooner writes nothing (1 s when 0;
	// negative: no quiet time).
	Quiet time.Duration
	// Now is the clock (time.Now when nil); for tests.
	Now func() time.Time
}

// Bar is a progress bar for total units of work. Create it with New, call
// Update as work is done, and Finish at the end.
type Bar struct {
	mu       sync.Mutex
	w        io.Writer
	total    int
	opt      Options
	redraw   bool
	start    time.Time
	last     time.Time // last write
	lastTick int       // tenth of the total of the last plain line
	wrote    bool      // a plain line was written
	lastLen  int       // length of the line on screen (redraw mode)
	pending  bool      // a redrawn line is on screen without a newline
	done     int
	fields   []Field
	finished bool
	pausedAt time.Time     // non-zero while paused
	paused   time.Duration // total paused time, left out of the ETA
}

// New returns a bar writing to w (nil: the bar writes nothing) for total
// units (0 or less: unknown, then no bar and no ETA are shown).
func New(w io.Writer, total int, opt Options) *Bar {
	if opt.Label == "" {
		opt.Label = "step"
	}
	if opt.Width == 0 {
		opt.Width = 20
	}
	if opt.Redraw <= 0 {
		opt.Redraw = 100 * time.Millisecond
	}
	if opt.LogEvery <= 0 {
		opt.LogEvery = 30 * time.Second
	}
	if opt.Quiet == 0 {
		opt.Quiet = time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	b := &Bar{w: w, total: total, opt: opt}
	switch opt.Mode {
	case Redraw:
		b.redraw = true
	case Lines:
		b.redraw = false
	default:
		b.redraw = IsTerminal(w)
	}
	b.start = opt.Now()
	b.last = b.start
	return b
}

// IsTerminal reports whether w is a character device (a terminal).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || f == nil {
		return false
	}
	st, err := f.Stat()
	if err != nil {
		return false
	}
	return st.Mode()&os.ModeCharDevice != 0
}

// Update records that done units are complete and sets the fields shown
// after the bar; it writes when the mode's rate limit allows.
func (b *Bar) Update(done int, fields ...Field) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return
	}
	b.done = done
	b.fields = append(b.fields[:0], fields...)
	if b.w == nil {
		return
	}
	now := b.opt.Now()
	if b.redraw {
		if b.pending && now.Sub(b.last) < b.opt.Redraw && done != b.total {
			return
		}
		b.drawLocked(now, false)
		return
	}
	if b.total > 0 && done >= b.total {
		return // Finish writes the line of the end
	}
	if now.Sub(b.start) < b.opt.Quiet {
		return
	}
	tick := 0
	if b.total > 0 {
		tick = max(done, 0) * 10 / b.total
	}
	if tick <= b.lastTick && now.Sub(b.last) < b.opt.LogEvery {
		return
	}
	b.lastTick = max(tick, b.lastTick)
	b.drawLocked(now, false)
}

// Break ends a line redrawn in place with a newline, so that other output
// (another bar, a log line) starts on a fresh line; the next Update draws
// anew. It does nothing in plain-line mode.
func (b *Bar) Break() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.redraw && b.pending && b.w != nil {
		io.WriteString(b.w, "\n")
		b.pending, b.lastLen = false, 0
	}
}

// Pause ends a redrawn line like Break and stops the clock of the ETA until
// Resume: use it around work that is not part of the measured units (an
// audit between training steps), so that the ETA stays a forecast of the
// units alone.
func (b *Bar) Pause() {
	if b == nil {
		return
	}
	b.Break()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pausedAt.IsZero() {
		b.pausedAt = b.opt.Now()
	}
}

// Resume restarts the clock stopped by Pause.
func (b *Bar) Resume() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.pausedAt.IsZero() {
		now := b.opt.Now()
		b.paused += now.Sub(b.pausedAt)
		b.pausedAt = time.Time{}
		// Other output came in between: LogEvery counts from here.
		b.last = now
	}
}

// Finish writes the final line and a newline: the time spent instead of
// the ETA, without the pauses ("in 1m05s (+9m51s paused)"). In plain-line
// mode a bar that wrote nothing and ran less than Options.Quiet writes
// nothing. Later calls of Update and Finish do nothing.
func (b *Bar) Finish(fields ...Field) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return
	}
	if len(fields) > 0 {
		b.fields = append(b.fields[:0], fields...)
	}
	now := b.opt.Now()
	if b.w != nil && (b.redraw || b.wrote || now.Sub(b.start) >= b.opt.Quiet) {
		b.drawLocked(now, true)
	}
	b.finished = true
}

// drawLocked writes the current line.
func (b *Bar) drawLocked(now time.Time, final bool) {
	elapsed := now.Sub(b.start)
	working := elapsed - b.paused
	if !b.pausedAt.IsZero() {
		working -= now.Sub(b.pausedAt)
	}
	var tail string
	switch {
	case final:
		tail = "in " + Duration(working)
		if p := elapsed - working; p >= time.Second {
			tail += " (+" + Duration(p) + " paused)"
		}
	case b.total > 0 && b.done > 0 && b.done < b.total:
		eta := time.Duration(float64(working) / float64(b.done) * float64(b.total-b.done))
		tail = "ETA " + Duration(eta)
	}
	line := Line(b.opt.Label, b.done, b.total, b.opt.Width, b.fields, tail)
	b.last = now
	if !b.redraw {
		io.WriteString(b.w, line+"\n")
		b.wrote = true
		return
	}
	pad := ""
	if n := len([]rune(line)); n < b.lastLen {
		pad = strings.Repeat(" ", b.lastLen-n)
	}
	b.lastLen = len([]rune(line))
	end := ""
	if final {
		end = "\n"
		b.pending = false
	} else {
		b.pending = true
	}
	io.WriteString(b.w, "\r"+line+pad+end)
}

// Line formats one progress line: "label done/total [bar] fields... tail".
// With total <= 0 only "label done" is shown, without a bar; width < 0
// leaves the bar out; tail (an ETA, "in 3m02s") is appended when not empty.
func Line(label string, done, total, width int, fields []Field, tail string) string {
	var sb strings.Builder
	if total > 0 {
		fmt.Fprintf(&sb, "%s %d/%d", label, done, total)
		if width > 0 {
			sb.WriteString(" [")
			sb.WriteString(bar(done, total, width))
			sb.WriteString("]")
		}
	} else {
		fmt.Fprintf(&sb, "%s %d", label, done)
	}
	for _, f := range fields {
		sb.WriteString(" ")
		sb.WriteString(f.Key)
		if f.Value != "" {
			sb.WriteString(" ")
			sb.WriteString(f.Value)
		}
	}
	if tail != "" {
		sb.WriteString(" ")
		sb.WriteString(tail)
	}
	return sb.String()
}

// bar draws width characters: '=' for the done part, '>' at its head while
// unfinished, spaces for the rest.
func bar(done, total, width int) string {
	done = min(max(done, 0), total)
	n := done * width / total
	if done == total {
		return strings.Repeat("=", width)
	}
	if n == 0 {
		return ">" + strings.Repeat(" ", width-1)
	}
	return strings.Repeat("=", n-1) + ">" + strings.Repeat(" ", width-n)
}

// Duration formats a duration compactly for progress lines: "0s", "45s",
// "1m12s", "2h03m" (rounded to the second, or to the minute above an hour).
func Duration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64((d + 500*time.Millisecond) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	default:
		m := (s + 30) / 60
		return fmt.Sprintf("%dh%02dm", m/60, m%60)
	}
}
