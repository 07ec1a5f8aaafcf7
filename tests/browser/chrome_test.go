package browser

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds Debian's chromium (or another Chrome) for the test. In CI
// (CI=true) a missing browser fails the test: .ci/run installs chromium.
func chromiumPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("PLINKO_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium on PATH; CI must install it (apt-get install chromium chromium-driver, see .ci/run)")
	}
	t.Skip("no chromium on PATH (apt-get install chromium chromium-driver, or set PLINKO_CHROMIUM); set CI=true to make this a failure")
	return ""
}

// newBrowser starts headless chromium with a fresh profile and returns a tab.
func newBrowser(t testing.TB, ctx context.Context) context.Context {
	t.Helper()
	tab, _ := newBrowserProfile(t, ctx)
	return tab
}

// newBrowserProfile is newBrowser that also returns the profile directory,
// which names the browser's processes (see browserCPU).
func newBrowserProfile(t testing.TB, ctx context.Context, extra ...chromedp.ExecAllocatorOption) (context.Context, string) {
	t.Helper()
	profile := t.TempDir()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1000, 1100),
		chromedp.UserDataDir(profile),
	}
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tab, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	return tab, profile
}

// browserCPU sums the CPU time (user + system, all threads) of the running
// processes whose command line names profile: the browser started with that
// profile and its renderer, GPU and utility children. Linux only; 0 elsewhere.
func browserCPU(profile string) time.Duration {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var ticks int64
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmd, []byte(profile)) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the parenthesised command: utime is the 14th field
		// of the line, stime the 15th.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + s
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ is 100 on Linux
}

// artifactDir is where the test leaves screenshots: tests/browser/artifacts
// (gitignored), or $PLINKO_ARTIFACTS.
func artifactDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("PLINKO_ARTIFACTS")
	if dir == "" {
		_, file, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(file), "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
