// Package local is the embedded default: the whole system on 127.0.0.1 in
// one process (devnet, db-gen, hint-gen, updater, pir-server, cdn and
// wallet), behind `plinko local`. Tests start it in-process through Start.
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/plinko-pir/plinko/runtime/cdn"
	"github.com/plinko-pir/plinko/runtime/dataset"
	"github.com/plinko-pir/plinko/runtime/dbgen"
	"github.com/plinko-pir/plinko/runtime/devnet"
	"github.com/plinko-pir/plinko/runtime/pirserver"
	"github.com/plinko-pir/plinko/runtime/progress"
	"github.com/plinko-pir/plinko/runtime/snapshot"
	"github.com/plinko-pir/plinko/runtime/updater"
	"github.com/plinko-pir/plinko/runtime/wallet"
)

// Config of a local system. The zero value picks the defaults below and
// the fixed ports 8080 (wallet), 8081 (cdn), 8082 (pir), 8545 (rpc).
type Config struct {
	// Data keeps the chain, database, published files and updater state
	// across restarts; "" uses a temporary directory removed on Close.
	Data      string
	Accounts  int           // funded accounts (default 10000)
	BlockTime time.Duration // default 2s
	Seed      uint64        // devnet seed: addresses and balances

	Host string // default 127.0.0.1
	// Ports; 0 means the default, -1 a free port (tests).
	WalletPort, CDNPort, PIRPort, RPCPort int
	// MetricsPort serves the updater's /metrics (the pir-server and cdn
	// serve theirs on their own ports); 0 and -1: a free port.
	MetricsPort int

	// SkipWallet leaves the wallet page out (tests: it builds its
	// WebAssembly on first use, which costs CPU the chain needs).
	SkipWallet bool
	// SnapshotEvery makes the updater publish a fresh snapshot every K
	// epochs (default 900: 30 minutes of 2 s blocks).
	SnapshotEvery uint64

	Logger *slog.Logger // nil: discard
	// Progress receives db-gen's progress bar when it is a terminal.
	Progress io.Writer
	// Console receives the summary for people: a line per start-up step
	// and, from Run, the URLs and a status line every StatusEvery
	// (default 30 s). nil: none.
	Console     io.Writer
	StatusEvery time.Duration
	// Command is how the user runs plinko, for the example command
	// (default "plinko").
	Command string
}

// Defaults.
const (
	DefaultAccounts   = 10000
	DefaultBlockTime  = 2 * time.Second
	DefaultWalletPort = 8080
	DefaultCDNPort    = 8081
	DefaultPIRPort    = 8082
	DefaultRPCPort    = 8545
)

