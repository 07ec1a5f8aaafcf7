package devnet

import (
	"context"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
)

// rpcAPI is the devnet_ JSON-RPC namespace, so that tests in another process
// (end-to-end runs against `plinko devnet`) can seal blocks and force reorgs:
// devnet_mineBlock() and devnet_reorg(depth, length).
type rpcAPI struct{ n *Node }

// BlockRef names one block.
type BlockRef struct {
	Number hexutil.Uint64 `json:"number"`
	Hash   common.Hash    `json:"hash"`
}

// ReorgRef is the JSON form of a ReorgResult.
type ReorgRef struct {
	Ancestor BlockRef `json:"ancestor"`
	OldHead  BlockRef `json:"oldHead"`
	NewHead  BlockRef `json:"newHead"`
}

// MineBlock seals one block now (devnet_mineBlock).
func (a *rpcAPI) MineBlock(ctx context.Context) (BlockRef, error) {
	h, err := a.n.MineBlock(ctx)
	if err != nil {
		return BlockRef{}, err
	}
	return BlockRef{Number: hexutil.Uint64(h.Number.Uint64()), Hash: h.Hash()}, nil
}

// Reorg replaces the newest depth blocks by length new ones (devnet_reorg);
// length 0 means depth+1.
func (a *rpcAPI) Reorg(ctx context.Context, depth, length int) (ReorgRef, error) {
	if length == 0 {
		length = depth + 1
	}
	r, err := a.n.ReorgTo(ctx, depth, length)
	if err != nil {
		return ReorgRef{}, err
	}
	ref := func(num uint64, hash common.Hash) BlockRef { return BlockRef{Number: hexutil.Uint64(num), Hash: hash} }
	return ReorgRef{
		Ancestor: ref(r.Ancestor.Number.Uint64(), r.Ancestor.Hash()),
		OldHead:  ref(r.OldHead.Number.Uint64(), r.OldHead.Hash()),
		NewHead:  ref(r.NewHead.Number.Uint64(), r.NewHead.Hash()),
	}, nil
}
