// Package fastserve runs a fasthttp server until its context ends and then
// shuts it down gracefully: the serving loop the cdn, the pir-server and
// the updater's metrics share.
package fastserve

import (
	"context"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// maxDrain bounds the drain before a shutdown (see Serve).
const maxDrain = time.Second

// Serve answers on ln until ctx is cancelled, then drains and gives
// in-flight requests up to grace to finish. It returns Serve's error if
// the server stops by itself, nil after a shutdown.
//
// Draining: for up to grace/5 (at most 1 s, less once no connection is
// open) the server keeps serving, and every response says "Connection:
// close". A keep-alive client then moves to another instance with its next
// request instead of sending it on a connection the shutdown closes, which
// fails a POST (clients do not resend non-idempotent requests). Meanwhile
// a Kubernetes Service stops routing to a terminating pod.
func Serve(ctx context.Context, srv *fasthttp.Server, ln net.Listener, grace time.Duration, log *slog.Logger) error {
	var draining atomic.Bool
	if h := srv.Handler; h != nil {
		srv.Handler = func(rc *fasthttp.RequestCtx) {
			h(rc)
			if draining.Load() {
				rc.SetConnectionClose()
			}
		}
	}
	srv.CloseOnShutdown = true // and so does every response during the shutdown
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	draining.Store(true)
	for end := time.Now().Add(min(grace/5, maxDrain)); time.Now().Before(end) && srv.GetOpenConnectionsCount() > 0; {
		time.Sleep(10 * time.Millisecond)
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.ShutdownWithContext(sctx); err != nil {
		log.Warn("shutdown did not finish in time", "err", err)
	}
	// A shutdown before Serve registered ln (a Close right after start)
	// finds no listener to close, and Serve would then run forever.
	_ = ln.Close()
	<-errc
	return nil
}