func (c *Config) applyDefaults() {
	if c.Accounts == 0 {
		c.Accounts = DefaultAccounts
	}
	if c.BlockTime == 0 {
		c.BlockTime = DefaultBlockTime
	}
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	def := func(p *int, d int) {
		switch *p {
		case 0:
			*p = d
		case -1:
			*p = 0
		}
	}
	def(&c.WalletPort, DefaultWalletPort)
	def(&c.CDNPort, DefaultCDNPort)
	def(&c.PIRPort, DefaultPIRPort)
	def(&c.RPCPort, DefaultRPCPort)
	if c.SnapshotEvery == 0 {
		c.SnapshotEvery = 900
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.StatusEvery == 0 {
		c.StatusEvery = 30 * time.Second
	}
	if c.Command == "" {
		c.Command = "plinko"
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
}

// System is a running local deployment.
type System struct {
	WalletURL, RPCURL, WSURL, CDNURL, PIRURL string
	// UpdaterMetricsURL is the updater's Prometheus endpoint (.../metrics).
	UpdaterMetricsURL string
	// Example is a funded account to try first.
	Example common.Address

	cfg    Config
	log    *slog.Logger
	con    *console
	data   string
	tmp    bool
	node   *devnet.Node
	public dataset.Dir
	pir    *pirserver.Server // the running one, for the status line
	// metrics outlive updater restarts, as a process's would not: counters
	// keep counting, so a scrape sees one updater.
	metrics *updater.Metrics

	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	comps  map[string]*component
	errc   chan error
	// shared are the cdn's and pir-server's sockets, open for the
	// system's lifetime so that restarts hand them over (handover.go).
	shared []*sharedListener
}

// component is one long-running part that can be stopped and started again
// (tests restart the pir-server and the updater under traffic).
type component struct {
	name   string
	cancel context.CancelFunc
	done   chan struct{}
	up     chan struct{} // closed once this instance accepts connections
	start  startFunc
}

// startFunc runs one instance of a component until ctx ends; it calls up
// once it accepts connections. warm asks a server to load its state before
// it accepts any (a rolling restart: the old instance serves meanwhile).
type startFunc func(ctx context.Context, up func(), warm bool) error

// Paths inside the data directory.
func (s *System) chainDir() string     { return filepath.Join(s.data, "chain") }
func (s *System) databasePath() string { return filepath.Join(s.data, "database.bin") }
func (s *System) publicDir() string    { return filepath.Join(s.data, "public") }

// Start brings the whole system up and returns once every server listens
// and the first snapshot is published. Close stops it.
func Start(ctx context.Context, cfg Config) (sys *System, err error) {
	cfg.applyDefaults()
	began := time.Now()
	s := &System{cfg: cfg, log: cfg.Logger, con: newConsole(cfg.Console), comps: map[string]*component{}, errc: make(chan error, 8)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if cfg.Data == "" {
		if s.data, err = os.MkdirTemp("", "plinko-local-"); err != nil {
			return nil, fmt.Errorf("local: creating a temporary data directory: %w", err)
		}
		s.tmp = true
	} else {
		s.data = cfg.Data
	}
	for _, d := range []string{s.publicDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("local: creating %s: %w", d, err)
		}
	}
	s.public = dataset.Dir(s.publicDir())

	// Listen first, so a busy port fails fast with a clear message.
	walletLn, err := s.listen("wallet", cfg.WalletPort, DefaultWalletPort)
	if err != nil {
		return nil, err
	}
	cdnLn, err := s.listen("cdn", cfg.CDNPort, DefaultCDNPort)
	if err != nil {
		walletLn.Close()
		return nil, err
	}
	pirLn, err := s.listen("pir", cfg.PIRPort, DefaultPIRPort)
	if err != nil {
		walletLn.Close()
		cdnLn.Close()
		return nil, err
	}
	metricsLn, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(max(cfg.MetricsPort, 0))))
	if err != nil {
		walletLn.Close()
		cdnLn.Close()
		pirLn.Close()
		return nil, fmt.Errorf("local: the updater's metrics cannot listen: %w", err)
	}
	s.metrics = updater.NewMetrics()
	metricsAddr, firstMetrics := metricsLn.Addr().String(), metricsLn
	s.run("updater-metrics", func(ctx context.Context, up func(), _ bool) error {
		l, err := reuse(&firstMetrics, metricsAddr)
		if err != nil {
			return err
		}
		up()
		return updater.ServeMetrics(ctx, l, s.metrics, s.log.With("component", "updater"))
	})
	s.WalletURL = "http://" + walletLn.Addr().String()
	s.CDNURL = "http://" + cdnLn.Addr().String()
	s.PIRURL = "http://" + pirLn.Addr().String()
	s.UpdaterMetricsURL = "http://" + metricsLn.Addr().String() + "/metrics"

	rpcPort := s.chainPort(cfg.RPCPort)
	rpcAddr := net.JoinHostPort(cfg.Host, strconv.Itoa(rpcPort))
	wsAddr := net.JoinHostPort(cfg.Host, "0")
	if rpcPort != 0 {
		wsAddr = net.JoinHostPort(cfg.Host, strconv.Itoa(rpcPort+1))
	}
	chainDone := s.con.step(ctx, fmt.Sprintf("starting the dev chain (%d funded accounts, a block every %s)", cfg.Accounts, cfg.BlockTime), false)
	chainCfg := devnet.Config{
		Accounts:  cfg.Accounts,
		Seed:      cfg.Seed,
		BlockTime: cfg.BlockTime,
		DataDir:   s.chainDir(),
		// Every block's state stays readable: at 2^23 accounts db-gen takes
		// minutes, longer than a pruning node's 128 recent states last at
		// 2 s blocks, and the updater must replay from db-gen's block.
		Archive:  true,
		HTTPAddr: rpcAddr,
		WSAddr:   wsAddr,
		Logger:   s.log.With("component", "devnet"),
		Progress: cfg.Progress,
	}
	s.node, err = devnet.Start(ctx, chainCfg)
	if errors.Is(err, devnet.ErrOldChain) {
		// A --data of an older plinko: its chain's balances are not what
		// this version derives, so chain and dataset are rebuilt together.
		s.log.Warn("the data directory holds a dev chain of an older plinko; rebuilding it and the dataset", "component", "local", "dir", s.data, "err", err)
		s.con.say("%s holds a dev chain and dataset of an older plinko: rebuilding both", s.data)
		if err = s.removeDerived(s.chainDir()); err == nil {
			s.node, err = devnet.Start(ctx, chainCfg)
		}
	}
	if err != nil {
		walletLn.Close()
		cdnLn.Close()
		pirLn.Close()
		return nil, fmt.Errorf("local: starting the dev chain: %w", err)
	}
	chainDone(fmt.Sprintf("head at block %d (%%s)", s.node.Head().Number))
	s.RPCURL, s.WSURL = s.node.HTTPURL(), s.node.WSURL()
	s.Example = exampleAddress(cfg.Seed, cfg.Accounts)

	// The dataset: reuse what an earlier run published, else build it. One
	// of another format version (an older plinko) cannot be read or served:
	// it is removed and rebuilt from the chain, never half-reused.
	_, merr := s.public.ReadManifest()
	if errors.Is(merr, dataset.ErrFormatVersion) {
		s.log.Warn("the data directory holds a dataset of another format version; rebuilding it", "component", "local", "dir", s.publicDir(), "err", merr)
		s.con.say("%s holds a dataset of an older plinko: rebuilding it from the chain", s.publicDir())
		if rerr := s.removeDerived(); rerr != nil {
			walletLn.Close()
			cdnLn.Close()
			pirLn.Close()
			return nil, rerr
		}
	}
	if merr != nil {
		if err := s.buildDataset(ctx); err != nil {
			walletLn.Close()
			cdnLn.Close()
			pirLn.Close()
			return nil, err
		}
	} else {
		s.log.Info("reusing the published dataset", "component", "local", "dir", s.publicDir())
		s.sayResumed()
	}

	s.startUpdater()
	s.startCDN(cdnLn)
	s.startPIR(pirLn)
	if cfg.SkipWallet {
		walletLn.Close()
		s.WalletURL = ""
	} else {
		s.startWallet(ctx, walletLn)
	}
	s.log.Info("local system up", "component", "local", "seconds", time.Since(began).Seconds())
	return s, nil
}

