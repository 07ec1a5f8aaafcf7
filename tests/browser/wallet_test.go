// Package browser drives the wallet page in a real headless chromium against
// the embedded-default system on 127.0.0.1.
package browser

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"
)

func TestBrowserWallet(t *testing.T) {
	chromiumPath(t) // skip or fail before starting anything
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sys := startSystem(t, ctx)

	eth, err := ethclient.DialContext(ctx, sys.RPC)
	if err != nil {
		t.Fatal(err)
	}
	defer eth.Close()

	tab := newBrowser(t, ctx)
	// A browser wallet extension, as the page sees one: an EIP-1193
	// provider at window.ethereum that shares one account.
	provider := fmt.Sprintf(`window.ethereum = { request: async ({method}) => {
		if (method === 'eth_requestAccounts') return [%q];
		throw new Error('unsupported ' + method);
	} };`, strings.ToLower(sys.Funded[0].Hex()))
	err = chromedp.Do(tab, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: provider})
		return err
	}))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := chromedp.Do(tab, chromedp.Navigate(sys.Wallet)); err != nil {
		t.Fatal(err)
	}
	// A picture of the first-visit progress, when the test is quick enough
	// to catch it (small databases build hints in well under a second).
	progressShot := filepath.Join(artifactDir(t), "wallet-first-visit.png")
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		visible, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.body.dataset.state === 'ready' ? 'ready' : (!document.getElementById('hints').hidden ? 'hints' : '')`))
		if err != nil || visible == "ready" {
			break
		}
		if visible == "hints" {
			if shot, err := chromedp.Run(tab, chromedp.FullScreenshot(100)); err == nil && os.WriteFile(progressShot, shot, 0o644) == nil {
				t.Logf("first-visit progress screenshot: %s", progressShot)
			}
			break
		}
	}
	st := waitReady(t, tab, 90*time.Second)
	t.Logf("first visit: hints ready in %v (snapshot %.0f bytes, hints built in %.0f ms), %s",
		time.Since(start).Round(time.Millisecond), st.Telemetry.SnapshotBytes, st.Telemetry.HintsMillis, st.SyncLine)
	if st.Telemetry.SnapshotBytes <= 0 || st.Telemetry.SnapshotBytes != st.Telemetry.SnapshotTotal || st.Telemetry.LoadedFromStorage {
		t.Fatalf("first visit should download the whole snapshot: %+v", st.Telemetry)
	}
	snapshots := sys.snapshotDownloads(t)
	if snapshots < 1 {
		t.Fatalf("CDN counted %d snapshot downloads after the first visit", snapshots)
	}

	// "Use my wallet" fills the address from the extension.
	if err := chromedp.Do(tab, chromedp.Click(chromedp.CSS("#use-wallet"))); err != nil {
		t.Fatal(err)
	}
	filled, err := chromedp.Run(tab, chromedp.Poll[string](`document.getElementById('address').value || false`, chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil || !strings.EqualFold(filled, sys.Funded[0].Hex()) {
		t.Fatalf("Use my wallet filled %q (%v), want %s", filled, err, sys.Funded[0].Hex())
	}
	for _, addr := range sys.Funded[:4] {
		checkAgainstChain(t, ctx, eth, addr, lookupInPage(t, tab, addr.Hex()), true)
	}
	unknown := common.HexToAddress("0x00000000000000000000000000000000deadbeef")
	checkAgainstChain(t, ctx, eth, unknown, lookupInPage(t, tab, strings.ToLower(unknown.Hex())), false)

	shot, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	shotPath := filepath.Join(artifactDir(t), "wallet.png")
	if err := os.WriteFile(shotPath, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("browser test screenshot: %s\n", shotPath)
	t.Logf("screenshot: %s", shotPath)

	// Let a few blocks pass, then reload: state comes from IndexedDB, only
	// deltas are fetched, and the CDN sees no second snapshot download.
	time.Sleep(2500 * time.Millisecond)
	if err := chromedp.Do(tab, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	st = waitReady(t, tab, 60*time.Second)
	t.Logf("reload: %+v, %s", st.Telemetry, st.SyncLine)
	if !st.Telemetry.LoadedFromStorage || st.Telemetry.SnapshotBytes != 0 {
		t.Errorf("reload should load hints from IndexedDB and download no snapshot: %+v", st.Telemetry)
	}
	if got := sys.snapshotDownloads(t); got != snapshots {
		t.Errorf("CDN counted %d snapshot downloads after the reload, %d before", got, snapshots)
	}
	checkAgainstChain(t, ctx, eth, sys.Funded[0], lookupInPage(t, tab, sys.Funded[0].Hex()), true)
	checkSealedAtRest(t, tab, append(sys.Funded[:3:3], unknown))

	// Faults a user can meet, each with its own browser and profile.
	t.Run("snapshot-checksum", func(t *testing.T) { testSnapshotChecksum(t, ctx, sys) })
	t.Run("other-chain", func(t *testing.T) { testOtherChain(t, ctx, sys) })
	t.Run("storage-full", func(t *testing.T) { testStorageFull(t, ctx, sys, eth) })
	t.Run("nothing-leaks", func(t *testing.T) { testNothingLeaks(t, ctx, sys) })
	t.Run("second-tab", func(t *testing.T) { testSecondTab(t, ctx, sys) })
	t.Run("plain-http", func(t *testing.T) { testPlainHTTP(t, ctx, sys, eth) })
	t.Run("passphrase", func(t *testing.T) { testPassphrase(t, ctx, sys) })
}
