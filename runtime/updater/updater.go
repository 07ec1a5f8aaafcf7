// Package updater follows a chain and publishes one xor delta per epoch into
// a dataset directory: for every new block it finds each changed balance,
// applies it (and every keyword-table move of a new account) to its copy of
// the database, and writes deltas/<epoch>.delta then head.json atomically. A
// reorg is published as one correcting delta. Every K epochs it writes a new
// snapshot and prunes deltas behind it. See README.md.
package updater

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/holiman/uint256"

	"github.com/plinko-pir/plinko/runtime/dataset"
	"github.com/plinko-pir/plinko/runtime/dbgen"
	"github.com/plinko-pir/plinko/runtime/keyword"
	"github.com/plinko-pir/plinko/runtime/snapshot"
)

// Config of an updater.
type Config struct {
	RPC      string // JSON-RPC endpoint; ws(s):// follows newHeads, http(s):// polls
	Dir      string // published dataset directory
	Database string // db-gen output to start from when Dir has no manifest.json yet

	SnapshotEvery uint64        // write a new snapshot every K epochs; 0: never
	Retention     uint64        // deltas kept at or below the newest snapshot's epoch; 0: SnapshotEvery
	PollInterval  time.Duration // head polling without WebSocket; 0: 1 s
	// RegenerateLoad: when a due snapshot finds the keyword table above this
	// load, or an insert finds it full, the updater rebuilds the table from
	// the chain (debug_accountRange, like db-gen) with a new seed and size and
	// publishes it as a new snapshot that no delta bridges to. It does the
	// same, at the node's head, when the blocks to replay are older than the
	// node's history or a reorg is deeper than the kept deltas. 0: 0.88;
	// negative: never (those cases then stop the updater with ErrTableFull,
	// ErrReorgTooDeep or the node's error).
	RegenerateLoad float64
	Parallel       int // eth_getBalance batches in flight; 0: 4

	Logger    *slog.Logger    // nil: slog.Default()
	OnPublish func(Published) // called after each epoch is on disk (from Run's goroutine)

	// Metrics receives the updater's Prometheus metrics; nil: a fresh set.
	// Pass one set to every Updater of a process that restarts it.
	Metrics *Metrics
	// MetricsAddr, when set, makes Run serve Metrics on GET /metrics there
	// (e.g. "0.0.0.0:9090"), from before the state is loaded.
	MetricsAddr string

	// at is called at each step of publishing an epoch ("applied", "delta",
	// "head", "snapshot"); tests kill the process there.
	at func(epoch uint64, step string)
}

// Published describes one epoch written to the directory.
type Published struct {
	Delta    *dataset.Delta
	Head     dataset.Head
	Snapshot *dataset.Manifest // non-nil when this epoch also got a new snapshot
	Reorg    bool              // the delta corrects a reorg
	// Regenerated: the table was rebuilt from the chain; Delta is nil and
	// Snapshot is the new table at Head.Epoch, which no delta leads to.
	Regenerated bool
	// Latency is the time from the head notification (or poll) that
	// triggered the work to the delta file being on disk.
	Latency time.Duration
}

var (
	// ErrReorgTooDeep means the common ancestor is older than every epoch
	// whose delta is still kept: regenerate with db-gen and hint-gen.
	ErrReorgTooDeep = errors.New("updater: reorg deeper than the kept deltas")
	// ErrWrongChain means the node serves another chain than the published
	// dataset (its manifest's chain id): following it would mix chains.
	ErrWrongChain = errors.New("updater: the node serves another chain than the dataset")
)

type blockRef struct {
	Number uint64
	Hash   common.Hash
	Root   common.Hash // state root, named in snapshots and deltas
}

// Updater holds the database at its newest epoch. Not safe for concurrent
// use; Run owns it.
type Updater struct {
	cfg     Config
	log     *slog.Logger
	dir     dataset.Dir
	chainID uint64 // of the dataset; the node must serve the same
	params  keyword.Params
	table   *keyword.Table
	m       *Metrics

	occupied uint64 // occupied table entries, kept without a scan per block

	epoch, snapshotEpoch uint64
	block                blockRef
	oldest               uint64 // oldest delta epoch kept
	regenerated          bool   // this run regenerated, last at regenEpoch
	regenEpoch           uint64
	history              map[uint64]blockRef // epoch -> block, for epochs in [oldest, epoch] and snapshotEpoch
	// resumed: this run loaded files an earlier run published and has not
	// published since, so a block of ours missing from the chain is news
	// from while we were down, not a reorg seen live.
	resumed bool

	c  *rpc.Client
	ec *ethclient.Client
}

