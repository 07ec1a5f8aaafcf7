package privaterpc

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
)

// Wallets read every account's ETH balance at start-up through a balance
// checker contract (github.com/wbobeirne/eth-balance-checker), one eth_call
// to balances(address[] users, address[] tokens) whose calldata lists the
// user's addresses. When every token is the zero address (ETH), the answer
// is the users' balances: plinko rpc computes it from private lookups.
// Any real token makes it a call to refuse (it carries the users).

// balanceCheckers are the deployments wallets call (MetaMask's
// SINGLE_CALL_BALANCES_ADDRESS on mainnet; none is published for Sepolia).
var balanceCheckers = map[common.Address]bool{
	common.HexToAddress("0xb1f8e55c7f64d203c1400b9d8555d050f94adf39"): true,
}

var checkerABI = func() abi.ABI {
	a, err := abi.JSON(strings.NewReader(`[{"name":"balances","type":"function","stateMutability":"view",
		"inputs":[{"name":"users","type":"address[]"},{"name":"tokens","type":"address[]"}],
		"outputs":[{"name":"","type":"uint256[]"}]}]`))
	if err != nil {
		panic(err)
	}
	return a
}()

// checkerCall returns the users and the number of tokens of an ETH-only
// balances() call to a known checker; ok is false for any other call.
func checkerCall(params json.RawMessage) (users []common.Address, tokens int, ok bool) {
	var ps []json.RawMessage
	if json.Unmarshal(params, &ps) != nil || len(ps) == 0 {
		return nil, 0, false
	}
	var call struct {
		From  string          `json:"from"`
		To    *common.Address `json:"to"`
		Data  string          `json:"data"`
		Input string          `json:"input"`
	}
	if json.Unmarshal(ps[0], &call) != nil || call.To == nil || !balanceCheckers[*call.To] {
		return nil, 0, false
	}
	data := call.Input
	if data == "" {
		data = call.Data
	}
	b, err := hex.DecodeString(strings.TrimPrefix(data, "0x"))
	m := checkerABI.Methods["balances"]
	if err != nil || len(b) < 4 || string(b[:4]) != string(m.ID) {
		return nil, 0, false
	}
	args, err := m.Inputs.Unpack(b[4:])
	if err != nil || len(args) != 2 {
		return nil, 0, false
	}
	users, _ = args[0].([]common.Address)
	toks, _ := args[1].([]common.Address)
	if len(toks) == 0 || len(users)*len(toks) > maxCheckerEntries {
		return nil, 0, false
	}
	for _, tok := range toks {
		if tok != (common.Address{}) {
			return nil, 0, false
		}
	}
	return users, len(toks), true
}

// maxCheckerEntries bounds the answer one call can ask for.
const maxCheckerEntries = 4096

// checkerAnswer looks every user up privately and encodes balances()'s
// result: for user i and token j, entry j + i*tokens (all tokens are ETH
// here, so each user's balance repeats tokens times), from one portfolio
// lookup: all users at one block, in one request.
func (s *Server) checkerAnswer(ctx context.Context, req request, users []common.Address, tokens int) []byte {
	var ps []json.RawMessage
	_ = json.Unmarshal(req.Params, &ps)
	if len(ps) >= 2 {
		var tag string
		if json.Unmarshal(ps[1], &tag) != nil || tag != "latest" {
			// Never forwarded, even with --forward-unserved: it lists the users.
			return errorResponse(req.ID, CodeUnserved, "plinko rpc answers a balance check privately at \"latest\" only")
		}
	}
	bals, err := s.cfg.Balances.BalancesOf(ctx, users)
	if err != nil {
		return errorResponse(req.ID, CodeLookup, fmt.Sprintf("private lookup of %d addresses for the balance check failed: %v", len(users), err))
	}
	out := make([]*big.Int, 0, len(users)*tokens)
	for _, bal := range bals {
		for range tokens {
			out = append(out, bal.Wei)
		}
	}
	enc, err := checkerABI.Methods["balances"].Outputs.Pack(out)
	if err != nil {
		return errorResponse(req.ID, CodeLookup, "encoding the balance check: "+err.Error())
	}
	result, _ := json.Marshal(hexutil.Bytes(enc))
	b, _ := json.Marshal(response{JSONRPC: "2.0", ID: req.ID, Result: result})
	return b
}
