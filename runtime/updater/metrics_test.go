package updater

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/plinko-pir/plinko/runtime/dataset"
	"github.com/plinko-pir/plinko/runtime/devnet"
)

// TestMetrics follows a manually mined chain and checks every metric
// against what was published: epochs, blocks, head, lag (zero when caught
// up, growing while a block is stuck), reorgs, snapshots and table load.
func TestMetrics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n := startDevnet(t, devnet.Config{Accounts: 300, Seed: 21, Manual: true,
		Traffic: devnet.Traffic{TxPerBlock: 8, NewAccountEvery: 1}})
	dir := dataset.Dir(t.TempDir())
	bootstrap(t, n, string(dir))
	m := NewMetrics()

	// Served over HTTP from before the state is loaded.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stopServe := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- ServeMetrics(sctx, ln, m, quiet()) }()
	t.Cleanup(func() {
		stopServe()
		if err := <-served; err != nil {
			t.Error(err)
		}
	})

	start, _ := dir.ReadManifest()
	f := follow(t, Config{RPC: n.WSURL(), Dir: string(dir), SnapshotEvery: 3, Metrics: m})
	for range 3 {
		if _, err := n.MineBlock(ctx); err != nil {
			t.Fatal(err)
		}
	}
	f.until(t, n.Head().Hash())
	head := n.Head().Number.Uint64()
	want := func(name string, got, want float64) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	want("epoch", testutil.ToFloat64(m.epoch), float64(start.Epoch+3))
	want("block", testutil.ToFloat64(m.block), float64(head))
	want("epochs published", testutil.ToFloat64(m.epochs), 3)
	want("snapshot epoch", testutil.ToFloat64(m.snapshotEpoch), float64(start.Epoch+3))
	want("snapshot every", testutil.ToFloat64(m.snapshotEvery), 3)
	want("publish errors", testutil.ToFloat64(m.publishErrors), 0)
	if age := time.Since(time.Unix(int64(testutil.ToFloat64(m.lastPublish)), 0)); age > time.Minute {
		t.Errorf("last publish %v ago, want now", age)
	}
	if age := time.Since(time.Unix(int64(testutil.ToFloat64(m.snapshotTime)), 0)); age > time.Minute {
		t.Errorf("snapshot written %v ago, want now", age)
	}
	text := scrape(t, "http://"+ln.Addr().String()+"/metrics")
	for _, line := range []string{
		"plinko_updater_chain_head_block " + strconv.FormatUint(head, 10),
		"plinko_updater_lag_blocks 0",
		"plinko_updater_lag_seconds 0",
		"plinko_updater_block_duration_seconds_count 3",
		"plinko_updater_reorgs_total 0",
	} {
		if !strings.Contains(text, line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	// The table load is the real occupancy, kept without scanning per block.
	f.stop()
	<-f.done
	u, err := New(Config{RPC: n.WSURL(), Dir: string(dir), Logger: quiet(), Metrics: NewMetrics()})
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(u.m.lastPublish); got == 0 {
		t.Error("a restarted updater reports no last publish time (head.json's mtime)")
	}
	want("table entries", testutil.ToFloat64(m.tableEntries), float64(u.table.Occupied()))
	want("table size", testutil.ToFloat64(m.tableSize), float64(u.params.TableSize))
	if l := testutil.ToFloat64(m.tableLoad); l <= 0 || l > 1 {
		t.Errorf("table load %v", l)
	}

	// A block the updater is stuck on: the lag shows it and keeps growing.
	stuck, release := make(chan struct{}), make(chan struct{})
	cfg := Config{RPC: n.WSURL(), Dir: string(dir), SnapshotEvery: 3, Metrics: m}
	cfg.at = func(epoch uint64, step string) {
		if step == "applied" && epoch == start.Epoch+4 {
			close(stuck)
			<-release
		}
	}
	f = follow(t, cfg)
	if _, err := n.MineBlock(ctx); err != nil {
		t.Fatal(err)
	}
	<-stuck
	time.Sleep(300 * time.Millisecond)
	want("lag blocks while stuck", testutil.ToFloat64(m.lagBlocks), 1)
	if s := testutil.ToFloat64(m.lagSeconds); s < 0.25 {
		t.Errorf("lag seconds while stuck = %v, want >= 0.25", s)
	}
	close(release)
	f.until(t, n.Head().Hash())
	want("lag blocks after", testutil.ToFloat64(m.lagBlocks), 0)
	want("lag seconds after", testutil.ToFloat64(m.lagSeconds), 0)

	// A reorg to a shorter branch: counted, and the head seen goes down
	// with it (no phantom lag).
	r, err := n.ReorgTo(ctx, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	f.until(t, r.NewHead.Hash())
	want("reorgs", testutil.ToFloat64(m.reorgs), 1)
	want("chain head after a shorter reorg", testutil.ToFloat64(m.headSeen), float64(r.NewHead.Number.Uint64()))
	want("lag blocks after a shorter reorg", testutil.ToFloat64(m.lagBlocks), 0)
	want("follow errors", testutil.ToFloat64(m.followErrors), 0)
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}
