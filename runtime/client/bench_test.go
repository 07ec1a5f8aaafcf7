package client

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkClientSync: first sync (stream the snapshot over loopback from
// the real cdn, verify sha256, build hints) of a keyword table for 2^20
// accounts (1.23M entries, 16-byte entries).
func BenchmarkClientSync(b *testing.B) {
	e := newTestEnv(&testing.T{}, 1<<20)
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
// after reconstructing), 2^20 accounts, with the state on disk (DirStore,
// fsync) and in memory.
func BenchmarkClientLookup(b *testing.B) {
	ctx := context.Background()
	e := newTestEnv(&testing.T{}, 1<<20)
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
				if !res.Found || res.Gwei != a.Balance {
					b.Fatal("wrong balance")
				}
			}
			b.ReportMetric(float64(len(state)), "state_bytes")
		})
	}
}
