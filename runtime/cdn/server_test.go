package cdn

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testSite writes a small dataset directory and serves it on 127.0.0.1:0.
type testSite struct {
	dir, url string
	srv      *Server
	files    map[string][]byte
}

func startSite(t *testing.T, files map[string][]byte) *testSite {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		srv.Close()
	})
	return &testSite{dir: dir, url: "http://" + ln.Addr().String(), srv: srv, files: files}
}

var client = &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 10 * time.Second}

func get(t *testing.T, method, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func testFiles() map[string][]byte {
	manifest := []byte(`{"format":1,"epoch":7,"files":[` + strings.Repeat(`{"name":"x","size":1},`, 40) + `{}]}`)
	// A snapshot-like file: random tags and small balances compress a bit.
	snap := make([]byte, smallGzipMax+smallGzipMax/4) // just past in-memory gzip: precompressed
	for i := 0; i < len(snap); i += 16 {
		h := sha256.Sum256([]byte{byte(i), byte(i >> 8), byte(i >> 16)})
		copy(snap[i:i+8], h[:8])
		snap[i+8] = byte(i)
	}
	return map[string][]byte{
		"manifest.json":  manifest,
		"head.json":      []byte(`{"epoch":8}`),
		"deltas/8.delta": bytes.Repeat([]byte{1, 0, 0, 0, 9}, 100),
		"snapshot-" + hex.EncodeToString(make([]byte, 32)) + ".bin": snap,
		".hidden.tmp-1": []byte("secret temp"),
		"sub/notes.txt": []byte("notes"),
		"empty.bin":     nil,
	}
}

func snapName(files map[string][]byte) string {
	for n := range files {
		if strings.HasPrefix(n, "snapshot-") {
			return n
		}
	}
	return ""
}

func TestServeFilesHeaders(t *testing.T) {
	s := startSite(t, testFiles())
	resp, body := get(t, "GET", s.url+"/manifest.json")
	if resp.StatusCode != 200 || !bytes.Equal(body, s.files["manifest.json"]) {
		t.Fatalf("manifest: %d %q", resp.StatusCode, body)
	}
	sum := sha256.Sum256(s.files["manifest.json"])
	if want := `"` + hex.EncodeToString(sum[:16]) + `"`; resp.Header.Get("ETag") != want {
		t.Errorf("etag %q, want %q", resp.Header.Get("ETag"), want)
	}
	for h, want := range map[string]string{
		"Cache-Control":               "no-cache",
		"Content-Type":                "application/json",
		"Access-Control-Allow-Origin": "*",
		"Accept-Ranges":               "bytes",
	} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("manifest %s = %q, want %q", h, got, want)
		}
	}
	for _, name := range []string{"deltas/8.delta", snapName(s.files)} {
		resp, body := get(t, "GET", s.url+"/"+name)
		if resp.StatusCode != 200 || !bytes.Equal(body, s.files[name]) {
			t.Fatalf("%s: %d, %d bytes", name, resp.StatusCode, len(body))
		}
		if got := resp.Header.Get("Cache-Control"); !strings.Contains(got, "immutable") {
			t.Errorf("%s Cache-Control = %q, want immutable", name, got)
		}
	}
	resp, body = get(t, "GET", s.url+"/empty.bin")
	if resp.StatusCode != 200 || len(body) != 0 {
		t.Errorf("empty file: %d %q", resp.StatusCode, body)
	}
	resp, body = get(t, "HEAD", s.url+"/deltas/8.delta")
	if resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength != int64(len(s.files["deltas/8.delta"])) {
		t.Errorf("HEAD: %d len %d body %d", resp.StatusCode, resp.ContentLength, len(body))
	}
}

func TestConditionalGet(t *testing.T) {
	s := startSite(t, testFiles())
	resp, _ := get(t, "GET", s.url+"/head.json")
	etag := resp.Header.Get("ETag")
	for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
		resp, body := get(t, "GET", s.url+"/head.json", "If-None-Match", inm)
		if resp.StatusCode != 304 || len(body) != 0 {
			t.Errorf("If-None-Match %s: %d %q", inm, resp.StatusCode, body)
		}
	}
	resp, _ = get(t, "GET", s.url+"/head.json", "If-None-Match", `"stale"`)
	if resp.StatusCode != 200 {
		t.Errorf("stale etag: %d", resp.StatusCode)
	}
	// A new version (atomic replace) gets a new ETag.
	p := filepath.Join(s.dir, "head.json")
	os.WriteFile(p+".new", []byte(`{"epoch":9}`), 0o644)
	os.Rename(p+".new", p)
	resp, body := get(t, "GET", s.url+"/head.json", "If-None-Match", etag)
	if resp.StatusCode != 200 || string(body) != `{"epoch":9}` || resp.Header.Get("ETag") == etag {
		t.Errorf("after replace: %d %q etag %s", resp.StatusCode, body, resp.Header.Get("ETag"))
	}
}

