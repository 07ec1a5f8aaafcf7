package privaterpc

import (
	"context"
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/plinko-pir/plinko/runtime/client"
)

// ClientBalances answers with private lookups of a runtime/client (one at
// a time: the client serializes them).
type ClientBalances struct{ C *client.Client }

// BalancesOf looks addrs up privately in one request (client.LookupMany,
// padded to its size classes): the exact wei at the client's block.
func (b ClientBalances) BalancesOf(ctx context.Context, addrs []common.Address) ([]Balance, error) {
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
			out = append(out, Balance{Wei: r.Wei.ToBig(), Block: r.Block, Found: r.Found})
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
