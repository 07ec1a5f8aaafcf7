package browser

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// testPassphrase: "Lock them with a passphrase" rebuilds the hints sealed
// under it; a reload asks for it, refuses a wrong one with a clear error,
// and with the right one loads the hints from storage. The stored state
// names a passphrase as its key source and no stored key is left.
func testPassphrase(t *testing.T, ctx context.Context, sys *system) {
	tab, _ := newBrowserProfile(t, ctx)
	if err := chromedp.Do(tab, chromedp.Navigate(sys.Wallet)); err != nil {
		t.Fatal(err)
	}
	waitReady(t, tab, 90*time.Second)
	submit := func(pass string) {
		t.Helper()
		err := chromedp.Do(tab,
			chromedp.WaitVisible(chromedp.CSS("#passphrase")),
			chromedp.SetValue(chromedp.CSS("#passphrase"), pass),
			chromedp.Click(chromedp.CSS("#passphrase-button")))
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := chromedp.Do(tab, chromedp.Click(chromedp.CSS("#lock"))); err != nil {
		t.Fatal(err)
	}
	submit("correct horse battery")
	waitReady(t, tab, 90*time.Second)
	lookupInPage(t, tab, sys.Funded[2].Hex())

	if err := chromedp.Do(tab, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	st := waitErrorKind(t, tab, "passphrase")
	t.Logf("reload asks: %q", firstLine(st.ErrorText))
	if shot, err := chromedp.Run(tab, chromedp.FullScreenshot(100)); err == nil {
		path := filepath.Join(artifactDir(t), "wallet-passphrase.png")
		if os.WriteFile(path, shot, 0o644) == nil {
			t.Logf("screenshot: %s", path)
		}
	}
	submit("wrong horse")
	st = waitErrorKind(t, tab, "passphrase")
	if !strings.Contains(st.ErrorText, "wrong passphrase") {
		t.Fatalf("a wrong passphrase shows %q", st.ErrorText)
	}
	submit("correct horse battery")
	if st := waitReady(t, tab, 60*time.Second); !st.Telemetry.LoadedFromStorage {
		t.Fatalf("the right passphrase did not load the saved hints: %+v", st.Telemetry)
	}
	source, err := chromedp.Run(tab, chromedp.Evaluate[[]int](`(async () => {
		const req = (r) => new Promise((res, rej) => { r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
		const db = await req(indexedDB.open('plinko-wallet'));
		const vals = await req(db.transaction('state').objectStore('state').getAll());
		db.close();
		return vals.map((v) => v instanceof CryptoKey ? -1 : new Uint8Array(v)[9] === 1 ? new Uint8Array(v)[10] : 0);
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	states := 0
	for _, s := range source {
		switch s {
		case -1:
			t.Fatal("a stored key is left although the hints are sealed with a passphrase")
		case 3: // sealed.SourcePassphrase
			states++
		}
	}
	if states != 1 {
		t.Fatalf("stored key sources %v: want one passphrase-sealed state", source)
	}
}

// waitErrorKind waits until the page shows an error of kind.
func waitErrorKind(t *testing.T, tab context.Context, kind string) pageState {
	t.Helper()
	var st pageState
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var err error
		if st, err = chromedp.Run(tab, chromedp.Evaluate[pageState](readPageState)); err == nil && st.ErrorKind == kind {
			return st
		}
	}
	t.Fatalf("no %s error shown: state %q, error %s: %s", kind, st.State, st.ErrorKind, st.ErrorText)
	return st
}

func firstLine(s string) string { return strings.SplitN(s, "\n", 2)[0] }
