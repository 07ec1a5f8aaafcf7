package browser

import (
	"context"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/holiman/uint256"

	"github.com/plinko-pir/plinko/runtime/client"
)

// pageState is what the page exposes for tests: its state, telemetry, and
// the error it shows.
type pageState struct {
	State     string `json:"state"`
	ErrorKind string `json:"errorKind"`
	ErrorText string `json:"errorText"`
	SyncLine  string `json:"syncLine"`
	Telemetry struct {
		SnapshotBytes     float64 `json:"snapshotBytes"`
		SnapshotTotal     float64 `json:"snapshotTotal"`
		HintsMillis       float64 `json:"hintsMillis"`
		DeltasApplied     float64 `json:"deltasApplied"`
		LoadedFromStorage bool    `json:"loadedFromStorage"`
		Lookups           float64 `json:"lookups"`
	} `json:"telemetry"`
}

const readPageState = `({
	state: document.body.dataset.state,
	errorKind: document.getElementById('error').hidden ? '' : (document.getElementById('error').dataset.kind || ''),
	errorText: document.getElementById('error').hidden ? '' : document.getElementById('error').innerText,
	syncLine: document.getElementById('sync-line').textContent,
	telemetry: window.plinkoTelemetry || {},
})`

// waitReady waits until the page has hints, failing fast when it shows an error.
func waitReady(t *testing.T, ctx context.Context, timeout time.Duration) pageState {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var st pageState
	for {
		var err error
		st, err = chromedp.Run(ctx, chromedp.Evaluate[pageState](readPageState))
		if err == nil {
			if st.State == "ready" {
				return st
			}
			if st.State == "error" {
				t.Fatalf("page shows an error (%s): %s", st.ErrorKind, st.ErrorText)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("page not ready after %v: state %q, sync line %q, err %v", timeout, st.State, st.SyncLine, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type lookupResult struct {
	Address string `json:"address"`
	State   string `json:"state"`
	Wei     string `json:"wei"`
	Block   string `json:"block"`
	Found   string `json:"found"`
	ETH     string `json:"eth"`
	Detail  string `json:"detail"`
}

// lookupInPage types the address and presses "Look up privately", as a user
// does, then waits for the result.
func lookupInPage(t *testing.T, ctx context.Context, addr string) lookupResult {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#address"), addr),
		chromedp.WaitEnabled(chromedp.CSS("#lookup-button")),
		chromedp.Click(chromedp.CSS("#lookup-button")),
	)
	if err != nil {
		t.Fatalf("lookup %s: %v", addr, err)
	}
	want := strings.ToLower(addr)
	// Generous: under a loaded machine (go test ./... runs packages side by
	// side) the first lookup after a passphrase lock also waits for argon2id
	// in WebAssembly.
	deadline := time.Now().Add(90 * time.Second)
	for {
		r, err := chromedp.Run(ctx, chromedp.Evaluate[lookupResult](`(() => {
			const r = document.getElementById('result');
			return {address: r.dataset.address || '', state: r.dataset.state || '', wei: document.getElementById('balance-eth').dataset.wei || '',
				block: r.dataset.block || '', found: r.dataset.found || '', eth: document.getElementById('balance-eth').textContent,
				detail: document.getElementById('balance-detail').textContent};
		})()`))
		if err == nil && r.State == "done" && r.Address == want {
			return r
		}
		if err == nil && r.State == "error" {
			st, _ := chromedp.Run(ctx, chromedp.Evaluate[pageState](readPageState))
			t.Fatalf("lookup %s failed in the page (%s): %s", addr, st.ErrorKind, st.ErrorText)
		}
		if time.Now().After(deadline) {
			t.Fatalf("lookup %s: no result after 90s (last %+v, err %v)", addr, r, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkAgainstChain compares a page result with eth_getBalance at the block
// the page says the balance is valid for: the wei exactly, and the ETH shown
// is that wei with 18 decimals, trailing zeros trimmed.
func checkAgainstChain(t *testing.T, ctx context.Context, eth *ethclient.Client, addr common.Address, r lookupResult, funded bool) {
	t.Helper()
	block, err := strconv.ParseUint(r.Block, 10, 64)
	if err != nil {
		t.Fatalf("%s: page reports block %q", addr, r.Block)
	}
	wei, err := eth.BalanceAt(ctx, addr, new(big.Int).SetUint64(block))
	if err != nil {
		t.Fatalf("eth_getBalance(%s, %d): %v", addr, block, err)
	}
	if r.Wei != wei.String() {
		t.Errorf("%s at block %d: page says %s wei, chain says %s wei", addr.Hex(), block, r.Wei, wei)
	}
	if w, overflow := uint256.FromBig(wei); overflow || r.ETH != client.FormatEther(w) {
		t.Errorf("%s: page shows %s ETH for %s wei", addr.Hex(), r.ETH, wei)
	}
	if funded && (r.Found != "true" || strings.Contains(r.Detail, "No account")) {
		t.Errorf("%s: funded account not found: %q", addr.Hex(), r.Detail)
	}
	if !funded && (r.Found != "false" || r.Wei != "0" || !strings.Contains(r.Detail, "No account")) {
		t.Errorf("%s: unknown address: found=%s wei=%s %q", addr.Hex(), r.Found, r.Wei, r.Detail)
	}
	t.Logf("%s: %s ETH (%s wei) at block %d, chain agrees", addr.Hex(), r.ETH, r.Wei, block)
}
