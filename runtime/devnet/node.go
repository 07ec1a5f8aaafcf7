package devnet

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth"
	"github.com/ethereum/go-ethereum/eth/catalyst"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/eth/filters"
	"github.com/ethereum/go-ethereum/eth/tracers"
	_ "github.com/ethereum/go-ethereum/eth/tracers/native" // prestateTracer, callTracer for debug_trace*
	"github.com/ethereum/go-ethereum/node"
	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/rpc"
)

// Defaults of Config.
const (
	DefaultAccounts          = 1000
	DefaultBlockTime         = 12 * time.Second // like mainnet
	DefaultTxPerBlock        = 8
	DefaultNewAccountEvery   = 4
	DefaultWithdrawalEvery   = 8
	DefaultGenesisAllocLimit = 100_000
	MaxAccounts              = 1 << 24
)

// Config of a devnet. The zero value is a runnable in-memory devnet with
// DefaultAccounts accounts, seed 0, 12 s blocks, traffic on, RPC on free ports
// of 127.0.0.1.
type Config struct {
	Accounts  int           // funded accounts; 0 means DefaultAccounts
	Seed      uint64        // derives every address, balance and traffic choice
	BlockTime time.Duration // 0 means DefaultBlockTime; may be below 1 s (timestamps then run ahead)
	Manual    bool          // no block timer: blocks only from MineBlock and Reorg
	Traffic   Traffic
	DataDir   string // "" keeps the chain in memory (a temp dir for the generator path, removed on Close)
	HTTPAddr  string // host:port of JSON-RPC over HTTP; "" means 127.0.0.1:0
	WSAddr    string // host:port of JSON-RPC over WebSocket; "" means 127.0.0.1:0
	GasLimit  uint64 // block gas limit; 0 means DefaultGasLimit
	Archive   bool   // keep every block's state on disk (no pruning): any block's state is readable, a crash loses at most the newest block

	// GenesisAllocLimit: up to this many accounts the state is built from a
	// genesis alloc (go-ethereum's own path); above it the generator writes the
	// state straight into the database. 0 means DefaultGenesisAllocLimit; -1
	// forces the generator for any size.
	GenesisAllocLimit int

	Logger   *slog.Logger // nil: slog.Default()
	Progress io.Writer    // generator progress bar target when it is a terminal; nil: os.Stderr
}

// Traffic is the synthetic load mined into every block.
type Traffic struct {
	Disabled        bool   // no transfers and no withdrawals: empty blocks
	TxPerBlock      int    // transfers per block; 0 means DefaultTxPerBlock
	NewAccountEvery uint64 // every k-th block's first transfer pays NewAccountAddress(seed, block); 0 means default
	WithdrawalEvery uint64 // every k-th block carries one beacon withdrawal; 0 means default
}