// listen binds what's port. A default port that is taken (another program,
// or a second plinko local) falls back to a free one, said at Info: the URLs
// printed at start-up name the ports in use. A port chosen with a flag is
// not second-guessed.
func (s *System) listen(what string, port, def int) (net.Listener, error) {
	addr := net.JoinHostPort(s.cfg.Host, strconv.Itoa(port))
	ln, err := net.Listen("tcp", addr)
	if err != nil && port == def && errors.Is(err, syscall.EADDRINUSE) {
		if ln, err = net.Listen("tcp", net.JoinHostPort(s.cfg.Host, "0")); err == nil {
			got := ln.Addr().(*net.TCPAddr).Port
			s.log.Info("default port taken; using a free one", "component", what, "wanted", port, "port", got)
			s.con.say("port %d is taken (another plinko local?): the %s uses %d", port, what, got)
			return ln, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("local: %s cannot listen on %s (choose another port with --%s-port): %w", what, addr, what, err)
	}
	return ln, nil
}

// chainPort is the dev chain's JSON-RPC port (WebSocket on the next): the
// default 8545 gives way to free ports when it or 8546 is taken (another
// node, or a second plinko local), as the other default ports do. The
// chain listens itself, so this probes; a port taken in between still
// fails with the chain's error.
func (s *System) chainPort(port int) int {
	if port != DefaultRPCPort {
		return port
	}
	for _, p := range []int{port, port + 1} {
		ln, err := net.Listen("tcp", net.JoinHostPort(s.cfg.Host, strconv.Itoa(p)))
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				s.log.Info("default port taken; using a free one", "component", "devnet", "wanted", p)
				s.con.say("port %d is taken (another node, or plinko local?): the dev chain uses free ports", p)
				return 0
			}
			return port // let the chain report it
		}
		ln.Close()
	}
	return port
}

// removeDerived deletes what is rebuilt from the chain (the published
// dataset and db-gen's database) and the extra paths given, all inside the
// data directory, then recreates the empty dataset directory.
func (s *System) removeDerived(extra ...string) error {
	for _, p := range append([]string{s.publicDir(), s.databasePath()}, extra...) {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("local: removing outdated %s: %w", p, err)
		}
	}
	if err := os.MkdirAll(s.publicDir(), 0o755); err != nil {
		return fmt.Errorf("local: creating %s: %w", s.publicDir(), err)
	}
	return nil
}

