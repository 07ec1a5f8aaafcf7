// Package dbgen reads every account balance from an Ethereum JSON-RPC
// endpoint at one block and writes the database: the keyword table
// (runtime/keyword) of `tag || balance in wei` entries, keyed by trie key,
// in a dataset database file that names the chain id, block and state root.
// See README.md.
package dbgen

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/plinko-pir/plinko/runtime/dataset"
	"github.com/plinko-pir/plinko/runtime/keyword"
	"github.com/plinko-pir/plinko/runtime/progress"
)

// Config of one db-gen run.
type Config struct {
	RPC       string  // JSON-RPC endpoint (http(s):// or ws(s)://)
	Block     string  // "latest" (default), a decimal or 0x number, or a 0x block hash
	Addresses string  // address list file: use batched eth_getBalance instead of debug_accountRange
	Output    string  // database file to write
	Load      float64 // keyword table load factor; 0 means keyword.DefaultLoad
	TableSize uint64  // fixed table size instead of one derived from Load and Headroom (0: derive)
	// Headroom is the number of new accounts the table must take before the
	// updater fills it (at most 0.88 load then): small chains get a table
	// far larger than load alone gives. 0 means DefaultHeadroom; -1 none.
	Headroom int
	Parallel int    // calls in flight; 0 means 4
	Seed     string // keyword seed as hex; "" derives it from the block hash

	Logger   *slog.Logger // nil: slog.Default()
	Progress io.Writer    // progress bar target when it is a terminal; nil: os.Stderr
}

// Result describes a finished run.
type Result struct {
	ChainID   uint64
	Block     dataset.Hash
	Number    uint64
	StateRoot dataset.Hash
	Accounts  int // accounts read from the node
	Stored    int // accounts with a non-zero balance, placed in the table
	TableSize uint64
	Fetch     time.Duration // reading from the node
	Total     time.Duration
}

// Run reads the balances and writes the database file.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	start := time.Now()
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.Output == "" {
		return nil, errors.New("dbgen: no output path")
	}
	if cfg.Parallel == 0 {
		cfg.Parallel = 4
	}
	c, err := rpc.DialContext(ctx, cfg.RPC)
	if err != nil {
		return nil, fmt.Errorf("dbgen: connecting to %s: %w", cfg.RPC, err)
	}
	defer c.Close()
	chainID, err := ChainID(ctx, c)
	if err != nil {
		return nil, err
	}
	header, err := ResolveBlock(ctx, c, cfg.Block)
	if err != nil {
		return nil, err
	}
	res := &Result{ChainID: chainID, Block: dataset.Hash(header.Hash()), Number: header.Number.Uint64(), StateRoot: dataset.Hash(header.Root)}
	log.Info("db-gen reading balances", "chain_id", chainID, "block", res.Number, "hash", header.Hash(), "state_root", header.Root, "mode", mode(cfg))

	rep := newReporter(log, cfg.Progress, cfg.Addresses == "")
	var accounts []keyword.Account
	if cfg.Addresses == "" {
		accounts, err = AccountRange(ctx, c, header.Hash(), cfg.Parallel, rep.update)
	} else {
		var f *os.File
		if f, err = os.Open(cfg.Addresses); err != nil {
			return nil, fmt.Errorf("dbgen: opening address list: %w", err)
		}
		addrs, rerr := ReadAddresses(f)
		f.Close()
		if rerr != nil {
			return nil, rerr
		}
		accounts, err = Balances(ctx, c, header.Hash(), addrs, MaxBatch, cfg.Parallel, rep.update)
	}
	rep.finish()
	if err != nil {
		return nil, fmt.Errorf("dbgen: reading balances at block %d: %w", res.Number, err)
	}
	res.Fetch = time.Since(start)
	res.Accounts = len(accounts)
	for _, a := range accounts {
		if !a.Balance.IsZero() {
			res.Stored++
		}
	}
	log.Info("db-gen read balances", "accounts", res.Accounts, "funded", res.Stored, "seconds", res.Fetch.Seconds(),
		"accounts_per_s", float64(res.Accounts)/res.Fetch.Seconds())

	table, err := Place(cfg, res.Block, accounts, res.Stored)
	if err != nil {
		return nil, err
	}
	res.TableSize = table.Params().TableSize
	db := &dataset.Database{ChainID: chainID, Epoch: res.Number, BlockNumber: res.Number, BlockHash: res.Block, StateRoot: res.StateRoot,
		Keyword: table.Params(), Entries: table.Bytes()}
	if err := dataset.WriteDatabase(cfg.Output, db); err != nil {
		return nil, fmt.Errorf("dbgen: writing database: %w", err)
	}
	res.Total = time.Since(start)
	log.Info("db-gen wrote database", "path", cfg.Output, "block", res.Number, "table_size", res.TableSize,
		"load", float64(res.Stored)/float64(res.TableSize), "seconds", res.Total.Seconds())
	return res, nil
}

func mode(cfg Config) string {
	if cfg.Addresses != "" {
		return "eth_getBalance"
	}
	return "debug_accountRange"
}

// DefaultHeadroom is the default number of new accounts a table takes before
// it needs a new db-gen: 2^16 (1 MiB of entries), which keeps a devnet with a
// new account every few blocks running for weeks; large tables get more
// (load 0.85 leaves room for about 8% more accounts).
const DefaultHeadroom = 1 << 16

// headroomLoad is the load the headroom is sized for, below the ~0.91 where
// inserts start to fail.
const headroomLoad = 0.88

