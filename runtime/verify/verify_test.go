package verify

import (
	"bytes"
	"context"
	"errors"
	"math/big"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/plinko-pir/plinko/runtime/client/clienttest"
	"github.com/plinko-pir/plinko/runtime/dataset"
	"github.com/plinko-pir/plinko/runtime/devnet"
)

func startDeployment(t *testing.T, block uint64) *clienttest.Deployment {
	return clienttest.Start(t, clienttest.Options{Block: block, Wallet: true})
}

func config(d *clienttest.Deployment) Config {
	return Config{Wallet: d.Wallet, CDN: d.CDN, PIR: d.PIR}
}

func failed(checks []Check) []string {
	var names []string
	for _, c := range checks {
		if !c.OK {
			names = append(names, c.Name+": "+c.Detail)
		}
	}
	return names
}

func TestVerifyHealthyDeployment(t *testing.T) {
	d := startDeployment(t, 50)
	r := rand.New(rand.NewPCG(1, 2))
	d.Advance(t, r, 10)
	d.Advance(t, r, 10)
	var out bytes.Buffer
	cfg := config(d)
	cfg.Out = &out
	checks, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Log("\n" + out.String())
	if f := failed(checks); len(f) > 0 {
		t.Fatalf("failed checks: %v", f)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(checks) || len(checks) < 12 {
		t.Fatalf("%d lines for %d checks:\n%s", len(lines), len(checks), out.String())
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "ok ") {
			t.Fatalf("line %q", l)
		}
	}
	if !strings.Contains(out.String(), "answered correctly at epoch 52") {
		t.Fatalf("private lookup not at the newest epoch:\n%s", out.String())
	}
}

func TestVerifyCorruptSnapshot(t *testing.T) {
	d := startDeployment(t, 10)
	man, err := d.Dir.ReadManifest()
	if err != nil {
		t.Fatal(err)
	}
	path := d.Dir.Path(man.Snapshot().Name)
	b, _ := os.ReadFile(path)
	b[len(b)-1] ^= 1
	// Same size, same name: only the checksum can tell.
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cfg := config(d)
	cfg.Out = &out
	checks, err := Run(context.Background(), cfg)
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("corrupt snapshot passed:\n%s", out.String())
	}
	f := failed(checks)
	if len(f) != 2 || !strings.HasPrefix(f[0], "snapshot:") || !strings.HasPrefix(f[1], "private lookup:") {
		t.Fatalf("failed checks %v, want snapshot and private lookup\n%s", f, out.String())
	}
	if !strings.Contains(out.String(), "FAIL snapshot") {
		t.Fatalf("no FAIL line:\n%s", out.String())
	}
}

func TestVerifyServiceDown(t *testing.T) {
	d := startDeployment(t, 10)
	cfg := config(d)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Wallet = "http://" + ln.Addr().String() // nothing answers there
	ln.Close()
	checks, err := Run(context.Background(), cfg)
	if !errors.Is(err, ErrFailed) {
		t.Fatal("a dead wallet passed")
	}
	f := failed(checks)
	if len(f) != 4 {
		t.Fatalf("failed %v, want the wallet's 4 checks", f)
	}
	for _, name := range f {
		if !strings.HasPrefix(name, "wallet") {
			t.Fatalf("unexpected failure %s", name)
		}
	}
}

// TestVerifyChainHead runs a real dev chain: the published files must name
// its chain id and its blocks (hash and state root), and the served block
// must be within MaxLag blocks of its head.
func TestVerifyChainHead(t *testing.T) {
	ctx := context.Background()
	node, err := devnet.Start(ctx, devnet.Config{Accounts: 4, Manual: true, Traffic: devnet.Traffic{}})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	for i := 0; i < 5; i++ {
		if _, err := node.MineBlock(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ec, err := ethclient.Dial(node.HTTPURL())
	if err != nil {
		t.Fatal(err)
	}
	defer ec.Close()
	real := func(n uint64) (dataset.Hash, dataset.Hash) {
		h, err := ec.HeaderByNumber(ctx, new(big.Int).SetUint64(n))
		if err != nil {
			t.Fatalf("header %d: %v", n, err)
		}
		return dataset.Hash(h.Hash()), dataset.Hash(h.Root)
	}
	head := node.Head().Number.Uint64()
	d := clienttest.Start(t, clienttest.Options{Block: head - 2, Wallet: true, ChainID: devnet.ChainID, Header: real})
	d.Advance(t, rand.New(rand.NewPCG(1, 1)), 5)
	cfg := config(d)
	cfg.RPC = node.HTTPURL()
	var out bytes.Buffer
	cfg.Out = &out
	checks, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("served block %d, chain head %d: %v %v", head-1, head, err, failed(checks))
	}
	if !strings.Contains(out.String(), "snapshot block 3 (canonical) hash and state root match; newest delta block 4 (canonical)") {
		t.Fatalf("block checks not reported:\n%s", out.String())
	}

	// The same files against the devnet of another chain id: refused.
	t.Run("other chain", func(t *testing.T) {
		d := clienttest.Start(t, clienttest.Options{Block: head - 1, Wallet: true, ChainID: 1, Header: real})
		cfg := config(d)
		cfg.RPC = node.HTTPURL()
		checks, err := Run(ctx, cfg)
		f := failed(checks)
		if !errors.Is(err, ErrFailed) || len(f) != 1 || !strings.Contains(f[0], "publishes chain 1, the node at") {
			t.Fatalf("chain 1 against a node of chain %d: %v %v", devnet.ChainID, err, f)
		}
	})
	// A state root the node does not have for that block: refused.
	t.Run("wrong state root", func(t *testing.T) {
		d := clienttest.Start(t, clienttest.Options{Block: head - 1, Wallet: true, ChainID: devnet.ChainID,
			Header: func(n uint64) (dataset.Hash, dataset.Hash) { h, _ := real(n); return h, dataset.Hash{0xba, 0xd} }})
		cfg := config(d)
		cfg.RPC = node.HTTPURL()
		checks, err := Run(ctx, cfg)
		f := failed(checks)
		if !errors.Is(err, ErrFailed) || len(f) != 1 || !strings.HasPrefix(f[0], "chain blocks:") || !strings.Contains(f[0], "state root") {
			t.Fatalf("wrong state root: %v %v", err, f)
		}
	})
	// A block hash the node does not know (another chain's block).
	t.Run("unknown block", func(t *testing.T) {
		d := clienttest.Start(t, clienttest.Options{Block: head - 1, Wallet: true, ChainID: devnet.ChainID})
		cfg := config(d)
		cfg.RPC = node.HTTPURL()
		checks, err := Run(ctx, cfg)
		f := failed(checks)
		if !errors.Is(err, ErrFailed) || len(f) != 1 || !strings.Contains(f[0], "which the node does not know") {
			t.Fatalf("made-up block: %v %v", err, f)
		}
	})

	for i := 0; i < 3; i++ {
		if _, err := node.MineBlock(ctx); err != nil {
			t.Fatal(err)
		}
	}
	checks, err = Run(ctx, cfg)
	f := failed(checks)
	if !errors.Is(err, ErrFailed) || len(f) != 1 || !strings.HasPrefix(f[0], "chain head:") {
		t.Fatalf("served block 4 blocks behind the head: err %v, failed %v", err, f)
	}
}
