package browser

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/plinko-pir/plinko/runtime/devnet"
	"github.com/plinko-pir/plinko/runtime/local"
)

// system is the embedded-default deployment the browser test runs against.
type system struct {
	Wallet, CDN, PIR, RPC string
	Funded                []common.Address // funded accounts to look up
}

// startSystem runs `plinko local` in-process on free loopback ports: a small
// chain with 1 s blocks and every server.
func startSystem(t *testing.T, ctx context.Context) *system {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	sys, err := local.Start(ctx, local.Config{
		Accounts:   2000,
		BlockTime:  time.Second,
		WalletPort: -1, CDNPort: -1, PIRPort: -1, RPCPort: -1,
		Logger: logger,
	})
	if err != nil {
		t.Fatalf("starting the local system: %v", err)
	}
	t.Cleanup(func() { sys.Close() })
	waitHTTP(t, ctx, sys.WalletURL+"/readyz", 5*time.Minute)
	waitHTTP(t, ctx, sys.PIRURL+"/readyz", time.Minute)
	return &system{
		Wallet: sys.WalletURL + "/",
		CDN:    sys.CDNURL,
		PIR:    sys.PIRURL,
		RPC:    sys.RPCURL,
		Funded: []common.Address{
			sys.Example, // an ordinary funded account
			sys.FundedAddress(devnet.SenderCount + 7), // another, further in
			sys.FundedAddress(1),                      // a traffic sender: its balance changes every block
			sys.FundedAddress(dustIndex(t, 2000)),     // dust under 1 gwei: shown to the wei, never as absent
		},
	}
}

// dustIndex is the first genesis account of the dust class (seed 0, as
// local.Config leaves it): 1 wei .. 1 gwei - 1.
func dustIndex(t *testing.T, accounts int) int {
	for i := devnet.SenderCount; i < accounts; i++ {
		if devnet.BalanceClass(0, i) == devnet.ClassDust {
			return i
		}
	}
	t.Fatal("no dust account in the genesis")
	return 0
}

// snapshotDownloads reads the CDN's own count of snapshot requests (all
// status codes) from its Prometheus metrics.
func (s *system) snapshotDownloads(t *testing.T) int {
	t.Helper()
	resp, err := http.Get(s.CDN + "/metrics")
	if err != nil {
		t.Fatalf("reading CDN metrics: %v", err)
	}
	defer resp.Body.Close()
	total := 0
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 1<<22))
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "plinko_cdn_requests_total{") || !strings.Contains(line, `kind="snapshot"`) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("CDN metrics line %q: %v", line, err)
		}
		total += int(v)
	}
	return total
}