// New loads the newest state from the directory: the manifest's snapshot
// plus every later delta (the deltas are the updater's write-ahead log, so a
// restart resumes exactly at the last published epoch). Without a manifest
// it publishes cfg.Database as the first snapshot.
func New(cfg Config) (*Updater, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.Parallel == 0 {
		cfg.Parallel = 4
	}
	if cfg.Retention == 0 {
		cfg.Retention = cfg.SnapshotEvery
	}
	if cfg.RegenerateLoad == 0 {
		cfg.RegenerateLoad = 0.88
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	u := &Updater{cfg: cfg, log: cfg.Logger, m: cfg.Metrics, dir: dataset.Dir(cfg.Dir), history: map[uint64]blockRef{}}
	if err := u.removeTemps(); err != nil {
		return nil, err
	}
	m, err := u.dir.ReadManifest()
	u.resumed = err == nil
	if errors.Is(err, fs.ErrNotExist) && cfg.Database != "" {
		db, derr := dataset.ReadDatabase(cfg.Database)
		if derr != nil {
			return nil, fmt.Errorf("updater: %w", derr)
		}
		m, err = snapshot.Write(u.dir, db)
	}
	if err != nil {
		return nil, fmt.Errorf("updater: %w", err)
	}
	if u.params, err = m.Keyword.Params(); err != nil {
		return nil, err
	}
	snap, err := u.dir.ReadSnapshot(m)
	if err != nil {
		return nil, fmt.Errorf("updater: %w", err)
	}
	if u.table, err = keyword.TableFromBytes(u.params, snap[:m.N*keyword.EntrySize:m.N*keyword.EntrySize]); err != nil {
		return nil, err
	}
	u.epoch, u.snapshotEpoch = m.Epoch, m.Epoch
	u.chainID = m.ChainID
	u.block = blockRef{m.BlockNumber, common.Hash(m.BlockHash), common.Hash(m.StateRoot)}
	u.history[m.Epoch] = u.block
	u.oldest = m.Epoch + 1

	epochs, err := u.dir.DeltaEpochs()
	if err != nil {
		return nil, err
	}
	// Deltas at or below the snapshot: kept for reverting reorgs; only the
	// run contiguous with the snapshot is usable.
	below := map[uint64]bool{}
	for _, e := range epochs {
		below[e] = e <= m.Epoch
	}
	for e := m.Epoch; e >= 1 && below[e]; e-- {
		d, err := u.dir.ReadDelta(e)
		if err == nil && d.ChainID != u.chainID {
			err = fmt.Errorf("%w: delta %d names chain %d, the manifest %d", dataset.ErrCorrupt, e, d.ChainID, u.chainID)
		}
		if err != nil {
			return nil, fmt.Errorf("updater: kept delta: %w", err)
		}
		u.history[e] = blockRef{d.BlockNumber, common.Hash(d.BlockHash), common.Hash(d.StateRoot)}
		u.oldest = e
	}
	// Deltas above the snapshot: replay them, contiguous, in order.
	for _, e := range epochs {
		if e <= m.Epoch {
			continue
		}
		if e != u.epoch+1 {
			return nil, fmt.Errorf("updater: delta epochs jump from %d to %d in %s", u.epoch, e, cfg.Dir)
		}
		d, err := u.dir.ReadDelta(e)
		if err == nil && d.EntrySize != keyword.EntrySize {
			err = fmt.Errorf("%w: delta %d has entry size %d", dataset.ErrCorrupt, e, d.EntrySize)
		}
		if err == nil && d.ChainID != u.chainID {
			err = fmt.Errorf("%w: delta %d names chain %d, the manifest %d", dataset.ErrCorrupt, e, d.ChainID, u.chainID)
		}
		if err != nil {
			return nil, fmt.Errorf("updater: replaying: %w", err)
		}
		if err := d.Apply(u.table.Bytes()); err != nil {
			return nil, fmt.Errorf("updater: replaying: %w", err)
		}
		u.epoch = e
		u.block = blockRef{d.BlockNumber, common.Hash(d.BlockHash), common.Hash(d.StateRoot)}
		u.history[e] = u.block
	}
	if err := u.prune(); err != nil {
		return nil, err
	}
	if h, err := u.dir.ReadHead(); err != nil || *h != u.head() {
		if err := u.dir.WriteHead(ptr(u.head())); err != nil {
			return nil, fmt.Errorf("updater: %w", err)
		}
	}
	u.occupied = u.table.Occupied()
	u.m.table(u.occupied, u.params.TableSize)
	u.m.state(u.epoch, u.block.Number)
	u.m.snapshotEvery.Set(float64(cfg.SnapshotEvery))
	snapTime := time.Now()
	if st, err := os.Stat(u.dir.ManifestPath()); err == nil {
		snapTime = st.ModTime()
	}
	u.m.snapshot(u.snapshotEpoch, snapTime)
	// The newest epoch was published when head.json was last written: a
	// restart must not look like a stall (nor hide one).
	if st, err := os.Stat(u.dir.HeadPath()); err == nil {
		u.m.lastPublish.Set(float64(st.ModTime().UnixNano()) / 1e9)
	}
	msg := "updater: published the database as the first snapshot"
	if u.resumed {
		msg = "updater: resumed from the published files"
	}
	u.log.Info(msg, "dir", cfg.Dir, "epoch", u.epoch, "block", u.block.Number,
		"snapshot_epoch", u.snapshotEpoch, "oldest_delta", u.oldest, "table_size", u.params.TableSize,
		"table_load", float64(u.occupied)/float64(u.params.TableSize))
	return u, nil
}

func ptr[T any](v T) *T { return &v }

// removeTemps deletes temporary files a killed writer left behind.
func (u *Updater) removeTemps() error {
	for _, d := range []string{string(u.dir), filepath.Join(string(u.dir), dataset.DeltasDir)} {
		ents, err := os.ReadDir(d)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("updater: listing %s: %w", d, err)
		}
		for _, e := range ents {
			if n := e.Name(); strings.HasPrefix(n, ".") && (strings.Contains(n, ".tmp-") || n == ".snapshot-pending.bin") {
				if err := os.Remove(filepath.Join(d, n)); err != nil {
					return fmt.Errorf("updater: removing leftover %s: %w", n, err)
				}
			}
		}
	}
	return nil
}

