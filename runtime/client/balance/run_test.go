package balance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/plinko-pir/plinko/runtime/client"
	"github.com/plinko-pir/plinko/runtime/client/clienttest"
	"github.com/plinko-pir/plinko/runtime/client/sealed"
)

// run runs the command and returns its output lines.
func run(t *testing.T, d *clienttest.Deployment, state, addr string) []string {
	t.Helper()
	var out bytes.Buffer
	err := Run(context.Background(), Config{CDN: d.CDN, PIR: d.PIR, StateDir: state, Address: addr, Out: &out, Keyring: noKeyring{}})
	if err != nil {
		t.Fatalf("balance %s: %v", addr, err)
	}
	return strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
}

func TestRunAgainstDeployment(t *testing.T) {
	d := clienttest.Start(t, clienttest.Options{Accounts: 300, Block: 77})
	state := t.TempDir()
	r := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 3; round++ {
		a := d.Accounts[r.IntN(len(d.Accounts))]
		addr := common.Address(a.Address)
		lines := run(t, d, state, strings.ToLower(addr.Hex()))
		want := fmt.Sprintf("%s %s ETH (%s wei) at block %d", addr.Hex(), client.FormatEther(&a.Wei), a.Wei.Dec(), d.Block)
		if last := lines[len(lines)-1]; last != want {
			t.Fatalf("last line %q, want %q", last, want)
		}
		d.Advance(t, r, 50)
	}
	// An account under 1 gwei comes back to the wei, never as absent.
	dust := -1
	for i, a := range d.Accounts {
		if a.Wei.LtUint64(1_000_000_000) {
			dust = i
			break
		}
	}
	if dust < 0 {
		t.Fatal("no dust account in the deployment")
	}
	a := d.Accounts[dust]
	lines := run(t, d, state, common.Address(a.Address).Hex())
	want := fmt.Sprintf("%s %s ETH (%s wei) at block %d", common.Address(a.Address).Hex(), client.FormatEther(&a.Wei), a.Wei.Dec(), d.Block)
	if len(lines) != 1 || lines[0] != want || !strings.Contains(want, " 0.000000000") {
		t.Fatalf("dust account printed %q, want %q", lines, want)
	}
	var unknown common.Address
	unknown[0] = 0xee
	lines = run(t, d, state, unknown.Hex())
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "No account: ") ||
		lines[1] != fmt.Sprintf("%s 0 ETH (0 wei) at block %d", unknown.Hex(), d.Block) {
		t.Fatalf("unknown address printed %q", lines)
	}
}

func TestRunRejectsBadAddress(t *testing.T) {
	err := Run(context.Background(), Config{CDN: "http://127.0.0.1:1", PIR: "http://127.0.0.1:1", Address: "0x1234"})
	if err == nil || !strings.Contains(err.Error(), "not a 0x-prefixed 20-byte hex address") {
		t.Fatalf("bad address: %v", err)
	}
}

// noKeyring is the OS keyring where there is none (no D-Bus).
type noKeyring struct{}

func (noKeyring) Get(string, string) (string, error) { return "", errors.New("no D-Bus") }
func (noKeyring) Set(string, string, string) error   { return errors.New("no D-Bus") }

// TestRunWithPassphrase: a state sealed with a passphrase needs it again;
// without it, or with a wrong one, the command says what to do.
func TestRunWithPassphrase(t *testing.T) {
	d := clienttest.Start(t, clienttest.Options{Accounts: 300, Block: 78})
	state := t.TempDir()
	addr := common.Address(d.Accounts[0].Address).Hex()
	runWith := func(pass string) error {
		cfg := Config{CDN: d.CDN, PIR: d.PIR, StateDir: state, Address: addr, Keyring: noKeyring{}}
		if pass != "" {
			cfg.Passphrase = []byte(pass)
		}
		return Run(context.Background(), cfg)
	}
	if err := runWith("open sesame"); err != nil {
		t.Fatal(err)
	}
	if err := runWith("open sesame"); err != nil {
		t.Fatal(err)
	}
	if err := runWith(""); !errors.Is(err, sealed.ErrNeedPassphrase) || !strings.Contains(err.Error(), "PLINKO_PASSPHRASE") {
		t.Fatalf("no passphrase: %v", err)
	}
	err := runWith("open sesame!")
	if !errors.Is(err, sealed.ErrWrongKey) || !strings.Contains(err.Error(), "wrong passphrase") {
		t.Fatalf("wrong passphrase: %v", err)
	}
	t.Logf("wrong passphrase: %v", err)
}
