package dbgen

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/holiman/uint256"

	"github.com/plinko-pir/plinko/runtime/keyword"
)

const (
	// PageSize is the most accounts debug_accountRange returns per call.
	PageSize = 256
	// MaxBatch is geth's cap on a JSON-RPC batch.
	MaxBatch = 1000
)

// Wei converts a node's balance to the exact value an entry holds. A
// negative balance, or one wider than an entry's keyword.BalanceBits, is an
// error naming the value: never saturated or truncated.
func Wei(wei *big.Int) (uint256.Int, error) {
	var w uint256.Int
	if wei == nil || wei.Sign() < 0 {
		return w, fmt.Errorf("balance %v is not a non-negative number", wei)
	}
	if overflow := w.SetFromBig(wei); overflow || !keyword.FitsBalance(&w) {
		return w, fmt.Errorf("%w: %s wei", keyword.ErrBalanceTooLarge, wei)
	}
	return w, nil
}

// Progress receives how much of the work is done: done and total in
// arbitrary units (keyspace fractions or addresses) and accounts seen.
type Progress func(done, total, accounts uint64)

// rangeAccount is the part of debug_accountRange's DumpAccount we need.
type rangeAccount struct {
	Balance string        `json:"balance"`
	Key     hexutil.Bytes `json:"key"` // the trie key, present with or without preimages
}

type rangeResult struct {
	Accounts map[string]rangeAccount `json:"accounts"`
	Next     hexutil.Bytes           `json:"next"`
}

// progressUnits is the keyspace resolution of AccountRange's progress.
const progressUnits = 1 << 16

