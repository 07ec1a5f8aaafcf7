package browser

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

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
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tab, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	return tab
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
