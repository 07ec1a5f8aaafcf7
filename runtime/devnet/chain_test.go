package devnet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// TestGeneratorMatchesGenesisAlloc builds the same devnet through go-ethereum's
// genesis alloc and through the generator: same genesis hash means same state
// root, hence every account, balance and system contract written identically.
func TestGeneratorMatchesGenesisAlloc(t *testing.T) {
	const seed, accounts = 11, 3000
	alloc := startNode(t, Config{Accounts: accounts, Seed: seed, Manual: true})
	gen := startNode(t, Config{Accounts: accounts, Seed: seed, Manual: true, GenesisAllocLimit: -1})
	if alloc.GenesisHash() != gen.GenesisHash() {
		t.Fatalf("generator genesis %s differs from alloc genesis %s", gen.GenesisHash(), alloc.GenesisHash())
	}
	if want := Genesis(seed, accounts, DefaultGasLimit).ToBlock().Hash(); gen.GenesisHash() != want {
		t.Fatalf("generator genesis %s, core.Genesis says %s", gen.GenesisHash(), want)
	}
	// The generated chain mines on top of its genesis like any other.
	h, err := gen.MineBlock(context.Background())
	if err != nil {
		t.Fatalf("mining on generated genesis: %v", err)
	}
	if h.Number.Uint64() != 1 {
		t.Fatalf("head %d after one block", h.Number.Uint64())
	}
}

// TestGeneratorPath starts a 20k-account devnet through the generator and
// checks every balance over JSON-RPC and the enumeration by debug_accountRange.
func TestGeneratorPath(t *testing.T) {
	if testing.Short() {
		t.Skip("20k accounts over JSON-RPC")
	}
	n := startNode(t, Config{Accounts: 20_000, Seed: 5, Manual: true, GenesisAllocLimit: -1})
	checkGenesis(t, n)
	if _, err := n.MineBlock(context.Background()); err != nil {
		t.Fatalf("mining: %v", err)
	}
}

// TestReorg forces a reorg of depth 2 and checks the two competing branches.
func TestReorg(t *testing.T) {
	const seed = 9
	n := startNode(t, Config{Accounts: 100, Seed: seed, Manual: true})
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if _, err := n.MineBlock(ctx); err != nil {
			t.Fatalf("mining block %d: %v", i+1, err)
		}
	}
	c := dial(t, n.HTTPURL())
	addrs := fundedAddrs(seed, 100)
	oldBalances := balancesAt(t, c, addrs, 5)
	var oldHashes [6]common.Hash
	for i := uint64(3); i <= 5; i++ {
		oldHashes[i] = n.Ethereum().BlockChain().GetCanonicalHash(i)
	}

	res, err := n.Reorg(ctx, 2)
	if err != nil {
		t.Fatalf("Reorg: %v", err)
	}
	if res.Ancestor.Number.Uint64() != 3 || res.OldHead.Number.Uint64() != 5 || res.NewHead.Number.Uint64() != 6 || len(res.Branch) != 3 {
		t.Fatalf("reorg: ancestor %d old %d new %d branch %d", res.Ancestor.Number, res.OldHead.Number, res.NewHead.Number, len(res.Branch))
	}
	if res.Ancestor.Hash() != oldHashes[3] {
		t.Fatal("ancestor is not the old block 3")
	}
	chain := n.Ethereum().BlockChain()
	for i := uint64(4); i <= 5; i++ {
		if chain.GetCanonicalHash(i) == oldHashes[i] {
			t.Fatalf("block %d still canonical after the reorg", i)
		}
		if chain.GetBlockByHash(oldHashes[i]) == nil {
			t.Fatalf("abandoned block %d not kept as a side chain", i)
		}
	}
	if res.Branch[0].ParentHash != oldHashes[3] {
		t.Fatal("new branch does not grow from the ancestor")
	}
	if n.Head().Hash() != res.NewHead.Hash() {
		t.Fatal("head is not the new branch")
	}
	// The new branch moved different amounts: block 5's balances differ.
	newBalances := balancesAt(t, c, addrs, 5)
	differ := 0
	for i := range addrs {
		if oldBalances[i].Cmp(newBalances[i]) != 0 {
			differ++
		}
	}
	if differ == 0 {
		t.Fatal("the new branch left every balance at block 5 as the old branch had it")
	}
	// Same-length reorg: two competing heads at the same height.
	res, err = n.ReorgTo(ctx, 1, 1)
	if err != nil {
		t.Fatalf("ReorgTo: %v", err)
	}
	if res.NewHead.Number.Uint64() != res.OldHead.Number.Uint64() || res.NewHead.Hash() == res.OldHead.Hash() {
		t.Fatalf("same-length reorg: old %d %s, new %d %s", res.OldHead.Number, res.OldHead.Hash(), res.NewHead.Number, res.NewHead.Hash())
	}
	if _, err := n.Reorg(ctx, 100); err == nil {
		t.Fatal("reorg deeper than the chain accepted")
	}
	// The same over JSON-RPC, for tests in another process.
	var mined BlockRef
	if err := c.Call(&mined, "devnet_mineBlock"); err != nil {
		t.Fatalf("devnet_mineBlock: %v", err)
	}
	var ref ReorgRef
	if err := c.Call(&ref, "devnet_reorg", 2, 0); err != nil {
		t.Fatalf("devnet_reorg: %v", err)
	}
	if ref.OldHead.Hash != mined.Hash || uint64(ref.NewHead.Number) != uint64(mined.Number)+1 || uint64(ref.Ancestor.Number) != uint64(mined.Number)-2 {
		t.Fatalf("devnet_reorg after mining %d: %+v", mined.Number, ref)
	}
	if n.Head().Hash() != ref.NewHead.Hash {
		t.Fatal("devnet_reorg: head is not the reported new head")
	}
}

