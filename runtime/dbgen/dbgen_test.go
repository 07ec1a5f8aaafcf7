package dbgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/plinko-pir/plinko/runtime/dataset"
	"github.com/plinko-pir/plinko/runtime/devnet"
	"github.com/plinko-pir/plinko/runtime/keyword"
)

// TestWei: every balance an entry can hold converts exactly (dust under
// 1 gwei included); anything else is an error, never saturated.
func TestWei(t *testing.T) {
	max96 := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 96), big.NewInt(1))
	for _, v := range []*big.Int{big.NewInt(0), big.NewInt(1), big.NewInt(999_999_999), big.NewInt(1_234_567_891), max96} {
		got, err := Wei(v)
		if err != nil || got.ToBig().Cmp(v) != 0 {
			t.Errorf("Wei(%v) = %s, %v", v, got.Dec(), err)
		}
	}
	for _, v := range []*big.Int{nil, big.NewInt(-5), new(big.Int).Add(max96, big.NewInt(1)), new(big.Int).Lsh(big.NewInt(1), 300)} {
		if _, err := Wei(v); err == nil {
			t.Errorf("Wei(%v) accepted", v)
		} else if v != nil && v.Sign() > 0 && !errors.Is(err, keyword.ErrBalanceTooLarge) {
			t.Errorf("Wei(%v): %v", v, err)
		}
	}
}

func TestReadAddresses(t *testing.T) {
	in := "# list\n0x00000000000000000000000000000000000000aa\n\n 0x00000000000000000000000000000000000000AA \n0x00000000000000000000000000000000000000bb\n"
	got, err := ReadAddresses(strings.NewReader(in))
	if err != nil || len(got) != 2 || got[1] != common.HexToAddress("0xbb") {
		t.Fatalf("ReadAddresses = %v, %v", got, err)
	}
	if _, err := ReadAddresses(strings.NewReader("0x12\n")); err == nil {
		t.Fatal("short address accepted")
	}
}

func startDevnet(t testing.TB, accounts int) *devnet.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n, err := devnet.Start(ctx, devnet.Config{Accounts: accounts, Seed: 7, Manual: true, BlockTime: time.Second,
		Logger: quietLogger()})
	if err != nil {
		t.Fatalf("devnet: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// balanceAt reads one balance over JSON-RPC, independently of dbgen.
func balanceAt(t *testing.T, c *rpc.Client, a common.Address, block uint64) *big.Int {
	t.Helper()
	var b hexutil.Big
	if err := c.Call(&b, "eth_getBalance", a, hexutil.EncodeUint64(block)); err != nil {
		t.Fatal(err)
	}
	return b.ToInt()
}

// TestDBGenMatchesChain runs db-gen in both modes against a devnet with
// traffic and checks every funded account (dust under 1 gwei included),
// every account created by the traffic and the fee recipient against
// eth_getBalance, to the wei, and the chain id, block and state root the
// database names.
func TestDBGenMatchesChain(t *testing.T) {
	const accounts = 300
	n := startDevnet(t, accounts)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for range 4 {
		if _, err := n.MineBlock(ctx); err != nil {
			t.Fatal(err)
		}
	}
	head := n.Head().Number.Uint64()
	c, err := rpc.Dial(n.HTTPURL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	var addrs []common.Address
	for i := range accounts {
		addrs = append(addrs, n.FundedAddress(i))
	}
	for b := uint64(1); b <= head; b++ {
		addrs = append(addrs, devnet.NewAccountAddress(7, b))
	}
	addrs = append(addrs, devnet.FeeRecipient(7), common.HexToAddress("0x00000000000000000000000000000000000000e1"))

	dir := t.TempDir()
	list := filepath.Join(dir, "addrs.txt")
	var sb strings.Builder
	for _, a := range addrs {
		fmt.Fprintln(&sb, a.Hex())
	}
	os.WriteFile(list, []byte(sb.String()), 0o644)

	wants := map[common.Address]*big.Int{}
	for _, a := range addrs {
		wants[a] = balanceAt(t, c, a, head)
	}
	for _, mode := range []string{"accountRange", "getBalance"} {
		t.Run(mode, func(t *testing.T) {
			cfg := Config{RPC: n.HTTPURL(), Block: fmt.Sprint(head), Output: filepath.Join(dir, mode+".db"), Parallel: 3, Logger: quietLogger()}
			if mode == "getBalance" {
				cfg.Addresses = list
				cfg.RPC = n.WSURL() // either transport works
			}
			res, err := Run(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			db, err := dataset.ReadDatabase(cfg.Output)
			if err != nil {
				t.Fatal(err)
			}
			if db.BlockNumber != head || db.Epoch != head || db.BlockHash != dataset.Hash(n.Head().Hash()) ||
				db.StateRoot != dataset.Hash(n.Head().Root) || db.StateRoot == (dataset.Hash{}) {
				t.Fatalf("database names block %d %x root %x, want head %d", db.BlockNumber, db.BlockHash, db.StateRoot, head)
			}
			if db.ChainID != devnet.ChainID || res.ChainID != devnet.ChainID {
				t.Fatalf("database names chain %d, the devnet is %d", db.ChainID, devnet.ChainID)
			}
			tab, err := keyword.TableFromBytes(db.Keyword, db.Entries)
			if err != nil {
				t.Fatal(err)
			}
			if got := tab.Occupied(); got != uint64(res.Stored) {
				t.Fatalf("table holds %d entries, run stored %d", got, res.Stored)
			}
			funded, dust := 0, 0
			for a, want := range wants {
				tag, pos := db.Keyword.Locate(a)
				var entries [keyword.Ways][]byte
				for i, p := range pos {
					entries[i] = tab.Entry(p)
				}
				got, found := keyword.Match(tag, entries)
				if got.ToBig().Cmp(want) != 0 || found != (want.Sign() != 0) {
					t.Fatalf("%s: database has %s wei (found %v), chain has %s", a, got.Dec(), found, want)
				}
				if want.Sign() != 0 {
					funded++
				}
				if want.Sign() > 0 && want.Cmp(big.NewInt(1e9)) < 0 {
					dust++
				}
			}
			if funded < accounts*9/10 || dust == 0 || (mode == "accountRange" && res.Stored < funded) {
				t.Fatalf("%d funded addresses checked (%d under 1 gwei), %d stored", funded, dust, res.Stored)
			}
		})
	}
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func FuzzReadAddresses(f *testing.F) {
	f.Add("0x00000000000000000000000000000000000000aa\n# c\n\n")
	f.Add("0xzz\n")
	f.Add("0x00000000000000000000000000000000000000aa0x00000000000000000000000000000000000000bb")
	f.Fuzz(func(t *testing.T, in string) {
		addrs, err := ReadAddresses(strings.NewReader(in))
		if err != nil {
			return
		}
		seen := map[common.Address]bool{}
		for _, a := range addrs {
			if seen[a] {
				t.Fatalf("duplicate %s returned", a)
			}
			seen[a] = true
		}
	})
}
