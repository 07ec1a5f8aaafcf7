package devnet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethdb"
	"github.com/ethereum/go-ethereum/node"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/ethereum/go-ethereum/trie"
	"github.com/holiman/uint256"

	"github.com/plinko-pir/plinko/runtime/progress"
)

// The generator writes the genesis state of a large devnet straight into the
// node's database, then a genesis block whose root is that state. It is pinned
// to go-ethereum v1.17.10's hash-scheme layout:
//
//   - every account trie node under its hash (rawdb.WriteLegacyTrieNode), built
//     by a trie.StackTrie fed with the accounts sorted by keccak256(address);
//   - the address preimages (rawdb.WritePreimages) for debug_accountRange;
//   - contract code (rawdb.WriteCode) of the system contracts;
//   - the genesis block, canonical hash, head pointers and chain config exactly
//     as core.Genesis.Commit writes them, the canonical hash of block 0 last so
//     that an interrupted run leaves a database Start rebuilds from scratch.
//
// The state equals what the genesis alloc path builds for the same seed and
// size: same root, same genesis hash (a test checks it).

// generate builds the genesis of cfg in the chaindata database of stack.
func generate(ctx context.Context, stack *node.Node, cfg Config) error {
	db, err := stack.OpenDatabaseWithOptions("chaindata", node.DatabaseOptions{Cache: 256, Handles: 256})
	if err != nil {
		return fmt.Errorf("devnet: opening chain database for the generator: %w", err)
	}
	defer db.Close()
	began := time.Now()
	base := baseGenesis(cfg.GasLimit)
	root, err := writeGenesisState(ctx, db, cfg, base.Alloc)
	if err != nil {
		return err
	}
	block, err := writeGenesisBlock(db, base, root)
	if err != nil {
		return err
	}
	elapsed := time.Since(began)
	cfg.Logger.Info("devnet generator done", "accounts", cfg.Accounts, "root", root, "genesis", block.Hash(),
		"elapsed", elapsed.Round(time.Millisecond), "accounts_per_s", int(float64(cfg.Accounts)/elapsed.Seconds()))
	return db.Close()
}

// writeGenesisBlock writes the genesis block for state root like
// core.Genesis.Commit does. The stored genesis state spec holds only the
// system contracts (the funded accounts follow from seed and size).
func writeGenesisBlock(db ethdb.Database, base *core.Genesis, root common.Hash) (*types.Block, error) {
	proto := base.ToBlock()
	header := proto.Header()
	header.Root = root
	block := types.NewBlockWithHeader(header).WithBody(types.Body{Withdrawals: proto.Withdrawals()})
	spec, err := json.Marshal(base.Alloc)
	if err != nil {
		return nil, fmt.Errorf("devnet: encoding genesis spec: %w", err)
	}
	batch := db.NewBatch()
	rawdb.WriteGenesisStateSpec(batch, block.Hash(), spec)
	rawdb.WriteBlock(batch, block)
	rawdb.WriteReceipts(batch, block.Hash(), 0, nil)
	rawdb.WriteHeadBlockHash(batch, block.Hash())
	rawdb.WriteHeadFastBlockHash(batch, block.Hash())
	rawdb.WriteHeadHeaderHash(batch, block.Hash())
	rawdb.WriteChainConfig(batch, block.Hash(), base.Config)
	if err := batch.Write(); err != nil {
		return nil, fmt.Errorf("devnet: writing genesis block: %w", err)
	}
	if err := db.SyncKeyValue(); err != nil {
		return nil, fmt.Errorf("devnet: syncing state: %w", err)
	}
	// Last: the canonical hash of block 0 is what marks the database as built.
	batch = db.NewBatch()
	rawdb.WriteCanonicalHash(batch, block.Hash(), 0)
	if err := batch.Write(); err != nil {
		return nil, fmt.Errorf("devnet: writing genesis canonical hash: %w", err)
	}
	if err := db.SyncKeyValue(); err != nil {
		return nil, fmt.Errorf("devnet: syncing genesis: %w", err)
	}
	return block, nil
}

// keyed is one account of the genesis: its trie key keccak256(address) and
// either a funded index (extra < 0) or one of the extra allocs.
type keyed struct {
	key   common.Hash
	index uint32
	extra int32
}

