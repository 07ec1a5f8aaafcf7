// Package fastserve runs a fasthttp server until its context ends and then
// shuts it down gracefully: the serving loop the cdn and the pir-server
// share.
package fastserve

import (
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

// Serve answers on ln until ctx is cancelled, then gives in-flight
// requests up to grace to finish. It returns Serve's error if the server
// stops by itself, nil after a shutdown.
func Serve(ctx context.Context, srv *fasthttp.Server, ln net.Listener, grace time.Duration, log *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
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
