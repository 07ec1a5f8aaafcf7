package pirserver

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/plinko-pir/plinko/runtime/plinko"
)

// FuzzPIRServerHandler sends arbitrary methods, paths, headers and bodies
// straight to the handler of a loaded server: every answer must be a
// success or a 4xx, never a 5xx or a panic.
func FuzzPIRServerHandler(f *testing.F) {
	pub := publish(f, 500)
	s, err := New(Config{Source: string(pub.dir), AheadWait: time.Millisecond, MaxBodyBytes: 64 << 10})
	if err != nil {
		f.Fatal(err)
	}
	if err := s.syncOnce(context.Background()); err != nil {
		f.Fatal(err)
	}
	h := s.Handler()

	c := newTestClient(f, pub)
	var valid [][]byte
	for _, n := range []int{1, 3, plinko.MaxBatch} {
		qs := make([]*plinko.Query, n)
		for i := range qs {
			qs[i], _ = c.cl.Query(uint64(i))
		}
		b, _ := plinko.EncodeQueries(qs)
		valid = append(valid, b)
	}
	future := bytes.Clone(valid[0])
	future[2+2] = 0xff // the first query's epoch, far ahead
	for _, seed := range []struct {
		method, path, hdrs string
		body               []byte
	}{
		{"POST", QueryPath, "Content-Type: application/octet-stream", valid[0]},
		{"POST", QueryPath, "", valid[1]},
		{"POST", QueryPath, "", valid[2]},
		{"POST", QueryPath, "", future},
		{"POST", QueryPath, "", valid[0][:len(valid[0])-3]},
		{"POST", QueryPath, "", []byte{1, 0}},
		{"POST", QueryPath, "", []byte{1, 9}},
		{"POST", QueryPath, "", []byte{2, 9, 0}},
		{"POST", QueryPath, "", []byte{2, 0, 2}},
		{"POST", QueryPath, "", nil},
		{"GET", QueryPath, "", nil},
		{"OPTIONS", QueryPath, "Origin: http://wallet", nil},
		{"GET", EpochPath, "", nil},
		{"GET", "/healthz", "", nil},
		{"GET", "/readyz", "", nil},
		{"GET", "/metrics", "Accept: application/openmetrics-text", nil},
		{"DELETE", "/metrics", "", nil},
		{"GET", "/nope/../../etc", "", nil},
	} {
		f.Add(seed.method, seed.path, seed.hdrs, seed.body)
	}
	f.Fuzz(func(t *testing.T, method, path, hdrs string, body []byte) {
		var raw bytes.Buffer
		raw.WriteString(method + " " + path + " HTTP/1.1\r\nHost: pir\r\n")
		if hdrs != "" {
			raw.WriteString(hdrs + "\r\n")
		}
		raw.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
		raw.Write(body)
		var req fasthttp.Request
		if err := req.ReadLimitBody(bufio.NewReader(&raw), s.cfg.MaxBodyBytes); err != nil {
			return // the server itself answers 400/413 before any handler runs
		}
		var ctx fasthttp.RequestCtx
		ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, nil)
		h(&ctx)
		if code := ctx.Response.StatusCode(); code >= 500 {
			t.Fatalf("%s %q: status %d: %s", method, path, code, ctx.Response.Body())
		}
	})
}