// buildDataset runs db-gen and hint-gen against the dev chain.
func (s *System) buildDataset(ctx context.Context) error {
	done := s.con.step(ctx, "building the database (db-gen) and the clients' snapshot (hint-gen)", false)
	res, err := dbgen.Run(ctx, dbgen.Config{
		RPC:      s.RPCURL,
		Output:   s.databasePath(),
		Logger:   s.log.With("component", "db-gen"),
		Progress: s.cfg.Progress,
	})
	if err != nil {
		return fmt.Errorf("local: db-gen: %w", err)
	}
	m, err := snapshot.Run(ctx, snapshot.Config{
		Database: s.databasePath(),
		Out:      s.publicDir(),
		Logger:   s.log.With("component", "hint-gen"),
	})
	if err != nil {
		return fmt.Errorf("local: hint-gen: %w", err)
	}
	done(fmt.Sprintf("%d accounts at block %d in a table of %d entries; snapshot %s (%%s)",
		res.Stored, res.Number, m.N, progress.FormatBytes(int64(m.Snapshot().Size))))
	return nil
}

// sayResumed tells what a restart with --data goes on from.
func (s *System) sayResumed() {
	m, err := s.public.ReadManifest()
	if err != nil {
		return
	}
	line := fmt.Sprintf("reusing the dataset in %s: snapshot of block %d", s.publicDir(), m.BlockNumber)
	if h, err := s.public.ReadHead(); err == nil && h.Epoch > m.Epoch {
		line += fmt.Sprintf(", deltas to block %d (epoch %d); the updater goes on from there", h.BlockNumber, h.Epoch)
	}
	s.con.say("%s", line)
}

// exampleAddress is a funded account with a visible balance (not dust).
func exampleAddress(seed uint64, accounts int) common.Address {
	for i := devnet.SenderCount; i < accounts; i++ {
		if devnet.BalanceClass(seed, i) == devnet.ClassOrdinary {
			return devnet.AccountAddress(seed, i)
		}
	}
	return devnet.AccountAddress(seed, accounts-1)
}

// FundedAddress is the i-th funded account of the chain's genesis.
func (s *System) FundedAddress(i int) common.Address { return devnet.AccountAddress(s.cfg.Seed, i) }

// Accounts is the number of funded genesis accounts.
func (s *System) Accounts() int { return s.cfg.Accounts }

// Node is the dev chain.
func (s *System) Node() *devnet.Node { return s.node }

// Published is the published dataset directory (what the CDN serves).
func (s *System) Published() dataset.Dir { return s.public }

// run starts a component in its own goroutine under its own context.
func (s *System) run(name string, start startFunc) {
	c := &component{name: name, start: start}
	s.mu.Lock()
	s.comps[name] = c
	s.mu.Unlock()
	s.launch(c, false)
}

func (s *System) launch(c *component, warm bool) {
	ctx, cancel := context.WithCancel(s.ctx)
	c.cancel, c.done, c.up = cancel, make(chan struct{}), make(chan struct{})
	var once sync.Once
	up := func() { once.Do(func() { close(c.up) }) }
	go func() {
		defer close(c.done)
		if err := c.start(ctx, up, warm); err != nil && ctx.Err() == nil {
			s.log.Error("component stopped", "component", c.name, "err", err)
			select {
			case s.errc <- fmt.Errorf("%s: %w", c.name, err):
			default:
			}
		}
	}()
}

// Restart stops a component ("pir-server", "updater", "updater-metrics", "cdn", "wallet") and
// starts it again, as a crash and restart would.
func (s *System) Restart(name string) error {
	s.mu.Lock()
	c, ok := s.comps[name]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("local: no component %q", name)
	}
	c.cancel()
	<-c.done
	s.launch(c, false)
	return nil
}

// RollingRestart replaces the "pir-server" or the "cdn" the way a rolling
// update of replicas behind a Service does: a new instance starts, loads
// its state, and accepts connections beside the old one on the same
// socket; then the old one shuts down gracefully (requests in flight
// finish, idle keep-alive connections close). No connection is refused.
func (s *System) RollingRestart(ctx context.Context, name string) error {
	if name != "pir-server" && name != "cdn" {
		return fmt.Errorf("local: no rolling restart for %q (only pir-server and cdn)", name)
	}
	s.mu.Lock()
	old, ok := s.comps[name]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("local: no component %q", name)
	}
	next := &component{name: name, start: old.start}
	s.launch(next, true)
	select {
	case <-next.up:
	case <-next.done:
		return fmt.Errorf("local: the new %s stopped before it was ready", name)
	case <-ctx.Done():
		next.cancel()
		<-next.done
		return fmt.Errorf("local: waiting for the new %s: %w", name, ctx.Err())
	}
	s.mu.Lock()
	s.comps[name] = next
	s.mu.Unlock()
	old.cancel()
	<-old.done
	return nil
}

