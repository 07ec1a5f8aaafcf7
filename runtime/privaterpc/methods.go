package privaterpc

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"strings"
)

// A call's verdict: answered here, forwarded, or refused because
// forwarding it would tell the upstream an address the user cares about.
type verdict int

const (
	forward verdict = iota
	private         // eth_getBalance: a private lookup
	leaky           // carries an address: refused by default (Config.ForwardLeaky)
)

// addressFirst are the methods whose first parameter is the account asked
// about: forwarding one tells the upstream exactly that address.
var addressFirst = map[string]bool{
	"eth_getTransactionCount": true,
	"eth_getCode":             true,
	"eth_getStorageAt":        true,
	"eth_getProof":            true,
	"eth_getAccount":          true, // geth
}

// classify says what to do with one call, from its method and parameters
// alone. It errs on the side of refusing: a forwarded address is a leak
// for good, a refused call is an error message the user can act on.
//
// Sending a transaction (eth_sendRawTransaction) is forwarded: the
// transaction is public the moment it is sent, sender included.
func classify(method string, params json.RawMessage) verdict {
	switch {
	case method == "eth_getBalance":
		return private
	case addressFirst[method]:
		return leaky
	case method == "eth_call" && isChecker(params):
		return private // an ETH-only balance check: answered by private lookups
	case method == "eth_call", method == "eth_estimateGas", method == "eth_createAccessList", method == "eth_simulateV1":
		// A call from the user's account, or with an address among its
		// arguments (balanceOf(user), a balance checker's users list).
		if callCarriesAddress(params) {
			return leaky
		}
	case method == "eth_getLogs", method == "eth_newFilter":
		if topicsCarryAddress(params, 0) {
			return leaky
		}
	case method == "eth_subscribe":
		if len(firstString(params)) > 0 && firstString(params) == "logs" && topicsCarryAddress(params, 1) {
			return leaky
		}
	case strings.HasPrefix(method, "trace_filter"), method == "ots_getTransactionBySenderAndNonce",
		strings.HasPrefix(method, "ots_searchTransactions"), method == "ots_getContractCreator", method == "eth_getTransactionBySenderAndNonce":
		return leaky
	}
	return forward
}

func firstString(params json.RawMessage) string {
	var ps []json.RawMessage
	if json.Unmarshal(params, &ps) != nil || len(ps) == 0 {
		return ""
	}
	var s string
	_ = json.Unmarshal(ps[0], &s)
	return s
}

// callCarriesAddress: a call object with a non-zero "from", or calldata
// holding a word shaped like an address (12 zero bytes, then 20 bytes
// that are not a small number).
func callCarriesAddress(params json.RawMessage) bool {
	var ps []json.RawMessage
	if json.Unmarshal(params, &ps) != nil || len(ps) == 0 {
		return true // unreadable: do not guess that it is harmless
	}
	var call struct {
		From  string `json:"from"`
		Data  string `json:"data"`
		Input string `json:"input"`
	}
	if json.Unmarshal(ps[0], &call) != nil {
		return true
	}
	if call.From != "" && !isZeroHex(call.From) {
		return true
	}
	data := call.Input
	if data == "" {
		data = call.Data
	}
	b, err := hex.DecodeString(strings.TrimPrefix(strings.TrimPrefix(data, "0x"), "0X"))
	if err != nil {
		return true
	}
	if len(b) < 4 {
		return false
	}
	for args := b[4:]; len(args) >= 32; args = args[32:] {
		if addressWord(args[:32]) {
			return true
		}
	}
	return false
}

// addressWord: 12 zero bytes, then 20 bytes whose first 4 are not all zero
// (an amount or an offset is a small number; an address almost never is).
func addressWord(w []byte) bool {
	return bytes.Equal(w[:12], make([]byte, 12)) && !bytes.Equal(w[12:16], make([]byte, 4))
}

// topicsCarryAddress: a log filter (parameter i) whose topics hold an
// address-shaped word (Transfer(from, to) filtered by the user's address).
func topicsCarryAddress(params json.RawMessage, i int) bool {
	var ps []json.RawMessage
	if json.Unmarshal(params, &ps) != nil || len(ps) <= i {
		return len(ps) > i
	}
	var f struct {
		Topics []json.RawMessage `json:"topics"`
	}
	if json.Unmarshal(ps[i], &f) != nil {
		return true
	}
	for _, t := range f.Topics {
		var one string
		var many []string
		if json.Unmarshal(t, &one) == nil {
			many = []string{one}
		} else if json.Unmarshal(t, &many) != nil {
			continue // null: any topic
		}
		for _, s := range many {
			b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
			if err == nil && len(b) == 32 && addressWord(b) {
				return true
			}
		}
	}
	return false
}

func isZeroHex(s string) bool {
	return strings.Trim(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"), "0") == ""
}

func isChecker(params json.RawMessage) bool {
	_, _, ok := checkerCall(params)
	return ok
}
