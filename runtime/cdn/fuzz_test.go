package cdn

import (
	"bufio"
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// FuzzCDNHandler sends arbitrary methods, paths, headers and bodies straight
// to the handler: every answer must be below 500, nothing may panic, and no
// byte from outside the served directory may come back.
func FuzzCDNHandler(f *testing.F) {
	outside := f.TempDir()
	secret := "FUZZ-SECRET-OUTSIDE"
	os.WriteFile(filepath.Join(outside, "secret"), []byte(secret), 0o644)
	dir := f.TempDir()
	for name, data := range testFiles() {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, data, 0o644)
	}
	os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "escape"))
	srv, err := New(Config{Dir: dir, GzipDir: "-"})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Close() })
	h := srv.Handler()

	for _, seed := range []struct{ method, path, hdrs, body string }{
		{"GET", "/manifest.json", "", ""},
		{"GET", "/manifest.json", "Accept-Encoding: gzip\r\nIf-None-Match: *", ""},
		{"HEAD", "/deltas/8.delta", "Range: bytes=1-2", ""},
		{"GET", "/" + snapName(testFiles()), "Range: bytes=-10\r\nIf-Range: \"x\"", ""},
		{"GET", "/../../etc/passwd", "", ""},
		{"GET", "/escape", "", ""},
		{"GET", "/%2e%2e/secret", "", ""},
		{"OPTIONS", "/head.json", "Origin: http://a", ""},
		{"POST", "/metrics", "Content-Type: text/plain", "hello"},
		{"GET", "/healthz", "", ""},
		{"GET", "/readyz", "", ""},
		{"GET", "/metrics", "", ""},
		{"DELETE", "/deltas/8.delta", "", ""},
		{"GET", "/deltas/8.delta", "Range: bytes=99999999999999999999-", ""},
	} {
		f.Add(seed.method, seed.path, seed.hdrs, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, method, path, hdrs string, body []byte) {
		var raw bytes.Buffer
		raw.WriteString(method + " " + path + " HTTP/1.1\r\nHost: cdn\r\n")
		if hdrs != "" {
			raw.WriteString(hdrs + "\r\n")
		}
		raw.WriteString("Content-Length: " + itoa(len(body)) + "\r\n\r\n")
		raw.Write(body)
		var req fasthttp.Request
		if err := req.Read(bufio.NewReader(&raw)); err != nil {
			return // not an HTTP request; the server would answer 400 itself
		}
		var ctx fasthttp.RequestCtx
		ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, nil)
		h(&ctx)
		defer ctx.Response.Reset()
		if code := ctx.Response.StatusCode(); code >= 500 {
			t.Fatalf("%s %q: status %d: %s", method, path, code, ctx.Response.Body())
		}
		var out bytes.Buffer
		w := bufio.NewWriter(&out)
		if err := ctx.Response.Write(w); err != nil {
			t.Fatalf("writing response: %v", err)
		}
		w.Flush()
		if strings.Contains(out.String(), secret) {
			t.Fatalf("%s %q leaked a file from outside the root", method, path)
		}
	})
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}
