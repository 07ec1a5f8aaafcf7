package wallet

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

//go:embed static
var staticFS embed.FS

// ImageWasmPath is where the container image (runtime/Dockerfile) installs
// the prebuilt wasm, with wasm_exec.js beside it. Used when Config.WasmPath
// is empty and there is no source checkout to build from.
const ImageWasmPath = "/opt/plinko/wasm/plinko.wasm"

// Config configures the wallet server.
type Config struct {
	// Addr is the listen address for Run, e.g. "127.0.0.1:8080".
	Addr string
	// CDNURL and PIRURL are where the page fetches the manifest, snapshot and
	// deltas, and sends PIR queries. Absolute URLs (other hosts: the cdn and
	// pir-server must send CORS headers) or paths on the page's own host
	// (behind one ingress, e.g. "/cdn/" and "/pir/").
	CDNURL string
	PIRURL string
	// WasmPath names a prebuilt plinko.wasm (the container image); the
	// wasm_exec.js beside it is served with it, or the embedded copy when there
	// is none. Empty: build the wasm on demand from the source checkout.
	WasmPath string
	// WasmCacheDir is where on-demand builds go; empty: the user cache dir.
	WasmCacheDir string
	// ChainID, when set, is named in config.json: the page's client then
	// accepts only that chain. 0: it pins the first chain it sees.
	ChainID uint64
	// Logger receives the server's logs; nil: slog.Default().
	Logger *slog.Logger
}

// Server serves the wallet page. It answers at once; the wasm is prepared in
// the background and /readyz says when it is there.
type Server struct {
	cfg      Config
	log      *slog.Logger
	static   map[string]*asset // by URL path
	config   []byte
	csp      string
	ready    chan struct{}
	mu       sync.Mutex
	wasm     *asset
	wasmExec *asset
	wasmErr  error
}

// asset is one file served from memory, with a precompressed copy when that
// pays and a strong ETag.
type asset struct {
	name        string
	contentType string
	body        []byte
	gz          []byte
	etag        string
	immutable   bool
}

func newAsset(name, contentType string, body []byte, immutable bool) *asset {
	sum := sha256.Sum256(body)
	a := &asset{name: name, contentType: contentType, body: body, etag: `"` + hex.EncodeToString(sum[:16]) + `"`, immutable: immutable}
	if len(body) > 512 {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(body)
		zw.Close()
		if buf.Len() < len(body)*9/10 {
			a.gz = buf.Bytes()
		}
	}
	return a
}

// New validates cfg and starts preparing the wasm (load or build) in the
// background; ctx bounds that preparation.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cdn, err := checkServiceURL("cdn", cfg.CDNURL)
	if err != nil {
		return nil, err
	}
	pir, err := checkServiceURL("pir", cfg.PIRURL)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, static: map[string]*asset{}, ready: make(chan struct{})}
	err = fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		urlPath := strings.TrimPrefix(p, "static")
		s.static[urlPath] = newAsset(urlPath, contentTypeOf(urlPath), body, false)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("loading embedded page: %w", err)
	}
	s.static["/"] = s.static["/index.html"]
	connect := []string{"'self'"}
	for _, u := range []*url.URL{cdn, pir} {
		if u.IsAbs() {
			connect = append(connect, u.Scheme+"://"+u.Host)
		}
	}
	// The worker instantiates WebAssembly ('wasm-unsafe-eval'); nothing else
	// runs but our own files, and the page talks only to its cdn and pir.
	s.csp = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; " +
		"connect-src " + strings.Join(connect, " ") + "; img-src 'self' data:; style-src 'self'; " +
		"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
	go s.prepareWasm(ctx)
	return s, nil
}

func checkServiceURL(name, raw string) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("wallet config: the %s URL is empty", name)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("wallet config: bad %s URL %q: %w", name, raw, err)
	}
	if u.IsAbs() && u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("wallet config: %s URL %q: scheme must be http or https", name, raw)
	}
	if !u.IsAbs() && !strings.HasPrefix(u.Path, "/") {
		return nil, fmt.Errorf("wallet config: %s URL %q: use an absolute URL or a path starting with /", name, raw)
	}
	return u, nil
}

func (s *Server) prepareWasm(ctx context.Context) {
	start := time.Now()
	wasmPath := s.cfg.WasmPath
	var err error
	if wasmPath == "" {
		wasmPath, err = EnsureWasmNotify(ctx, s.cfg.WasmCacheDir, func() {
			s.log.Info("building the wallet wasm from source: about a minute the first time, cached by source hash after")
		})
		if errors.Is(err, ErrNoSource) {
			// No toolchain or checkout (the container image): use the
			// wasm the image's build stage installed.
			if _, statErr := os.Stat(ImageWasmPath); statErr == nil {
				wasmPath, err = ImageWasmPath, nil
			}
		}
	}
	var wasm, execJS *asset
	if err == nil {
		wasm, execJS, err = loadWasm(wasmPath)
	}
	s.mu.Lock()
	s.wasm, s.wasmExec, s.wasmErr = wasm, execJS, err
	if err == nil {
		cfg, _ := json.Marshal(map[string]any{
			"cdn":      s.cfg.CDNURL,
			"pir":      s.cfg.PIRURL,
			"wasm":     "wasm/" + strings.Trim(wasm.etag, `"`) + ".wasm",
			"wasmExec": "wasm/" + strings.Trim(execJS.etag, `"`) + ".js",
			"wasmSize": len(wasm.body),
			"chainId":  s.cfg.ChainID,
		})
		s.config = cfg
	}
	s.mu.Unlock()
	close(s.ready)
	if err != nil {
		s.log.Error("wallet wasm unavailable", "err", err)
		return
	}
	s.log.Info("wallet wasm ready", "path", wasmPath, "bytes", len(wasm.body), "gzip_bytes", len(wasm.gz), "took", time.Since(start).Round(time.Millisecond))
}

