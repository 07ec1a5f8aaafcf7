package pirserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/plinko-pir/plinko/runtime/fastserve"
)

// Config says where the dataset comes from and how to serve it.
type Config struct {
	// Source is the published dataset: a directory (manifest.json, head.json,
	// snapshot, deltas/) or a CDN base URL (http:// or https://). A trailing
	// manifest.json is accepted.
	Source string
	// Addr is the listen address for Run, e.g. "127.0.0.1:8082".
	Addr string
	// Poll is how often manifest.json and head.json are checked (default
	// 250ms for a directory, 1s for a CDN).
	Poll time.Duration
	// MaxBodyBytes bounds one POST /v1/query body (default 2 MiB: a lookup
	// at n = 2^28 is about 115 KiB, a portfolio of 20 addresses 1.8 MB, of
	// 100 at n = 2^23 544 kB; the client splits what does not fit).
	MaxBodyBytes int
	// AheadWait is how long a query whose hints are newer than the served
	// epoch waits for the server to catch up before 425 (default 2s).
	AheadWait time.Duration
	// MaxAheadWaiters bounds the queries waiting that way at once (default
	// 64): the epoch is the client's word, so anyone could otherwise hold
	// connections for AheadWait each. Past the bound, 425 at once.
	MaxAheadWaiters int
	// ReadyLag is how long the server may be behind the newest published
	// epoch (applying it) and still report ready (default 5s).
	ReadyLag time.Duration
	// ReadTimeout, WriteTimeout and IdleTimeout bound each connection
	// (defaults 10s, 10s, 60s).
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// Logger gets operational messages only, never query content.
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultMaxBodyBytes = 2 << 20
	shutdownGrace       = 5 * time.Second
)

// Server answers PIR queries over the in-memory database and keeps it in
// sync with the published dataset.
type Server struct {
	cfg     Config
	log     *slog.Logger
	src     source
	metrics *metrics

	mu         sync.RWMutex
	st         *dbState      // nil until the first snapshot is loaded
	advanced   chan struct{} // closed and replaced whenever the epoch changes
	aheadSlots chan struct{} // one per query waiting for a newer epoch (MaxAheadWaiters)

	newest      atomic.Uint64 // newest epoch seen published
	answered    atomic.Uint64 // query batches answered (Answered)
	behindSince atomic.Int64  // unix nanos since the state lags newest; 0: in sync
	followOnce  sync.Once
}

// Answered is the number of query batches answered since New (one per
// lookup, repair or decoy: a count, nothing about what was asked).
func (s *Server) Answered() uint64 { return s.answered.Load() }

// New prepares a server; nothing is loaded until Serve (or Follow) runs.
func New(cfg Config) (*Server, error) {
	src, err := newSource(cfg.Source)
	if err != nil {
		return nil, err
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 250 * time.Millisecond
		if _, remote := src.(*cdnSource); remote {
			cfg.Poll = time.Second
		}
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.AheadWait <= 0 {
		cfg.AheadWait = 2 * time.Second
	}
	if cfg.MaxAheadWaiters <= 0 {
		cfg.MaxAheadWaiters = 64
	}
	if cfg.ReadyLag <= 0 {
		cfg.ReadyLag = 5 * time.Second
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 10 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{
		cfg:        cfg,
		log:        log,
		src:        src,
		metrics:    newMetrics(),
		advanced:   make(chan struct{}),
		aheadSlots: make(chan struct{}, cfg.MaxAheadWaiters),
	}, nil
}

// Handler is the fasthttp handler for every endpoint.
func (s *Server) Handler() fasthttp.RequestHandler { return s.handle }

// Follow keeps the database in sync with the source until ctx is cancelled.
// Serve starts it; call it yourself only when using Handler directly.
func (s *Server) Follow(ctx context.Context) {
	s.followOnce.Do(func() { s.follow(ctx) })
}

// Serve follows the dataset and answers requests on ln until ctx is
// cancelled, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &fasthttp.Server{
		Handler:               s.handle,
		ErrorHandler:          s.requestError,
		Name:                  "plinko-pir",
		ReadTimeout:           s.cfg.ReadTimeout,
		WriteTimeout:          s.cfg.WriteTimeout,
		IdleTimeout:           s.cfg.IdleTimeout,
		MaxRequestBodySize:    s.cfg.MaxBodyBytes,
		NoDefaultServerHeader: true,
		Logger:                fasthttpLogger{s.log},
	}
	followCtx, stopFollow := context.WithCancel(ctx)
	followDone := make(chan struct{})
	go func() {
		defer close(followDone)
		s.Follow(followCtx)
	}()
	defer func() {
		stopFollow()
		<-followDone
	}()

	s.log.Info("serving", "addr", ln.Addr().String(), "source", s.src.String())
	if err := fastserve.Serve(ctx, srv, ln, shutdownGrace, s.log); err != nil {
		return fmt.Errorf("pir-server: serving: %w", err)
	}
	stopFollow()
	<-followDone
	s.release()
	return nil
}

// release drops the database (its buffer is not garbage-collected memory).
// A query still running holds the read lock, so it finishes first; later
// ones get 503.
func (s *Server) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st != nil {
		s.st.eng.free()
		s.st = nil
	}
}

// Run serves on cfg.Addr until ctx is cancelled.
func Run(ctx context.Context, cfg Config) error {
	s, err := New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("pir-server: listening on %s: %w", cfg.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// requestError answers requests fasthttp could not read: oversized bodies
// get 413, the rest 400 or 408, each with a message and CORS headers so a
// browser can show it.
func (s *Server) requestError(ctx *fasthttp.RequestCtx, err error) {
	setCORS(&ctx.Response.Header)
	var small *fasthttp.ErrSmallBuffer
	var netErr *net.OpError
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		s.refuse(ctx, fasthttp.StatusRequestEntityTooLarge, errTooLarge,
			fmt.Sprintf("request body larger than %d bytes", s.cfg.MaxBodyBytes))
	case errors.As(err, &small):
		s.refuse(ctx, fasthttp.StatusRequestHeaderFieldsTooLarge, errTooLarge, "request headers too large")
	case errors.As(err, &netErr) && netErr.Timeout():
		s.refuse(ctx, fasthttp.StatusRequestTimeout, errMalformed, "request timeout")
	default:
		s.refuse(ctx, fasthttp.StatusBadRequest, errMalformed, "cannot parse the HTTP request")
	}
}

// fasthttpLogger drops fasthttp's own messages: some quote the raw bytes of
// a request that failed to parse, which could be query content.
type fasthttpLogger struct{ log *slog.Logger }

func (fasthttpLogger) Printf(string, ...any) {}
