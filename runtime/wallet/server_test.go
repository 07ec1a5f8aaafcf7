package wallet

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testWasm is a valid WebAssembly module: the header and one custom section
// of compressible filler, big enough that the server gzips it.
func testWasm() []byte {
	payload := append([]byte{4, 't', 'e', 's', 't'}, bytes.Repeat([]byte("plinko "), 1000)...)
	m := []byte("\x00asm\x01\x00\x00\x00")
	m = append(m, 0) // custom section
	n := len(payload)
	for { // LEB128 length
		b := byte(n & 0x7f)
		n >>= 7
		if n != 0 {
			m = append(m, b|0x80)
			continue
		}
		m = append(m, b)
		break
	}
	return append(m, payload...)
}

func newTestServer(t *testing.T, cfg Config, withExec bool) (*Server, []byte) {
	t.Helper()
	dir := t.TempDir()
	wasm := testWasm()
	if err := os.WriteFile(filepath.Join(dir, "plinko.wasm"), wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	if withExec {
		if err := os.WriteFile(filepath.Join(dir, "wasm_exec.js"), []byte("// beside the wasm\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg.WasmPath = filepath.Join(dir, "plinko.wasm")
	cfg.Logger = slog.New(slog.DiscardHandler)
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s, wasm
}

func get(t *testing.T, h http.Handler, method, path string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, r *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestServerEndpoints(t *testing.T) {
	s, wasm := newTestServer(t, Config{CDNURL: "https://cdn.example.org/", PIRURL: "/pir/"}, true)

	for _, p := range []string{"/healthz", "/readyz"} {
		if r := get(t, s, "GET", p, nil); r.StatusCode != 200 {
			t.Fatalf("%s: %d", p, r.StatusCode)
		}
	}

	r := get(t, s, "GET", "/", nil)
	page := string(body(t, r))
	if r.StatusCode != 200 || !strings.Contains(page, "Look up privately") || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("index: %d %q", r.StatusCode, r.Header.Get("Content-Type"))
	}
	csp := r.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "connect-src 'self' https://cdn.example.org;") || !strings.Contains(csp, "'wasm-unsafe-eval'") {
		t.Fatalf("CSP %q", csp)
	}
	for _, p := range []string{"/app.js", "/worker.js", "/style.css", "/index.html"} {
		if r := get(t, s, "GET", p, nil); r.StatusCode != 200 || r.Header.Get("Cache-Control") != "no-cache" || r.Header.Get("ETag") == "" {
			t.Fatalf("%s: %d %v", p, r.StatusCode, r.Header)
		}
	}

	r = get(t, s, "GET", "/config.json", nil)
	var cfg struct{ CDN, PIR, Wasm, WasmExec string }
	if err := json.Unmarshal(body(t, r), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.CDN != "https://cdn.example.org/" || cfg.PIR != "/pir/" || !strings.HasPrefix(cfg.Wasm, "wasm/") || !strings.HasPrefix(cfg.WasmExec, "wasm/") {
		t.Fatalf("config %+v", cfg)
	}

	// The wasm: application/wasm, immutable under its content-addressed name,
	// gzip when asked for, identity otherwise, 304 on a matching ETag.
	r = get(t, s, "GET", "/"+cfg.Wasm, nil)
	if got := body(t, r); r.StatusCode != 200 || r.Header.Get("Content-Type") != "application/wasm" || !bytes.Equal(got, wasm) || r.Header.Get("Content-Encoding") != "" {
		t.Fatalf("wasm identity: %d %v", r.StatusCode, r.Header)
	}
	if !strings.Contains(r.Header.Get("Cache-Control"), "immutable") {
		t.Fatalf("wasm cache-control %q", r.Header.Get("Cache-Control"))
	}
	r = get(t, s, "GET", "/"+cfg.Wasm, map[string]string{"Accept-Encoding": "br, gzip;q=0.8"})
	gz := body(t, r)
	if r.Header.Get("Content-Encoding") != "gzip" || len(gz) >= len(wasm) {
		t.Fatalf("wasm gzip: %v, %d bytes", r.Header, len(gz))
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	if plain, _ := io.ReadAll(zr); !bytes.Equal(plain, wasm) {
		t.Fatal("gzip wasm does not decompress to the wasm")
	}
	if r := get(t, s, "GET", "/"+cfg.Wasm, map[string]string{"Accept-Encoding": "gzip;q=0"}); r.Header.Get("Content-Encoding") != "" {
		t.Fatal("gzip;q=0 got gzip")
	}
	etag := r.Header.Get("ETag")
	if r := get(t, s, "GET", "/"+cfg.Wasm, map[string]string{"If-None-Match": etag}); r.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match: %d", r.StatusCode)
	}
	if r := get(t, s, "HEAD", "/"+cfg.Wasm, nil); r.StatusCode != 200 || len(body(t, r)) != 0 {
		t.Fatalf("HEAD: %d", r.StatusCode)
	}
	r = get(t, s, "GET", "/"+cfg.WasmExec, nil)
	if string(body(t, r)) != "// beside the wasm\n" || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/javascript") {
		t.Fatal("wasm_exec.js beside the wasm not served")
	}

	for _, tc := range []struct {
		method, path string
		code         int
	}{
		{"POST", "/", 405}, {"PUT", "/config.json", 405}, {"GET", "/nope", 404},
		{"GET", "/wasm/0000.wasm", 404}, {"GET", "/../go.mod", 404}, {"GET", "/static/app.js", 404},
	} {
		if r := get(t, s, tc.method, tc.path, nil); r.StatusCode != tc.code {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, r.StatusCode, tc.code)
		}
	}
}

func TestServerEmbeddedWasmExecFallback(t *testing.T) {
	s, _ := newTestServer(t, Config{CDNURL: "/cdn/", PIRURL: "/pir/"}, false)
	var cfg struct{ WasmExec string }
	json.Unmarshal(body(t, get(t, s, "GET", "/config.json", nil)), &cfg)
	got := body(t, get(t, s, "GET", "/"+cfg.WasmExec, nil))
	want, _ := staticFS.ReadFile("static/wasm_exec.js")
	if !bytes.Equal(got, want) {
		t.Fatal("embedded wasm_exec.js not served as the fallback")
	}
}

// The embedded fallback must be the toolchain's own wasm_exec.js, or a wasm
// built by this toolchain could fail to start with it.
func TestEmbeddedWasmExecMatchesToolchain(t *testing.T) {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Skip("no go command:", err)
	}
	want, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := staticFS.ReadFile("static/wasm_exec.js")
	if !bytes.Equal(got, want) {
		t.Fatal("runtime/wallet/static/wasm_exec.js differs from $(go env GOROOT)/lib/wasm/wasm_exec.js: copy it over")
	}
}

func TestServerBadWasmNotReady(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "plinko.wasm")
	os.WriteFile(p, []byte("<html>not wasm</html>"), 0o644)
	s, err := New(context.Background(), Config{CDNURL: "/cdn/", PIRURL: "/pir/", WasmPath: p, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WaitReady(context.Background()); err == nil || !strings.Contains(err.Error(), "not a WebAssembly module") {
		t.Fatalf("WaitReady: %v", err)
	}
	if r := get(t, s, "GET", "/readyz", nil); r.StatusCode != 503 {
		t.Fatalf("readyz %d", r.StatusCode)
	}
	if r := get(t, s, "GET", "/config.json", nil); r.StatusCode != 503 {
		t.Fatalf("config %d", r.StatusCode)
	}
	if r := get(t, s, "GET", "/healthz", nil); r.StatusCode != 200 {
		t.Fatalf("healthz %d", r.StatusCode)
	}
	if r := get(t, s, "GET", "/", nil); r.StatusCode != 200 {
		t.Fatal("the page itself must still load (it shows the error)")
	}
}

func TestConfigValidation(t *testing.T) {
	for _, c := range []Config{
		{CDNURL: "", PIRURL: "/pir/"},
		{CDNURL: "/cdn/", PIRURL: ""},
		{CDNURL: "ftp://x/", PIRURL: "/pir/"},
		{CDNURL: "cdn", PIRURL: "/pir/"},
		{CDNURL: "http://a b/", PIRURL: "/pir/"},
	} {
		if _, err := New(context.Background(), c); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
}

func TestServeShutsDown(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "plinko.wasm")
	os.WriteFile(p, testWasm(), 0o644)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ln, Config{CDNURL: "/cdn/", PIRURL: "/pir/", WasmPath: p, Logger: slog.New(slog.DiscardHandler)})
	}()
	url := "http://" + ln.Addr().String()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := http.Get(url + "/readyz")
		if err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("never ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}

// FuzzServeHTTP: any method, path and headers get an answer below 500 (503
// only while the wasm is unavailable, which it is not here) and never panic.
func FuzzServeHTTP(f *testing.F) {
	f.Add("GET", "/", "gzip", `"x"`)
	f.Add("GET", "/wasm/zz.wasm", "gzip;q=0", "*")
	f.Add("HEAD", "/config.json", ";;,", `W/"a", "b"`)
	f.Add("POST", "/readyz", "", "")
	f.Add("GET", "/%2e%2e/go.mod", "gzip; q=0.5", ",,,")
	dir := f.TempDir()
	p := filepath.Join(dir, "plinko.wasm")
	os.WriteFile(p, testWasm(), 0o644)
	s, err := New(context.Background(), Config{CDNURL: "/cdn/", PIRURL: "/pir/", WasmPath: p, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	s.WaitReady(context.Background())
	f.Fuzz(func(t *testing.T, method, path, acceptEncoding, ifNoneMatch string) {
		req, err := http.NewRequest(method, "http://wallet.test/", nil)
		if err != nil {
			return
		}
		req.URL.Path = path
		req.Header.Set("Accept-Encoding", acceptEncoding)
		req.Header.Set("If-None-Match", ifNoneMatch)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q: %d", method, path, rec.Code)
		}
	})
}