func loadWasm(wasmPath string) (wasm, execJS *asset, err error) {
	body, err := os.ReadFile(wasmPath)
	if err != nil {
		return nil, nil, fmt.Errorf("reading wallet wasm: %w", err)
	}
	if len(body) < 8 || !bytes.Equal(body[:4], []byte("\x00asm")) {
		return nil, nil, fmt.Errorf("reading wallet wasm %s: not a WebAssembly module", wasmPath)
	}
	js, err := os.ReadFile(filepath.Join(filepath.Dir(wasmPath), wasmExecFile))
	if errors.Is(err, fs.ErrNotExist) {
		js, err = staticFS.ReadFile("static/" + wasmExecFile)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading wasm_exec.js: %w", err)
	}
	return newAsset("plinko.wasm", "application/wasm", body, true), newAsset(wasmExecFile, "text/javascript; charset=utf-8", js, true), nil
}

// WaitReady blocks until the wasm is prepared and returns its error, if any.
func (s *Server) WaitReady(ctx context.Context) error {
	select {
	case <-s.ready:
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.wasmErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ServeHTTP routes the wallet's few endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", s.csp)
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if p := r.URL.Path; p == "/provider.js" || p == "/worker.js" || p == "/config.json" || strings.HasPrefix(p, "/wasm/") {
		// The EIP-1193 provider runs on other sites' pages and loads these.
		h.Set("Access-Control-Allow-Origin", "*")
	}
	switch p := r.URL.Path; {
	case p == "/healthz":
		writeText(w, http.StatusOK, "ok")
	case p == "/readyz":
		select {
		case <-s.ready:
		default:
			writeText(w, http.StatusServiceUnavailable, "wasm not ready yet")
			return
		}
		if err := s.WaitReady(r.Context()); err != nil {
			writeText(w, http.StatusServiceUnavailable, "wasm unavailable: "+err.Error())
			return
		}
		writeText(w, http.StatusOK, "ready")
	case p == "/config.json":
		if err := s.WaitReady(r.Context()); err != nil {
			writeText(w, http.StatusServiceUnavailable, "the wallet code is unavailable on this server: "+err.Error())
			return
		}
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		w.Write(s.config)
	case strings.HasPrefix(p, "/wasm/"):
		if err := s.WaitReady(r.Context()); err != nil {
			writeText(w, http.StatusServiceUnavailable, "the wallet code is unavailable on this server")
			return
		}
		name := strings.TrimPrefix(p, "/wasm/")
		for _, a := range []*asset{s.wasm, s.wasmExec} {
			if name == strings.Trim(a.etag, `"`)+path.Ext(a.name) {
				s.serveAsset(w, r, a)
				return
			}
		}
		http.NotFound(w, r)
	default:
		a, ok := s.static[p]
		if !ok {
			http.NotFound(w, r)
			return
		}
		s.serveAsset(w, r, a)
	}
}

func (s *Server) serveAsset(w http.ResponseWriter, r *http.Request, a *asset) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("ETag", a.etag)
	h.Add("Vary", "Accept-Encoding")
	if a.immutable {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	if match := r.Header.Get("If-None-Match"); match != "" && etagMatches(match, a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if a.gz != nil && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		h.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	h.Set("Content-Length", fmt.Sprint(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body)
}

func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(t), "W/"))
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(name) != "gzip" {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}

func writeText(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}

func contentTypeOf(p string) string {
	switch path.Ext(p) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".wasm":
		return "application/wasm"
	}
	if t := mime.TypeByExtension(path.Ext(p)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// Serve runs the wallet server on ln until ctx ends, then shuts down
// gracefully.
func Serve(ctx context.Context, ln net.Listener, cfg Config) error {
	s, err := New(ctx, cfg)
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("wallet listening", "url", "http://"+ln.Addr().String()+"/", "cdn", cfg.CDNURL, "pir", cfg.PIRURL)
	select {
	case err := <-errc:
		return fmt.Errorf("wallet server: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("wallet server shutdown: %w", err)
	}
	return nil
}

// Run listens on cfg.Addr and serves until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("wallet: listening on %s: %w", cfg.Addr, err)
	}
	return Serve(ctx, ln, cfg)
}
