package browser

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/plinko-pir/plinko/runtime/wallet"
)

// corruptingCDN is a reverse proxy in front of the real CDN that flips one
// byte in the middle of every snapshot it passes on (what a broken proxy or
// disk would do). Manifest, head and deltas pass unchanged.
func corruptingCDN(t *testing.T, cdn string) string {
	return snapshotProxy(t, cdn, func(resp *http.Response) {
		resp.Body = &flipReader{r: resp.Body, at: resp.ContentLength / 2}
	})
}

// snapshotProxy is a reverse proxy in front of the CDN that passes every
// file on unchanged but the snapshot, whose response wrap may change. It
// asks for identity encoding (wrap sees the bytes, not a gzip stream) and
// whole files (no Range).
func snapshotProxy(t *testing.T, cdn string, wrap func(*http.Response)) string {
	t.Helper()
	target, err := url.Parse(cdn)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	director := rp.Director
	rp.Director = func(r *http.Request) {
		director(r)
		r.Header.Set("Accept-Encoding", "identity")
		r.Header.Del("Range")
	}
	rp.FlushInterval = -1
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.StatusCode == http.StatusOK && strings.Contains(resp.Request.URL.Path, "snapshot-") {
			wrap(resp)
		}
		return nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

type flipReader struct {
	r   io.ReadCloser
	off int64
	at  int64
}

func (f *flipReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if f.at >= f.off && f.at < f.off+int64(n) {
		p[f.at-f.off] ^= 0x01
	}
	f.off += int64(n)
	return n, err
}

func (f *flipReader) Close() error { return f.r.Close() }

// waitError waits until the page shows an error and returns what it shows.
func waitError(t *testing.T, tab context.Context, timeout time.Duration) pageState {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, err := chromedp.Run(tab, chromedp.Evaluate[pageState](readPageState))
		if err == nil && st.ErrorKind != "" {
			return st
		}
		if err == nil && st.State == "ready" {
			t.Fatalf("page became ready, expected an error: %s", st.SyncLine)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no error shown after %v: %+v, %v", timeout, st, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// testSnapshotChecksum: a snapshot corrupted on the way is refused with an
// error that says so; no hints are kept.
func testSnapshotChecksum(t *testing.T, ctx context.Context, sys *system) {
	base := startWallet(t, ctx, corruptingCDN(t, sys.CDN), sys.PIR)
	tab := newBrowser(t, ctx)
	if err := chromedp.Do(tab, chromedp.Navigate(base)); err != nil {
		t.Fatal(err)
	}
	st := waitError(t, tab, time.Minute)
	if st.ErrorKind != "checksum" || !strings.Contains(st.ErrorText, "Snapshot checksum mismatch") || st.State != "error" {
		t.Fatalf("corrupted snapshot: state %q, error %q: %q", st.State, st.ErrorKind, st.ErrorText)
	}
	t.Logf("corrupted snapshot: %q", st.ErrorText)
}

// testOtherChain: a page whose wallet names chain 1 (plinko wallet
// --chain-id 1) in front of the dev chain's deployment (1337) refuses its
// manifest: "Another chain", and no snapshot is downloaded.
func testOtherChain(t *testing.T, ctx context.Context, sys *system) {
	before := sys.snapshotDownloads(t)
	base := startWalletWith(t, ctx, wallet.Config{CDNURL: sys.CDN, PIRURL: sys.PIR, ChainID: 1})
	tab := newBrowser(t, ctx)
	if err := chromedp.Do(tab, chromedp.Navigate(base)); err != nil {
		t.Fatal(err)
	}
	st := waitError(t, tab, time.Minute)
	if st.ErrorKind != "chain" || !strings.Contains(st.ErrorText, "Another chain") || !strings.Contains(st.ErrorText, "chain 1337") {
		t.Fatalf("deployment of another chain: state %q, error %q: %q", st.State, st.ErrorKind, st.ErrorText)
	}
	if got := sys.snapshotDownloads(t); got != before {
		t.Errorf("%d snapshot downloads for another chain", got-before)
	}
	t.Logf("another chain: %q", st.ErrorText)
}

// testStorageFull: with the origin's storage quota cut to 16 KiB, saving the
// hints fails; the page deletes what it saved, keeps the hints in memory
// for this visit, says so, and still looks balances up correctly. After a
// reload nothing is loaded from storage: the snapshot is fetched again, so
// no hint a sent query used can be used twice.
func testStorageFull(t *testing.T, ctx context.Context, sys *system, eth *ethclient.Client) {
	tab := newBrowser(t, ctx)
	origin := strings.TrimSuffix(sys.Wallet, "/")
	quota := float64(16 << 10)
	err := chromedp.Do(tab, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, storage.OverrideQuotaForOrigin, storage.OverrideQuotaForOriginParams{Origin: origin, QuotaSize: &quota})
		return err
	}), chromedp.Navigate(sys.Wallet))
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, tab, time.Minute)
	notice, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.getElementById('notice').hidden ? '' : document.getElementById('notice').textContent`))
	if err != nil || !strings.Contains(notice, "storage is full") {
		t.Fatalf("no storage-full notice: %q, %v", notice, err)
	}
	t.Logf("storage full: %q", notice)
	checkAgainstChain(t, ctx, eth, sys.Funded[2], lookupInPage(t, tab, sys.Funded[2].Hex()), true)
	if err := chromedp.Do(tab, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	st := waitReady(t, tab, time.Minute)
	if st.Telemetry.LoadedFromStorage || st.Telemetry.SnapshotBytes == 0 {
		t.Fatalf("after a visit with full storage the hints came from storage: %+v", st.Telemetry)
	}
}

// testSecondTab: a second tab of the same browser must not use the hints
// the first one holds (the server could link their lookups): it says the
// wallet is open elsewhere, and works once the first tab has gone.
func testSecondTab(t *testing.T, ctx context.Context, sys *system) {
	first := newBrowser(t, ctx)
	if err := chromedp.Do(first, chromedp.Navigate(sys.Wallet)); err != nil {
		t.Fatal(err)
	}
	waitReady(t, first, time.Minute)
	second, cancel := chromedp.NewContext(first) // a new tab, same profile
	defer cancel()
	if err := chromedp.Do(second, chromedp.Navigate(sys.Wallet)); err != nil {
		t.Fatal(err)
	}
	st := waitError(t, second, time.Minute)
	if st.ErrorKind != "tab" || !strings.Contains(st.ErrorText, "Open in another tab") {
		t.Fatalf("second tab: state %q, error %q: %q", st.State, st.ErrorKind, st.ErrorText)
	}
	t.Logf("second tab: %q", st.ErrorText)
	// The first tab leaves; the second one then gets the hints.
	if err := chromedp.Do(first, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(second, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	st = waitReady(t, second, time.Minute)
	if !st.Telemetry.LoadedFromStorage {
		t.Errorf("the second tab rebuilt the hints instead of loading the first tab's: %+v", st.Telemetry)
	}
}

// testPlainHTTP: served over plain HTTP from a name that is not localhost
// (what a deployment without TLS gives), the page is not a secure context:
// no WebCrypto, no Web Locks. It still looks balances up privately (Go's
// AES) and warns that its own integrity is not protected.
func testPlainHTTP(t *testing.T, ctx context.Context, sys *system, eth *ethclient.Client) {
	u, err := url.Parse(sys.Wallet)
	if err != nil {
		t.Fatal(err)
	}
	tab, _ := newBrowserProfile(t, ctx, chromedp.Flag("host-resolver-rules", "MAP wallet.plinko.test 127.0.0.1"))
	insecure := "http://wallet.plinko.test:" + u.Port() + "/"
	if err := chromedp.Do(tab, chromedp.Navigate(insecure)); err != nil {
		t.Fatal(err)
	}
	waitReady(t, tab, 2*time.Minute)
	secure, err := chromedp.Run(tab, chromedp.Evaluate[bool](`window.isSecureContext`))
	if err != nil || secure {
		t.Fatalf("the page at %s is a secure context (%v); the test needs a plain-HTTP one", insecure, err)
	}
	warned, err := chromedp.Run(tab, chromedp.Evaluate[bool](`!document.getElementById('insecure').hidden`))
	if err != nil || !warned {
		t.Fatalf("no plain-HTTP warning shown: %v", err)
	}
	checkAgainstChain(t, ctx, eth, sys.Funded[1], lookupInPage(t, tab, sys.Funded[1].Hex()), true)
	// Without WebCrypto and Web Locks nothing is kept, and the page says so.
	notice, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.getElementById('notice').hidden ? '' : document.getElementById('notice').textContent`))
	if err != nil || !strings.Contains(notice, "keeps nothing between visits") {
		t.Fatalf("no keeps-nothing notice on plain HTTP: %q, %v", notice, err)
	}
	if err := chromedp.Do(tab, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	if st := waitReady(t, tab, 2*time.Minute); st.Telemetry.LoadedFromStorage {
		t.Fatalf("plain HTTP loaded hints from storage: %+v", st.Telemetry)
	}
}