// Epoch returns the newest published epoch and its block.
func (u *Updater) Epoch() (epoch, number uint64, hash common.Hash) {
	return u.epoch, u.block.Number, u.block.Hash
}

func (u *Updater) head() dataset.Head {
	return dataset.Head{FormatVersion: dataset.FormatVersion, ChainID: u.chainID, Epoch: u.epoch, BlockNumber: u.block.Number,
		BlockHash: dataset.Hash(u.block.Hash), SnapshotEpoch: u.snapshotEpoch, OldestDelta: u.oldest}
}

// Run loads the state from cfg.Dir and follows the chain until ctx ends,
// serving its metrics on cfg.MetricsAddr if set.
func Run(ctx context.Context, cfg Config) error {
	if cfg.MetricsAddr != "" {
		if cfg.Metrics == nil {
			cfg.Metrics = NewMetrics()
		}
		if cfg.Logger == nil {
			cfg.Logger = slog.Default()
		}
		ln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("updater: metrics cannot listen on %s: %w", cfg.MetricsAddr, err)
		}
		mctx, stop := context.WithCancel(ctx)
		served := make(chan error, 1)
		go func() { served <- ServeMetrics(mctx, ln, cfg.Metrics, cfg.Logger) }()
		defer func() {
			stop()
			if err := <-served; err != nil {
				cfg.Logger.Warn("updater: metrics listener", "err", err)
			}
		}()
	}
	u, err := New(cfg)
	if err != nil {
		return err
	}
	defer u.Close()
	return u.Run(ctx)
}

// Close releases the RPC connection.
func (u *Updater) Close() {
	if u.c != nil {
		u.c.Close()
		u.c = nil
	}
}

