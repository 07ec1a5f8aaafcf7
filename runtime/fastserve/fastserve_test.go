package fastserve

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestDrain: after the context ends, a keep-alive client's next request is
// still answered, with "Connection: close", so it never sends on a
// connection the shutdown closes; then Serve returns.
func TestDrain(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(rc *fasthttp.RequestCtx) { rc.SetBodyString("ok") }}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, srv, ln, 5*time.Second, slog.New(slog.DiscardHandler)) }()
	c := &http.Client{}
	url := "http://" + ln.Addr().String() + "/"
	get := func() *http.Response {
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if r := get(); r.Close {
		t.Fatal("Connection: close before the shutdown")
	}
	cancel()
	time.Sleep(50 * time.Millisecond) // draining now, on the same keep-alive connection
	if r := get(); !r.Close || r.StatusCode != http.StatusOK {
		t.Fatalf("during the drain: status %d, close %v; want 200 with Connection: close", r.StatusCode, r.Close)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Serve did not return after the drain")
	}
}
