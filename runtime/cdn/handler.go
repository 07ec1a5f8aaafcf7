package cdn

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// Kinds of files, the only label request metrics carry (bounded cardinality).
const (
	kindManifest = "manifest"
	kindHead     = "head"
	kindSnapshot = "snapshot"
	kindDelta    = "delta"
	kindOther    = "other"
	kindService  = "service"
)

const (
	cacheImmutable = "public, max-age=31536000, immutable"
	cacheShort     = "no-cache"
	cacheNone      = "no-store"
	maxPathDepth   = 4
	maxSegmentLen  = 255
)

func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	kind := kindService
	defer func() {
		s.metrics.observe(kind, ctx.Response.StatusCode(), time.Since(start), ctx.Response.Header.ContentLength())
	}()
	setCORS(&ctx.Response.Header)

	if ctx.IsOptions() {
		ctx.Response.Header.Set("Access-Control-Max-Age", "86400")
		ctx.SetStatusCode(fasthttp.StatusNoContent)
		return
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		ctx.Response.Header.Set("Allow", "GET, HEAD, OPTIONS")
		textError(ctx, fasthttp.StatusMethodNotAllowed, "method not allowed: use GET or HEAD")
		return
	}
	path := string(ctx.Path())
	switch path {
	case "/healthz":
		ctx.Response.Header.Set("Cache-Control", cacheNone)
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetBodyString("ok\n")
		return
	case "/readyz":
		s.readyz(ctx)
		return
	case "/metrics":
		s.metrics.serve(ctx)
		return
	}
	name, ok := cleanName(path)
	if !ok {
		textError(ctx, fasthttp.StatusBadRequest, "invalid path: segments must match [A-Za-z0-9._-], not start with a dot, and not be empty")
		return
	}
	kind = kindOf(name)
	s.serveFile(ctx, name)
}

func (s *Server) readyz(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set("Cache-Control", cacheNone)
	if _, err := s.root.Stat("manifest.json"); err != nil {
		textError(ctx, fasthttp.StatusServiceUnavailable, "not ready: no manifest.json published yet")
		return
	}
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString("ready\n")
}

func (s *Server) serveFile(ctx *fasthttp.RequestCtx, name string) {
	h := &ctx.Response.Header
	f, err := s.root.Open(name)
	if err != nil {
		notFound(ctx, err, s)
		return
	}
	keep := false
	defer func() {
		if !keep {
			f.Close()
		}
	}()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		textError(ctx, fasthttp.StatusNotFound, "not found")
		h.Set("Cache-Control", cacheNone)
		return
	}
	sum, err := s.sums.get(name, f, fi)
	if err != nil {
		s.log.Error("hashing file", "file", name, "err", err)
		textError(ctx, fasthttp.StatusInternalServerError, "cannot read file")
		return
	}
	size := fi.Size()
	tag := hex.EncodeToString(sum[:16])
	etag := `"` + tag + `"`
	gzTag := `"` + tag + `-gz"`

	if immutable(name) {
		h.Set("Cache-Control", cacheImmutable)
	} else {
		h.Set("Cache-Control", cacheShort)
	}
	h.Set("Accept-Ranges", "bytes")
	h.Set("Vary", "Accept-Encoding")
	h.Set("X-Content-Type-Options", "nosniff")
	h.SetContentType(contentType(name))

	rangeHdr := ctx.Request.Header.Peek(fasthttp.HeaderRange)
	wantGzip := len(rangeHdr) == 0 && compressible(name) && size >= minGzipSize &&
		ctx.Request.Header.HasAcceptEncoding("gzip")

	if inm := ctx.Request.Header.Peek(fasthttp.HeaderIfNoneMatch); len(inm) > 0 && etagMatches(inm, tag) {
		if wantGzip {
			h.Set(fasthttp.HeaderETag, gzTag)
		} else {
			h.Set(fasthttp.HeaderETag, etag)
		}
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}

	if len(rangeHdr) > 0 && ifRangeAllows(ctx.Request.Header.Peek(fasthttp.HeaderIfRange), etag) {
		start, end, status := parseRange(rangeHdr, size)
		switch status {
		case rangeOK:
			h.Set(fasthttp.HeaderETag, etag)
			h.Set(fasthttp.HeaderContentRange, "bytes "+strconv.FormatInt(start, 10)+"-"+strconv.FormatInt(end-1, 10)+"/"+strconv.FormatInt(size, 10))
			ctx.SetStatusCode(fasthttp.StatusPartialContent)
			keep = sendSection(ctx, f, start, end-start)
			return
		case rangeUnsatisfiable:
			h.Set(fasthttp.HeaderContentRange, "bytes */"+strconv.FormatInt(size, 10))
			textError(ctx, fasthttp.StatusRequestedRangeNotSatisfiable, "range not satisfiable")
			return
		}
		// rangeIgnored: malformed or multiple ranges; send the whole file.
	}

	if wantGzip {
		if size <= smallGzipMax {
			body, err := s.smallGz.get(sum, f, size)
			if err != nil {
				s.log.Error("compressing file", "file", name, "err", err)
				textError(ctx, fasthttp.StatusInternalServerError, "cannot read file")
				return
			}
			if body != nil {
				h.Set(fasthttp.HeaderETag, gzTag)
				h.Set(fasthttp.HeaderContentEncoding, "gzip")
				if ctx.IsHead() {
					h.SetContentLength(len(body))
				} else {
					ctx.SetBody(body)
				}
				return
			}
		} else if s.bigGz != nil && immutable(name) {
			if gz, gzSize, ok := s.bigGz.open(ctx, name, sum); ok {
				h.Set(fasthttp.HeaderETag, gzTag)
				h.Set(fasthttp.HeaderContentEncoding, "gzip")
				sendSection(ctx, gz, 0, gzSize)
				return
			}
		}
	}
	h.Set(fasthttp.HeaderETag, etag)
	keep = sendSection(ctx, f, 0, size)
}