// Run follows new heads until ctx ends, reconnecting after errors.
func (u *Updater) Run(ctx context.Context) error {
	backoff := 200 * time.Millisecond
	for {
		err := u.follow(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, ErrReorgTooDeep) || errors.Is(err, keyword.ErrTableFull) || errors.Is(err, ErrWrongChain) ||
			errors.Is(err, keyword.ErrBalanceTooLarge) {
			return err // retrying cannot help
		}
		u.m.followErrors.Inc()
		u.log.Warn("updater: following the chain failed; retrying", "err", err, "in", backoff)
		u.Close()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

func (u *Updater) dial(ctx context.Context) error {
	if u.c != nil {
		return nil
	}
	c, err := rpc.DialContext(ctx, u.cfg.RPC)
	if err != nil {
		return fmt.Errorf("updater: connecting to %s: %w", u.cfg.RPC, err)
	}
	id, err := dbgen.ChainID(ctx, c)
	if err != nil {
		c.Close()
		return fmt.Errorf("updater: %w", err)
	}
	if id != u.chainID {
		c.Close()
		return fmt.Errorf("%w: %s serves chain %d, %s publishes chain %d", ErrWrongChain, u.cfg.RPC, id, u.cfg.Dir, u.chainID)
	}
	u.c, u.ec = c, ethclient.NewClient(c)
	return nil
}

func (u *Updater) follow(ctx context.Context) error {
	if err := u.dial(ctx); err != nil {
		return err
	}
	heads := make(chan *types.Header, 64)
	var subErr <-chan error
	var tick <-chan time.Time
	sub, err := u.c.EthSubscribe(ctx, heads, "newHeads")
	if err != nil {
		u.log.Info("updater: no newHeads subscription, polling", "every", u.cfg.PollInterval, "reason", err)
		t := time.NewTicker(u.cfg.PollInterval)
		defer t.Stop()
		tick = t.C
	} else {
		defer sub.Unsubscribe()
		subErr = sub.Err()
	}
	if err := u.CatchUp(ctx, time.Now()); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-subErr:
			return fmt.Errorf("updater: newHeads subscription: %w", err)
		case h := <-heads:
			received := time.Now()
			u.m.sawHead(h.Number.Uint64(), received)
			for len(heads) > 0 {
				h = <-heads
				u.m.sawHead(h.Number.Uint64(), received)
			}
			if err := u.CatchUp(ctx, received); err != nil {
				return err
			}
		case received := <-tick:
			if err := u.CatchUp(ctx, received); err != nil {
				return err
			}
		}
	}
}

