package privaterpc

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/plinko-pir/plinko/runtime/client"
)

// ClientBalances answers with private lookups of a runtime/client (one at
// a time: the client serializes them).
type ClientBalances struct{ C *client.Client }

// BalancesOf answers addrs: an address looked up before from the client's
// own state (client.Known: no request, kept exact by the deltas), the
// others privately in one request (client.LookupMany, padded to its size
// classes). Polling an address therefore sends nothing.
func (b ClientBalances) BalancesOf(ctx context.Context, addrs []common.Address) ([]Balance, error) {
	out := make([]Balance, len(addrs))
	var unknown []common.Address
	var at []int
	for i, a := range addrs {
		if r, ok := b.C.Known(a); ok {
			out[i] = Balance{Wei: r.Wei.ToBig(), Block: r.Block}
			continue
		}
		unknown, at = append(unknown, a), append(at, i)
	}
	looked, err := b.lookup(ctx, unknown)
	if err != nil {
		return nil, err
	}
	for k, i := range at {
		out[i] = looked[k]
	}
	return out, nil
}

func (b ClientBalances) lookup(ctx context.Context, addrs []common.Address) ([]Balance, error) {
	out := make([]Balance, 0, len(addrs))
	for len(addrs) > 0 { // a request takes at most client.MaxLookupMany
		k := min(len(addrs), client.MaxLookupMany)
		raw := make([][20]byte, k)
		for i, a := range addrs[:k] {
			raw[i] = a
		}
		res, err := b.C.LookupMany(ctx, raw)
		if err != nil {
			return nil, err
		}
		for _, r := range res {
			out = append(out, Balance{Wei: r.Wei.ToBig(), Block: r.Block})
		}
		addrs = addrs[k:]
	}
	return out, nil
}

// CheckChain compares the upstream's eth_chainId with the chain of the
// private database: a wallet trusts the former, and the balances come
// from the latter.
func CheckChain(ctx context.Context, upstream string, want uint64) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := rpc.DialContext(ctx, upstream)
	if err != nil {
		return fmt.Errorf("upstream %s: %w", upstream, err)
	}
	defer c.Close()
	var id hexutil.Uint64
	if err := c.CallContext(ctx, &id, "eth_chainId"); err != nil {
		return fmt.Errorf("upstream %s: eth_chainId: %w", upstream, err)
	}
	if uint64(id) != want {
		return fmt.Errorf("upstream %s serves chain %d, the private database is of chain %d: point --upstream and --cdn at the same chain", upstream, uint64(id), want)
	}
	return nil
}

// Maintain keeps c fresh and its traffic independent of the user: a Sync
// every syncEvery (head and deltas from the CDN, the same files for
// everyone), and a cover request (client.Cover) at random times, on
// average every coverEvery (0: none), whether or not the wallet asks for
// anything. It returns when ctx ends.
func Maintain(ctx context.Context, c *client.Client, syncEvery, coverEvery time.Duration, log *slog.Logger) {
	sync := time.NewTicker(syncEvery)
	defer sync.Stop()
	var cover <-chan time.Time
	next := func() {
		if coverEvery > 0 {
			cover = time.After(time.Duration(rand.ExpFloat64() * float64(coverEvery)))
		}
	}
	next()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sync.C:
			if err := c.Sync(ctx); err != nil && ctx.Err() == nil {
				log.Warn("syncing hints failed; retrying at the next tick", "err", err)
			}
		case <-cover:
			if err := c.Cover(ctx); err != nil && ctx.Err() == nil {
				log.Warn("cover request failed", "err", err)
			}
			next()
		}
	}
}
