package browser

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/ethereum/go-ethereum/common"
)

// recordingProxy passes requests to target and keeps each one's method, URL
// and body, as the server (or anyone on the path) sees them.
type recordingProxy struct {
	URL  string
	mu   sync.Mutex
	seen []seenRequest
}

type seenRequest struct {
	method, url string
	body        []byte
}

func newRecordingProxy(t *testing.T, target string) *recordingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &recordingProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		p.mu.Lock()
		p.seen = append(p.seen, seenRequest{method: r.Method, url: r.URL.String(), body: body})
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	p.URL = "http://" + ln.Addr().String()
	return p
}

// since returns the requests recorded after the first n.
func (p *recordingProxy) since(n int) []seenRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]seenRequest(nil), p.seen[n:]...)
}

func (p *recordingProxy) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.seen)
}

// testNothingLeaks: what the CDN and the pir-server receive during lookups
// never contains the address (raw or hex, any case), and a lookup of a
// funded address sends exactly what a lookup of an unknown one sends: one
// POST of the same size.
func testNothingLeaks(t *testing.T, ctx context.Context, sys *system) {
	cdn := newRecordingProxy(t, sys.CDN)
	pir := newRecordingProxy(t, sys.PIR)
	base := startWallet(t, ctx, cdn.URL, pir.URL)
	tab := newBrowser(t, ctx)
	if err := chromedp.Do(tab, chromedp.Navigate(base)); err != nil {
		t.Fatal(err)
	}
	waitReady(t, tab, 90*time.Second)

	unknown := common.HexToAddress("0x00000000000000000000000000000000c0ffee00")
	var sizes []int
	for _, addr := range []common.Address{sys.Funded[1], unknown, sys.Funded[2]} {
		c0, p0 := cdn.count(), pir.count()
		lookupInPage(t, tab, addr.Hex())
		posts := 0
		for _, r := range append(cdn.since(c0), pir.since(p0)...) {
			blob := append([]byte(strings.ToLower(r.url)), bytes.ToLower(r.body)...)
			if bytes.Contains(blob, bytes.ToLower(addr.Bytes())) || bytes.Contains(blob, []byte(hex.EncodeToString(addr.Bytes()))) {
				t.Errorf("%s %s carries the looked-up address %s", r.method, r.url, addr.Hex())
			}
			if r.method == http.MethodPost {
				posts++
				sizes = append(sizes, len(r.body))
			}
		}
		if posts != 1 {
			t.Errorf("lookup of %s sent %d POSTs, want 1 (three queries in one request)", addr.Hex(), posts)
		}
	}
	for _, s := range sizes[1:] {
		if s != sizes[0] {
			t.Errorf("query sizes differ between lookups (found vs unknown must look alike): %v", sizes)
		}
	}
	t.Logf("3 lookups: query bodies of %v bytes, no address in any request", sizes)
}
