// Package progress draws one progress line on a terminal for long work
// (a snapshot download, db-gen's account scan, the dev chain's generator).
// It shows only what was measured: real counts of real work, a rate once
// at least a second has passed, and nothing at all for work that is over
// before the line would be worth reading.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// Unit of the counts.
type Unit int

const (
	Count Unit = iota // things: accounts, deltas
	Bytes             // shown as kB, MB, GB
)

const (
	delay    = 500 * time.Millisecond // quiet for work shorter than this
	every    = 200 * time.Millisecond // redraw interval
	rateFrom = time.Second            // no rate from a shorter sample: it would be noise
	barWidth = 24
)

// Terminal reports whether w is a terminal (a *os.File on a tty).
func Terminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Bar is one progress line. A nil *Bar draws nothing, so callers need not
// check whether they are on a terminal at each call.
type Bar struct {
	mu          sync.Mutex
	w           io.Writer
	what        string
	unit        Unit
	now         func() time.Time
	began       time.Time
	drawn       time.Time
	done, total int64
	shown       bool
}

// New starts a line on w describing what. Use OnTerminal to draw only
// where a person watches.
func New(w io.Writer, what string, unit Unit) *Bar { return newAt(w, what, unit, time.Now) }

// OnTerminal is New when w is a terminal, else nil (nothing drawn).
func OnTerminal(w io.Writer, what string, unit Unit) *Bar {
	if w == nil || !Terminal(w) {
		return nil
	}
	return New(w, what, unit)
}

func newAt(w io.Writer, what string, unit Unit, now func() time.Time) *Bar {
	return &Bar{w: w, what: what, unit: unit, now: now, began: now()}
}

// Update records done of total (total <= 0: unknown) and redraws when due.
func (b *Bar) Update(done, total int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done, b.total = done, total
	t := b.now()
	if t.Sub(b.began) < delay || t.Sub(b.drawn) < every {
		return
	}
	b.drawn = t
	b.shown = true
	fmt.Fprintf(b.w, "\r%s\x1b[K", b.line(t, false))
}

// Describe changes the text in front of the counts.
func (b *Bar) Describe(what string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.what = what
	b.mu.Unlock()
}

// Finish ends the line with the final counts and the average rate, if the
// line was ever shown; it leaves the terminal as it was otherwise.
func (b *Bar) Finish() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.shown {
		fmt.Fprintf(b.w, "\r%s\x1b[K\n", b.line(b.now(), true))
		b.shown = false
	}
	b.drawn = b.now().Add(time.Hour) // nothing after Finish
}

func (b *Bar) line(t time.Time, final bool) string {
	var s strings.Builder
	s.WriteString(b.what)
	elapsed := t.Sub(b.began)
	if b.total > 0 {
		frac := min(float64(b.done)/float64(b.total), 1)
		fill := int(frac * barWidth)
		fmt.Fprintf(&s, " [%s%s] %3.0f%% %s / %s", strings.Repeat("=", fill), strings.Repeat(" ", barWidth-fill),
			100*frac, b.amount(b.done), b.amount(b.total))
	} else {
		fmt.Fprintf(&s, " %s", b.amount(b.done))
	}
	if elapsed >= rateFrom {
		rate := float64(b.done) / elapsed.Seconds()
		fmt.Fprintf(&s, ", %s/s", b.amount(int64(rate)))
		switch {
		case final:
			fmt.Fprintf(&s, ", %s", roundDuration(elapsed))
		case b.total > 0 && rate > 0 && b.done < b.total:
			left := time.Duration(float64(b.total-b.done) / rate * float64(time.Second))
			fmt.Fprintf(&s, ", about %s left", roundDuration(left))
		}
	}
	return s.String()
}

func (b *Bar) amount(n int64) string {
	if b.unit != Bytes {
		return fmt.Sprint(n)
	}
	return FormatBytes(n)
}

// FormatBytes writes n in decimal units with three significant digits.
func FormatBytes(n int64) string {
	v, units := float64(n), []string{"B", "kB", "MB", "GB", "TB"}
	i := 0
	for v >= 1000 && i < len(units)-1 {
		v /= 1000
		i++
	}
	switch {
	case i == 0:
		return fmt.Sprintf("%d B", n)
	case v >= 100:
		return fmt.Sprintf("%.0f %s", v, units[i])
	case v >= 10:
		return fmt.Sprintf("%.1f %s", v, units[i])
	}
	return fmt.Sprintf("%.2f %s", v, units[i])
}

func roundDuration(d time.Duration) time.Duration {
	if d >= time.Minute {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}
