package client

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// cuttingCDN is a proxy in front of the test CDN that cuts the first
// snapshot download after cut bytes (the connection closes mid-body, as a
// flaky network does) and records the Range header of every snapshot
// request. ignoreRange makes it drop Range headers (a server without
// Range support).
type cuttingCDN struct {
	mu     sync.Mutex
	ranges []string
	cut    int64
	cutOne bool
}

func (e *testEnv) cuttingProxy(t *testing.T, cut int64, ignoreRange bool) (string, *cuttingCDN) {
	t.Helper()
	target, _ := url.Parse(e.cdnURL)
	cc := &cuttingCDN{cut: cut}
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.Path, "snapshot-") {
			rp.ServeHTTP(w, r)
			return
		}
		cc.mu.Lock()
		cc.ranges = append(cc.ranges, r.Header.Get("Range"))
		first := !cc.cutOne
		cc.cutOne = true
		cc.mu.Unlock()
		if ignoreRange {
			r.Header.Del("Range")
		}
		r.Header.Set("Accept-Encoding", "identity")
		if !first {
			rp.ServeHTTP(w, r)
			return
		}
		// The first download: headers and cut bytes, then the connection
		// goes away.
		resp, err := http.DefaultTransport.RoundTrip(rewrite(r, target))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.CopyN(w, resp.Body, cc.cut)
		w.(http.Flusher).Flush()
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.(*net.TCPConn).SetLinger(0)
		conn.Close()
	}))
	t.Cleanup(srv.Close)
	return srv.URL, cc
}

func rewrite(r *http.Request, target *url.URL) *http.Request {
	out := r.Clone(r.Context())
	out.URL.Scheme, out.URL.Host, out.Host, out.RequestURI = target.Scheme, target.Host, target.Host, ""
	return out
}

// TestSnapshotDownloadResumes: a snapshot download cut part way goes on
// from where it stopped (one Range request), and the hints built from the
// resumed stream answer correctly. A server that ignores Range is read
// from the start again, skipping what was already taken.
func TestSnapshotDownloadResumes(t *testing.T) {
	for _, ignoreRange := range []bool{false, true} {
		e := newTestEnv(t, 3000)
		man, err := e.dir.ReadManifest()
		if err != nil {
			t.Fatal(err)
		}
		size := int64(man.Snapshot().Size)
		cut := size * 2 / 5
		proxy, cc := e.cuttingProxy(t, cut, ignoreRange)
		direct := e.cdnURL
		e.cdnURL = proxy
		c := e.newClient(nil)
		e.cdnURL = direct
		if err := c.Sync(context.Background()); err != nil {
			t.Fatalf("ignoreRange %v: sync over a cut connection: %v", ignoreRange, err)
		}
		cc.mu.Lock()
		ranges := cc.ranges
		cc.mu.Unlock()
		if len(ranges) != 2 || ranges[0] != "" || !strings.HasPrefix(ranges[1], "bytes=") {
			t.Fatalf("ignoreRange %v: snapshot requests with Range %q, want one plain then one resume", ignoreRange, ranges)
		}
		t.Logf("ignoreRange %v: cut at %d of %d bytes, resumed with %q", ignoreRange, cut, size, ranges[1])
		for _, a := range e.accounts[:20] {
			e.checkLookup(c, a, true)
		}
	}
}