func (c *Config) applyDefaults() error {
	if c.Accounts == 0 {
		c.Accounts = DefaultAccounts
	}
	if c.Accounts < 1 || c.Accounts > MaxAccounts {
		return fmt.Errorf("devnet: accounts %d out of range [1, %d]", c.Accounts, MaxAccounts)
	}
	if c.BlockTime == 0 {
		c.BlockTime = DefaultBlockTime
	}
	if c.BlockTime < 0 {
		return fmt.Errorf("devnet: negative block time %v", c.BlockTime)
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = "127.0.0.1:0"
	}
	if c.WSAddr == "" {
		c.WSAddr = "127.0.0.1:0"
	}
	if c.GasLimit == 0 {
		c.GasLimit = DefaultGasLimit
	}
	if c.GenesisAllocLimit == 0 {
		c.GenesisAllocLimit = DefaultGenesisAllocLimit
	}
	if c.Traffic.TxPerBlock == 0 {
		c.Traffic.TxPerBlock = DefaultTxPerBlock
	}
	if c.Traffic.TxPerBlock < 0 || uint64(c.Traffic.TxPerBlock)*21000 > c.GasLimit {
		return fmt.Errorf("devnet: %d transfers per block do not fit gas limit %d", c.Traffic.TxPerBlock, c.GasLimit)
	}
	if c.Traffic.NewAccountEvery == 0 {
		c.Traffic.NewAccountEvery = DefaultNewAccountEvery
	}
	if c.Traffic.WithdrawalEvery == 0 {
		c.Traffic.WithdrawalEvery = DefaultWithdrawalEvery
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Progress == nil {
		c.Progress = os.Stderr
	}
	return nil
}

// useGenerator says whether the state is written by the generator.
func (c *Config) useGenerator() bool {
	return c.GenesisAllocLimit < 0 || c.Accounts > c.GenesisAllocLimit
}

// Node is a running devnet: an in-process go-ethereum node driven by the
// simulated beacon of eth/catalyst (what geth --dev uses), with this package
// deciding when blocks are sealed and what traffic goes into them.
type Node struct {
	cfg     Config
	log     *slog.Logger
	stack   *node.Node
	eth     *eth.Ethereum
	sim     *catalyst.SimulatedBeacon
	client  *rpc.Client // in-process, for the dev_ API
	senders []*ecdsa.PrivateKey
	signer  types.Signer
	genesis common.Hash
	tmpDir  string

	mu     sync.Mutex // serializes block production, reorgs and Close
	salt   uint64     // reorgs so far: changes the traffic of replacement branches
	closed bool

	stop chan struct{}
	done chan struct{}
}

// Start builds (or reopens, with DataDir) the chain and starts the node and
// its block timer. The RPC servers are listening when Start returns.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if err := cfg.applyDefaults(); err != nil {
		return nil, err
	}
	began := time.Now()
	n := &Node{cfg: cfg, log: cfg.Logger, stop: make(chan struct{}), done: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			n.teardown()
		}
	}()

	dataDir := cfg.DataDir
	if dataDir == "" && cfg.useGenerator() {
		// The generator writes into the node's own database, so it needs one
		// that outlives a single open: a temp dir standing in for memory.
		dir, err := os.MkdirTemp("", "plinko-devnet-")
		if err != nil {
			return nil, fmt.Errorf("devnet: creating temp data dir: %w", err)
		}
		n.tmpDir, dataDir = dir, dir
	}
	nodeCfg, err := nodeConfig(cfg, dataDir)
	if err != nil {
		return nil, err
	}
	stack, err := node.New(nodeCfg)
	if err != nil {
		return nil, fmt.Errorf("devnet: creating node: %w", err)
	}
	n.stack = stack

	ethCfg := ethConfig(cfg)
	initialized, err := checkDataDir(stack, cfg, dataDir)
	if err != nil {
		return nil, err
	}
	switch {
	case initialized:
		ethCfg.Genesis = nil // reopen what is there; checkDataDir matched seed and size
	case cfg.useGenerator():
		if err := generate(ctx, stack, cfg); err != nil {
			return nil, err
		}
		ethCfg.Genesis = nil
	default:
		ethCfg.Genesis = Genesis(cfg.Seed, cfg.Accounts, cfg.GasLimit)
	}

	backend, err := eth.New(stack, ethCfg)
	if err != nil {
		return nil, fmt.Errorf("devnet: creating eth service: %w", err)
	}
	n.eth = backend
	n.genesis = backend.BlockChain().Genesis().Hash()
	if dataDir != "" && !initialized {
		if err := writeMarker(dataDir, cfg, n.genesis); err != nil {
			return nil, err
		}
	}

	// eth_subscribe(newHeads) and log filters live in the filter system, the
	// debug_trace* methods in the tracers package: geth registers both itself.
	filterSystem := filters.NewFilterSystem(backend.APIBackend, filters.Config{})
	stack.RegisterAPIs([]rpc.API{{Namespace: "eth", Service: filters.NewFilterAPI(filterSystem)}})
	stack.RegisterAPIs(tracers.APIs(backend.APIBackend))

	// A non-zero period keeps the dev_ API from mining on every transaction;
	// the beacon's own timer is never started (no Start call): this package
	// seals blocks through Commit so that it controls what goes in each one.
	sim, err := catalyst.NewSimulatedBeacon(1<<32, FeeRecipient(cfg.Seed), backend)
	if err != nil {
		return nil, fmt.Errorf("devnet: creating simulated beacon: %w", err)
	}
	n.sim = sim
	catalyst.RegisterSimulatedBeaconAPIs(stack, sim)
	stack.RegisterAPIs([]rpc.API{{Namespace: "devnet", Service: &rpcAPI{n: n}}})

	if err := stack.Start(); err != nil {
		return nil, fmt.Errorf("devnet: starting node: %w", err)
	}
	n.client = stack.Attach()

	senders := min(SenderCount, cfg.Accounts)
	for i := 0; i < senders; i++ {
		n.senders = append(n.senders, SenderKey(cfg.Seed, i))
	}
	n.signer = types.LatestSignerForChainID(big.NewInt(ChainID))

	if cfg.Manual {
		close(n.done)
	} else {
		go n.loop()
	}
	ok = true
	head := n.Head()
	n.log.Info("devnet started", "accounts", cfg.Accounts, "seed", cfg.Seed, "block_time", cfg.BlockTime,
		"head", head.Number, "http", n.HTTPURL(), "ws", n.WSURL(), "data_dir", cfg.DataDir,
		"elapsed", time.Since(began).Round(time.Millisecond))
	return n, nil
}

