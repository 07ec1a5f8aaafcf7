package devnet

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"
)

func startNode(t *testing.T, cfg Config) *Node {
	t.Helper()
	if cfg.BlockTime == 0 {
		cfg.BlockTime = time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return n
}

func dial(t *testing.T, url string) *rpc.Client {
	t.Helper()
	c, err := rpc.Dial(url)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(c.Close)
	return c
}

// balancesAt reads the balances of addrs at block number over JSON-RPC in batches.
func balancesAt(t *testing.T, c *rpc.Client, addrs []common.Address, number uint64) []*big.Int {
	t.Helper()
	out := make([]*big.Int, len(addrs))
	for lo := 0; lo < len(addrs); lo += 500 {
		hi := min(lo+500, len(addrs))
		res := make([]hexutil.Big, hi-lo)
		batch := make([]rpc.BatchElem, hi-lo)
		for i := range batch {
			batch[i] = rpc.BatchElem{Method: "eth_getBalance", Args: []any{addrs[lo+i], hexutil.EncodeUint64(number)}, Result: &res[i]}
		}
		if err := c.BatchCall(batch); err != nil {
			t.Fatalf("batch eth_getBalance: %v", err)
		}
		for i := range batch {
			if batch[i].Error != nil {
				t.Fatalf("eth_getBalance %s: %v", addrs[lo+i], batch[i].Error)
			}
			out[lo+i] = res[i].ToInt()
		}
	}
	return out
}

type accountRangeResult struct {
	Accounts map[string]struct {
		Balance string          `json:"balance"`
		Address *common.Address `json:"address"`
	} `json:"accounts"`
	Next hexutil.Bytes `json:"next"`
}

// enumerate pages through debug_accountRange at block number and returns
// every address with its balance.
func enumerate(t *testing.T, c *rpc.Client, number uint64) map[common.Address]*big.Int {
	t.Helper()
	out := make(map[common.Address]*big.Int)
	start := hexutil.Bytes{}
	for {
		var res accountRangeResult
		if err := c.Call(&res, "debug_accountRange", hexutil.EncodeUint64(number), start, 256, true, true, false); err != nil {
			t.Fatalf("debug_accountRange: %v", err)
		}
		for key, a := range res.Accounts {
			if a.Address == nil {
				t.Fatalf("debug_accountRange returned account %s without address (preimages missing)", key)
			}
			b, ok := new(big.Int).SetString(a.Balance, 10)
			if !ok {
				t.Fatalf("bad balance %q", a.Balance)
			}
			out[*a.Address] = b
		}
		if len(res.Next) == 0 {
			return out
		}
		start = res.Next
	}
}

func fundedAddrs(seed uint64, n int) []common.Address {
	addrs := make([]common.Address, n)
	for i := range addrs {
		addrs[i] = AccountAddress(seed, i)
	}
	return addrs
}

func checkGenesis(t *testing.T, n *Node) {
	t.Helper()
	c := dial(t, n.HTTPURL())
	seed, count := n.Config().Seed, n.Accounts()
	addrs := fundedAddrs(seed, count)
	for i, got := range balancesAt(t, c, addrs, 0) {
		if want := GenesisBalance(seed, i); got.Cmp(want) != 0 {
			t.Fatalf("account %d %s: genesis balance %s, want %s", i, addrs[i], got, want)
		}
	}
	all := enumerate(t, c, 0)
	for i, a := range addrs {
		if b, ok := all[a]; !ok || b.Cmp(GenesisBalance(seed, i)) != 0 {
			t.Fatalf("debug_accountRange: account %d %s missing or wrong (%v)", i, a, b)
		}
	}
	if extra := len(all) - count; extra < 0 || extra > 16 {
		t.Fatalf("debug_accountRange: %d accounts for %d funded", len(all), count)
	}
}

func TestGenesisBalancesAndAccountRange(t *testing.T) {
	n := startNode(t, Config{Accounts: 700, Seed: 7, Manual: true})
	checkGenesis(t, n)
	if !isLoopback(n.HTTPURL()) || !isLoopback(n.WSURL()) {
		t.Fatalf("RPC not on loopback: %s %s", n.HTTPURL(), n.WSURL())
	}
	// The balance classes the encoding must handle are all present.
	classes := map[string]int{}
	for i := 0; i < n.Accounts(); i++ {
		classes[BalanceClass(7, i)]++
	}
	for _, c := range []string{ClassSender, ClassDust, ClassLarge, ClassOrdinary} {
		if classes[c] == 0 {
			t.Errorf("no %s balances among 700 accounts: %v", c, classes)
		}
	}
}

func isLoopback(url string) bool {
	for _, p := range []string{"http://127.0.0.1:", "ws://127.0.0.1:"} {
		if len(url) > len(p) && url[:len(p)] == p {
			return true
		}
	}
	return false
}

// TestTrafficEveryBlock runs the block timer at 1 s and checks over WebSocket
// that every block carries the planned transfers and changes balances, that a
// withdrawal lands and that a new account appears.
func TestTrafficEveryBlock(t *testing.T) {
	const seed = 3
	n := startNode(t, Config{Accounts: 200, Seed: seed, BlockTime: time.Second,
		Traffic: Traffic{TxPerBlock: 5, NewAccountEvery: 2, WithdrawalEvery: 3}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ec, err := ethclient.DialContext(ctx, n.WSURL())
	if err != nil {
		t.Fatalf("dial ws: %v", err)
	}
	defer ec.Close()
	heads := make(chan *types.Header, 16)
	sub, err := ec.SubscribeNewHead(ctx, heads)
	if err != nil {
		t.Fatalf("newHeads: %v", err)
	}
	defer sub.Unsubscribe()
	c := dial(t, n.HTTPURL())
	addrs := fundedAddrs(seed, 200)
	sawWithdrawal, sawNew := false, false
	for seen := 0; seen < 4 || !sawWithdrawal || !sawNew; seen++ {
		var h *types.Header
		select {
		case h = <-heads:
		case err := <-sub.Err():
			t.Fatalf("subscription: %v", err)
		case <-ctx.Done():
			t.Fatalf("timed out after %d heads", seen)
		}
		num := h.Number.Uint64()
		block, err := ec.BlockByHash(ctx, h.Hash())
		if err != nil {
			t.Fatalf("block %d: %v", num, err)
		}
		if len(block.Transactions()) != 5 {
			t.Fatalf("block %d has %d transfers, want 5", num, len(block.Transactions()))
		}
		before, after := balancesAt(t, c, addrs, num-1), balancesAt(t, c, addrs, num)
		changed := 0
		for i := range addrs {
			if before[i].Cmp(after[i]) != 0 {
				changed++
			}
		}
		if changed == 0 {
			t.Fatalf("block %d changed no funded balance", num)
		}
		if num%3 == 0 {
			ws := block.Withdrawals()
			if len(ws) != 1 {
				t.Fatalf("block %d has %d withdrawals, want 1", num, len(ws))
			}
			w := ws[0]
			got := balancesAt(t, c, []common.Address{w.Address}, num)[0]
			prev := balancesAt(t, c, []common.Address{w.Address}, num-1)[0]
			delta := new(big.Int).Sub(got, prev)
			credited := new(big.Int).Mul(new(big.Int).SetUint64(w.Amount), big.NewInt(params.GWei))
			// The recipient may also have sent or received transfers in the block.
			if !touchedByTx(block, w.Address) && delta.Cmp(credited) != 0 {
				t.Fatalf("withdrawal of %d gwei to %s: balance moved by %s wei", w.Amount, w.Address, delta)
			}
			sawWithdrawal = true
		}
		if num%2 == 0 {
			fresh := NewAccountAddress(seed, num)
			if prev := balancesAt(t, c, []common.Address{fresh}, num-1)[0]; prev.Sign() != 0 {
				t.Fatalf("new account %s funded before block %d", fresh, num)
			}
			if got := balancesAt(t, c, []common.Address{fresh}, num)[0]; got.Sign() == 0 {
				t.Fatalf("new account %s not funded in block %d", fresh, num)
			}
			sawNew = true
		}
	}
}

func touchedByTx(block *types.Block, a common.Address) bool {
	signer := types.LatestSignerForChainID(big.NewInt(ChainID))
	for _, tx := range block.Transactions() {
		from, _ := types.Sender(signer, tx)
		if from == a || (tx.To() != nil && *tx.To() == a) || block.Coinbase() == a {
			return true
		}
	}
	return false
}
