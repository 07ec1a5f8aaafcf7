package privaterpc

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
)

// TestClassify: which calls carry an address the user cares about. The
// shapes are those wallets send at start-up (MetaMask, Rabby, Frame):
// nonce, code, token balances through balanceOf or a balance checker,
// Transfer logs filtered by the user's address.
func TestClassify(t *testing.T) {
	const user = "0x3f151fc965c343e84d65103f1e5aa13dfea7d49c"
	const zero, usdt = "0x0000000000000000000000000000000000000000", "0xdac17f958d2ee523a2206206994597c13d831ec7"
	word := strings.Repeat("0", 24) + user[2:]
	for _, tc := range []struct {
		method, params string
		want           verdict
	}{
		{"eth_getBalance", `["` + user + `","latest"]`, private},
		{"eth_chainId", `[]`, forward},
		{"eth_blockNumber", `[]`, forward},
		{"eth_getBlockByNumber", `["latest",false]`, forward},
		{"eth_gasPrice", `[]`, forward},
		{"eth_feeHistory", `["0x5","latest",[10,50]]`, forward},
		{"eth_sendRawTransaction", `["0x02f8"]`, forward}, // public once sent
		{"eth_getTransactionCount", `["` + user + `","pending"]`, leaky},
		{"eth_getCode", `["` + user + `","latest"]`, leaky},
		{"eth_getStorageAt", `["` + user + `","0x0","latest"]`, leaky},
		{"eth_getProof", `["` + user + `",[],"latest"]`, leaky},
		// balanceOf(user) on a token contract
		{"eth_call", `[{"to":"0xdac17f958d2ee523a2206206994597c13d831ec7","data":"0x70a08231` + word + `"},"latest"]`, leaky},
		// MetaMask's balance checker, balances(address[] users, address[]
		// tokens): ETH only is answered privately, a real token refused.
		{"eth_call", `[{"to":"0xb1f8e55c7f64d203c1400b9d8555d050f94adf39","data":"` + checkerData(user, zero) + `"},"latest"]`, private},
		{"eth_call", `[{"to":"0xb1f8e55c7f64d203c1400b9d8555d050f94adf39","data":"` + checkerData(user, usdt) + `"},"latest"]`, leaky},
		{"eth_call", `[{"to":"0xdac17f958d2ee523a2206206994597c13d831ec7","data":"` + checkerData(user, zero) + `"},"latest"]`, leaky}, // not a checker
		{"eth_call", `[{"from":"` + user + `","to":"0xdac17f958d2ee523a2206206994597c13d831ec7","data":"0x18160ddd"},"latest"]`, leaky},
		// totalSupply(): nothing about the user
		{"eth_call", `[{"to":"0xdac17f958d2ee523a2206206994597c13d831ec7","data":"0x18160ddd"},"latest"]`, forward},
		// an amount argument is not an address
		{"eth_call", `[{"to":"0xdac17f958d2ee523a2206206994597c13d831ec7","data":"0x12345678` + strings.Repeat("0", 56) + "0de0b6b3" + `"},"latest"]`, forward},
		{"eth_estimateGas", `[{"from":"` + user + `","to":"0xdac17f958d2ee523a2206206994597c13d831ec7","value":"0x1"}]`, leaky},
		{"eth_call", `not json`, leaky},
		{"eth_getLogs", `[{"fromBlock":"0x1","topics":["0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef",null,"0x` + word + `"]}]`, leaky},
		{"eth_getLogs", `[{"fromBlock":"0x1","topics":["0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef",["0x` + word + `"]]}]`, leaky},
		{"eth_getLogs", `[{"address":"0xdac17f958d2ee523a2206206994597c13d831ec7","topics":["0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"]}]`, forward},
		{"eth_subscribe", `["newHeads"]`, forward},
		{"eth_subscribe", `["logs",{"topics":[null,"0x` + word + `"]}]`, leaky},
		{"trace_filter", `[{"fromAddress":["` + user + `"]}]`, leaky},
	} {
		if got := classify(tc.method, json.RawMessage(tc.params)); got != tc.want {
			t.Errorf("%s %.80s: %v, want %v", tc.method, tc.params, got, tc.want)
		}
	}
}

// checkerData is the calldata of balances([user], [token]).
func checkerData(user, token string) string {
	b, err := checkerABI.Pack("balances", []common.Address{common.HexToAddress(user)}, []common.Address{common.HexToAddress(token)})
	if err != nil {
		panic(err)
	}
	return hexutil.Encode(b)
}
