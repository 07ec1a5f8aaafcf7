package cdn

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/plinko-pir/plinko/runtime/fastserve"
)

// Config says what to serve and how.
type Config struct {
	// Dir is the dataset directory (manifest.json, head.json, snapshot,
	// deltas/).
	Dir string
	// Addr is the listen address for Run, e.g. "127.0.0.1:8081".
	Addr string
	// GzipDir is where precompressed .gz copies of large immutable files are
	// written; empty means Dir itself, "-" turns precompression off (large
	// files are then always sent as they are).
	GzipDir string
	// ReadTimeout bounds reading one request (headers; GET has no body).
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one response; the snapshot is large, so the
	// default is generous.
	WriteTimeout time.Duration
	// IdleTimeout closes idle keep-alive connections.
	IdleTimeout time.Duration
	// Logger receives operational messages (never request paths of clients
	// beyond their kind).
	Logger *slog.Logger
}

const (
	defaultReadTimeout  = 10 * time.Second
	defaultWriteTimeout = 30 * time.Minute
	defaultIdleTimeout  = 60 * time.Second
	shutdownGrace       = 5 * time.Second
)

// Server serves one dataset directory.
type Server struct {
	cfg     Config
	log     *slog.Logger
	root    *os.Root
	sums    *sumCache
	smallGz *smallGzipCache
	bigGz   *gzipStore
	metrics *metrics
}

// New opens cfg.Dir and prepares the handler. The directory must exist; its
// files may appear, change (by atomic rename) and vanish while serving.
func New(cfg Config) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("cdn: no directory to serve")
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = defaultReadTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = defaultWriteTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = defaultIdleTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	root, err := os.OpenRoot(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("cdn: opening %s: %w", cfg.Dir, err)
	}
	s := &Server{
		cfg:     cfg,
		log:     log,
		root:    root,
		sums:    newSumCache(),
		smallGz: newSmallGzipCache(smallGzipCacheBytes),
		metrics: newMetrics(),
	}
	gzDir := cfg.GzipDir
	if gzDir == "" {
		gzDir = cfg.Dir
	}
	if gzDir != "-" {
		if err := os.MkdirAll(gzDir, 0o755); err != nil {
			root.Close()
			return nil, fmt.Errorf("cdn: creating gzip directory %s: %w", gzDir, err)
		}
		gzRoot, err := os.OpenRoot(gzDir)
		if err != nil {
			root.Close()
			return nil, fmt.Errorf("cdn: opening gzip directory %s: %w", gzDir, err)
		}
		s.bigGz = newGzipStore(root, gzRoot, s.log)
	}
	return s, nil
}

// Close releases the directory handles. Call it after Serve returned.
func (s *Server) Close() error {
	if s.bigGz != nil {
		s.bigGz.close()
	}
	return s.root.Close()
}

// Handler is the fasthttp handler for every endpoint.
func (s *Server) Handler() fasthttp.RequestHandler { return s.handle }

// Serve answers requests on ln until ctx is cancelled, then shuts down
// gracefully (in-flight responses get a few seconds to finish). It also
// starts precompressing large immutable files in the background.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &fasthttp.Server{
		Handler:               s.handle,
		Name:                  "plinko-cdn",
		ReadTimeout:           s.cfg.ReadTimeout,
		WriteTimeout:          s.cfg.WriteTimeout,
		IdleTimeout:           s.cfg.IdleTimeout,
		MaxRequestBodySize:    4 << 10, // GET, HEAD and OPTIONS carry no body
		DisableKeepalive:      false,
		NoDefaultServerHeader: true,
		NoDefaultDate:         false,
		ReduceMemoryUsage:     true,
		Logger:                fasthttpLogger{s.log},
	}
	warmCtx, stopWarm := context.WithCancel(ctx)
	defer stopWarm()
	go s.warm(warmCtx)

	s.log.Info("serving", "addr", ln.Addr().String(), "dir", s.cfg.Dir)
	if err := fastserve.Serve(ctx, srv, ln, shutdownGrace, s.log); err != nil {
		return fmt.Errorf("cdn: serving: %w", err)
	}
	return nil
}

// Run serves cfg.Dir on cfg.Addr until ctx is cancelled.
func Run(ctx context.Context, cfg Config) error {
	s, err := New(cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("cdn: listening on %s: %w", cfg.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// warm hashes every file once and precompresses the large immutable ones, so
// the first client of a new snapshot does not wait for either.
func (s *Server) warm(ctx context.Context) {
	err := fs.WalkDir(s.root.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // a file vanished between listing and visiting: skip it
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.IsDir() {
			if name != "." && !validName(name) {
				return fs.SkipDir
			}
			return nil
		}
		if !validName(name) || !d.Type().IsRegular() {
			return nil
		}
		f, err := s.root.Open(name)
		if err != nil {
			return nil
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return nil
		}
		sum, err := s.sums.get(name, f, fi)
		if err != nil {
			return nil
		}
		if s.bigGz != nil && fi.Size() > smallGzipMax && immutable(name) && compressible(name) {
			s.bigGz.ensure(ctx, name, sum)
		}
		return nil
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		s.log.Warn("warming caches", "err", err)
	}
}

// fasthttpLogger routes fasthttp's own messages (connection errors) to slog.
type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...))
}