// writeGenesisState writes every funded account plus extra (the system
// contracts) as a hash-scheme state trie and returns its root.
func writeGenesisState(ctx context.Context, db ethdb.Database, cfg Config, extra types.GenesisAlloc) (common.Hash, error) {
	n := cfg.Accounts
	extraAddrs := make([]common.Address, 0, len(extra))
	for addr := range extra {
		extraAddrs = append(extraAddrs, addr)
	}
	// Steps: one per account to hash its key, one per trie leaf to insert it.
	prog := newProgress(cfg.Progress, cfg.Logger, 2*int64(n)+int64(len(extra)), "generating accounts")
	defer prog.finish()

	// Phase 1: trie keys of all accounts, in parallel.
	items := make([]keyed, n+len(extraAddrs))
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for w := 0; w < workers; w++ {
		lo, hi := w*chunk, min((w+1)*chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				items[i] = keyed{key: crypto.Keccak256Hash(AccountAddress(cfg.Seed, i).Bytes()), index: uint32(i), extra: -1}
				if (i-lo)%65536 == 65535 {
					prog.add(65536)
				}
			}
			prog.add(int64((hi - lo) % 65536))
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return common.Hash{}, err
	}
	for j, addr := range extraAddrs {
		items[n+j] = keyed{key: crypto.Keccak256Hash(addr.Bytes()), extra: int32(j)}
	}
	slices.SortFunc(items, func(a, b keyed) int { return bytes.Compare(a.key[:], b.key[:]) })
	for i := 1; i < len(items); i++ {
		if items[i].key == items[i-1].key {
			return common.Hash{}, fmt.Errorf("devnet: two genesis accounts share trie key %s", items[i].key)
		}
	}

	// Phase 2: account values computed in parallel per chunk, fed in key order
	// to a stack trie that writes each finished node.
	batch := db.NewBatch()
	var writeErr error
	st := trie.NewStackTrie(func(path []byte, hash common.Hash, blob []byte) {
		rawdb.WriteLegacyTrieNode(batch, hash, blob)
		if batch.ValueSize() >= ethdb.IdealBatchSize {
			if err := batch.Write(); err != nil && writeErr == nil {
				writeErr = err
			}
			batch.Reset()
		}
	})
	for addr, acct := range extra {
		if len(acct.Code) > 0 {
			rawdb.WriteCode(batch, crypto.Keccak256Hash(acct.Code), acct.Code)
		}
		if len(acct.Storage) > 0 {
			return common.Hash{}, fmt.Errorf("devnet: generator does not write storage (account %s)", addr)
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the producer below on an early return
	const chunkSize = 1 << 14
	type result struct {
		vals      [][]byte
		preimages map[common.Hash][]byte
		err       error
	}
	chunks := (len(items) + chunkSize - 1) / chunkSize
	results := make([]chan result, chunks)
	for c := range results {
		results[c] = make(chan result, 1)
	}
	sem := make(chan struct{}, workers+1)
	go func() {
		for c := 0; c < chunks; c++ {
			if ctx.Err() != nil {
				results[c] <- result{err: ctx.Err()}
				continue
			}
			select {
			case sem <- struct{}{}: // released by the consumer: bounds chunks in memory
			case <-ctx.Done():
				results[c] <- result{err: ctx.Err()}
				continue
			}
			go func() {
				part := items[c*chunkSize : min((c+1)*chunkSize, len(items))]
				r := result{vals: make([][]byte, len(part)), preimages: make(map[common.Hash][]byte, len(part))}
				for k, it := range part {
					var addr common.Address
					acct := types.StateAccount{Root: types.EmptyRootHash, CodeHash: types.EmptyCodeHash.Bytes()}
					if it.extra < 0 {
						addr = AccountAddress(cfg.Seed, int(it.index))
						acct.Balance = uint256.MustFromBig(GenesisBalance(cfg.Seed, int(it.index)))
					} else {
						addr = extraAddrs[it.extra]
						ga := extra[addr]
						acct.Nonce = ga.Nonce
						acct.Balance = uint256.MustFromBig(ga.Balance)
						if len(ga.Code) > 0 {
							acct.CodeHash = crypto.Keccak256(ga.Code)
						}
					}
					val, err := rlp.EncodeToBytes(&acct)
					if err != nil {
						r.err = err
						break
					}
					r.vals[k] = val
					r.preimages[it.key] = addr.Bytes()
				}
				results[c] <- r
			}()
		}
	}()
	for c := 0; c < chunks; c++ {
		r := <-results[c]
		if r.err != nil {
			return common.Hash{}, fmt.Errorf("devnet: generating accounts: %w", r.err)
		}
		<-sem
		part := items[c*chunkSize : min((c+1)*chunkSize, len(items))]
		for k, it := range part {
			if err := st.Update(it.key[:], r.vals[k]); err != nil {
				return common.Hash{}, fmt.Errorf("devnet: inserting account into trie: %w", err)
			}
		}
		rawdb.WritePreimages(batch, r.preimages)
		if writeErr != nil {
			return common.Hash{}, fmt.Errorf("devnet: writing trie nodes: %w", writeErr)
		}
		prog.add(int64(len(part)))
	}
	root := st.Hash()
	if err := batch.Write(); err != nil {
		return common.Hash{}, fmt.Errorf("devnet: writing trie nodes: %w", err)
	}
	if writeErr != nil {
		return common.Hash{}, fmt.Errorf("devnet: writing trie nodes: %w", writeErr)
	}
	return root, nil
}

// genProgress is a progress line on a terminal and periodic slog lines otherwise.
type genProgress struct {
	mu    sync.Mutex
	bar   *progress.Bar
	log   *slog.Logger
	what  string
	total int64
	done  int64
	began time.Time
	last  time.Time
}

func newProgress(w io.Writer, log *slog.Logger, total int64, what string) *genProgress {
	p := &genProgress{log: log, what: what, total: total, began: time.Now(), last: time.Now()}
	p.bar = progress.OnTerminal(w, what, progress.Count)
	return p
}

func (p *genProgress) add(k int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += k
	if p.bar != nil {
		p.bar.Update(p.done, p.total)
		return
	}
	if now := time.Now(); now.Sub(p.last) >= 5*time.Second {
		p.last = now
		p.log.Info("devnet progress", "what", p.what, "done", p.done, "total", p.total,
			"percent", fmt.Sprintf("%.1f", 100*float64(p.done)/float64(max(p.total, 1))),
			"elapsed", now.Sub(p.began).Round(time.Second))
	}
}

func (p *genProgress) finish() {
	p.bar.Finish()
}