// sendSection streams n bytes of f from off (or only the length for HEAD).
// It reports whether f now belongs to the response (closed by fasthttp).
func sendSection(ctx *fasthttp.RequestCtx, f *os.File, off, n int64) bool {
	if ctx.IsHead() {
		ctx.Response.Header.SetContentLength(int(n))
		f.Close()
		return true
	}
	ctx.SetBodyStream(&sectionFile{SectionReader: io.NewSectionReader(f, off, n), f: f}, int(n))
	return true
}

// sectionFile closes its file when fasthttp is done with the body.
type sectionFile struct {
	*io.SectionReader
	f *os.File
}

func (s *sectionFile) Close() error { return s.f.Close() }

func notFound(ctx *fasthttp.RequestCtx, err error, s *Server) {
	ctx.Response.Header.Set("Cache-Control", cacheNone)
	if errors.Is(err, fs.ErrNotExist) || isEscape(err) || errors.Is(err, fs.ErrInvalid) {
		textError(ctx, fasthttp.StatusNotFound, "not found")
		return
	}
	if errors.Is(err, fs.ErrPermission) {
		textError(ctx, fasthttp.StatusNotFound, "not found")
		return
	}
	s.log.Error("opening file", "err", err)
	textError(ctx, fasthttp.StatusInternalServerError, "cannot open file")
}

// isEscape recognises os.Root's refusal of a path leaving the root (e.g. a
// symlink pointing outside).
func isEscape(err error) bool {
	return err != nil && strings.Contains(err.Error(), "escapes from parent")
}

func textError(ctx *fasthttp.RequestCtx, code int, msg string) {
	ctx.Response.Header.Del(fasthttp.HeaderETag)
	ctx.Response.Header.Del(fasthttp.HeaderContentEncoding)
	ctx.SetStatusCode(code)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString(msg + "\n")
}

func setCORS(h *fasthttp.ResponseHeader) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Range, If-None-Match, If-Range, Accept-Encoding")
	h.Set("Access-Control-Expose-Headers", "ETag, Content-Length, Content-Range, Content-Encoding, Accept-Ranges")
}

// cleanName turns a request path into a name inside the root, or refuses it.
func cleanName(path string) (string, bool) {
	if len(path) < 2 || path[0] != '/' {
		return "", false
	}
	name := path[1:]
	if !validName(name) {
		return "", false
	}
	return name, true
}