// TestRestartKeepsChain closes a devnet with a data dir and starts it again.
func TestRestartKeepsChain(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Accounts: 50, Seed: 4, Manual: true, DataDir: dir}
	ctx := context.Background()
	n, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	for i := 0; i < 3; i++ {
		if _, err := n.MineBlock(ctx); err != nil {
			t.Fatalf("mining: %v", err)
		}
	}
	head := n.Head()
	acct := AccountAddress(4, 0)
	bal := balancesAt(t, dial(t, n.HTTPURL()), []common.Address{acct}, head.Number.Uint64())[0]
	if err := n.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// Another seed on the same data dir is refused.
	if n2, err := Start(ctx, Config{Accounts: 50, Seed: 5, Manual: true, DataDir: dir}); err == nil {
		n2.Close()
		t.Fatal("restart with another seed accepted")
	}

	n = startNode(t, cfg)
	if got := n.Head(); got.Hash() != head.Hash() {
		t.Fatalf("restarted at %d %s, want %d %s", got.Number, got.Hash(), head.Number, head.Hash())
	}
	c := dial(t, n.HTTPURL())
	if got := balancesAt(t, c, []common.Address{acct}, head.Number.Uint64())[0]; got.Cmp(bal) != 0 {
		t.Fatalf("balance after restart %s, want %s", got, bal)
	}
	checkGenesis(t, n)
	h, err := n.MineBlock(ctx)
	if err != nil {
		t.Fatalf("mining after restart: %v", err)
	}
	if h.Number.Uint64() != 4 || h.ParentHash != head.Hash() {
		t.Fatalf("block after restart: %d on %s", h.Number, h.ParentHash)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	// A chain of an older genesis derivation (a marker without, or with
	// another, generator version) is ErrOldChain: its balances are not
	// what this code predicts.
	raw, err := os.ReadFile(filepath.Join(dir, markerName))
	if err != nil {
		t.Fatal(err)
	}
	old := strings.Replace(string(raw), fmt.Sprintf(`"generator": %d`, GeneratorVersion), `"generator": 1`, 1)
	if old == string(raw) {
		t.Fatalf("marker without the generator version: %s", raw)
	}
	if err := os.WriteFile(filepath.Join(dir, markerName), []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	if n2, err := Start(ctx, cfg); !errors.Is(err, ErrOldChain) {
		if err == nil {
			n2.Close()
		}
		t.Fatalf("chain of generator version 1: %v", err)
	}
}

// TestStartupDefault measures the default size's startup (reported, not judged).
func TestStartupDefault(t *testing.T) {
	began := time.Now()
	startNode(t, Config{Manual: true})
	t.Logf("startup with %d accounts: %v", DefaultAccounts, time.Since(began))
}