func TestRanges(t *testing.T) {
	s := startSite(t, testFiles())
	name := snapName(s.files)
	data := s.files[name]
	size := len(data)
	resp, _ := get(t, "HEAD", s.url+"/"+name)
	etag := resp.Header.Get("ETag")
	cases := []struct {
		hdr        []string
		code       int
		start, end int
	}{
		{[]string{"Range", "bytes=10-19"}, 206, 10, 20},
		{[]string{"Range", "bytes=100-"}, 206, 100, size},
		{[]string{"Range", "bytes=-5"}, 206, size - 5, size},
		{[]string{"Range", fmt.Sprintf("bytes=%d-%d", size-3, size+100)}, 206, size - 3, size},
		{[]string{"Range", "bytes=0-0", "If-Range", etag}, 206, 0, 1},
		{[]string{"Range", "bytes=0-0", "If-Range", `"old"`}, 200, 0, size},
		{[]string{"Range", "bytes=0-1,5-6"}, 200, 0, size},
		{[]string{"Range", "lines=1-2"}, 200, 0, size},
		{[]string{"Range", "bytes=9-3"}, 200, 0, size},
		{[]string{"Range", fmt.Sprintf("bytes=%d-", size)}, 416, 0, 0},
		{[]string{"Range", "bytes=-0"}, 416, 0, 0},
		// A range always gets the identity encoding, even if gzip is accepted.
		{[]string{"Range", "bytes=1-2", "Accept-Encoding", "gzip"}, 206, 1, 3},
	}
	for _, c := range cases {
		resp, body := get(t, "GET", s.url+"/"+name, c.hdr...)
		if resp.StatusCode != c.code {
			t.Errorf("%v: status %d, want %d", c.hdr, resp.StatusCode, c.code)
			continue
		}
		switch c.code {
		case 206:
			want := fmt.Sprintf("bytes %d-%d/%d", c.start, c.end-1, size)
			if resp.Header.Get("Content-Range") != want || resp.Header.Get("Content-Encoding") != "" {
				t.Errorf("%v: Content-Range %q encoding %q", c.hdr, resp.Header.Get("Content-Range"), resp.Header.Get("Content-Encoding"))
			}
			fallthrough
		case 200:
			if !bytes.Equal(body, data[c.start:c.end]) {
				t.Errorf("%v: wrong bytes (%d)", c.hdr, len(body))
			}
		case 416:
			if resp.Header.Get("Content-Range") != fmt.Sprintf("bytes */%d", size) {
				t.Errorf("%v: Content-Range %q", c.hdr, resp.Header.Get("Content-Range"))
			}
		}
	}
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestGzipSmallAndPrecompressed(t *testing.T) {
	s := startSite(t, testFiles())
	resp, body := get(t, "GET", s.url+"/manifest.json", "Accept-Encoding", "gzip, br")
	if resp.Header.Get("Content-Encoding") != "gzip" || !bytes.Equal(gunzip(t, body), s.files["manifest.json"]) {
		t.Fatalf("manifest gzip: encoding %q", resp.Header.Get("Content-Encoding"))
	}
	if !strings.HasSuffix(resp.Header.Get("ETag"), `-gz"`) || resp.Header.Get("Vary") != "Accept-Encoding" {
		t.Errorf("gzip etag %q vary %q", resp.Header.Get("ETag"), resp.Header.Get("Vary"))
	}
	// 304 for the gzip ETag too.
	resp2, _ := get(t, "GET", s.url+"/manifest.json", "Accept-Encoding", "gzip", "If-None-Match", resp.Header.Get("ETag"))
	if resp2.StatusCode != 304 {
		t.Errorf("gzip If-None-Match: %d", resp2.StatusCode)
	}
	// Tiny files are not worth compressing.
	resp, _ = get(t, "GET", s.url+"/head.json", "Accept-Encoding", "gzip")
	if resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("head.json compressed")
	}

	// The large snapshot is precompressed once in the background.
	name := snapName(s.files)
	deadline := time.Now().Add(90 * time.Second) // gzip under -race on a busy machine is slow
	for {
		resp, body = get(t, "GET", s.url+"/"+name, "Accept-Encoding", "gzip")
		if resp.Header.Get("Content-Encoding") == "gzip" {
			break
		}
		if !bytes.Equal(body, s.files[name]) {
			t.Fatal("identity snapshot differs")
		}
		if time.Now().After(deadline) {
			t.Fatal("snapshot never served gzipped")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !bytes.Equal(gunzip(t, body), s.files[name]) || len(body) >= len(s.files[name]) {
		t.Fatalf("precompressed snapshot wrong (%d bytes)", len(body))
	}
	if _, err := os.Stat(filepath.Join(s.dir, name+".gz")); err != nil {
		t.Errorf("no .gz next to the snapshot: %v", err)
	}
}

func TestStaleGzipNeverServed(t *testing.T) {
	files := testFiles()
	name := snapName(files)
	// A .gz of other content, left by an earlier version.
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Comment = "sha256:" + strings.Repeat("00", 32)
	zw.Write([]byte("stale content"))
	zw.Close()
	files[name+".gz"] = buf.Bytes()
	s := startSite(t, files)
	deadline := time.Now().Add(90 * time.Second) // gzip under -race on a busy machine is slow
	for {
		resp, body := get(t, "GET", s.url+"/"+name, "Accept-Encoding", "gzip")
		if resp.Header.Get("Content-Encoding") == "gzip" {
			if !bytes.Equal(gunzip(t, body), files[name]) {
				t.Fatal("served a stale .gz")
			}
			return
		}
		if !bytes.Equal(body, files[name]) {
			t.Fatal("identity snapshot differs")
		}
		if time.Now().After(deadline) {
			t.Fatal("snapshot never served gzipped")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rawGet sends a request line as given, without any client normalising it.
func rawGet(t *testing.T, addr, target string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", target)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestNoTraversal(t *testing.T) {
	outside := t.TempDir()
	secret := "TOP-SECRET-OUTSIDE"
	os.WriteFile(filepath.Join(outside, "secret.txt"), []byte(secret), 0o644)
	s := startSite(t, testFiles())
	if err := os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(s.dir, "link.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(s.dir, "linkdir")); err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(s.url, "http://")
	rel, _ := filepath.Rel(s.dir, filepath.Join(outside, "secret.txt"))
	for _, target := range []string{
		"/../../../../../../etc/passwd",
		"/" + filepath.ToSlash(rel),
		"/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
		"/deltas/../../../../etc/passwd",
		"/deltas/..%2f..%2f..%2fetc%2fpasswd",
		"/..\\..\\etc\\passwd",
		"/link.txt",
		"/linkdir/secret.txt",
		"/.hidden.tmp-1",
		"/sub",
		"/deltas",
		"/",
		"//etc/passwd",
		"/etc/passwd%00",
		"http://x/../../etc/passwd",
	} {
		code, body := rawGet(t, addr, target)
		if code == 200 || code >= 500 || strings.Contains(body, secret) || strings.Contains(body, "root:") || strings.Contains(body, "secret temp") {
			t.Errorf("GET %s: %d %q", target, code, body)
		}
	}
	// The legitimate file in a subdirectory still works.
	if code, body := rawGet(t, addr, "/sub/notes.txt"); code != 200 || body != "notes" {
		t.Errorf("sub/notes.txt: %d %q", code, body)
	}
}

func TestServiceEndpoints(t *testing.T) {
	files := testFiles()
	delete(files, "manifest.json")
	s := startSite(t, files)
	if resp, _ := get(t, "GET", s.url+"/healthz"); resp.StatusCode != 200 {
		t.Errorf("healthz %d", resp.StatusCode)
	}
	if resp, _ := get(t, "GET", s.url+"/readyz"); resp.StatusCode != 503 {
		t.Errorf("readyz without manifest %d", resp.StatusCode)
	}
	os.WriteFile(filepath.Join(s.dir, "manifest.json"), []byte("{}"), 0o644)
	if resp, _ := get(t, "GET", s.url+"/readyz"); resp.StatusCode != 200 {
		t.Errorf("readyz with manifest %d", resp.StatusCode)
	}
	resp, _ := get(t, "OPTIONS", s.url+"/manifest.json", "Origin", "http://wallet", "Access-Control-Request-Method", "GET")
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("preflight %d %v", resp.StatusCode, resp.Header)
	}
	if resp, _ := get(t, "POST", s.url+"/manifest.json"); resp.StatusCode != 405 {
		t.Errorf("POST %d", resp.StatusCode)
	}
	if resp, _ := get(t, "GET", s.url+"/deltas/99.delta"); resp.StatusCode != 404 || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("missing delta %d %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	_, body := get(t, "GET", s.url+"/metrics")
	for _, want := range []string{`plinko_cdn_requests_total{code="404",kind="delta"} 1`, "plinko_cdn_request_duration_seconds_bucket"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
