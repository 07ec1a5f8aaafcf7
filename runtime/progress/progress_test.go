package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time                 { return c.t }
func (c *clock) advance(d time.Duration)        { c.t = c.t.Add(d) }
func newTestBar(w *bytes.Buffer, c *clock) *Bar { return newAt(w, "snapshot", Bytes, c.now) }

// TestQuickWorkDrawsNothing: work over before the delay leaves no trace
// (no empty bar, no absurd rate from a microsecond sample).
func TestQuickWorkDrawsNothing(t *testing.T) {
	var out bytes.Buffer
	c := &clock{t: time.Unix(0, 0)}
	b := newTestBar(&out, c)
	b.Update(1_000_000, 1_376_256)
	c.advance(30 * time.Millisecond)
	b.Update(1_376_256, 1_376_256)
	b.Finish()
	if out.Len() != 0 {
		t.Fatalf("drew %q for work of 30 ms", out.String())
	}
}

// TestRateIsMeasured: the bar fills with the work done, the rate appears
// only after a second and equals bytes over elapsed time, and the final
// line states the total and the time taken.
func TestRateIsMeasured(t *testing.T) {
	var out bytes.Buffer
	c := &clock{t: time.Unix(0, 0)}
	b := newTestBar(&out, c)
	c.advance(600 * time.Millisecond)
	b.Update(50_000_000, 100_000_000)
	first := out.String()
	if !strings.Contains(first, "[============            ]  50% 50.0 MB / 100 MB") || strings.Contains(first, "/s") {
		t.Fatalf("at 600 ms, half done: %q", first)
	}
	c.advance(1400 * time.Millisecond) // 2 s in
	b.Update(80_000_000, 100_000_000)
	second := strings.TrimPrefix(out.String(), first)
	if !strings.Contains(second, "80% 80.0 MB / 100 MB, 40.0 MB/s, about 500ms left") {
		t.Fatalf("at 2 s, 80 MB done: %q", second)
	}
	c.advance(50 * time.Millisecond)
	b.Update(81_000_000, 100_000_000) // within the redraw interval: not drawn
	if strings.Contains(out.String(), "81%") {
		t.Fatalf("redrawn within %v: %q", every, out.String())
	}
	c.advance(450 * time.Millisecond)
	b.Update(100_000_000, 100_000_000)
	b.Finish()
	if !strings.HasSuffix(out.String(), "100% 100 MB / 100 MB, 40.0 MB/s, 2.5s\x1b[K\n") {
		t.Fatalf("final line: %q", out.String())
	}
	b.Update(1, 1)
	b.Finish()
	if strings.Count(out.String(), "\n") != 1 {
		t.Fatalf("drew after Finish: %q", out.String())
	}
}

func TestUnknownTotalAndNil(t *testing.T) {
	var out bytes.Buffer
	c := &clock{t: time.Unix(0, 0)}
	b := newAt(&out, "accounts", Count, c.now)
	c.advance(3 * time.Second)
	b.Update(30000, 0)
	if got := out.String(); !strings.Contains(got, "accounts 30000, 10000/s") || strings.Contains(got, "%") {
		t.Fatalf("unknown total: %q", got)
	}
	var none *Bar
	none.Update(1, 2)
	none.Describe("x")
	none.Finish()
	if OnTerminal(&out, "x", Count) != nil {
		t.Fatal("a buffer is not a terminal")
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 1000: "1.00 kB", 1_376_256: "1.38 MB", 150_000_000: "150 MB", 37e9: "37.0 GB"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
