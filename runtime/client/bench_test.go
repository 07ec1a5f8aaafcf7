package client

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// benchAccounts is the number of accounts in the benchmarks' table: 2^20
// (1.23M entries of 16 bytes), or PLINKO_BENCH_ACCOUNTS (e.g. 7130317 for
// n = 2^23 at load 0.85).
func benchAccounts(b *testing.B) int {
	if v := os.Getenv("PLINKO_BENCH_ACCOUNTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("PLINKO_BENCH_ACCOUNTS=%q", v)
		}
		return n
	}
	return 1 << 20
}

// BenchmarkClientSync: first sync (stream the snapshot over loopback from
// the real cdn, verify sha256, build hints with one worker per CPU).
func BenchmarkClientSync(b *testing.B) {
	e := newTestEnv(b, benchAccounts(b))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := e.newClient(nil)
		start := time.Now()
		if err := c.Sync(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "ms/sync")
	}
	b.ReportMetric(float64(e.kw.TableSize), "entries")
}

// BenchmarkClientLookup: one private balance lookup end to end over loopback
// (3 queries in one request, reconstruct, state saved before sending and
// after reconstructing: journal records, and a whole state about every 2000
// lookups), with the state on disk (DirStore, fsync) and in memory.
func BenchmarkClientLookup(b *testing.B) {
	ctx := context.Background()
	e := newTestEnv(b, benchAccounts(b))
	for _, tc := range []struct {
		name  string
		store func() Store
	}{
		{"store=dir", func() Store { return NewDirStore(filepath.Join(b.TempDir(), "state")) }},
		{"store=mem", func() Store { return &MemStore{} }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			store := tc.store()
			c := e.newClientWith(Config{Store: store})
			if err := c.Sync(ctx); err != nil {
				b.Fatal(err)
			}
			state, _ := store.Load(ctx)
			r := rand.New(rand.NewPCG(1, 2))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				a := e.accounts[r.IntN(len(e.accounts))]
				res, err := c.Lookup(ctx, a.Address)
				if err != nil {
					b.Fatal(err)
				}
				if !res.Found || !res.Wei.Eq(&a.Balance) {
					b.Fatal("wrong balance")
				}
			}
			b.ReportMetric(float64(len(state)), "state_bytes")
		})
	}
}

// BenchmarkLookupMany: a portfolio of n addresses in one request over
// loopback (in-memory state): time per request, bytes sent and received,
// and the queries it takes from the hint budget.
func BenchmarkLookupMany(b *testing.B) {
	ctx := context.Background()
	e := newTestEnv(b, benchAccounts(b))
	for _, n := range []int{1, 20, 100} {
		b.Run("addresses="+strconv.Itoa(n), func(b *testing.B) {
			var sent, received atomic.Int64
			c := e.newClientWith(Config{Store: &MemStore{}})
			c.http = &http.Client{Transport: byteCounter{sent: &sent, received: &received}}
			if err := c.Sync(ctx); err != nil {
				b.Fatal(err)
			}
			r := rand.New(rand.NewPCG(1, 2))
			addrs := make([][20]byte, n)
			var used int
			sent.Store(0)
			received.Store(0)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := range addrs {
					addrs[j] = e.accounts[r.IntN(len(e.accounts))].Address
				}
				before := c.Status().QueriesLeft
				if _, err := c.LookupMany(ctx, addrs); err != nil {
					b.Fatal(err)
				}
				if left := c.Status().QueriesLeft; left < before {
					used = before - left
				}
			}
			b.ReportMetric(float64(sent.Load())/float64(b.N), "sent_bytes/op")
			b.ReportMetric(float64(received.Load())/float64(b.N), "received_bytes/op")
			b.ReportMetric(float64(used), "hint_queries/op")
		})
	}
}

// byteCounter counts the query requests' and answers' body bytes.
type byteCounter struct{ sent, received *atomic.Int64 }

func (t byteCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == QueryPath {
		t.sent.Add(r.ContentLength)
	}
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil && r.URL.Path == QueryPath {
		resp.Body = countingBody{resp.Body, t.received}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}
