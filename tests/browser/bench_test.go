package browser

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/plinko-pir/plinko/runtime/wallet"
)

// startWalletOnly serves the wallet page (and bench.html) with the wasm built
// from this checkout; its CDN and PIR URLs point nowhere.
func startWalletOnly(t testing.TB, ctx context.Context) string {
	t.Helper()
	return startWallet(t, ctx, "/cdn/", "/pir/")
}

// startWallet serves the wallet page with the given CDN and PIR URLs, and
// the wasm built from this checkout (or $PLINKO_WALLET_WASM, prebuilt).
func startWallet(t testing.TB, ctx context.Context, cdn, pir string) string {
	t.Helper()
	return startWalletWith(t, ctx, wallet.Config{CDNURL: cdn, PIRURL: pir})
}

// startWalletWith serves the wallet page with cfg (its wasm as startWallet's).
func startWalletWith(t testing.TB, ctx context.Context, cfg wallet.Config) string {
	t.Helper()
	cfg.WasmPath = os.Getenv("PLINKO_WALLET_WASM")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- wallet.Serve(ctx, ln, cfg)
	}()
	t.Cleanup(func() { cancel(); <-done })
	url := "http://" + ln.Addr().String() + "/"
	waitHTTP(t, ctx, url+"readyz", 5*time.Minute)
	return url
}

type benchResult struct {
	N                 float64 `json:"n"`
	W                 float64 `json:"w"`
	C                 float64 `json:"c"`
	Lambda            float64 `json:"lambda"`
	Q                 float64 `json:"q"`
	Offsets           string  `json:"offsets"`
	Keystream         string  `json:"keystream"`
	Ms                float64 `json:"ms"`
	WebcryptoRequests float64 `json:"webcryptoRequests"`
	PrefetchHits      float64 `json:"prefetchHits"`
	WebcryptoBytes    float64 `json:"webcryptoBytes"`
	GoAESBytes        float64 `json:"goAESBytes"`
}

// BenchmarkBrowserHintInit times hint building in headless chromium (the
// wallet's wasm, bench.html) for n = $PLINKO_BENCH_N entries (default 2^23),
// both offset functions, keystream from WebCrypto and from Go's AES:
//
//	go test -run '^$' -bench BrowserHintInit -benchtime 1x -timeout 30m ./tests/browser
func BenchmarkBrowserHintInit(b *testing.B) {
	n := 1 << 23
	if s := os.Getenv("PLINKO_BENCH_N"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		n = v
	}
	runs := os.Getenv("PLINKO_BENCH_RUNS")
	if runs == "" {
		runs = "iprf:webcrypto,iprf:go,aes-scan:webcrypto,aes-scan:go"
	}
	ctx := context.Background()
	base := startWalletOnly(b, ctx)
	for i := 0; i < b.N; i++ {
		for _, run := range strings.Split(runs, ",") {
			// One fresh browser per run, so that its CPU time is this run's.
			tab, profile := newBrowserProfile(b, ctx)
			tctx, cancel := context.WithTimeout(tab, 25*time.Minute)
			if err := chromedp.Do(tctx, chromedp.Navigate(base+"bench.html?runs=")); err != nil {
				b.Fatal(err)
			}
			if _, err := chromedp.Run(tctx, chromedp.Poll[bool](`!!window.benchResults`, chromedp.WithPollingTimeout(5*time.Minute))); err != nil {
				b.Fatal(err)
			}
			load0 := loadAverage()
			cpu0 := browserCPU(profile)
			if err := chromedp.Do(tctx, chromedp.Navigate(fmt.Sprintf("%sbench.html?selftest=0&n=%d&runs=%s", base, n, run))); err != nil {
				b.Fatal(err)
			}
			res, err := chromedp.Run(tctx, chromedp.Poll[[]benchResult](
				`window.benchError ? (() => { throw new Error(window.benchError) })() : window.benchResults`,
				chromedp.WithPollingTimeout(25*time.Minute), chromedp.WithPollingInterval(time.Second)))
			cpu := browserCPU(profile) - cpu0
			cancel()
			if err != nil {
				b.Fatal(err)
			}
			r := res[0]
			b.Logf("n=%.0f w=%.0f c=%.0f lambda=%.0f q=%.0f offsets=%s keystream=%s: %.1f s wall, browser CPU %.1f s (incl. page load and wasm compile), load avg %s -> %s (webcrypto requests %.0f, prefetched %.0f, %.0f MiB webcrypto, %.1f MiB go aes)",
				r.N, r.W, r.C, r.Lambda, r.Q, r.Offsets, r.Keystream, r.Ms/1000, cpu.Seconds(), load0, loadAverage(),
				r.WebcryptoRequests, r.PrefetchHits, r.WebcryptoBytes/(1<<20), r.GoAESBytes/(1<<20))
			b.ReportMetric(r.Ms/1000, fmt.Sprintf("s/hintinit-%s-%s", r.Offsets, r.Keystream))
			b.ReportMetric(cpu.Seconds(), fmt.Sprintf("cpu-s/hintinit-%s-%s", r.Offsets, r.Keystream))
		}
	}
}

// loadAverage is the 1-minute load average, for the benchmark's log.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// TestBrowserKeystream checks in chromium that the wallet's WebCrypto
// keystream (plain and prefetched) equals Go's AES-CTR byte for byte,
// including a counter that wraps through 2^128: hints built with one and
// queried with the other would silently give wrong balances.
func TestBrowserKeystream(t *testing.T) {
	chromiumPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	base := startWalletOnly(t, ctx)
	tab := newBrowser(t, ctx)
	if err := chromedp.Do(tab, chromedp.Navigate(base+"bench.html?runs=")); err != nil {
		t.Fatal(err)
	}
	res, err := chromedp.Run(tab, chromedp.Poll[map[string]any](
		`window.benchError ? (() => { throw new Error(window.benchError) })() : (window.benchResults && window.selftest)`,
		chromedp.WithPollingTimeout(2*time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	if res["ok"] != true {
		t.Fatalf("selftest: %v", res)
	}
	t.Logf("selftest: %v", res)
}