// AccountRange reads every account (trie key and exact balance in wei) from
// the state at block (by hash) with paged debug_accountRange calls. The
// keyspace (keccak of the address) is split into parallel stripes that page
// independently, so that parallel calls are in flight. The table is keyed by
// trie key, so the node needs no address preimages.
func AccountRange(ctx context.Context, c *rpc.Client, block common.Hash, parallel int, progress Progress) ([]keyword.Account, error) {
	if parallel < 1 {
		parallel = 1
	}
	stripes := parallel * 4 // more stripes than workers evens out their lengths
	type stripe struct{ lo, hi *big.Int }
	space := new(big.Int).Lsh(big.NewInt(1), 256)
	work := make(chan stripe, stripes)
	for i := range stripes {
		lo := new(big.Int).Div(new(big.Int).Mul(space, big.NewInt(int64(i))), big.NewInt(int64(stripes)))
		hi := new(big.Int).Div(new(big.Int).Mul(space, big.NewInt(int64(i+1))), big.NewInt(int64(stripes)))
		work <- stripe{lo, hi}
	}
	close(work)

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		mu       sync.Mutex
		out      []keyword.Account
		count    atomic.Uint64
		doneKeys atomic.Uint64 // progressUnits per full keyspace
		wg       sync.WaitGroup
	)
	blockArg := rpc.BlockNumberOrHashWithHash(block, false)
	unit := new(big.Int).Rsh(space, 16)
	for range parallel {
		wg.Go(func() {
			for s := range work {
				var local []keyword.Account
				start := s.lo
				reported := uint64(0)
				for start != nil && ctx.Err() == nil {
					var res rangeResult
					startKey := common.BigToHash(start)
					if err := c.CallContext(ctx, &res, "debug_accountRange", blockArg, hexutil.Bytes(startKey[:]), PageSize, true, true, true); err != nil {
						cancel(fmt.Errorf("debug_accountRange at %x: %w", startKey[:4], err))
						return
					}
					for name, a := range res.Accounts {
						if len(a.Key) != keyword.KeySize {
							cancel(fmt.Errorf("debug_accountRange: account %s comes without its 32-byte trie key", name))
							return
						}
						if k := new(big.Int).SetBytes(a.Key); k.Cmp(s.lo) < 0 || k.Cmp(s.hi) >= 0 {
							continue // belongs to the next stripe
						}
						n, ok := new(big.Int).SetString(a.Balance, 10)
						if !ok {
							cancel(fmt.Errorf("debug_accountRange: balance %q of trie key %x is not a decimal number", a.Balance, a.Key))
							return
						}
						wei, err := Wei(n)
						if err != nil {
							cancel(fmt.Errorf("debug_accountRange: account with trie key %x: %w", a.Key, err))
							return
						}
						local = append(local, keyword.Account{Key: keyword.Key(a.Key), Balance: wei})
					}
					start = nil
					if len(res.Next) > 0 {
						if next := new(big.Int).SetBytes(res.Next); next.Cmp(s.hi) < 0 {
							start = next
						}
					}
					// Progress: how far into the stripe this page reached.
					reach := s.hi
					if start != nil {
						reach = start
					}
					units := new(big.Int).Div(new(big.Int).Sub(reach, s.lo), unit).Uint64()
					doneKeys.Add(units - reported)
					reported = units
					if progress != nil {
						progress(doneKeys.Load(), progressUnits, count.Load()+uint64(len(local)))
					}
				}
				count.Add(uint64(len(local)))
				mu.Lock()
				out = append(out, local...)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	if progress != nil {
		progress(progressUnits, progressUnits, uint64(len(out)))
	}
	return out, nil
}

// ReadAddresses parses an address list: one 0x-prefixed hex address per
// line; blank lines and lines starting with # are skipped; duplicates are
// dropped.
func ReadAddresses(r io.Reader) ([]common.Address, error) {
	var out []common.Address
	seen := map[common.Address]bool{}
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		var a common.Address
		if err := a.UnmarshalText([]byte(s)); err != nil {
			return nil, fmt.Errorf("address list line %d: %w", line, err)
		}
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading address list: %w", err)
	}
	return out, nil
}

// Balances reads the exact balance of every address at block (by hash)
// with batched eth_getBalance calls (at most MaxBatch per batch), parallel
// batches in flight.
func Balances(ctx context.Context, c *rpc.Client, block common.Hash, addrs []common.Address, batch, parallel int, progress Progress) ([]keyword.Account, error) {
	if batch < 1 || batch > MaxBatch {
		batch = MaxBatch
	}
	if parallel < 1 {
		parallel = 1
	}
	out := make([]keyword.Account, len(addrs))
	blockArg := rpc.BlockNumberOrHashWithHash(block, false)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan int)
	var wg sync.WaitGroup
	var done atomic.Uint64
	for range parallel {
		wg.Go(func() {
			for lo := range work {
				hi := min(lo+batch, len(addrs))
				res := make([]hexutil.Big, hi-lo)
				elems := make([]rpc.BatchElem, hi-lo)
				for i := range elems {
					elems[i] = rpc.BatchElem{Method: "eth_getBalance", Args: []any{addrs[lo+i], blockArg}, Result: &res[i]}
				}
				if err := c.BatchCallContext(ctx, elems); err != nil {
					cancel(fmt.Errorf("batch eth_getBalance: %w", err))
					return
				}
				for i, e := range elems {
					if e.Error != nil {
						cancel(fmt.Errorf("eth_getBalance of %s: %w", addrs[lo+i], e.Error))
						return
					}
					wei, err := Wei(res[i].ToInt())
					if err != nil {
						cancel(fmt.Errorf("eth_getBalance of %s: %w", addrs[lo+i], err))
						return
					}
					out[lo+i] = keyword.Account{Key: keyword.KeyOf(addrs[lo+i]), Balance: wei}
				}
				n := done.Add(uint64(hi - lo))
				if progress != nil {
					progress(n, uint64(len(addrs)), n)
				}
			}
		})
	}
feed:
	for lo := 0; lo < len(addrs); lo += batch {
		select {
		case work <- lo:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return out, nil
}
