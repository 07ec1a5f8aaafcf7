package browser

import (
	"context"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/plinko-pir/plinko/runtime/client"
	"github.com/plinko-pir/plinko/runtime/privaterpc"
)

// A dapp on its own origin that wraps a recording stand-in wallet with the
// wallet server's provider.js (loaded cross-origin).
const dappPage = `<!doctype html><meta charset="utf-8"><title>dapp</title>
<script type="module">
const params = new URLSearchParams(location.search);
window.innerRequests = [];
const inner = { request: async (a) => { window.innerRequests.push(JSON.stringify(a));
	if (a.method === 'eth_chainId') return '0x539'; throw new Error('unsupported ' + a.method); } };
try {
	const { privateProvider } = await import(params.get('wallet') + 'provider.js');
	window.eth = await privateProvider(inner, { rpc: params.get('rpc') || 'http://127.0.0.1:1/' });
	window.via = window.eth.via;
} catch (e) { window.failed = String(e); }
</script>`

// TestProvider: request({method: 'eth_getBalance'}) through provider.js
// equals the chain's balance, and the wrapped provider never receives the
// address: with the in-page client (cross-origin page, and the demo dapp
// on the wallet's own origin) and with a local plinko rpc.
func TestProvider(t *testing.T) {
	chromiumPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	sys := startSystem(t, ctx)
	eth, err := ethclient.DialContext(ctx, sys.RPC)
	if err != nil {
		t.Fatal(err)
	}
	defer eth.Close()
	dapp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(dappPage))
	}))
	defer dapp.Close()

	// A local plinko rpc for the third case.
	c, err := client.New(client.Config{CDN: sys.CDN, PIR: sys.PIR})
	if err != nil {
		t.Fatal(err)
	}
	rpcSrv, err := privaterpc.New(privaterpc.Config{Upstream: sys.RPC, Balances: privaterpc.ClientBalances{C: c}})
	if err != nil {
		t.Fatal(err)
	}
	rpc := httptest.NewServer(rpcSrv)
	defer rpc.Close()

	addr := sys.Funded[0]
	for _, tc := range []struct{ name, url, wantVia string }{
		{"in-page", dapp.URL + "/?wallet=" + sys.Wallet, "in-page client"},
		{"plinko-rpc", dapp.URL + "/?wallet=" + sys.Wallet + "&rpc=" + rpc.URL, "plinko rpc at " + rpc.URL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := newBrowser(t, ctx)
			if err := chromedp.Do(tab, chromedp.Navigate(tc.url)); err != nil {
				t.Fatal(err)
			}
			via, err := chromedp.Run(tab, chromedp.Poll[string](`window.failed ? 'failed: ' + window.failed : (window.via || false)`, chromedp.WithPollingTimeout(time.Minute)))
			if err != nil || via != tc.wantVia {
				t.Fatalf("provider: %q, %v", via, err)
			}
			got, err := chromedp.Run(tab, chromedp.Evaluate[string](`window.eth.request({method: 'eth_getBalance', params: ['`+addr.Hex()+`', 'latest']})`,
				chromedp.EvalAwaitPromise))
			if err != nil {
				t.Fatalf("eth_getBalance through the provider: %v", err)
			}
			checkWei(t, ctx, eth, addr, got)
			chain, err := chromedp.Run(tab, chromedp.Evaluate[string](`window.eth.request({method: 'eth_chainId'})`,
				chromedp.EvalAwaitPromise))
			if err != nil || chain != "0x539" {
				t.Fatalf("eth_chainId through the provider: %q, %v", chain, err)
			}
			asked, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`window.innerRequests`))
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range asked {
				if strings.Contains(strings.ToLower(a), strings.ToLower(addr.Hex()[2:])) {
					t.Fatalf("the wrapped provider saw the address: %s", a)
				}
			}
			if len(asked) != 1 || !strings.Contains(asked[0], "eth_chainId") {
				t.Fatalf("the wrapped provider was asked %q, want eth_chainId only", asked)
			}
		})
	}

	// The demo dapp, on the wallet's own origin, through its form.
	t.Run("demo", func(t *testing.T) {
		tab := newBrowser(t, ctx)
		err := chromedp.Do(tab, chromedp.Navigate(sys.Wallet+"dapp.html"),
			chromedp.WaitEnabled(chromedp.CSS("#go")),
			chromedp.SetValue(chromedp.CSS("#address"), addr.Hex()),
			chromedp.Click(chromedp.CSS("#go")))
		if err != nil {
			t.Fatal(err)
		}
		wei, err := chromedp.Run(tab, chromedp.Poll[string](`document.getElementById('out').dataset.wei || false`, chromedp.WithPollingTimeout(time.Minute)))
		if err != nil {
			out, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.getElementById('out').textContent`))
			t.Fatalf("demo dapp: %v (%s)", err, out)
		}
		checkWei(t, ctx, eth, addr, wei)
		seen, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.getElementById('seen').textContent`))
		if seen != "Your wallet was asked: nothing" {
			t.Fatalf("demo dapp: %q", seen)
		}
	})
}

// checkWei compares a hex wei answer with the chain at a recent block: the
// private answer is at the deployment's newest block, a few behind at most.
func checkWei(t *testing.T, ctx context.Context, eth *ethclient.Client, addr common.Address, got string) {
	t.Helper()
	v, err := hexutil.DecodeBig(got)
	if err != nil {
		t.Fatalf("answer %q is not a hex quantity: %v", got, err)
	}
	head, err := eth.BlockNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for b := int64(head); b >= 0 && b > int64(head)-10; b-- {
		want, err := eth.BalanceAt(ctx, addr, big.NewInt(b))
		if err == nil && want.Cmp(v) == 0 {
			t.Logf("%s: %s wei, the chain's at block %d (head %d)", addr.Hex(), v, b, head)
			return
		}
	}
	t.Fatalf("%s: %s wei matches no balance of the last 10 blocks", addr.Hex(), v)
}
