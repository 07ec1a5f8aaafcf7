package updater

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/plinko-pir/plinko/runtime/dataset"
	"github.com/plinko-pir/plinko/runtime/devnet"
)

// BenchmarkHeadToDelta measures the time from the newHeads notification to
// the delta file (and head.json) on disk, one block per iteration, on a
// devnet with 2000 accounts and 100 transfers per block (a new account every
// block, a withdrawal every second block).
//
//	go test -run '^$' -bench HeadToDelta -benchtime 30x ./runtime/updater
func BenchmarkHeadToDelta(b *testing.B) {
	ctx := context.Background()
	n := startDevnet(b, devnet.Config{Accounts: 2000, Seed: 21, Manual: true,
		Traffic: devnet.Traffic{TxPerBlock: 100, NewAccountEvery: 1, WithdrawalEvery: 2}})
	dir := dataset.Dir(b.TempDir())
	bootstrap(b, n, string(dir))
	f := follow(b, Config{RPC: n.WSURL(), Dir: string(dir)})
	var lat []time.Duration
	records := 0
	for b.Loop() {
		h, err := n.MineBlock(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range f.until(b, h.Hash()) {
			lat = append(lat, p.Latency)
			records += len(p.Delta.Records)
		}
	}
	slices.Sort(lat)
	var sum time.Duration
	for _, l := range lat {
		sum += l
	}
	b.ReportMetric(float64(sum.Microseconds())/1000/float64(len(lat)), "ms/delta")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*9/10].Microseconds())/1000, "p90-ms")
	b.ReportMetric(float64(records)/float64(len(lat)), "records/delta")
}
