package browser

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserWalletErrors: when the CDN is down or answers with errors, the
// page says what happened and what to do; it never stays blank.
func TestBrowserWalletErrors(t *testing.T) {
	chromiumPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()

	// A port nothing listens on: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()

	for _, tc := range []struct {
		name, cdn, wantKind, wantText string
	}{
		{"unreachable", closed, "unreachable", "CDN unreachable"},
		{"http-error", "/no-such-cdn/", "server", "The server answered with an error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := startWallet(t, ctx, tc.cdn, closed)
			tab := newBrowser(t, ctx)
			if err := chromedp.Do(tab, chromedp.Navigate(base)); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(2 * time.Minute)
			var st pageState
			for {
				st, err = chromedp.Run(tab, chromedp.Evaluate[pageState](readPageState))
				if err == nil && st.State == "error" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no error shown: %+v, %v", st, err)
				}
				time.Sleep(200 * time.Millisecond)
			}
			if st.ErrorKind != tc.wantKind || !strings.Contains(st.ErrorText, tc.wantText) || !strings.Contains(st.ErrorText, "Try again") {
				t.Fatalf("error shown: kind %q, text %q", st.ErrorKind, st.ErrorText)
			}
			t.Logf("%s: %q", tc.name, st.ErrorText)
		})
	}
}
