package e2e

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/plinko-pir/plinko/runtime/client"
	"github.com/plinko-pir/plinko/runtime/devnet"
	"github.com/plinko-pir/plinko/runtime/local"
)

// TestRecoverLostData is the recovery drill of infra/RUNBOOK.md#recovery:
// the data volume (database, published files, the cdn's cache) is lost,
// the chain is not. The documented recovery, starting the pipeline again
// (plinko local does it on start; in the cluster, db-gen and hint-gen
// re-run), rebuilds the dataset from the chain at its head. A client with
// hints from before the loss goes on: the new dataset has a new layout
// (its keyword seed comes from the new block), so it rebuilds its hints and
// its lookups are exact again.
func TestRecoverLostData(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole system twice")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	data := t.TempDir()
	// Fixed ports across the two runs (the client keeps its URLs): free
	// ones, chosen now.
	cfg := local.Config{Data: data, Accounts: 500, BlockTime: 300 * time.Millisecond, SkipWallet: true,
		WalletPort: -1, CDNPort: freePort(t), PIRPort: freePort(t), RPCPort: -1, MetricsPort: -1,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	start := func() *local.System {
		sys, err := local.Start(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := sys.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		return sys
	}
	sys := start()
	// Some blocks in, so that the client's hints are of a dataset with a
	// history (db-gen's epoch is the block number it read).
	if err := sys.WaitEpoch(ctx, 10); err != nil {
		t.Fatal(err)
	}
	store := &client.MemStore{}
	c, err := client.New(client.Config{CDN: sys.CDNURL, PIR: sys.PIRURL, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	eth, err := ethclient.DialContext(ctx, sys.RPCURL)
	if err != nil {
		t.Fatal(err)
	}
	ch := &checker{t: t, c: c, eth: eth, blocks: map[uint64]bool{}}
	for i := devnet.SenderCount; i < devnet.SenderCount+5; i++ {
		if err := ch.check(ctx, sys.FundedAddress(i)); err != nil {
			t.Fatal(err)
		}
	}
	before := c.Status()
	eth.Close()
	if err := sys.Close(); err != nil {
		t.Fatal(err)
	}

	// The loss: everything on the data volume but the chain.
	for _, p := range []string{"public", "database.bin", "gzip"} {
		if err := os.RemoveAll(filepath.Join(data, p)); err != nil {
			t.Fatal(err)
		}
	}
	began := time.Now()
	sys = start()
	defer sys.Close()
	recovered := time.Since(began)
	if eth, err = ethclient.DialContext(ctx, sys.RPCURL); err != nil {
		t.Fatal(err)
	}
	defer eth.Close()
	// The same client (same store, same URLs) goes on, exact.
	c, err = client.New(client.Config{CDN: sys.CDNURL, PIR: sys.PIRURL, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	ch = &checker{t: t, c: c, eth: eth, blocks: map[uint64]bool{}}
	for i := devnet.SenderCount; i < devnet.SenderCount+5; i++ {
		if err := ch.check(ctx, sys.FundedAddress(i)); err != nil {
			t.Fatalf("after the recovery: %v", err)
		}
	}
	after := c.Status()
	if after.Block < before.Block {
		t.Fatalf("after the recovery the client is at block %d, before at %d", after.Block, before.Block)
	}
	t.Logf("lost the data volume at block %d (epoch %d); recovered in %v at block %d (epoch %d); 5 lookups exact", before.Block, before.Epoch, recovered.Round(time.Millisecond), after.Block, after.Epoch)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
