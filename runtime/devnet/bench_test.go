package devnet

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/rpc"
)

// BenchmarkGenerator starts a devnet whose genesis state the generator writes
// (into a temp data dir, like an in-memory run of that size) and reports
// accounts/s for the whole Start: keys, sort, trie, preimages, genesis block,
// node start. Sizes: 2^16 and 2^20; PLINKO_DEVNET_BENCH_LOG2=23 adds 2^23.
//
//	go test -run '^$' -bench Generator -benchtime 1x ./runtime/devnet
func BenchmarkGenerator(b *testing.B) {
	sizes := []int{16, 20}
	if v, err := strconv.Atoi(os.Getenv("PLINKO_DEVNET_BENCH_LOG2")); err == nil {
		sizes = append(sizes, v)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, lg := range sizes {
		b.Run(fmt.Sprintf("accounts=2^%d", lg), func(b *testing.B) {
			n := 1 << lg
			var total time.Duration
			for i := 0; i < b.N; i++ {
				began := time.Now()
				node, err := Start(context.Background(), Config{Accounts: n, Seed: uint64(i), Manual: true,
					GenesisAllocLimit: -1, Logger: quiet, Progress: io.Discard})
				if err != nil {
					b.Fatal(err)
				}
				total += time.Since(began)
				b.StopTimer()
				if err := node.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(n)*float64(b.N)/total.Seconds(), "accounts/s")
		})
	}
}

// BenchmarkStartGenesisAlloc measures Start for the genesis alloc path.
func BenchmarkStartGenesisAlloc(b *testing.B) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, n := range []int{DefaultAccounts, 10_000} {
		b.Run(fmt.Sprintf("accounts=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				node, err := Start(context.Background(), Config{Accounts: n, Seed: uint64(i), Manual: true, Logger: quiet})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				node.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "accounts/s")
		})
	}
}

// BenchmarkAccountRange is what the node serves to db-gen: every account of a
// generated 2^18-account devnet through paged debug_accountRange (256 per
// call, one call in flight) over HTTP on 127.0.0.1.
func BenchmarkAccountRange(b *testing.B) {
	const n = 1 << 18
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	node, err := Start(context.Background(), Config{Accounts: n, Seed: 1, Manual: true,
		GenesisAllocLimit: -1, Logger: quiet, Progress: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	defer node.Close()
	c, err := rpc.Dial(node.HTTPURL())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ResetTimer()
	seen := 0
	for i := 0; i < b.N; i++ {
		start := hexutil.Bytes{}
		for {
			var res accountRangeResult
			if err := c.Call(&res, "debug_accountRange", "0x0", start, 256, true, true, false); err != nil {
				b.Fatal(err)
			}
			seen += len(res.Accounts)
			if len(res.Next) == 0 {
				break
			}
			start = res.Next
		}
	}
	if seen < n*b.N {
		b.Fatalf("enumerated %d accounts, want at least %d", seen, n*b.N)
	}
	b.ReportMetric(float64(seen)/b.Elapsed().Seconds(), "accounts/s")
}
