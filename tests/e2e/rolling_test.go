package e2e

import (
	"context"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plinko-pir/plinko/runtime/client"
	"github.com/plinko-pir/plinko/runtime/local"
)

// TestRollingRestart: steady private lookups while the pir-server and the
// cdn are replaced by rolling restarts (local.System.RollingRestart: the
// new instance is ready before the old one stops, as a Deployment with
// maxUnavailable 0 behind a Service does) and the updater is restarted.
// No lookup may fail: the client's own documented retries (a pir-server
// behind the hints' epoch is asked once more after 500 ms; a stalled
// request is sent once more) are the only slack.
func TestRollingRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole system")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sys, err := local.Start(ctx, local.Config{
		Accounts: 1000, BlockTime: time.Second, Seed: 3,
		WalletPort: -1, CDNPort: -1, PIRPort: -1, RPCPort: -1, MetricsPort: -1,
		SkipWallet: true,
		Logger:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
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
	c, err := client.New(client.Config{CDN: sys.CDNURL, PIR: sys.PIRURL})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}

	var (
		ok, failed atomic.Int64
		mu         sync.Mutex
		errs       []string
		maxBlock   atomic.Uint64
	)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		rng := mrand.New(mrand.NewPCG(3, 4))
		for {
			select {
			case <-stop:
				return
			default:
			}
			res, err := c.Lookup(ctx, sys.FundedAddress(rng.IntN(sys.Accounts())))
			if err != nil {
				failed.Add(1)
				mu.Lock()
				errs = append(errs, err.Error())
				mu.Unlock()
				continue
			}
			ok.Add(1)
			if res.Block > maxBlock.Load() {
				maxBlock.Store(res.Block)
			}
		}
	}()
	steps := []struct {
		name    string
		rolling bool
	}{{"pir-server", true}, {"cdn", true}, {"updater", false}, {"pir-server", true}, {"cdn", true}}
	for _, st := range steps {
		time.Sleep(3 * time.Second)
		before := ok.Load()
		began := time.Now()
		if st.rolling {
			err = sys.RollingRestart(ctx, st.name)
		} else {
			err = sys.Restart(st.name)
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("restarted %s (rolling %v) in %v after %d good lookups", st.name, st.rolling, time.Since(began).Round(time.Millisecond), before)
	}
	time.Sleep(3 * time.Second)
	close(stop)
	<-done
	head := sys.Node().Head().Number.Uint64()
	t.Logf("%d lookups, %d failed; newest answer at block %d, chain head %d", ok.Load(), failed.Load(), maxBlock.Load(), head)
	if failed.Load() != 0 {
		t.Errorf("%d lookups failed during the restarts: %q", failed.Load(), errs)
	}
	if ok.Load() < 50 {
		t.Errorf("only %d lookups in 18 s", ok.Load())
	}
	if maxBlock.Load()+3 < head {
		t.Errorf("answers stayed at block %d while the chain reached %d: not fresh after the updater restart", maxBlock.Load(), head)
	}
}
