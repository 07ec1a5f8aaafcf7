package browser

import (
	"bytes"
	"context"
	"image/png"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestWalletScreens walks the page through the states a user sees and
// leaves a screenshot of each in the artifacts directory
// (tests/browser/artifacts/screen-*.png): loading with real download
// progress, ready, the result for an address, invalid input (which takes
// the old result away), the CDN down, the pir-server down. Each state is
// checked in the DOM before its picture is taken.
func TestWalletScreens(t *testing.T) {
	chromiumPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	sys := startSystem(t, ctx)
	closed := closedPort(t)
	shoot := func(t *testing.T, tab context.Context, name string) {
		t.Helper()
		shot, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(bytes.NewReader(shot)); err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		path := filepath.Join(artifactDir(t), "screen-"+name+".png")
		if err := os.WriteFile(path, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %s", name, path)
	}
	text := func(t *testing.T, tab context.Context, js string) string {
		t.Helper()
		s, err := chromedp.Run(tab, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return s
	}

	// Loading: the snapshot through a CDN slowed to 256 kB/s, so the
	// progress is caught part way, with a measured rate.
	base := startWallet(t, ctx, slowCDN(t, sys.CDN, 256<<10), sys.PIR)
	tab := newBrowser(t, ctx)
	if err := chromedp.Do(tab, chromedp.Navigate(base)); err != nil {
		t.Fatal(err)
	}
	var progress string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		progress = text(t, tab, `(() => { const b = document.getElementById('download-bar');
			return document.getElementById('download').hidden || b.value < 0.3 * b.max || b.value > 0.8 * b.max ? '' :
				document.getElementById('download-text').textContent; })()`)
		if strings.Contains(progress, "/s") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never saw the download part way with a rate")
		}
	}
	t.Logf("loading: %q", progress)
	shoot(t, tab, "loading")

	st := waitReady(t, tab, 2*time.Minute)
	if !strings.HasPrefix(st.SyncLine, "Hints at block ") {
		t.Fatalf("ready: sync line %q", st.SyncLine)
	}
	shoot(t, tab, "ready")

	x := sys.Funded[0].Hex()
	r := lookupInPage(t, tab, x)
	if shown := text(t, tab, `document.getElementById('result-address').textContent`); shown != x || r.ETH == "" {
		t.Fatalf("result: names %q (want %s), balance %q", shown, x, r.ETH)
	}
	if !strings.Contains(r.Detail, "Valid at block "+r.Block) {
		t.Fatalf("result detail %q", r.Detail)
	}
	shoot(t, tab, "result")

	if err := chromedp.Do(tab, chromedp.SetValue(chromedp.CSS("#address"), "0x12345"), chromedp.Click(chromedp.CSS("#lookup-button"))); err != nil {
		t.Fatal(err)
	}
	hint := text(t, tab, `document.getElementById('input-hint').classList.contains('bad') ? document.getElementById('input-hint').textContent : ''`)
	if hidden := text(t, tab, `String(document.getElementById('result').hidden)`); hidden != "true" || !strings.Contains(hint, "40 hexadecimal") {
		t.Fatalf("invalid input: result hidden %s, hint %q", hidden, hint)
	}
	shoot(t, tab, "invalid")

	// The CDN down: the page says so and offers to try again.
	tab = newBrowser(t, ctx)
	if err := chromedp.Do(tab, chromedp.Navigate(startWallet(t, ctx, closed, sys.PIR))); err != nil {
		t.Fatal(err)
	}
	if st := waitError(t, tab, time.Minute); st.ErrorKind != "unreachable" || !strings.Contains(st.ErrorText, "CDN unreachable") {
		t.Fatalf("cdn down: %+v", st)
	}
	shoot(t, tab, "cdn-down")

	// The pir-server down: hints build (they need only the CDN), the
	// lookup fails with a message, and no result is shown.
	tab = newBrowser(t, ctx)
	if err := chromedp.Do(tab, chromedp.Navigate(startWallet(t, ctx, sys.CDN, closed))); err != nil {
		t.Fatal(err)
	}
	waitReady(t, tab, 2*time.Minute)
	if err := chromedp.Do(tab, chromedp.SetValue(chromedp.CSS("#address"), x), chromedp.Click(chromedp.CSS("#lookup-button"))); err != nil {
		t.Fatal(err)
	}
	kind, err := chromedp.Run(tab, chromedp.Poll[string](`document.getElementById('error').hidden ? false : document.getElementById('error').dataset.kind`,
		chromedp.WithPollingTimeout(time.Minute)))
	if err != nil || kind != "unreachable" || text(t, tab, `String(document.getElementById('result').hidden)`) != "true" {
		t.Fatalf("pir-server down: error %q (%v)", kind, err)
	}
	if st, err := chromedp.Run(tab, chromedp.Evaluate[pageState](readPageState)); err != nil || !strings.Contains(st.ErrorText, "PIR server unreachable") {
		t.Fatalf("pir-server down: %+v, %v", st, err)
	}
	shoot(t, tab, "pir-down")
}

func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + ln.Addr().String()
	ln.Close()
	return addr
}

// slowCDN passes snapshot bytes on at rate bytes per second (uncompressed),
// so a test can watch the download happen.
func slowCDN(t *testing.T, cdn string, rate int) string {
	return snapshotProxy(t, cdn, func(resp *http.Response) {
		resp.Body = &slowReader{r: resp.Body, rate: rate}
	})
}

type slowReader struct {
	r    io.ReadCloser
	rate int
}

func (s *slowReader) Read(p []byte) (int, error) {
	chunk := s.rate / 20 // 20 reads a second
	if len(p) > chunk {
		p = p[:chunk]
	}
	time.Sleep(50 * time.Millisecond)
	return s.r.Read(p)
}

func (s *slowReader) Close() error { return s.r.Close() }
