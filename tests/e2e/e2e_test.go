// Package e2e runs the whole system in-process on 127.0.0.1 (runtime/local:
// dev chain with 1 s blocks, db-gen, hint-gen, updater, cdn, pir-server) and
// checks private lookups by the real client against the chain itself.
package e2e

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/plinko-pir/plinko/runtime/client"
	"github.com/plinko-pir/plinko/runtime/devnet"
	"github.com/plinko-pir/plinko/runtime/local"
)

const accounts = 2000

// checker compares private lookups with eth_getBalance at the block each
// answer names.
type checker struct {
	t     *testing.T
	c     *client.Client
	eth   *ethclient.Client
	wrong atomic.Int64
	ok    atomic.Int64

	mu     sync.Mutex
	blocks map[uint64]bool
}

// check looks addr up privately and compares; it returns the lookup error
// (tolerated during restarts) and fails the test on a wrong answer.
func (ch *checker) check(ctx context.Context, addr common.Address) error {
	res, err := ch.c.Lookup(ctx, addr)
	if err != nil {
		return err
	}
	block := new(big.Int).SetUint64(res.Block)
	hdr, err := ch.eth.HeaderByNumber(ctx, block)
	if err != nil {
		return fmt.Errorf("chain header %d: %w", res.Block, err)
	}
	if hdr.Hash() != common.Hash(res.BlockHash) {
		ch.wrong.Add(1)
		ch.t.Errorf("%s: answer names block %d %x, the chain has %s", addr, res.Block, res.BlockHash, hdr.Hash())
		return nil
	}
	wei, err := ch.eth.BalanceAt(ctx, addr, block)
	if err != nil {
		return fmt.Errorf("chain balance at %d: %w", res.Block, err)
	}
	// Exact: the wei eth_getBalance gives, and any funded account found.
	if res.Wei.ToBig().Cmp(wei) != 0 || (wei.Sign() > 0 && !res.Found) || res.ChainID != devnet.ChainID {
		ch.wrong.Add(1)
		ch.t.Errorf("%s at block %d: private lookup %s wei (found %v, chain %d), chain %s wei", addr, res.Block, res.Wei.Dec(), res.Found, res.ChainID, wei)
		return nil
	}
	ch.ok.Add(1)
	ch.mu.Lock()
	ch.blocks[res.Block] = true
	ch.mu.Unlock()
	return nil
}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole system")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	logLevel := slog.LevelWarn
	if os.Getenv("PLINKO_E2E_VERBOSE") != "" {
		logLevel = slog.LevelInfo
	}
	began := time.Now()
	sys, err := local.Start(ctx, local.Config{
		Accounts: accounts, BlockTime: time.Second,
		WalletPort: -1, CDNPort: -1, PIRPort: -1, RPCPort: -1,
		SkipWallet: true,
		Logger:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel})),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := sys.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	if err := sys.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("system ready in %v", time.Since(began).Round(time.Millisecond))

	eth, err := ethclient.DialContext(ctx, sys.RPCURL)
	if err != nil {
		t.Fatal(err)
	}
	defer eth.Close()
	c, err := client.New(client.Config{CDN: sys.CDNURL, PIR: sys.PIRURL})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	ch := &checker{t: t, c: c, eth: eth, blocks: map[uint64]bool{}}

	// 50 random funded accounts and 5 addresses nobody funded.
	rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for i := 0; i < 50; i++ {
		if err := ch.check(ctx, sys.FundedAddress(rng.IntN(accounts))); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 5; i++ {
		var a common.Address
		rand.Read(a[:])
		res, err := c.Lookup(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if res.Found || !res.Wei.IsZero() {
			t.Errorf("unknown address %s: found %v, %s wei", a, res.Found, res.Wei.Dec())
		}
		if err := ch.check(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	// Dust under 1 gwei comes back to the wei (the old gwei entries read
	// these accounts as absent).
	dust := 0
	for i := devnet.SenderCount; i < accounts && dust < 5; i++ {
		if devnet.BalanceClass(0, i) != devnet.ClassDust {
			continue
		}
		dust++
		if err := ch.check(ctx, sys.FundedAddress(i)); err != nil {
			t.Fatal(err)
		}
	}
	if dust == 0 {
		t.Fatal("no dust account among the genesis accounts")
	}
	t.Logf("%d lookups match the chain (blocks %d), %d of them dust", 55+dust, len(ch.blocks), dust)

	// Traffic: the senders' balances change in every block; keep looking
	// them (and random accounts) up while blocks arrive, and restart the
	// pir-server and the updater in the middle.
	trafficEnd := time.Now().Add(24 * time.Second)
	restarts := []struct {
		at   time.Duration
		name string
	}{{6 * time.Second, "pir-server"}, {14 * time.Second, "updater"}}
	var failed atomic.Int64
	var lastErr atomic.Value
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; time.Now().Before(trafficEnd); i++ {
			addr := devnet.AccountAddress(0, i%devnet.SenderCount)
			if i%3 == 2 {
				addr = sys.FundedAddress(rng.IntN(accounts))
			}
			if err := ch.check(ctx, addr); err != nil {
				if errors.Is(err, context.DeadlineExceeded) {
					return
				}
				failed.Add(1)
				lastErr.Store(err.Error())
				time.Sleep(100 * time.Millisecond)
			}
		}
	}()
	start := time.Now()
	for _, r := range restarts {
		time.Sleep(time.Until(start.Add(r.at)))
		before := ch.ok.Load()
		if err := sys.Restart(r.name); err != nil {
			t.Fatal(err)
		}
		t.Logf("restarted %s after %d good lookups", r.name, before)
	}
	<-done
	head, err := eth.BlockNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("traffic: %d lookups matched the chain over %d distinct blocks (head %d), %d lookups failed during restarts (last: %v)",
		ch.ok.Load(), len(ch.blocks), head, failed.Load(), lastErr.Load())
	if ch.wrong.Load() != 0 {
		t.Fatalf("%d wrong answers", ch.wrong.Load())
	}
	if len(ch.blocks) < 10 {
		t.Errorf("lookups saw only %d blocks; the system did not stay fresh", len(ch.blocks))
	}
	if failed.Load() > ch.ok.Load()/4 {
		t.Errorf("%d of %d lookups failed", failed.Load(), failed.Load()+ch.ok.Load())
	}
	// After the restarts the answers are fresh again: within a few blocks
	// of the head.
	res, err := c.Lookup(ctx, sys.Example)
	if err != nil {
		t.Fatal(err)
	}
	if head, _ = eth.BlockNumber(ctx); res.Block+3 < head {
		t.Errorf("answer at block %d, chain head %d", res.Block, head)
	}
	t.Logf("total %v", time.Since(began).Round(time.Millisecond))
}
