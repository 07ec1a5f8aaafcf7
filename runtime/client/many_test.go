package client

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/plinko-pir/plinko/runtime/keyword"
	"github.com/plinko-pir/plinko/runtime/plinko"
)

// TestLookupMany: a portfolio in one request. Every result is exact and in
// order (funded, absent, a repeat), the request carries the queries of the
// padded size whatever the portfolio, and the hint budget pays for it.
func TestLookupMany(t *testing.T) {
	e := newTestEnv(t, 3000)
	c := e.newClient(nil)
	r := rand.New(rand.NewPCG(5, 5))
	for _, n := range []int{1, 2, 7, 20} {
		var want []account
		var found []bool
		for i := 0; i < n; i++ {
			switch {
			case i%5 == 3:
				want, found = append(want, unknownAccount(r)), append(found, false)
			case i%5 == 4:
				want, found = append(want, want[0]), append(found, found[0]) // a repeat
			default:
				want, found = append(want, e.accounts[r.IntN(len(e.accounts))]), append(found, true)
			}
		}
		addrs := make([][20]byte, n)
		for i, a := range want {
			addrs[i] = a.Address
		}
		if err := c.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		before, sent := c.Status().QueriesLeft, len(e.queries)
		res, err := c.LookupMany(context.Background(), addrs)
		if err != nil {
			t.Fatalf("%d addresses: %v", n, err)
		}
		for i, got := range res {
			if got.Found != found[i] || found[i] && !got.Wei.Eq(&want[i].Balance) || !found[i] && !got.Wei.IsZero() {
				t.Fatalf("%d addresses, #%d: found %v, %s wei; want found %v, %s wei", n, i, got.Found, got.Wei.Dec(), found[i], want[i].Balance.Dec())
			}
		}
		if len(e.queries) != sent+1 {
			t.Fatalf("%d addresses took %d requests", n, len(e.queries)-sent)
		}
		queries := queriesPerLookup*PadAddresses(n) + plinko.ChecksPerBatch
		if got := e.queries[len(e.queries)-1]; got != queries {
			t.Fatalf("%d addresses sent %d queries, want %d (padded to %d addresses, plus the check)", n, got, queries, PadAddresses(n))
		}
		if used := before - c.Status().QueriesLeft; used != queriesPerLookup*PadAddresses(n) && c.Status().QueriesLeft < before {
			t.Fatalf("%d addresses used %d queries of the hint budget, want %d", n, used, queriesPerLookup*PadAddresses(n))
		}
		t.Logf("%d addresses: one request of %d queries", n, queries)
	}
}

// TestRequestClass: the portfolio requests fit the pir-server's default
// body limit: 100 addresses at n = 2^23, 20 at mainnet's 2^28.
func TestRequestClass(t *testing.T) {
	for _, tc := range []struct {
		n    uint64
		want int
	}{{1 << 20, 100}, {1 << 23, 100}, {1 << 28, 20}} {
		p, err := plinko.NewParams(tc.n, keyword.EntrySize)
		if err != nil {
			t.Fatal(err)
		}
		got := requestClass(p)
		size := plinko.BatchHeaderSize + (keyword.Ways*got+plinko.ChecksPerBatch)*p.QuerySize()
		if got != tc.want || size > maxQueryBody {
			t.Errorf("n = %d: %d addresses a request (%d bytes), want %d", tc.n, got, size, tc.want)
		}
		t.Logf("n = %d: %d addresses a request, %d bytes", tc.n, got, size)
	}
}

// TestKnownAndCover: after a lookup, the address is answered from the
// client's own state with no request, and stays exact as deltas change
// it; a cover request is shaped like a lookup.
func TestKnownAndCover(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t, 400)
	c := e.newClient(nil)
	if _, ok := c.Known(e.accounts[0].Address); ok {
		t.Fatal("known before any hints")
	}
	r := rand.New(rand.NewPCG(9, 9))
	for i := 0; i < 6; i++ {
		e.checkLookup(c, e.accounts[i], true)
	}
	sent := len(e.queries)
	for round := 0; round < 5; round++ {
		e.advance(200, 0, r) // most of the 400 accounts change
		if err := c.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 6; i++ {
			a := e.accounts[i]
			got, ok := c.Known(a.Address)
			if !ok || !got.Found || !got.Wei.Eq(&a.Balance) || got.Epoch != c.Status().Epoch {
				t.Fatalf("round %d, account %d: known %v, %s wei at epoch %d; want %s at %d", round, i, ok, got.Wei.Dec(), got.Epoch, a.Balance.Dec(), c.Status().Epoch)
			}
		}
	}
	if len(e.queries) != sent {
		t.Fatalf("answering known addresses sent %d requests", len(e.queries)-sent)
	}
	if _, ok := c.Known(unknownAccount(r).Address); ok {
		t.Fatal("an address never looked up is known")
	}
	if err := c.Cover(ctx); err != nil {
		t.Fatal(err)
	}
	if len(e.queries) != sent+1 || e.queries[len(e.queries)-1] != queriesPerRequest {
		t.Fatalf("cover: %d requests, last of %d queries; want 1 of %d", len(e.queries)-sent, e.queries[len(e.queries)-1], queriesPerRequest)
	}
}
