package updater

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/holiman/uint256"

	"github.com/plinko-pir/plinko/runtime/dataset"
	"github.com/plinko-pir/plinko/runtime/dbgen"
	"github.com/plinko-pir/plinko/runtime/devnet"
	"github.com/plinko-pir/plinko/runtime/keyword"
	"github.com/plinko-pir/plinko/runtime/snapshot"
)

// The kill-and-restart test runs the updater in a child process (this test
// binary) so that it can be killed with SIGKILL at any instant.
func TestMain(m *testing.M) {
	if dir := os.Getenv("PLINKO_UPDATER_CHILD_DIR"); dir != "" {
		err := Run(context.Background(), childConfig(os.Getenv("PLINKO_UPDATER_CHILD_RPC"), dir))
		fmt.Fprintln(os.Stderr, "child updater:", err)
		os.Exit(3)
	}
	os.Exit(m.Run())
}

func childConfig(rpcURL, dir string) Config {
	cfg := Config{RPC: rpcURL, Dir: dir, SnapshotEvery: 4, Retention: 3, PollInterval: 10 * time.Millisecond, Logger: quiet()}
	// PLINKO_UPDATER_CHILD_KILL=<epoch>:<step> makes the child SIGKILL itself
	// at that step of publishing that epoch.
	if spec := os.Getenv("PLINKO_UPDATER_CHILD_KILL"); spec != "" {
		cfg.at = func(epoch uint64, step string) {
			if fmt.Sprintf("%d:%s", epoch, step) == spec {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
		}
	}
	return cfg
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startDevnet(t testing.TB, cfg devnet.Config) *devnet.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg.Logger = quiet()
	if cfg.BlockTime == 0 {
		cfg.BlockTime = time.Second
	}
	n, err := devnet.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("devnet: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// bootstrap runs db-gen and hint-gen against the node's current head into
// each of dirs.
func bootstrap(t testing.TB, n *devnet.Node, dirs ...string) {
	t.Helper()
	bootstrapWith(t, n, dbgen.Config{}, dirs...)
}

func bootstrapWith(t testing.TB, n *devnet.Node, cfg dbgen.Config, dirs ...string) {
	t.Helper()
	ctx := context.Background()
	tmp := t.TempDir()
	db := filepath.Join(tmp, "database.bin")
	head := n.Head().Hash()
	cfg.RPC, cfg.Block, cfg.Output, cfg.Logger = n.HTTPURL(), head.Hex(), db, quiet()
	if _, err := dbgen.Run(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if _, err := snapshot.Run(ctx, snapshot.Config{Database: db, Out: d, Logger: quiet()}); err != nil {
			t.Fatal(err)
		}
	}
}

// follower runs an updater in the background and hands out what it publishes.
type follower struct {
	pubs chan Published
	done chan struct{} // closed when Run returned, with err set
	err  error
	stop context.CancelFunc
}

func follow(t testing.TB, cfg Config) *follower {
	t.Helper()
	f := &follower{pubs: make(chan Published, 1024), done: make(chan struct{})}
	cfg.OnPublish = func(p Published) { f.pubs <- p }
	if cfg.Logger == nil {
		cfg.Logger = quiet()
	}
	u, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.stop = cancel
	go func() {
		defer u.Close()
		f.err = u.Run(ctx)
		close(f.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-f.done
	})
	return f
}

// until waits for the epoch whose block is hash, returning what was
// published up to it.
func (f *follower) until(t testing.TB, hash common.Hash) []Published {
	t.Helper()
	var got []Published
	timeout := time.After(30 * time.Second)
	for {
		select {
		case p := <-f.pubs:
			got = append(got, p)
			if common.Hash(p.Head.BlockHash) == hash {
				return got
			}
		case <-f.done:
			t.Fatalf("updater stopped: %v", f.err)
		case <-timeout:
			t.Fatalf("no epoch for block %s within 30 s (%d published)", hash, len(got))
		}
	}
}

// initialTable loads the snapshot of dir as a client would.
func initialTable(t testing.TB, dir dataset.Dir) (*keyword.Table, *dataset.Manifest) {
	t.Helper()
	m, err := dir.ReadManifest()
	if err != nil {
		t.Fatal(err)
	}
	snap, err := dir.ReadSnapshot(m)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := m.Keyword.Params()
	tab, err := keyword.TableFromBytes(p, snap[:m.N*keyword.EntrySize])
	if err != nil {
		t.Fatal(err)
	}
	return tab, m
}

// checkAgainstChain enumerates every account of the block's state and checks
// that the table holds exactly the accounts with a non-zero balance, each to
// the wei.
func checkAgainstChain(t testing.TB, c *rpc.Client, tab *keyword.Table, block common.Hash) {
	t.Helper()
	accounts, err := dbgen.AccountRange(context.Background(), c, block, 2, nil)
	if err != nil {
		t.Fatalf("enumerating block %s: %v", block, err)
	}
	p := tab.Params()
	nonzero := 0
	for _, a := range accounts {
		pos, ok := tab.Find(keyword.TagOf(p.Seed, a.Key))
		var got uint256.Int
		if ok {
			got = tab.Balance(pos)
		}
		if !got.Eq(&a.Balance) {
			t.Fatalf("block %s: trie key %x has %s wei in the database, %s on chain", block, a.Key, got.Dec(), a.Balance.Dec())
		}
		if !a.Balance.IsZero() {
			nonzero++
		}
	}
	stored := 0
	for pos := range p.TableSize {
		if tag, bal := keyword.DecodeEntry(tab.Entry(pos)); !tag.IsZero() && !bal.IsZero() {
			stored++
		}
	}
	if stored != nonzero {
		t.Fatalf("block %s: database holds %d non-zero balances, chain %d", block, stored, nonzero)
	}
}

func applyFromDisk(t testing.TB, dir dataset.Dir, tab *keyword.Table, epoch uint64) *dataset.Delta {
	t.Helper()
	d, err := dir.ReadDelta(epoch)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Apply(tab.Bytes()); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestFollowsChain: over 20 one-second blocks of traffic (transfers, a new
// account every block, withdrawals), the snapshot plus the published deltas
// equal the chain's state at every block.
func TestFollowsChain(t *testing.T) {
	t.Parallel()
	n := startDevnet(t, devnet.Config{Accounts: 400, Seed: 11, BlockTime: time.Second,
		Traffic: devnet.Traffic{TxPerBlock: 12, NewAccountEvery: 1, WithdrawalEvery: 3}})
	dir := dataset.Dir(t.TempDir())
	bootstrap(t, n, string(dir))
	f := follow(t, Config{RPC: n.WSURL(), Dir: string(dir)})
	c, err := rpc.Dial(n.HTTPURL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tab, m := initialTable(t, dir)
	checkAgainstChain(t, c, tab, common.Hash(m.BlockHash))
	prev := m.BlockHash
	var records, latency int
	for epoch := m.Epoch + 1; epoch <= m.Epoch+20; epoch++ {
		var p Published
		select {
		case p = <-f.pubs:
		case <-f.done:
			t.Fatalf("updater stopped: %v", f.err)
		case <-time.After(10 * time.Second):
			t.Fatalf("no epoch %d within 10 s", epoch)
		}
		if p.Delta.Epoch != epoch || p.Delta.BlockNumber != epoch || p.Delta.ParentHash != prev || p.Reorg {
			t.Fatalf("epoch %d: delta %d for block %d, parent %s (want %s)", epoch, p.Delta.Epoch, p.Delta.BlockNumber, p.Delta.ParentHash, prev)
		}
		// The delta names its chain and block exactly as the node does.
		hdr, err := ethclient.NewClient(c).HeaderByNumber(context.Background(), new(big.Int).SetUint64(p.Delta.BlockNumber))
		if err != nil {
			t.Fatal(err)
		}
		if p.Delta.ChainID != devnet.ChainID || p.Head.ChainID != devnet.ChainID || p.Delta.BlockHash != dataset.Hash(hdr.Hash()) ||
			p.Delta.StateRoot != dataset.Hash(hdr.Root) {
			t.Fatalf("epoch %d: delta names chain %d block %s root %s; node: block %s root %s",
				epoch, p.Delta.ChainID, p.Delta.BlockHash, p.Delta.StateRoot, hdr.Hash(), hdr.Root)
		}
		prev = p.Delta.BlockHash
		applyFromDisk(t, dir, tab, epoch)
		checkAgainstChain(t, c, tab, common.Hash(p.Delta.BlockHash))
		records += len(p.Delta.Records)
		latency += int(p.Latency.Milliseconds())
		if h, err := dir.ReadHead(); err != nil || h.Epoch < epoch {
			t.Fatalf("head.json behind epoch %d: %v", epoch, err)
		}
	}
	if records < 20*10 {
		t.Fatalf("only %d records in 20 blocks of traffic", records)
	}
	t.Logf("20 blocks: %d records, mean latency %d ms", records, latency/20)
}

// TestReorg forces two reorgs (a longer and a shorter competing branch) and
// checks that the published deltas converge to the new chain.
func TestReorg(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n := startDevnet(t, devnet.Config{Accounts: 300, Seed: 12, Manual: true,
		Traffic: devnet.Traffic{TxPerBlock: 10, NewAccountEvery: 1, WithdrawalEvery: 2}})
	dir := dataset.Dir(t.TempDir())
	bootstrap(t, n, string(dir))
	f := follow(t, Config{RPC: n.WSURL(), Dir: string(dir)})
	c, err := rpc.Dial(n.HTTPURL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tab, m := initialTable(t, dir)
	next := m.Epoch + 1
	catchUp := func(hash common.Hash) []Published {
		pubs := f.until(t, hash)
		for _, p := range pubs {
			if p.Delta.Epoch != next {
				t.Fatalf("epoch %d published, want %d", p.Delta.Epoch, next)
			}
			applyFromDisk(t, dir, tab, next)
			next++
		}
		checkAgainstChain(t, c, tab, hash)
		return pubs
	}
	for range 3 {
		if _, err := n.MineBlock(ctx); err != nil {
			t.Fatal(err)
		}
	}
	catchUp(n.Head().Hash())
	for _, tc := range []struct{ depth, length int }{{2, 3}, {3, 1}, {1, 1}} {
		r, err := n.ReorgTo(ctx, tc.depth, tc.length)
		if err != nil {
			t.Fatal(err)
		}
		pubs := catchUp(r.NewHead.Hash())
		if !slices.ContainsFunc(pubs, func(p Published) bool { return p.Reorg }) {
			t.Fatalf("reorg %+v published no correcting delta", tc)
		}
		if last := pubs[len(pubs)-1]; last.Delta.Epoch <= last.Delta.BlockNumber {
			t.Fatalf("after a reorg epoch %d must run ahead of block %d", last.Delta.Epoch, last.Delta.BlockNumber)
		}
	}
	// Restarting from the files reproduces the same database.
	f.stop()
	<-f.done
	u, err := New(Config{RPC: n.WSURL(), Dir: string(dir), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(u.table.Bytes(), tab.Bytes()) {
		t.Fatal("reloaded database differs from snapshot + deltas")
	}
}

// TestResumeAfterChainChanged: blocks the updater published are replaced
// while it is down (as when a dev chain restarts behind what it had
// served). The restarted updater says so instead of reporting a live
// reorg, and its deltas converge to the chain.
func TestResumeAfterChainChanged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n := startDevnet(t, devnet.Config{Accounts: 200, Seed: 14, Manual: true,
		Traffic: devnet.Traffic{TxPerBlock: 5, NewAccountEvery: 1}})
	dir := dataset.Dir(t.TempDir())
	bootstrap(t, n, string(dir))
	f := follow(t, Config{RPC: n.WSURL(), Dir: string(dir)})
	for range 3 {
		if _, err := n.MineBlock(ctx); err != nil {
			t.Fatal(err)
		}
	}
	f.until(t, n.Head().Hash())
	f.stop()
	<-f.done

	if _, err := n.ReorgTo(ctx, 2, 1); err != nil { // the node now ends below the published block
		t.Fatal(err)
	}
	var logs syncBuffer
	f = follow(t, Config{RPC: n.WSURL(), Dir: string(dir), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if _, err := n.MineBlock(ctx); err != nil {
		t.Fatal(err)
	}
	f.until(t, n.Head().Hash())
	f.stop()
	<-f.done
	got := logs.String()
	if !strings.Contains(got, "updater: resumed from the published files") ||
		!strings.Contains(got, "no longer on the node's chain") || strings.Contains(got, `msg="updater: reorg"`) {
		t.Fatalf("restart after the chain changed underneath, log:\n%s", got)
	}
	c, err := rpc.Dial(n.HTTPURL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tab, m := initialTable(t, dir)
	epochs, err := dir.DeltaEpochs()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range epochs {
		if e > m.Epoch {
			applyFromDisk(t, dir, tab, e)
		}
	}
	checkAgainstChain(t, c, tab, n.Head().Hash())
}

// syncBuffer is a bytes.Buffer safe for a logger and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestKillRestart: one updater runs uninterrupted while a second one, in a
// child process following over HTTP polling, is killed with SIGKILL at a
// random instant after each new block (often mid-block) and restarted, across
// snapshots with pruning. Both must publish byte-identical files. Then a
// reorg happens while the child is being killed: both must converge to the
// same database.
func TestKillRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n := startDevnet(t, devnet.Config{Accounts: 300, Seed: 13, Manual: true,
		Traffic: devnet.Traffic{TxPerBlock: 20, NewAccountEvery: 1, WithdrawalEvery: 2}})
	a, b := t.TempDir(), t.TempDir()
	bootstrap(t, n, a, b)
	cfgA := childConfig(n.WSURL(), a)
	cfgA.Logger = quiet()
	f := follow(t, cfgA)

	var child *exec.Cmd
	killAt := ""
	start := func() {
		child = exec.Command(os.Args[0], "-test.run=^$")
		child.Env = append(os.Environ(), "PLINKO_UPDATER_CHILD_DIR="+b, "PLINKO_UPDATER_CHILD_RPC="+n.HTTPURL(),
			"PLINKO_UPDATER_CHILD_KILL="+killAt)
		child.Stderr = os.Stderr
		if err := child.Start(); err != nil {
			t.Fatal(err)
		}
	}
	kill := func() {
		child.Process.Signal(syscall.SIGKILL)
		child.Wait()
	}
	childAt := func(head common.Hash) {
		deadline := time.Now().Add(30 * time.Second)
		for {
			h, err := dataset.Dir(b).ReadHead()
			if err == nil && common.Hash(h.BlockHash) == head {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("restarted updater never reached the head: %v %+v", err, h)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	start()
	defer func() { kill() }()
	r := rand.New(rand.NewPCG(1, 2))
	early := 0
	steps := []string{"applied", "delta", "head", "snapshot"}
	for i := range 12 {
		chosen := i%2 == 1
		if chosen {
			// The child kills itself at a chosen step of the next epoch; every
			// 4th epoch also writes a snapshot, a step of its own.
			epoch := n.Head().Number.Uint64() + 1
			step := steps[(i/2)%3]
			if epoch%4 == 0 {
				step = "snapshot"
			}
			killAt = fmt.Sprintf("%d:%s", epoch, step)
			kill()
			start()
		}
		if _, err := n.MineBlock(ctx); err != nil {
			t.Fatal(err)
		}
		if chosen {
			if err := child.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
				t.Fatalf("child did not die at %s: %v", killAt, err)
			}
			t.Logf("child killed itself at epoch:step %s", killAt)
			killAt = ""
		} else {
			// Killed from outside at a random instant.
			time.Sleep(time.Duration(r.IntN(20)) * time.Millisecond)
			kill()
		}
		head := n.Head().Hash()
		if h, err := dataset.Dir(b).ReadHead(); err == nil && common.Hash(h.BlockHash) != head {
			early++
		}
		start()
		f.until(t, head)
		childAt(head)
	}
	// Stop the child wherever it is and let a restart finish its work (as
	// the next start would), then compare.
	kill()
	restarted, err := New(childConfig(n.HTTPURL(), b))
	if err != nil {
		t.Fatal(err)
	}
	if err := restarted.CatchUp(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	restarted.Close()
	start()
	filesA, filesB := listFiles(t, a), listFiles(t, b)
	if !slices.Equal(filesA, filesB) {
		t.Fatalf("published files differ:\n%v\n%v", filesA, filesB)
	}
	deltas := 0
	for _, name := range filesA {
		x, _ := os.ReadFile(filepath.Join(a, name))
		y, _ := os.ReadFile(filepath.Join(b, name))
		if !bytes.Equal(x, y) {
			t.Fatalf("%s differs between the uninterrupted and the killed updater", name)
		}
		if filepath.Ext(name) == ".delta" {
			deltas++
		}
	}
	t.Logf("12 kills (6 at chosen steps), %d before head.json named the block; %d files identical (%d deltas)", early, len(filesA), deltas)

	// A reorg while the child is being killed: the two may see different
	// intermediate heads, so only the final database must agree.
	reorged := make(chan error, 1)
	go func() { _, err := n.ReorgTo(ctx, 2, 3); reorged <- err }() // within the 3 kept deltas
	time.Sleep(time.Duration(r.IntN(20)) * time.Millisecond)
	kill()
	start()
	if err := <-reorged; err != nil {
		t.Fatal(err)
	}
	head := n.Head().Hash()
	f.until(t, head)
	childAt(head)
	kill()
	ua, err := New(Config{Dir: a, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ub, err := New(Config{Dir: b, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ua.table.Bytes(), ub.table.Bytes()) {
		t.Fatal("after a reorg the killed updater's database differs")
	}
}

func listFiles(t testing.TB, root string) []string {
	var out []string
	filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			rel, _ := filepath.Rel(root, path)
			out = append(out, rel)
		}
		return nil
	})
	slices.Sort(out)
	return out
}

// TestRefusesCorruptDelta: a damaged delta in the directory stops the
// updater from starting instead of being applied.
func TestRefusesCorruptDelta(t *testing.T) {
	t.Parallel()
	n := startDevnet(t, devnet.Config{Accounts: 50, Seed: 14, Manual: true})
	dir := dataset.Dir(t.TempDir())
	bootstrap(t, n, string(dir))
	if _, err := n.MineBlock(context.Background()); err != nil {
		t.Fatal(err)
	}
	u, err := New(Config{RPC: n.HTTPURL(), Dir: string(dir), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := u.CatchUp(context.Background(), time.Now()); err != nil {
		t.Fatal(err)
	}
	u.Close()
	epoch, _, _ := u.Epoch()
	raw, _ := os.ReadFile(dir.DeltaPath(epoch))
	os.WriteFile(dir.DeltaPath(epoch), raw[:len(raw)-1], 0o644)
	if _, err := New(Config{RPC: n.HTTPURL(), Dir: string(dir), Logger: quiet()}); !errors.Is(err, dataset.ErrCorrupt) {
		t.Fatalf("truncated delta: %v", err)
	}
}

// TestRefusesOtherChain: a dataset of another chain id than the node's is
// never followed: the updater stops with ErrWrongChain and publishes nothing.
func TestRefusesOtherChain(t *testing.T) {
	t.Parallel()
	n := startDevnet(t, devnet.Config{Accounts: 50, Seed: 15, Manual: true})
	dir := dataset.Dir(t.TempDir())
	bootstrap(t, n, string(dir))
	m, err := dir.ReadManifest()
	if err != nil {
		t.Fatal(err)
	}
	m.ChainID = 5
	h, _ := dir.ReadHead()
	h.ChainID = 5
	if err := dir.WriteManifest(m); err != nil {
		t.Fatal(err)
	}
	if err := dir.WriteHead(h); err != nil {
		t.Fatal(err)
	}
	if _, err := n.MineBlock(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = Run(ctx, Config{RPC: n.HTTPURL(), Dir: string(dir), Logger: quiet()})
	if !errors.Is(err, ErrWrongChain) || !strings.Contains(err.Error(), "chain 1337") || !strings.Contains(err.Error(), "chain 5") {
		t.Fatalf("node of chain 1337, dataset of chain 5: %v", err)
	}
	if epochs, _ := dir.DeltaEpochs(); len(epochs) != 0 {
		t.Fatalf("deltas %v published for another chain", epochs)
	}
}

// TestTableFull: a table without headroom fills up with new accounts; with
// regeneration off the updater then stops with ErrTableFull and the published files stay those of
// the last complete epoch.
func TestTableFull(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n := startDevnet(t, devnet.Config{Accounts: 400, Seed: 15, Manual: true,
		Traffic: devnet.Traffic{TxPerBlock: 20, NewAccountEvery: 1, WithdrawalEvery: 1000}})
	dir := dataset.Dir(t.TempDir())
	bootstrapWith(t, n, dbgen.Config{Load: 0.9, Headroom: -1}, string(dir))
	f := follow(t, Config{RPC: n.WSURL(), Dir: string(dir), RegenerateLoad: -1})
	c, err := rpc.Dial(n.HTTPURL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tab, m := initialTable(t, dir)
	next := m.Epoch + 1
	for range 60 {
		h, err := n.MineBlock(ctx)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-f.done:
			if !errors.Is(f.err, keyword.ErrTableFull) {
				t.Fatalf("updater stopped with %v, want ErrTableFull", f.err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("updater neither published nor stopped")
		case p := <-f.pubs:
			if common.Hash(p.Delta.BlockHash) != h.Hash() {
				t.Fatalf("published block %d, want %d", p.Delta.BlockNumber, h.Number)
			}
			applyFromDisk(t, dir, tab, next)
			next++
			continue
		}
		break
	}
	if f.err == nil {
		t.Fatal("table never filled")
	}
	for len(f.pubs) > 0 {
		<-f.pubs
		applyFromDisk(t, dir, tab, next)
		next++
	}
	head, err := dir.ReadHead()
	if err != nil || head.Epoch != next-1 {
		t.Fatalf("head %+v after %d epochs: %v", head, next-1, err)
	}
	if _, err := os.Stat(dir.DeltaPath(next)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a delta was published for the block that did not fit")
	}
	checkAgainstChain(t, c, tab, common.Hash(head.BlockHash))
	t.Logf("table of %d full after %d epochs (load %.3f)", tab.Params().TableSize, next-1-m.Epoch,
		float64(tab.Occupied())/float64(tab.Params().TableSize))
}

// TestRegenerate: a table without headroom is rebuilt from the chain, once
// because an insert found it full (no periodic snapshots) and once because a
// due snapshot found it past RegenerateLoad. Each regeneration is a new
// snapshot that no delta leads to; snapshot + later deltas equal the chain.
func TestRegenerate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n := startDevnet(t, devnet.Config{Accounts: 400, Seed: 16, Manual: true,
		Traffic: devnet.Traffic{TxPerBlock: 20, NewAccountEvery: 1, WithdrawalEvery: 1000}})
	c, err := rpc.Dial(n.HTTPURL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	type run struct {
		name  string
		dir   dataset.Dir
		f     *follower
		tab   *keyword.Table
		next  uint64
		regen int
	}
	var runs []*run
	for _, tc := range []struct {
		name  string
		every uint64
	}{{"full", 0}, {"load", 2}} {
		r := &run{name: tc.name, dir: dataset.Dir(t.TempDir())}
		bootstrapWith(t, n, dbgen.Config{Load: 0.88, Headroom: -1}, string(r.dir))
		r.f = follow(t, Config{RPC: n.WSURL(), Dir: string(r.dir), SnapshotEvery: tc.every})
		var m *dataset.Manifest
		r.tab, m = initialTable(t, r.dir)
		r.next = m.Epoch + 1
		runs = append(runs, r)
	}
	for i := 0; i < 30 && (runs[0].regen == 0 || runs[1].regen == 0 || i < 6); i++ {
		h, err := n.MineBlock(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range runs {
			for _, p := range r.f.until(t, h.Hash()) {
				if p.Regenerated {
					if p.Delta != nil || p.Head.Epoch != r.next || p.Head.OldestDelta != r.next+1 || p.Snapshot.Epoch != r.next {
						t.Fatalf("%s: regeneration published %+v at epoch %d", r.name, p.Head, r.next)
					}
					old := r.tab.Params().TableSize
					r.tab, _ = initialTable(t, r.dir)
					if r.tab.Params().TableSize <= old {
						t.Fatalf("%s: regenerated table of %d, was %d", r.name, r.tab.Params().TableSize, old)
					}
					if epochs, _ := r.dir.DeltaEpochs(); len(epochs) > 0 && epochs[0] <= r.next {
						t.Fatalf("%s: deltas of the old table kept: %v", r.name, epochs)
					}
					r.regen++
				} else if err := p.Delta.Apply(r.tab.Bytes()); err != nil {
					// From the hook, not the file: a regeneration right after
					// may already have removed it (clients then see
					// oldest_delta and load the new snapshot).
					t.Fatal(err)
				}
				r.next++
				checkAgainstChain(t, c, r.tab, common.Hash(p.Head.BlockHash))
			}
		}
	}
	for _, r := range runs {
		if r.regen == 0 {
			t.Fatalf("%s: never regenerated", r.name)
		}
		t.Logf("%s: %d regeneration(s), table now %d", r.name, r.regen, r.tab.Params().TableSize)
	}
}

// TestRegenerateAfterHistoryGone: an updater that was down for longer than
// the node keeps state (a non-archive geth: about 128 blocks) cannot replay
// the blocks in between; it regenerates the table at the head and goes on,
// and snapshot + deltas equal the chain again.
func TestRegenerateAfterHistoryGone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n := startDevnet(t, devnet.Config{Accounts: 300, Seed: 17, Manual: true,
		Traffic: devnet.Traffic{TxPerBlock: 4, NewAccountEvery: 2}})
	c, err := rpc.Dial(n.HTTPURL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dir := dataset.Dir(t.TempDir())
	bootstrap(t, n, string(dir))
	_, m0 := initialTable(t, dir)
	var head common.Hash
	for range 140 { // the updater is down
		h, err := n.MineBlock(ctx)
		if err != nil {
			t.Fatal(err)
		}
		head = h.Hash()
	}
	// The precondition: the node can no longer replay the first block.
	h1, err := ethclient.NewClient(c).HeaderByNumber(ctx, new(big.Int).SetUint64(m0.BlockNumber+1))
	if err != nil {
		t.Fatal(err)
	}
	var addrs []common.Address
	if err := c.CallContext(ctx, &addrs, "debug_getModifiedAccountsByHash", h1.ParentHash, h1.Hash()); !stateGone(err) {
		t.Fatalf("the node still replays block %d (%v); the test needs it pruned", m0.BlockNumber+1, err)
	}
	f := follow(t, Config{RPC: n.WSURL(), Dir: string(dir)})
	pubs := f.until(t, head)
	// Epochs never fall below block numbers: the regeneration's epoch jumps
	// to the head's number.
	want := max(m0.Epoch+1, m0.BlockNumber+140)
	if len(pubs) != 1 || !pubs[0].Regenerated || pubs[0].Head.Epoch != want || pubs[0].Head.OldestDelta != want+1 {
		t.Fatalf("published %d epochs (first %+v), want one regeneration at epoch %d", len(pubs), pubs[0].Head, want)
	}
	tab, m := initialTable(t, dir)
	if m.Epoch != want || common.Hash(m.BlockHash) != head {
		t.Fatalf("new snapshot at epoch %d block %x, want epoch %d at the head", m.Epoch, m.BlockHash, want)
	}
	checkAgainstChain(t, c, tab, head)
	// And it follows the chain from there with ordinary deltas.
	for range 3 {
		h, err := n.MineBlock(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range f.until(t, h.Hash()) {
			if p.Regenerated {
				t.Fatal("a second regeneration")
			}
			if err := p.Delta.Apply(tab.Bytes()); err != nil {
				t.Fatal(err)
			}
		}
		checkAgainstChain(t, c, tab, h.Hash())
	}
}