func nodeConfig(cfg Config, dataDir string) (*node.Config, error) {
	httpHost, httpPort, err := splitHostPort(cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("devnet: HTTP address: %w", err)
	}
	wsHost, wsPort, err := splitHostPort(cfg.WSAddr)
	if err != nil {
		return nil, fmt.Errorf("devnet: WebSocket address: %w", err)
	}
	modules := []string{"eth", "net", "web3", "debug", "dev", "txpool", "devnet"}
	c := node.DefaultConfig
	c.Name = "plinko-devnet"
	c.DataDir = dataDir
	c.IPCPath = "" // no IPC socket
	c.HTTPHost, c.HTTPPort, c.HTTPModules = httpHost, httpPort, modules
	c.HTTPVirtualHosts = []string{"*"} // reached by a service name inside a cluster
	c.HTTPCors = []string{"*"}
	c.WSHost, c.WSPort, c.WSModules = wsHost, wsPort, modules
	c.WSOrigins = []string{"*"}
	c.AuthAddr, c.AuthPort = "127.0.0.1", 0 // no engine API is registered; never collide if one appears
	c.P2P = p2p.Config{NoDiscovery: true, MaxPeers: 0, ListenAddr: ""}
	c.UseLightweightKDF = true
	return &c, nil
}

func ethConfig(cfg Config) *ethconfig.Config {
	c := ethconfig.Defaults
	c.NetworkId = ChainID
	c.SyncMode = ethconfig.FullSync
	// Hash scheme: the genesis state stays readable forever (tests read
	// balances at block 0) and the generator writes plain hash-keyed nodes.
	c.StateScheme = rawdb.HashScheme
	c.Preimages = true // debug_accountRange needs address preimages
	c.SnapshotCache = 0
	c.DatabaseCache = 128
	c.TrieCleanCache = 64
	c.TrieDirtyCache = 256
	c.LogNoHistory = true
	c.NoPruning = cfg.Archive
	// Without Archive the head state reaches the disk on Close; after a crash
	// the chain rewinds to the newest state flushed, at most this long ago
	// (plus the 128 blocks hash-scheme keeps in memory).
	c.TrieTimeout = 5 * time.Minute
	c.TxPool.NoLocals = true
	c.TxPool.Journal = ""
	c.TxPool.AccountSlots = 4096 // many transfers per sender per block
	c.TxPool.GlobalSlots = 65536
	c.Miner.GasCeil = cfg.GasLimit
	c.Miner.GasPrice = big.NewInt(1)
	c.Miner.PendingFeeRecipient = FeeRecipient(cfg.Seed)
	return &c
}

func splitHostPort(addr string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port in %q", addr)
	}
	return host, port, nil
}

// HTTPURL is the JSON-RPC over HTTP endpoint, e.g. http://127.0.0.1:41234.
func (n *Node) HTTPURL() string { return n.stack.HTTPEndpoint() }

// WSURL is the JSON-RPC over WebSocket endpoint, e.g. ws://127.0.0.1:41235.
func (n *Node) WSURL() string { return n.stack.WSEndpoint() }

// Config returns the configuration with defaults applied.
func (n *Node) Config() Config { return n.cfg }

// Accounts is the number of funded genesis accounts.
func (n *Node) Accounts() int { return n.cfg.Accounts }

// FundedAddress returns the address of funded account i (AccountAddress).
func (n *Node) FundedAddress(i int) common.Address { return AccountAddress(n.cfg.Seed, i) }

// GenesisHash is the hash of block 0.
func (n *Node) GenesisHash() common.Hash { return n.genesis }

// Head returns the header of the current head block.
func (n *Node) Head() *types.Header { return n.eth.BlockChain().CurrentBlock() }

