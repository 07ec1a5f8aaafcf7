// Package newcomer runs the README's first command the way a new user does:
// the plinko binary, built once, started as `plinko local`, read from its
// combined output, then the example command it prints.
package newcomer

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The last lines of the start-up output, in order. Scripts read the first
// five: they must not change.
var startupTail = []*regexp.Regexp{
	regexp.MustCompile(`^wallet: http://127\.0\.0\.1:\d+/$`),
	regexp.MustCompile(`^rpc: http://127\.0\.0\.1:\d+$`),
	regexp.MustCompile(`^cdn: http://127\.0\.0\.1:\d+$`),
	regexp.MustCompile(`^pir: http://127\.0\.0\.1:\d+$`),
	regexp.MustCompile(`^example address: 0x[0-9a-fA-F]{40}$`),
	regexp.MustCompile(`^example command: \S+/plinko balance --cdn http://127\.0\.0\.1:\d+ --pir http://127\.0\.0\.1:\d+ 0x[0-9a-fA-F]{40}$`),
	regexp.MustCompile(`^ready in [0-9.]+ s; data in a temporary directory, removed on exit \(keep it with --data DIR\)\. Ctrl-C stops everything\.$`),
}

const (
	blockTime   = 200 * time.Millisecond
	statusEvery = 2 * time.Second // 10 blocks
	watch       = 10 * time.Second
)

func TestNewcomer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs the whole system")
	}
	bin := filepath.Join(t.TempDir(), "plinko")
	build := exec.Command("go", "build", "-o", bin, "./runtime/cmd/plinko")
	build.Dir = moduleRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Free ports: other tests run beside this one. Everything else is the
	// default a newcomer gets, the wallet included.
	cmd := exec.CommandContext(ctx, bin, "local", "--block-time", blockTime.String(), "--status-every", statusEvery.String(),
		"--wallet-port", "-1", "--cdn-port", "-1", "--pir-port", "-1", "--rpc-port", "-1")
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw // one stream, as a terminal shows it
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); pw.Close() }()
	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()

	var startup []string
	for len(startup) == 0 || !strings.HasPrefix(startup[len(startup)-1], "ready in ") {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("plinko local exited before ready: %v\n%s", <-exited, strings.Join(startup, "\n"))
			}
			startup = append(startup, l)
		case <-ctx.Done():
			t.Fatalf("no ready line:\n%s", strings.Join(startup, "\n"))
		}
	}
	t.Logf("start-up output:\n%s", strings.Join(startup, "\n"))
	if len(startup) > len(startupTail)+4 {
		t.Errorf("start-up took %d lines; a newcomer should see the steps and the URLs, not logs", len(startup))
	}
	tail := startup[max(0, len(startup)-len(startupTail)):]
	for i, re := range startupTail {
		if i >= len(tail) || !re.MatchString(tail[i]) {
			t.Fatalf("start-up line %d from the end: want %s\n%s", len(startupTail)-i, re, strings.Join(startup, "\n"))
		}
	}
	for _, l := range startup {
		if strings.Contains(l, "level=") || strings.Contains(l, "reorg") {
			t.Errorf("a log line at the default level: %q", l)
		}
	}

	// The example command works as printed.
	example := strings.Fields(strings.TrimPrefix(tail[5], "example command: "))
	address := example[len(example)-1]
	bal := exec.CommandContext(ctx, example[0], example[1:]...)
	bal.Env = append(os.Environ(), "XDG_CACHE_HOME="+t.TempDir(), "PLINKO_PASSPHRASE=newcomer")
	out, err := bal.CombinedOutput()
	if err != nil {
		t.Fatalf("the example command: %v\n%s", err, out)
	}
	last := strings.TrimSpace(string(out))
	last = last[strings.LastIndex(last, "\n")+1:]
	if !regexp.MustCompile(`^` + address + ` [0-9.]+ ETH \(\d+ wei\) at block \d+$`).MatchString(last) {
		t.Fatalf("the example command's last line: %q\n%s", last, out)
	}

	// Steady running: a status line every 10 blocks and nothing else.
	var steady []string
	deadline := time.After(watch)
watching:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("plinko local exited while running: %v", <-exited)
			}
			steady = append(steady, l)
		case <-deadline:
			break watching
		}
	}
	t.Logf("%s of steady running (%s blocks):\n%s", watch, blockTime, strings.Join(steady, "\n"))
	perTen := float64(len(steady)) / (float64(watch) / float64(blockTime) / 10)
	if perTen > 2 || len(steady) < 3 {
		t.Errorf("%d lines in %s of %s blocks (%.1f per 10 blocks): want a status line every %s and nothing else", len(steady), watch, blockTime, perTen, statusEvery)
	}
	status := regexp.MustCompile(`^\d\d:\d\d:\d\d chain at block \d+; published epoch \d+ \(block \d+, \d+ entries changed\); pir-server at epoch \d+, [1-9]\d* query (batch|batches) answered$`)
	for _, l := range steady {
		if !status.MatchString(l) {
			t.Errorf("not a status line: %q", l)
		}
	}

	// Ctrl-C stops everything, exit 0, quietly.
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("after Ctrl-C: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("still running 30 s after Ctrl-C")
	}
	for l := range lines {
		t.Errorf("printed after Ctrl-C: %q", l)
	}
}

func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test")
		}
		dir = parent
	}
}
