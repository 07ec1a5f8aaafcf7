package dbgen

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/rpc"
)

// benchAccounts is the devnet size of the db-gen benchmark
// (PLINKO_BENCH_ACCOUNTS overrides; genesis alloc takes ~12 s per 100k).
func benchAccounts() int {
	if v, err := strconv.Atoi(os.Getenv("PLINKO_BENCH_ACCOUNTS")); err == nil && v > 0 {
		return v
	}
	return 50_000
}

// nodeRate pages through the whole state with debug_accountRange exactly as
// AccountRange does (same stripes, same calls in flight) but keeps nothing:
// the rate at which the node itself serves accounts.
func nodeRate(ctx context.Context, c *rpc.Client, block common.Hash, parallel int) (int, error) {
	stripes := parallel * 4
	space := new(big.Int).Lsh(big.NewInt(1), 256)
	var mu sync.Mutex
	total := 0
	var firstErr error
	var wg sync.WaitGroup
	work := make(chan [2]*big.Int, stripes)
	for i := range stripes {
		lo := new(big.Int).Div(new(big.Int).Mul(space, big.NewInt(int64(i))), big.NewInt(int64(stripes)))
		hi := new(big.Int).Div(new(big.Int).Mul(space, big.NewInt(int64(i+1))), big.NewInt(int64(stripes)))
		work <- [2]*big.Int{lo, hi}
	}
	close(work)
	arg := rpc.BlockNumberOrHashWithHash(block, false)
	for range parallel {
		wg.Go(func() {
			for s := range work {
				start := s[0]
				for start != nil {
					var res struct {
						Accounts map[string]json.RawMessage `json:"accounts"`
						Next     hexutil.Bytes              `json:"next"`
					}
					k := common.BigToHash(start)
					if err := c.CallContext(ctx, &res, "debug_accountRange", arg, hexutil.Bytes(k[:]), PageSize, true, true, true); err != nil {
						mu.Lock()
						firstErr = err
						mu.Unlock()
						return
					}
					mu.Lock()
					total += len(res.Accounts)
					mu.Unlock()
					start = nil
					if n := new(big.Int).SetBytes(res.Next); len(res.Next) > 0 && n.Cmp(s[1]) < 0 {
						start = n
					}
				}
			}
		})
	}
	wg.Wait()
	return total, firstErr
}

// BenchmarkDBGen compares db-gen end to end (read, place, write) with the
// node's own debug_accountRange rate, both with the same calls in flight.
// Each iteration runs both back to back so that load from other jobs on a
// shared machine hits both alike; ratio = db-gen rate / node rate.
//
//	go test -run '^$' -bench DBGen -benchtime 5x ./runtime/dbgen
func BenchmarkDBGen(b *testing.B) {
	n := startDevnet(b, benchAccounts())
	ctx := context.Background()
	head := n.Head().Hash()
	c, err := rpc.Dial(n.HTTPURL())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	for _, parallel := range []int{1, 4} {
		b.Run(fmt.Sprintf("parallel=%d", parallel), func(b *testing.B) {
			out := filepath.Join(b.TempDir(), "db.bin")
			var nodeTime, genTime time.Duration
			var nodeAccounts, genAccounts int
			runNode := func() {
				t0 := time.Now()
				got, err := nodeRate(ctx, c, head, parallel)
				if err != nil {
					b.Fatal(err)
				}
				nodeTime += time.Since(t0)
				nodeAccounts += got
			}
			runGen := func() {
				t0 := time.Now()
				res, err := Run(ctx, Config{RPC: n.HTTPURL(), Block: head.Hex(), Output: out, Parallel: parallel, Logger: quietLogger()})
				if err != nil {
					b.Fatal(err)
				}
				genTime += time.Since(t0)
				genAccounts += res.Accounts
			}
			for i := 0; b.Loop(); i++ {
				if i%2 == 0 { // alternate the order: caches warmed by one help the other
					runNode()
					runGen()
				} else {
					runGen()
					runNode()
				}
			}
			node := float64(nodeAccounts) / nodeTime.Seconds()
			gen := float64(genAccounts) / genTime.Seconds()
			b.ReportMetric(node, "node-accounts/s")
			b.ReportMetric(gen, "dbgen-accounts/s")
			b.ReportMetric(gen/node, "ratio")
		})
	}
}

// BenchmarkDecodePage measures db-gen's own CPU per account: decoding one
// captured 256-account debug_accountRange page and converting balances. It
// bounds how fast db-gen can go against a node on another machine.
func BenchmarkDecodePage(b *testing.B) {
	n := startDevnet(b, 2000)
	c, err := rpc.Dial(n.HTTPURL())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	var raw json.RawMessage
	arg := rpc.BlockNumberOrHashWithHash(n.Head().Hash(), false)
	if err := c.Call(&raw, "debug_accountRange", arg, hexutil.Bytes(make([]byte, 32)), PageSize, true, true, true); err != nil {
		b.Fatal(err)
	}
	accounts := 0
	for b.Loop() {
		var res rangeResult
		if err := json.Unmarshal(raw, &res); err != nil {
			b.Fatal(err)
		}
		for _, a := range res.Accounts {
			wei, _ := new(big.Int).SetString(a.Balance, 10)
			_, _ = Wei(wei)
		}
		accounts += len(res.Accounts)
	}
	b.ReportMetric(float64(accounts)/b.Elapsed().Seconds(), "accounts/s")
	b.ReportMetric(float64(len(raw))/PageSize, "bytes/account")
}
