package local

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/plinko-pir/plinko/runtime/progress"
)

// console is what a person running `plinko local` reads: one line per
// start-up step, the URLs, and a status line now and then. The structured
// logs go to the Logger (quiet by default in the command).
type console struct {
	mu   sync.Mutex
	w    io.Writer
	term bool
}

func newConsole(w io.Writer) *console {
	if w == nil {
		w = io.Discard
	}
	return &console{w: w, term: progress.Terminal(w)}
}

func (c *console) say(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.w, format+"\n", args...)
}

// step prints what starts now and, when done is called, its result (a
// "%s" in it becomes the time taken). With tick, on a terminal, the line
// counts the seconds meanwhile (for work with no progress of its own to
// show); otherwise it is written once, complete.
func (c *console) step(ctx context.Context, what string, tick bool) (done func(result string)) {
	began := time.Now()
	if !tick || !c.term {
		// Long work (a large dev chain, db-gen at scale) says it started.
		slow := time.AfterFunc(2*time.Second, func() { c.say("%s …", what) })
		return func(result string) {
			slow.Stop()
			c.say("%s: %s", what, withTime(result, time.Since(began)))
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			c.mu.Lock()
			fmt.Fprintf(c.w, "\r%s … %s\x1b[K", what, time.Since(began).Round(time.Second))
			c.mu.Unlock()
			select {
			case <-t.C:
			case <-stop:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return func(result string) {
		close(stop)
		wg.Wait()
		c.mu.Lock()
		fmt.Fprintf(c.w, "\r%s: %s\x1b[K\n", what, withTime(result, time.Since(began)))
		c.mu.Unlock()
	}
}

func withTime(result string, d time.Duration) string {
	if strings.Contains(result, "%s") {
		return fmt.Sprintf(result, seconds(d))
	}
	return result
}

// seconds is d for people: "0.4 s", "19 s", "2 min 5 s".
func seconds(d time.Duration) string {
	switch {
	case d < 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%.0f s", d.Seconds())
	}
	d = d.Round(time.Second)
	return fmt.Sprintf("%d min %d s", int(d.Minutes()), int(d.Seconds())%60)
}