// Ethereum gives tests and tools the in-process go-ethereum service.
func (n *Node) Ethereum() *eth.Ethereum { return n.eth }

// loop seals a block every BlockTime until Close.
func (n *Node) loop() {
	defer close(n.done)
	t := time.NewTicker(n.cfg.BlockTime)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
			if _, err := n.MineBlock(context.Background()); err != nil && !errors.Is(err, ErrClosed) {
				n.log.Warn("devnet: sealing block failed", "err", err)
			}
		}
	}
}

// ErrClosed is returned by operations on a closed Node.
var ErrClosed = errors.New("devnet: node closed")

// MineBlock seals one block now with this block's traffic and returns its
// header. With Config.Manual it is the only way blocks appear besides Reorg.
func (n *Node) MineBlock(ctx context.Context) (*types.Header, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, ErrClosed
	}
	return n.mineLocked(ctx)
}

// mineLocked puts the traffic of the next block into the pool, queues its
// withdrawal, seals the block and checks that all of it landed.
func (n *Node) mineLocked(ctx context.Context) (*types.Header, error) {
	// The pool resets to a new head in the background: wait for it, or the
	// pending nonces would still be those of the previous block.
	if err := n.eth.TxPool().Sync(); err != nil {
		return nil, fmt.Errorf("devnet: syncing pool: %w", err)
	}
	parent := n.Head()
	number := parent.Number.Uint64() + 1
	plan := n.plan(parent)
	if len(plan.txs) > 0 {
		for i, err := range n.eth.TxPool().Add(plan.txs, true) {
			if err != nil {
				n.eth.TxPool().Clear() // no half-added traffic leaking into the next block
				return nil, fmt.Errorf("devnet: adding transfer %d of block %d: %w", i, number, err)
			}
		}
	}
	if plan.withdrawal != nil {
		if err := n.client.CallContext(ctx, nil, "dev_addWithdrawal", plan.withdrawal); err != nil {
			return nil, fmt.Errorf("devnet: queueing withdrawal of block %d: %w", number, err)
		}
	}
	n.sim.Commit()
	head := n.eth.BlockChain().CurrentBlock()
	if head.Number.Uint64() != number {
		return nil, fmt.Errorf("devnet: block %d was not sealed (head %d)", number, head.Number.Uint64())
	}
	block := n.eth.BlockChain().GetBlock(head.Hash(), number)
	if block == nil {
		return nil, fmt.Errorf("devnet: sealed block %d not found", number)
	}
	if got := len(block.Transactions()); got != len(plan.txs) {
		return head, fmt.Errorf("devnet: block %d holds %d of %d transfers", number, got, len(plan.txs))
	}
	return head, nil
}

// Close stops the block timer and the node. With a DataDir the chain is
// flushed so that the next Start continues from the same head.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()
	close(n.stop)
	<-n.done
	return n.teardown()
}

func (n *Node) teardown() error {
	var errs []error
	if n.client != nil {
		n.client.Close()
	}
	if n.sim != nil {
		errs = append(errs, n.sim.Stop())
	}
	if n.stack != nil {
		errs = append(errs, n.stack.Close())
	}
	if n.tmpDir != "" {
		errs = append(errs, os.RemoveAll(n.tmpDir))
	}
	return errors.Join(errs...)
}

// senderAddress is the address of sender key s.
func (n *Node) senderAddress(s int) common.Address {
	return crypto.PubkeyToAddress(n.senders[s].PublicKey)
}

// Run starts a devnet, prints its RPC URLs (and the first funded addresses)
// on out, serves until ctx is cancelled (Ctrl-C), then shuts down cleanly.
func Run(ctx context.Context, cfg Config, out io.Writer) error {
	n, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	c := n.Config()
	fmt.Fprintf(out, "devnet: chain %d, %d funded accounts (seed %d), block time %v, genesis %s\n",
		ChainID, c.Accounts, c.Seed, c.BlockTime, n.GenesisHash())
	fmt.Fprintf(out, "http: %s\nws:   %s\n", n.HTTPURL(), n.WSURL())
	for i := 0; i < min(3, c.Accounts); i++ {
		fmt.Fprintf(out, "account %d: %s\n", i, n.FundedAddress(i))
	}
	<-ctx.Done()
	n.log.Info("devnet stopping", "head", n.Head().Number)
	return n.Close()
}