// validName accepts slash-separated segments of [A-Za-z0-9._-], none empty,
// none starting with a dot (no "..", no hidden or temp files).
func validName(name string) bool {
	if name == "" {
		return false
	}
	depth := 0
	for seg := range strings.SplitSeq(name, "/") {
		depth++
		if depth > maxPathDepth || seg == "" || len(seg) > maxSegmentLen || seg[0] == '.' {
			return false
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			switch {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
			default:
				return false
			}
		}
	}
	return true
}

func kindOf(name string) string {
	switch {
	case name == "manifest.json":
		return kindManifest
	case name == "head.json":
		return kindHead
	case strings.HasPrefix(name, "deltas/"):
		return kindDelta
	case hasHexRun(name, 16):
		return kindSnapshot
	}
	return kindOther
}

// immutable: content-addressed names (a long hex run, the sha256 or a prefix
// of it) and per-epoch deltas never change once published.
func immutable(name string) bool {
	k := kindOf(name)
	return k == kindDelta || k == kindSnapshot
}

func hasHexRun(s string, n int) bool {
	run := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' {
			run++
			if run >= n {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}

func contentType(name string) string {
	switch {
	case strings.HasSuffix(name, ".json"):
		return "application/json"
	case strings.HasSuffix(name, ".gz"):
		return "application/gzip"
	}
	return "application/octet-stream"
}

// compressible: already-compressed files are never gzipped again.
func compressible(name string) bool {
	return !strings.HasSuffix(name, ".gz")
}

// etagMatches compares If-None-Match against the file's tag, for either
// representation (identity or gzip) and weak or strong forms.
func etagMatches(header []byte, tag string) bool {
	for part := range bytes.SplitSeq(header, []byte(",")) {
		p := bytes.TrimSpace(part)
		if string(p) == "*" {
			return true
		}
		p = bytes.TrimPrefix(p, []byte("W/"))
		if len(p) < 2 || p[0] != '"' || p[len(p)-1] != '"' {
			continue
		}
		p = bytes.TrimSuffix(p[1:len(p)-1], []byte("-gz"))
		if string(p) == tag {
			return true
		}
	}
	return false
}

// ifRangeAllows: a Range is honoured only when If-Range is absent or names
// the current strong ETag (we send no Last-Modified, so dates never match).
func ifRangeAllows(ifRange []byte, etag string) bool {
	return len(ifRange) == 0 || string(bytes.TrimSpace(ifRange)) == etag
}

type rangeStatus int

const (
	rangeIgnored rangeStatus = iota
	rangeOK
	rangeUnsatisfiable
)

// parseRange understands one "bytes=a-b", "bytes=a-" or "bytes=-n" range.
// Anything else (several ranges, other units, garbage) is ignored, which RFC
// 9110 allows; a well-formed range past the end is unsatisfiable.
func parseRange(hdr []byte, size int64) (start, end int64, st rangeStatus) {
	spec, ok := bytes.CutPrefix(bytes.TrimSpace(hdr), []byte("bytes="))
	if !ok || bytes.IndexByte(spec, ',') >= 0 {
		return 0, 0, rangeIgnored
	}
	first, last, ok := bytes.Cut(bytes.TrimSpace(spec), []byte("-"))
	if !ok {
		return 0, 0, rangeIgnored
	}
	if len(first) == 0 { // suffix: the last n bytes
		n, err := parseUint(last)
		if err != nil {
			return 0, 0, rangeIgnored
		}
		if n == 0 || size == 0 {
			return 0, 0, rangeUnsatisfiable
		}
		n = min(n, size)
		return size - n, size, rangeOK
	}
	a, err := parseUint(first)
	if err != nil {
		return 0, 0, rangeIgnored
	}
	b := size - 1
	if len(last) > 0 {
		if b, err = parseUint(last); err != nil || b < a {
			return 0, 0, rangeIgnored
		}
	}
	if a >= size {
		return 0, 0, rangeUnsatisfiable
	}
	b = min(b, size-1)
	return a, b + 1, rangeOK
}

func parseUint(b []byte) (int64, error) {
	if len(b) == 0 || len(b) > 18 {
		return 0, errors.New("bad number")
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, errors.New("bad number")
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}