// CatchUp publishes one epoch per block until the database holds the
// node's current head, correcting reorgs on the way. received is when the
// triggering head was seen (for Published.Latency).
func (u *Updater) CatchUp(ctx context.Context, received time.Time) error {
	if err := u.dial(ctx); err != nil {
		return err
	}
	// A run killed between a delta and its due snapshot finishes it now,
	// so its files match those of a run that was not killed.
	if err := u.maintain(ctx, received); err != nil {
		return err
	}
	// The head, for the lag metrics: a long catch-up reads blocks by number
	// and would otherwise not know how far it has to go.
	if latest, err := u.ec.HeaderByNumber(ctx, nil); err == nil {
		u.m.sawHead(latest.Number.Uint64(), received)
	}
	for ctx.Err() == nil {
		began := time.Now()
		next, err := u.ec.HeaderByNumber(ctx, new(big.Int).SetUint64(u.block.Number+1))
		if errors.Is(err, ethereum.NotFound) {
			latest, err := u.ec.HeaderByNumber(ctx, nil)
			if err != nil {
				return fmt.Errorf("updater: reading the head: %w", err)
			}
			u.m.sawHead(latest.Number.Uint64(), received)
			if latest.Hash() == u.block.Hash {
				return nil
			}
			if done, err := u.reorgProgress(ctx, received); err != nil || !done {
				return err // no progress: the node answers inconsistently; wait for the next head
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("updater: reading block %d: %w", u.block.Number+1, err)
		}
		u.m.sawBlock(next.Number.Uint64(), received)
		if next.ParentHash != u.block.Hash {
			if done, err := u.reorgProgress(ctx, received); err != nil || !done {
				return err
			}
			continue
		}
		x := newTxn(u.table)
		if err := u.apply(ctx, x, u.block.Hash, next); err != nil {
			x.rollback()
			if errors.Is(err, keyword.ErrTableFull) && u.cfg.RegenerateLoad > 0 {
				if err := u.regenerate(ctx, next, received); err != nil {
					return err
				}
				continue
			}
			if stateGone(err) && u.cfg.RegenerateLoad > 0 {
				// Down for longer than the node keeps history: the blocks
				// in between cannot be replayed, so start over at the head.
				if u.regenerated && u.regenEpoch == u.epoch {
					// Even the regeneration's own block is gone: reading the
					// whole state takes longer than the node keeps states.
					u.log.Error("updater: the node keeps fewer block states than a regeneration takes, so the updater cannot keep up; run it as an archive node (plinko devnet --archive, geth --gcmode archive)",
						"block", next.Number)
				}
				u.log.Warn("updater: the node no longer has the state of the next block; regenerating from the head",
					"block", next.Number, "err", err)
				if err := u.regenerateAtHead(ctx, received); err != nil {
					return err
				}
				continue
			}
			return err
		}
		if err := u.publish(ctx, x, next, received, began, false); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// apply brings the table from the state of block parent to that of block
// hdr inside x: every account the block modified (transactions, fee
// recipient, withdrawals, system contracts) whose balance in wei changed. A
// balance wider than an entry holds fails the block (keyword.ErrBalanceTooLarge),
// never saturated.
func (u *Updater) apply(ctx context.Context, x *txn, parent common.Hash, hdr *types.Header) error {
	var addrs []common.Address
	if err := u.c.CallContext(ctx, &addrs, "debug_getModifiedAccountsByHash", parent, hdr.Hash()); err != nil {
		return fmt.Errorf("updater: modified accounts of block %d: %w", hdr.Number, err)
	}
	slices.SortFunc(addrs, func(a, b common.Address) int { return bytes.Compare(a[:], b[:]) })
	addrs = slices.Compact(addrs)
	accounts, err := dbgen.Balances(ctx, u.c, hdr.Hash(), addrs, dbgen.MaxBatch, u.cfg.Parallel, nil)
	if err != nil {
		return fmt.Errorf("updater: balances of block %d: %w", hdr.Number, err)
	}
	type newAccount struct {
		tag keyword.Tag
		wei uint256.Int
	}
	var inserts []newAccount
	for _, a := range accounts {
		tag := keyword.TagOf(u.params.Seed, a.Key)
		if pos, ok := u.table.Find(tag); ok {
			if was := u.table.Balance(pos); !was.Eq(&a.Balance) {
				if err := x.setBalance(pos, &a.Balance); err != nil {
					return fmt.Errorf("updater: block %d: %w", hdr.Number, err)
				}
			}
		} else if !a.Balance.IsZero() {
			inserts = append(inserts, newAccount{tag, a.Balance})
		}
	}
	// Inserts in tag order, after the updates: the same block always
	// produces the same table, whatever order the node listed accounts in.
	slices.SortFunc(inserts, func(a, b newAccount) int { return bytes.Compare(a.tag[:], b.tag[:]) })
	for _, n := range inserts {
		if err := x.insert(n.tag, &n.wei); err != nil {
			if errors.Is(err, keyword.ErrTagExists) {
				continue // two new accounts with one 96-bit tag (see keyword/README.md): the first keeps it
			}
			return fmt.Errorf("updater: inserting a new account in block %d: %w", hdr.Number, err)
		}
	}
	return nil
}

// stateGone reports whether the node refused for lack of historical state:
// a non-archive geth keeps about 128 recent states (hash scheme: "missing
// trie node"; path scheme: "historical state ... is not available").
func stateGone(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "missing trie node") || strings.Contains(msg, "historical state") ||
		strings.Contains(msg, "is not available")
}

// regenerateAtHead regenerates the table from the node's current head.
func (u *Updater) regenerateAtHead(ctx context.Context, received time.Time) error {
	head, err := u.ec.HeaderByNumber(ctx, nil)
	if err != nil {
		return fmt.Errorf("updater: reading the head to regenerate: %w", err)
	}
	return u.regenerate(ctx, head, received)
}

// reorgProgress runs reorg and reports whether it published anything.
// A reorg deeper than the kept deltas regenerates the table from the head
// (unless regeneration is off).
func (u *Updater) reorgProgress(ctx context.Context, received time.Time) (bool, error) {
	before := u.epoch
	err := u.reorg(ctx, received)
	if errors.Is(err, ErrReorgTooDeep) && u.cfg.RegenerateLoad > 0 {
		u.log.Warn("updater: reorg deeper than the kept deltas; regenerating from the head", "err", err)
		err = u.regenerateAtHead(ctx, received)
	}
	return u.epoch != before, err
}

// reorg finds the newest epoch whose block is still canonical, reverts the
// table to it with the kept deltas (xor is its own inverse), applies the
// first block of the new branch if there is one, and publishes all of it as
// one correcting delta.
func (u *Updater) reorg(ctx context.Context, received time.Time) error {
	began := time.Now()
	// Candidates: every epoch with a kept delta, and the snapshot's epoch
	// (reverting to epoch e needs the deltas e+1 .. u.epoch).
	ancestor, found := uint64(0), false
	for e := u.epoch; ; e-- {
		if ref, ok := u.history[e]; ok {
			canon, err := u.ec.HeaderByNumber(ctx, new(big.Int).SetUint64(ref.Number))
			if err != nil && !errors.Is(err, ethereum.NotFound) {
				return fmt.Errorf("updater: reading block %d during reorg: %w", ref.Number, err)
			}
			if err == nil && canon.Hash() == ref.Hash {
				ancestor, found = e, true
				break
			}
		}
		if e == 0 || e < u.oldest {
			break
		}
	}
	if !found {
		return fmt.Errorf("%w: no kept epoch from %d to %d is on the canonical chain", ErrReorgTooDeep, u.oldest, u.epoch)
	}
	if ancestor == u.epoch {
		u.resumed = false
		return nil // our block is still canonical: the chain just moved on meanwhile
	}
	anc := u.history[ancestor]
	x := newTxn(u.table)
	for e := u.epoch; e > ancestor; e-- {
		d, err := u.dir.ReadDelta(e)
		if err == nil && (d.EntrySize != keyword.EntrySize || d.ChainID != u.chainID) {
			err = fmt.Errorf("entry size %d, chain %d", d.EntrySize, d.ChainID)
		}
		if err != nil {
			x.rollback()
			return fmt.Errorf("updater: reverting epoch %d: %w", e, err)
		}
		for _, r := range d.Records {
			if r.Index >= u.params.TableSize {
				x.rollback()
				return fmt.Errorf("updater: reverting epoch %d: index %d out of table", e, r.Index)
			}
			x.xor(r.Index, r.XOR)
		}
	}
	target, err := u.ec.HeaderByNumber(ctx, new(big.Int).SetUint64(anc.Number+1))
	switch {
	case err == nil && target.ParentHash == anc.Hash:
		err = u.apply(ctx, x, anc.Hash, target)
	case err == nil || errors.Is(err, ethereum.NotFound):
		// The new head is the ancestor itself (or the branch moved again):
		// publish the plain revert and let the next round go on.
		target, err = u.ec.HeaderByHash(ctx, anc.Hash)
	}
	if err != nil {
		x.rollback()
		if errors.Is(err, keyword.ErrTableFull) && u.cfg.RegenerateLoad > 0 {
			return u.regenerate(ctx, target, received)
		}
		return fmt.Errorf("updater: reorg from block %d to ancestor %d: %w", u.block.Number, anc.Number, err)
	}
	if u.resumed {
		// Not a reorg seen live: the chain changed while this updater was
		// down (a reorg then, or a node that restarted behind the blocks
		// it had served, as a dev chain killed mid-write does).
		u.log.Info("updater: resumed, but the last published block is no longer on the node's chain (replaced while the updater was down, or lost by a node restart); publishing a correcting delta back to the newest block still on it",
			"published_block", u.block.Number, "published_epoch", u.epoch, "ancestor_block", anc.Number,
			"ancestor_epoch", ancestor, "to_block", target.Number)
	} else {
		u.log.Info("updater: reorg", "from_block", u.block.Number, "from_epoch", u.epoch, "ancestor_block", anc.Number,
			"ancestor_epoch", ancestor, "to_block", target.Number)
	}
	return u.publish(ctx, x, target, received, began, true)
}

// publish writes x as the next epoch's delta (the commit point), then
// head.json, and every SnapshotEvery epochs a snapshot. began is when work
// on the block started (for the time-per-block histogram).
func (u *Updater) publish(ctx context.Context, x *txn, hdr *types.Header, received, began time.Time, reorg bool) error {
	u.step(u.epoch+1, "applied")
	d := &dataset.Delta{
		ChainID: u.chainID, Epoch: u.epoch + 1, BlockNumber: hdr.Number.Uint64(),
		BlockHash: dataset.Hash(hdr.Hash()), ParentHash: dataset.Hash(hdr.ParentHash), StateRoot: dataset.Hash(hdr.Root),
		EntrySize: keyword.EntrySize, Records: x.records(),
	}
	if err := u.dir.WriteDelta(d); err != nil {
		x.rollback()
		u.m.publishErrors.Inc()
		return fmt.Errorf("updater: publishing epoch %d: %w", d.Epoch, err)
	}
	latency := time.Since(received)
	u.resumed = false
	u.step(d.Epoch, "delta")
	u.epoch = d.Epoch
	u.block = blockRef{d.BlockNumber, hdr.Hash(), hdr.Root}
	u.history[u.epoch] = u.block
	if err := u.dir.WriteHead(ptr(u.head())); err != nil {
		u.m.publishErrors.Inc()
		return fmt.Errorf("updater: %w", err)
	}
	u.step(d.Epoch, "head")
	u.published(d, x, reorg, latency, time.Since(began))
	pub := Published{Delta: d, Reorg: reorg, Latency: latency}
	if u.snapshotDue() && !u.regenerationDue() {
		m, err := u.writeSnapshot()
		if err != nil {
			return err
		}
		pub.Snapshot = m
	}
	pub.Head = u.head()
	u.log.Debug("updater: published", "epoch", d.Epoch, "block", d.BlockNumber, "records", len(d.Records),
		"latency_ms", float64(latency.Microseconds())/1000)
	if u.cfg.OnPublish != nil {
		u.cfg.OnPublish(pub)
	}
	if u.regenerationDue() {
		return u.maintain(ctx, received)
	}
	return nil
}

// published updates the metrics for an epoch now on disk.
func (u *Updater) published(d *dataset.Delta, x *txn, reorg bool, latency, took time.Duration) {
	if reorg {
		u.occupied = u.table.Occupied() // a revert may have removed entries: count (rare)
		u.m.reorgs.Inc()
	} else {
		u.occupied += x.inserted
	}
	u.m.table(u.occupied, u.params.TableSize)
	u.m.epochs.Inc()
	u.m.records.Add(float64(len(d.Records)))
	u.m.blockDuration.Observe(took.Seconds())
	u.m.publishLatency.Observe(latency.Seconds())
	u.m.lastPublish.SetToCurrentTime()
	u.m.state(u.epoch, u.block.Number)
}

func (u *Updater) snapshotDue() bool {
	return u.cfg.SnapshotEvery > 0 && u.epoch-u.snapshotEpoch >= u.cfg.SnapshotEvery
}

// regenerationDue: a snapshot is due and the table is past RegenerateLoad.
func (u *Updater) regenerationDue() bool {
	return u.snapshotDue() && u.cfg.RegenerateLoad > 0 &&
		float64(u.table.Occupied()) > u.cfg.RegenerateLoad*float64(u.params.TableSize)
}

// maintain writes a due snapshot, rebuilding the table from the chain at
// the current block if it is past RegenerateLoad.
func (u *Updater) maintain(ctx context.Context, received time.Time) error {
	if !u.snapshotDue() {
		return nil
	}
	if u.regenerationDue() {
		if err := u.dial(ctx); err != nil {
			return err
		}
		hdr, err := u.ec.HeaderByHash(ctx, u.block.Hash)
		if err != nil {
			return fmt.Errorf("updater: reading block %d to regenerate: %w", u.block.Number, err)
		}
		return u.regenerate(ctx, hdr, received)
	}
	_, err := u.writeSnapshot()
	return err
}

// regenerate rebuilds the keyword table from every account at block hdr
// (like db-gen: new seed from the block hash, size with headroom) and
// publishes it as the snapshot of a new epoch without a delta: head.json's
// oldest_delta moves past it, so every client and server loads the new
// snapshot, and all older deltas (of the old table) are removed.
func (u *Updater) regenerate(ctx context.Context, hdr *types.Header, received time.Time) error {
	start := time.Now()
	// Epochs never fall below block numbers (dataset's rule): after blocks
	// that could not be replayed, the epoch jumps to the head's number.
	epoch := max(u.epoch+1, hdr.Number.Uint64())
	u.log.Info("updater: regenerating the keyword table: reading every account", "block", hdr.Number)
	var (
		logMu   sync.Mutex
		lastLog time.Time
	)
	progress := func(done, total, n uint64) { // minutes at 2^23 accounts: say how far
		logMu.Lock() // called from every stripe's goroutine
		defer logMu.Unlock()
		if time.Since(lastLog) >= 10*time.Second {
			lastLog = time.Now()
			u.log.Info("updater: regeneration progress", "percent", 100*float64(done)/float64(max(total, 1)), "accounts", n)
		}
	}
	accounts, err := dbgen.AccountRange(ctx, u.c, hdr.Hash(), u.cfg.Parallel, progress)
	if err != nil {
		return fmt.Errorf("updater: reading every account of block %d to regenerate the table: %w", hdr.Number, err)
	}
	stored := 0
	for _, a := range accounts {
		if !a.Balance.IsZero() {
			stored++
		}
	}
	table, err := dbgen.Place(dbgen.Config{}, dataset.Hash(hdr.Hash()), accounts, stored)
	if err != nil {
		return fmt.Errorf("updater: regenerating the table at block %d: %w", hdr.Number, err)
	}
	db := &dataset.Database{ChainID: u.chainID, Epoch: epoch, BlockNumber: hdr.Number.Uint64(), BlockHash: dataset.Hash(hdr.Hash()),
		StateRoot: dataset.Hash(hdr.Root), Keyword: table.Params(), Entries: table.Bytes()}
	m, err := snapshot.Write(u.dir, db)
	if err != nil {
		u.m.publishErrors.Inc()
		return fmt.Errorf("updater: %w", err)
	}
	u.step(epoch, "regenerated")
	oldSize := u.params.TableSize
	u.table, u.params = table, table.Params()
	u.epoch, u.snapshotEpoch, u.oldest = epoch, epoch, epoch+1
	u.regenerated, u.regenEpoch = true, epoch
	u.block = blockRef{hdr.Number.Uint64(), hdr.Hash(), hdr.Root}
	clear(u.history)
	u.history[epoch] = u.block
	if err := u.prune(); err != nil {
		return err
	}
	if err := u.dir.WriteHead(ptr(u.head())); err != nil {
		u.m.publishErrors.Inc()
		return fmt.Errorf("updater: %w", err)
	}
	u.occupied = u.table.Occupied()
	u.m.table(u.occupied, u.params.TableSize)
	u.m.regenerations.Inc()
	u.m.epochs.Inc()
	u.m.lastPublish.SetToCurrentTime()
	u.m.snapshot(epoch, time.Now())
	u.m.state(u.epoch, u.block.Number)
	u.log.Info("updater: regenerated the keyword table", "epoch", epoch, "block", u.block.Number,
		"accounts", stored, "old_table_size", oldSize, "table_size", u.params.TableSize, "seconds", time.Since(start).Seconds())
	if u.cfg.OnPublish != nil {
		u.cfg.OnPublish(Published{Head: u.head(), Snapshot: m, Regenerated: true, Latency: time.Since(received)})
	}
	return nil
}

// writeSnapshot publishes the current table as a snapshot, then prunes
// deltas more than Retention epochs behind it.
func (u *Updater) writeSnapshot() (*dataset.Manifest, error) {
	db := &dataset.Database{ChainID: u.chainID, Epoch: u.epoch, BlockNumber: u.block.Number, BlockHash: dataset.Hash(u.block.Hash),
		StateRoot: dataset.Hash(u.block.Root), Keyword: u.params, Entries: u.table.Bytes()}
	m, err := snapshot.Write(u.dir, db)
	if err != nil {
		u.m.publishErrors.Inc()
		return nil, fmt.Errorf("updater: %w", err)
	}
	u.m.snapshot(u.epoch, time.Now())
	u.snapshotEpoch = u.epoch
	u.step(u.epoch, "snapshot")
	if err := u.prune(); err != nil {
		return nil, err
	}
	if err := u.dir.WriteHead(ptr(u.head())); err != nil {
		u.m.publishErrors.Inc()
		return nil, fmt.Errorf("updater: %w", err)
	}
	u.log.Info("updater: snapshot", "epoch", m.Epoch, "block", m.BlockNumber, "oldest_delta", u.oldest)
	return m, nil
}

// prune removes deltas more than Retention epochs behind the snapshot (also
// on start, so a run killed between snapshot and pruning ends up with the
// same files as one that was not).
func (u *Updater) prune() error {
	if u.cfg.SnapshotEvery > 0 && u.snapshotEpoch > u.cfg.Retention {
		u.oldest = max(u.oldest, u.snapshotEpoch-u.cfg.Retention+1)
	}
	// Every delta below oldest goes: pruned, behind a gap, or of a table
	// that was regenerated.
	epochs, err := u.dir.DeltaEpochs()
	if err != nil {
		return err
	}
	for _, e := range epochs {
		if e >= u.oldest {
			break
		}
		if err := os.Remove(u.dir.DeltaPath(e)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("updater: pruning delta %d: %w", e, err)
		}
	}
	for e := range u.history {
		if e < u.oldest && e != u.snapshotEpoch {
			delete(u.history, e)
		}
	}
	return nil
}

func (u *Updater) step(epoch uint64, name string) {
	if u.cfg.at != nil {
		u.cfg.at(epoch, name)
	}
}
