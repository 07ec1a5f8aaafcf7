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

// Balance looks addr up privately: the exact wei at the client's block.
func (b ClientBalances) Balance(ctx context.Context, addr common.Address) (Balance, error) {
	res, err := b.C.Lookup(ctx, addr)
	if err != nil {
		return Balance{}, err
	}
	return Balance{Wei: res.Wei.ToBig(), Block: res.Block, Found: res.Found}, nil
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