// startUpdater follows the chain over WebSocket (newHeads) and publishes a
// delta per block into the public directory, which is also its state.
func (s *System) startUpdater() {
	s.run("updater", func(ctx context.Context, up func(), _ bool) error {
		up()
		return updater.Run(ctx, updater.Config{
			RPC:           s.WSURL,
			Dir:           s.publicDir(),
			Database:      s.databasePath(),
			SnapshotEvery: s.cfg.SnapshotEvery,
			Metrics:       s.metrics,
			Logger:        s.log.With("component", "updater"),
		})
	})
}

func (s *System) startCDN(ln net.Listener) {
	shared := s.share(ln)
	s.run("cdn", func(ctx context.Context, up func(), _ bool) error {
		srv, err := cdn.New(cdn.Config{Dir: s.publicDir(), GzipDir: filepath.Join(s.data, "gzip"),
			Logger: s.log.With("component", "cdn")})
		if err != nil {
			return err
		}
		defer srv.Close()
		up()
		return srv.Serve(ctx, shared.view())
	})
}

func (s *System) startPIR(ln net.Listener) {
	shared := s.share(ln)
	s.run("pir-server", func(ctx context.Context, up func(), warm bool) error {
		srv, err := pirserver.New(pirserver.Config{Source: s.publicDir(), Poll: 100 * time.Millisecond,
			Logger: s.log.With("component", "pir-server")})
		if err != nil {
			return err
		}
		if warm {
			// Serve's own Follow waits for this one (sync.Once) and ends with ctx.
			go srv.Follow(ctx)
			if err := s.caughtUp(ctx, srv); err != nil {
				return err
			}
		}
		up()
		s.mu.Lock()
		s.pir = srv
		s.mu.Unlock()
		return srv.Serve(ctx, shared.view())
	})
}