// Place builds the keyword table. Without an explicit seed it derives one
// from the block hash and retries with the next attempt on a tag collision.
func Place(cfg Config, block dataset.Hash, accounts []keyword.Account, stored int) (*keyword.Table, error) {
	size := cfg.TableSize
	if size == 0 {
		load := cfg.Load
		if load == 0 {
			load = keyword.DefaultLoad
		}
		var err error
		if size, err = keyword.TableSizeFor(uint64(stored), load); err != nil {
			return nil, err
		}
		headroom := cfg.Headroom
		if headroom == 0 {
			headroom = DefaultHeadroom
		}
		if headroom > 0 {
			withRoom, err := keyword.TableSizeFor(uint64(stored)+uint64(headroom), headroomLoad)
			if err != nil {
				return nil, err
			}
			size = max(size, withRoom)
		}
	}
	for attempt := uint32(0); attempt < 4; attempt++ {
		p := keyword.Params{TableSize: size, Seed: DeriveSeed(block, attempt)}
		if cfg.Seed != "" {
			seed, err := keyword.ParseSeed(cfg.Seed)
			if err != nil {
				return nil, err
			}
			p.Seed = seed
		}
		t, err := keyword.Build(p, accounts)
		if errors.Is(err, keyword.ErrTagCollision) && cfg.Seed == "" {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("dbgen: placing %d accounts in a table of %d: %w", stored, size, err)
		}
		return t, nil
	}
	return nil, fmt.Errorf("dbgen: %w after 4 seeds", keyword.ErrTagCollision)
}

// DeriveSeed is the default keyword seed: SHA-256 of a label, the block hash
// and the attempt number, so a snapshot's seed is fixed by its block and not
// known before the block exists.
func DeriveSeed(block dataset.Hash, attempt uint32) [keyword.SeedSize]byte {
	var buf [22 + 32 + 4]byte
	copy(buf[:], "plinko-keyword-seed-v1")
	copy(buf[22:], block[:])
	binary.LittleEndian.PutUint32(buf[54:], attempt)
	return sha256.Sum256(buf[:])
}

// ChainID asks the node for its EIP-155 chain id (eth_chainId); 0 is refused.
func ChainID(ctx context.Context, c *rpc.Client) (uint64, error) {
	var id hexutil.Uint64
	if err := c.CallContext(ctx, &id, "eth_chainId"); err != nil {
		return 0, fmt.Errorf("dbgen: reading the chain id (eth_chainId): %w", err)
	}
	if id == 0 {
		return 0, errors.New("dbgen: the node reports chain id 0")
	}
	return uint64(id), nil
}

// ResolveBlock returns the header of "latest"/"", a block number (decimal
// or 0x) or a 0x block hash.
func ResolveBlock(ctx context.Context, c *rpc.Client, block string) (*types.Header, error) {
	var h *types.Header
	var err error
	switch {
	case block == "" || block == "latest":
		err = c.CallContext(ctx, &h, "eth_getBlockByNumber", "latest", false)
	case strings.HasPrefix(block, "0x") && len(block) == 66:
		err = c.CallContext(ctx, &h, "eth_getBlockByHash", common.HexToHash(block), false)
	default:
		base := 10
		if strings.HasPrefix(block, "0x") {
			base = 16
		}
		n, perr := strconv.ParseUint(strings.TrimPrefix(block, "0x"), base, 64)
		if perr != nil {
			return nil, fmt.Errorf("dbgen: block %q is neither latest, a number nor a hash", block)
		}
		err = c.CallContext(ctx, &h, "eth_getBlockByNumber", "0x"+new(big.Int).SetUint64(n).Text(16), false)
	}
	if err != nil {
		return nil, fmt.Errorf("dbgen: looking up block %q: %w", block, err)
	}
	if h == nil {
		return nil, fmt.Errorf("dbgen: block %q not found", block)
	}
	return h, nil
}

// reporter shows progress as a bar on a terminal and as slog lines otherwise.
type reporter struct {
	mu       sync.Mutex
	log      *slog.Logger
	bar      *progress.Bar
	keyspace bool
	start    time.Time
	last     time.Time
}

func newReporter(log *slog.Logger, w io.Writer, keyspace bool) *reporter {
	r := &reporter{log: log, keyspace: keyspace, start: time.Now(), last: time.Now()}
	if w == nil {
		w = os.Stderr
	}
	desc := "balances"
	if keyspace {
		desc = "keyspace"
	}
	r.bar = progress.OnTerminal(w, desc, progress.Count)
	return r
}

func (r *reporter) update(done, total, accounts uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bar != nil {
		// done/total measure the key space (or the address list); the
		// accounts read so far go in front.
		r.bar.Describe(fmt.Sprintf("db-gen: %d accounts read, key space", accounts))
		r.bar.Update(int64(done), int64(total))
		return
	}
	if time.Since(r.last) < 2*time.Second {
		return
	}
	r.last = time.Now()
	r.log.Info("db-gen progress", progressFields(r.keyspace, done, total, accounts, time.Since(r.start))...)
}

// progressFields are the structured fields of a progress line, the same in
// every job: accounts done (and their total when known up front: not while
// walking the keyspace), percent, rate, seconds so far and left.
func progressFields(keyspace bool, done, total, accounts uint64, elapsed time.Duration) []any {
	frac := float64(done) / float64(max(total, 1))
	el := max(elapsed.Seconds(), 1e-9)
	f := []any{"accounts", accounts}
	if !keyspace {
		f = append(f, "accounts_total", total)
	}
	f = append(f, "percent", 100*frac, "accounts_per_s", float64(accounts)/el, "seconds", el)
	if frac > 0 {
		f = append(f, "eta_seconds", el/frac-el)
	}
	return f
}

func (r *reporter) finish() {
	r.bar.Finish()
}
