package client

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/plinko-pir/plinko/runtime/client/clienttest"
)

// TestAgainstPIRServer runs the client against the real pir-server and cdn:
// the server follows the published deltas on its own, so answers come from
// epochs the client has not synced to yet.
func TestAgainstPIRServer(t *testing.T) {
	ctx := context.Background()
	d := clienttest.Start(t, clienttest.Options{Accounts: 1500, Block: 1000})
	store := NewDirStore(filepath.Join(t.TempDir(), "state"))
	c, err := New(Config{CDN: d.CDN, PIR: d.PIR, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(9, 9))
	for round := 0; round < 4; round++ {
		d.Advance(t, r, 100) // the client does not sync: the answer is ahead
		for i := 0; i < 3; i++ {
			a := d.Accounts[r.IntN(len(d.Accounts))]
			res, err := c.Lookup(ctx, a.Address)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Found || !res.Wei.Eq(&a.Wei) || res.Epoch != d.Epoch || res.Block != d.Block || res.ChainID != clienttest.ChainID {
				t.Fatalf("round %d: %+v, want %s wei at epoch %d", round, res, a.Wei.Dec(), d.Epoch)
			}
		}
	}
	var unknown [20]byte
	unknown[5] = 1
	if res, err := c.Lookup(ctx, unknown); err != nil || res.Found || !res.Wei.IsZero() {
		t.Fatalf("unknown address: %+v, %v", res, err)
	}
}