// caughtUp waits until srv serves at least the epoch published when it
// started waiting, so that a client's hints are never ahead of it.
func (s *System) caughtUp(ctx context.Context, srv *pirserver.Server) error {
	var target uint64
	if h, err := s.public.ReadHead(); err == nil {
		target = h.Epoch
	}
	for {
		if e, ok := srv.Current(); ok && e.Epoch >= target {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// share keeps ln open across restarts of the server on it.
func (s *System) share(ln net.Listener) *sharedListener {
	sl := newSharedListener(ln)
	s.mu.Lock()
	s.shared = append(s.shared, sl)
	s.mu.Unlock()
	return sl
}

// startWallet builds the wallet's WebAssembly client first (on a cache
// miss: about a minute, said on the console), so that the printed wallet
// URL works the moment it is printed.
func (s *System) startWallet(ctx context.Context, ln net.Listener) {
	addr := ln.Addr().String()
	first := ln
	var done func(string)
	wasmPath, err := wallet.EnsureWasmNotify(ctx, "", func() {
		done = s.con.step(ctx, "building the wallet's WebAssembly client from source (first run only, cached after)", true)
	})
	if done != nil {
		result := "built (%s)"
		if err != nil {
			result = "failed (%s): the wallet page will say why"
		}
		done(result)
	}
	if err != nil {
		wasmPath = "" // the wallet server finds another (the image's) or reports it
	}
	s.run("wallet", func(ctx context.Context, up func(), _ bool) error {
		l, err := reuse(&first, addr)
		if err != nil {
			return err
		}
		up()
		// The wasm build goes to the user cache (keyed by source hash), not
		// the data directory: a run without --data would otherwise rebuild
		// it every time.
		return wallet.Serve(ctx, l, wallet.Config{CDNURL: s.CDNURL, PIRURL: s.PIRURL, WasmPath: wasmPath,
			Logger: s.log.With("component", "wallet")})
	})
}

// reuse hands out the listener opened at Start the first time, and a new
// one on the same address after a restart.
func reuse(first *net.Listener, addr string) (net.Listener, error) {
	if l := *first; l != nil {
		*first = nil
		return l, nil
	}
	var lastErr error
	for i := 0; i < 50; i++ { // the old socket may linger for a moment
		l, err := net.Listen("tcp", addr)
		if err == nil {
			return l, nil
		}
		lastErr = err
		time.Sleep(20 * time.Millisecond)
	}
	return nil, fmt.Errorf("listening again on %s: %w", addr, lastErr)
}

// WaitReady waits until the pir-server answers /readyz with 200.
func (s *System) WaitReady(ctx context.Context) error {
	return waitHTTP(ctx, s.PIRURL+"/readyz")
}

// WaitEpoch waits until the updater has published epoch e (or a later one).
func (s *System) WaitEpoch(ctx context.Context, e uint64) error {
	for {
		if h, err := s.public.ReadHead(); err == nil && h.Epoch >= e {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("local: waiting for epoch %d: %w", e, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Err reports the first component that stopped on its own.
func (s *System) Err() <-chan error { return s.errc }

// Close stops every component, then the chain; the temporary data
// directory (without Config.Data) is removed.
func (s *System) Close() error {
	s.cancel()
	s.mu.Lock()
	comps := make([]*component, 0, len(s.comps))
	for _, c := range s.comps {
		comps = append(comps, c)
	}
	s.mu.Unlock()
	for _, c := range comps {
		<-c.done
	}
	s.mu.Lock()
	for _, sl := range s.shared {
		sl.Close()
	}
	s.mu.Unlock()
	if len(comps) > 0 {
		s.log.Info("servers and updater stopped; closing the dev chain", "component", "local")
	}
	var errs []error
	if s.node != nil {
		if err := s.node.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing the dev chain: %w", err))
		}
	}
	if s.tmp {
		if err := os.RemoveAll(s.data); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Run starts the system, prints on out what a person needs (the start-up
// steps, the URLs, an example command, "ready", then a status line every
// StatusEvery), and serves until ctx is cancelled (Ctrl-C). The lines
// starting "wallet: ", "rpc: ", "cdn: ", "pir: " and "example address: "
// are read by scripts: keep them as they are.
func Run(ctx context.Context, cfg Config, out io.Writer) error {
	began := time.Now()
	if cfg.Console == nil {
		cfg.Console = out
	}
	sys, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer sys.Close()
	readyCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	err = sys.WaitReady(readyCtx)
	cancel()
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("local: pir-server never became ready: %w", err)
	}
	if sys.WalletURL != "" {
		fmt.Fprintf(out, "wallet: %s/\n", sys.WalletURL)
	}
	fmt.Fprintf(out, "rpc: %s\ncdn: %s\npir: %s\nexample address: %s\n",
		sys.RPCURL, sys.CDNURL, sys.PIRURL, sys.Example.Hex())
	fmt.Fprintf(out, "example command: %s balance --cdn %s --pir %s %s\n",
		sys.cfg.Command, sys.CDNURL, sys.PIRURL, sys.Example.Hex())
	where := "data in " + sys.data
	if sys.tmp {
		where = "data in a temporary directory, removed on exit (keep it with --data DIR)"
	}
	fmt.Fprintf(out, "ready in %s; %s. Ctrl-C stops everything.\n", seconds(time.Since(began)), where)
	tick := time.NewTicker(sys.cfg.StatusEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-sys.Err():
			return err
		case <-tick.C:
			fmt.Fprintln(out, sys.Status())
		}
	}
}

// QueryBatchesAnswered is the running pir-server's count of answered
// requests (tests check that a poll sends none).
func (s *System) QueryBatchesAnswered() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pir == nil {
		return 0
	}
	return s.pir.Answered()
}

// Status is the one-line summary Run prints now and then: how far the
// chain, the published data and the pir-server are, and how busy it was.
func (s *System) Status() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s chain at block %d", time.Now().Format("15:04:05"), s.node.Head().Number)
	if h, err := s.public.ReadHead(); err == nil {
		fmt.Fprintf(&b, "; published epoch %d (block %d", h.Epoch, h.BlockNumber)
		if d, err := s.public.ReadDelta(h.Epoch); err == nil {
			fmt.Fprintf(&b, ", %d entries changed", len(d.Records))
		}
		b.WriteString(")")
	}
	s.mu.Lock()
	pir := s.pir
	s.mu.Unlock()
	if pir != nil {
		if e, ok := pir.Current(); ok {
			n := pir.Answered()
			fmt.Fprintf(&b, "; pir-server at epoch %d, %d query %s answered", e.Epoch, n, plural(n, "batch", "batches"))
		} else {
			b.WriteString("; pir-server loading")
		}
	}
	return b.String()
}

func plural(n uint64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
