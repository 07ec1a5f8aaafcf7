package devnet

import (
	"context"
	"fmt"

	"github.com/ethereum/go-ethereum/core/types"
)

// ReorgResult describes a forced reorg.
type ReorgResult struct {
	Ancestor *types.Header   // the common ancestor both branches grow from
	OldHead  *types.Header   // head of the abandoned branch (its blocks stay readable by hash)
	NewHead  *types.Header   // head of the new canonical branch
	Branch   []*types.Header // the new blocks, oldest first
}

// Reorg replaces the newest depth blocks with depth+1 different ones, so the
// new head is one block higher than the old one. See ReorgTo.
func (n *Node) Reorg(ctx context.Context, depth int) (*ReorgResult, error) {
	return n.ReorgTo(ctx, depth, depth+1)
}

// ReorgTo forces a reorg with two competing branches, exactly like this:
//
//  1. It pauses block production (the block timer waits) and drops every
//     pending transaction.
//  2. It moves the canonical head back to the block depth below the current
//     head (the common ancestor) with the simulated beacon's Fork, which calls
//     BlockChain.SetCanonical: a regular chain reorg, so the abandoned blocks
//     stay in the database as a side chain (eth_getBlockByHash still finds
//     them, eth_getBlockByNumber no longer does) and new-head subscribers see
//     the ancestor.
//  3. It drops the abandoned branch's transactions that the pool re-injected,
//     then mines length new blocks on the ancestor. Their traffic is drawn with
//     a new salt (one more per reorg), so the new branch moves different
//     amounts to different accounts; their hashes always differ from the old
//     branch (timestamps, prevrandao).
//
// length may be smaller than, equal to or larger than depth: post-merge the
// fork choice follows the beacon, not the length. depth must be at least 1 and
// at most the head number; length at least 1.
func (n *Node) ReorgTo(ctx context.Context, depth, length int) (*ReorgResult, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, ErrClosed
	}
	old := n.Head()
	if depth < 1 || uint64(depth) > old.Number.Uint64() || length < 1 {
		return nil, fmt.Errorf("devnet: reorg depth %d, length %d: need 1 <= depth <= head (%d), length >= 1", depth, length, old.Number.Uint64())
	}
	chain := n.eth.BlockChain()
	ancestor := chain.GetBlockByNumber(old.Number.Uint64() - uint64(depth))
	if ancestor == nil {
		return nil, fmt.Errorf("devnet: reorg ancestor %d not found", old.Number.Uint64()-uint64(depth))
	}
	pool := n.eth.TxPool()
	if err := pool.Sync(); err != nil {
		return nil, fmt.Errorf("devnet: syncing pool before reorg: %w", err)
	}
	pool.Clear()
	if err := n.sim.Fork(ancestor.Hash()); err != nil {
		return nil, fmt.Errorf("devnet: rewinding to block %d: %w", ancestor.NumberU64(), err)
	}
	if err := pool.Sync(); err != nil {
		return nil, fmt.Errorf("devnet: syncing pool after rewind: %w", err)
	}
	pool.Clear()
	n.salt++
	res := &ReorgResult{Ancestor: ancestor.Header(), OldHead: old}
	for i := 0; i < length; i++ {
		h, err := n.mineLocked(ctx)
		if err != nil {
			return nil, fmt.Errorf("devnet: mining reorg block %d of %d: %w", i+1, length, err)
		}
		res.Branch = append(res.Branch, h)
	}
	res.NewHead = res.Branch[len(res.Branch)-1]
	n.log.Info("devnet reorg", "ancestor", ancestor.NumberU64(), "old_head", old.Number, "old_hash", old.Hash(),
		"new_head", res.NewHead.Number, "new_hash", res.NewHead.Hash())
	return res, nil
}
