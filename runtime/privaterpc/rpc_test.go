package privaterpc_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/plinko-pir/plinko/runtime/client"
	"github.com/plinko-pir/plinko/runtime/devnet"
	"github.com/plinko-pir/plinko/runtime/local"
	"github.com/plinko-pir/plinko/runtime/privaterpc"
)

// recorder is the upstream as the test sees it: the dev chain's JSON-RPC
// behind a proxy that keeps every request body.
type recorder struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (r *recorder) seen(addr common.Address) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	needle := strings.ToLower(hex.EncodeToString(addr[:]))
	for _, b := range r.bodies {
		if strings.Contains(strings.ToLower(string(b)), needle) {
			return string(b)
		}
	}
	return ""
}

func recordingUpstream(t *testing.T, node string) (string, *recorder) {
	t.Helper()
	target, err := url.Parse(node)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.bodies = append(rec.bodies, body)
		rec.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, rec
}

// TestPrivateRPC: go-ethereum's own ethclient, pointed at plinko rpc,
// gets exact balances (funded, dust, absent) from private lookups, every
// other call from the node, and refusals for the calls that carry an
// address; the node never sees a looked-up address.
func TestPrivateRPC(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sys, err := local.Start(ctx, local.Config{Accounts: 400, BlockTime: 500 * time.Millisecond, SkipWallet: true,
		WalletPort: -1, CDNPort: -1, PIRPort: -1, RPCPort: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	if err := sys.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	// A few blocks in, so that block 0 is an old one.
	if err := sys.WaitEpoch(ctx, 3); err != nil { // epoch = block on this chain
		t.Fatal(err)
	}
	upstream, rec := recordingUpstream(t, sys.RPCURL)
	c, err := client.New(client.Config{CDN: sys.CDNURL, PIR: sys.PIRURL})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := privaterpc.New(privaterpc.Config{Upstream: upstream, UpstreamWS: sys.WSURL, Balances: privaterpc.ClientBalances{C: c}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	chain, err := ethclient.DialContext(ctx, sys.RPCURL)
	if err != nil {
		t.Fatal(err)
	}
	defer chain.Close()

	for _, tc := range []struct {
		name string
		url  string
	}{{"http", hs.URL}, {"websocket", "ws" + strings.TrimPrefix(hs.URL, "http")}} {
		t.Run(tc.name, func(t *testing.T) {
			ec, err := ethclient.DialContext(ctx, tc.url)
			if err != nil {
				t.Fatal(err)
			}
			defer ec.Close()
			if id, err := ec.ChainID(ctx); err != nil || id.Uint64() != devnet.ChainID {
				t.Fatalf("eth_chainId through plinko rpc: %v, %v", id, err)
			}
			looked := []common.Address{
				sys.Example,                     // ordinary
				dustAccount(t, ctx, chain, sys), // under 1 gwei
				common.HexToAddress("0x00000000000000000000000000000000c0ffee01"), // absent
			}
			for _, addr := range looked {
				got, err := ec.BalanceAt(ctx, addr, nil)
				if err != nil {
					t.Fatalf("eth_getBalance(%s): %v", addr, err)
				}
				block := c.Status().Block
				want, err := chain.BalanceAt(ctx, addr, new(big.Int).SetUint64(block))
				if err != nil {
					t.Fatal(err)
				}
				if got.Cmp(want) != 0 {
					t.Fatalf("%s at block %d: plinko rpc %s wei, the chain %s wei", addr, block, got, want)
				}
				// The block the lookup answered for, by number: private too.
				if again, err := ec.BalanceAt(ctx, addr, new(big.Int).SetUint64(c.Status().Block)); err != nil || again.Cmp(want) != 0 && c.Status().Block == block {
					t.Fatalf("eth_getBalance at its block: %v, %v", again, err)
				}
				t.Logf("%s: %s wei at block %d, the chain agrees", addr.Hex(), got, block)
			}
			// Polling an address already looked up sends nothing to the
			// pir-server: it is answered from the client's state.
			asked := sys.QueryBatchesAnswered()
			for range 5 {
				got, err := ec.BalanceAt(ctx, looked[0], nil)
				want, werr := chain.BalanceAt(ctx, looked[0], new(big.Int).SetUint64(c.Status().Block))
				if err != nil || werr != nil || got.Cmp(want) != 0 {
					t.Fatalf("poll: %v (%v), the chain %v (%v)", got, err, want, werr)
				}
			}
			if n := sys.QueryBatchesAnswered() - asked; n != 0 {
				t.Fatalf("5 polls of a known address sent %d requests to the pir-server", n)
			}
			// MetaMask's ETH-only balance check of two accounts.
			checker := common.HexToAddress("0xb1f8e55c7f64d203c1400b9d8555d050f94adf39")
			users := []common.Address{looked[0], looked[1]}
			data, err := privaterpc.CheckerABI.Pack("balances", users, []common.Address{{}})
			if err != nil {
				t.Fatal(err)
			}
			out, err := ec.CallContract(ctx, ethereum.CallMsg{To: &checker, Data: data}, nil)
			if err != nil {
				t.Fatalf("balance check: %v", err)
			}
			vals, err := privaterpc.CheckerABI.Unpack("balances", out)
			if err != nil {
				t.Fatalf("balance check answer: %v", err)
			}
			got := vals[0].([]*big.Int)
			block := c.Status().Block
			for i, u := range users {
				want, err := chain.BalanceAt(ctx, u, new(big.Int).SetUint64(block))
				if err != nil || len(got) != len(users) || got[i].Cmp(want) != 0 {
					t.Fatalf("balance check at block %d: %v, the chain says %s for %s (%v)", block, got, want, u, err)
				}
			}
			// An old block cannot be served privately: refused, not forwarded.
			_, err = ec.BalanceAt(ctx, sys.Example, big.NewInt(0))
			wantCode(t, err, privaterpc.CodeUnserved)
			// Calls that carry the address are refused.
			_, err = ec.NonceAt(ctx, sys.Example, nil)
			wantCode(t, err, privaterpc.CodeLeaky)
			_, err = ec.CodeAt(ctx, sys.Example, nil)
			wantCode(t, err, privaterpc.CodeLeaky)
			_, err = ec.CallContract(ctx, ethereum.CallMsg{From: sys.Example, To: &sys.Example}, nil)
			wantCode(t, err, privaterpc.CodeLeaky)
			// The rest is the node's.
			if n, err := ec.BlockNumber(ctx); err != nil || n == 0 {
				t.Fatalf("eth_blockNumber: %d, %v", n, err)
			}
			// A batch keeps its order: forwarded, private, refused.
			rc, err := rpc.DialContext(ctx, tc.url)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			var chainID, bal, code string
			batch := []rpc.BatchElem{
				{Method: "eth_chainId", Result: &chainID},
				{Method: "eth_getBalance", Args: []any{sys.Example, "latest"}, Result: &bal},
				{Method: "eth_getCode", Args: []any{sys.Example, "latest"}, Result: &code},
			}
			if err := rc.BatchCallContext(ctx, batch); err != nil {
				t.Fatal(err)
			}
			if batch[0].Error != nil || chainID == "" || batch[1].Error != nil || bal == "" {
				t.Fatalf("batch: %+v", batch)
			}
			wantCode(t, batch[2].Error, privaterpc.CodeLeaky)
			if tc.name == "websocket" {
				heads := make(chan *types.Header, 4)
				sub, err := ec.SubscribeNewHead(ctx, heads)
				if err != nil {
					t.Fatalf("newHeads through plinko rpc: %v", err)
				}
				select {
				case h := <-heads:
					t.Logf("newHeads: block %d", h.Number)
				case err := <-sub.Err():
					t.Fatal(err)
				case <-time.After(10 * time.Second):
					t.Fatal("no new head in 10 s")
				}
				sub.Unsubscribe()
			}
			for _, addr := range looked {
				if body := rec.seen(addr); body != "" {
					t.Fatalf("the upstream saw %s: %.300s", addr, body)
				}
			}
		})
	}
}

func wantCode(t *testing.T, err error, code int) {
	t.Helper()
	var e rpc.Error
	if !errors.As(err, &e) || e.ErrorCode() != code {
		t.Fatalf("want JSON-RPC error %d, got %v", code, err)
	}
}

// dustAccount is a funded account holding less than 1 gwei.
func dustAccount(t *testing.T, ctx context.Context, chain *ethclient.Client, sys *local.System) common.Address {
	t.Helper()
	for i := devnet.SenderCount; i < sys.Accounts(); i++ {
		a := sys.FundedAddress(i)
		if b, err := chain.BalanceAt(ctx, a, nil); err == nil && b.Sign() > 0 && b.Cmp(big.NewInt(1e9)) < 0 {
			return a
		}
	}
	t.Fatal("no dust account on the dev chain")
	return common.Address{}
}
