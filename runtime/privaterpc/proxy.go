// Package privaterpc is `plinko rpc`: a local Ethereum JSON-RPC endpoint
// (HTTP and WebSocket) that an existing wallet uses as its network's RPC
// URL. eth_getBalance is answered by a private lookup; every other call is
// forwarded, as bytes, to the upstream node, except calls that would tell
// the upstream an address the user cares about: those are refused by
// default (Config.ForwardLeaky), and each refusal is logged by method name,
// never by address.
package privaterpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
)

// Balance is a private lookup's answer.
type Balance struct {
	Wei   *big.Int // exact
	Block uint64   // the block it is valid at
}

// Balances answers eth_getBalance privately (runtime/client behind
// plinko rpc): the addresses of one call in one request to the pir-server,
// all at one block.
type Balances interface {
	BalancesOf(ctx context.Context, addrs []common.Address) ([]Balance, error)
}

// JSON-RPC error codes of this endpoint (the server-error range).
const (
	CodeLeaky      = -32010 // refused: forwarding would reveal an address
	CodeUnserved   = -32011 // eth_getBalance at a block the private lookup cannot answer for
	CodeLookup     = -32012 // the private lookup failed
	CodeUpstream   = -32013 // the upstream node failed
	codeParse      = -32700
	codeInvalidReq = -32600
	codeParams     = -32602
)

// Config of the endpoint.
type Config struct {
	Upstream string   // the node's HTTP(S) JSON-RPC URL
	Balances Balances // private eth_getBalance
	// UpstreamWS is the node's WebSocket URL, for eth_subscribe over our
	// WebSocket; empty: subscriptions are refused with a message.
	UpstreamWS string
	// ForwardLeaky forwards calls that carry an address (logged by
	// method) instead of refusing them.
	ForwardLeaky bool
	// ForwardUnserved forwards eth_getBalance for a block the private
	// lookup cannot answer for (pending, safe, an old block) instead of
	// refusing it. Forwarding it tells the upstream the address.
	ForwardUnserved bool
	HTTP            *http.Client // nil: a client with a 30 s timeout
	Logger          *slog.Logger // nil: discard
	MaxBody         int64        // request body limit; 0: 5 MiB
}

// Server is the endpoint; it is an http.Handler.
type Server struct {
	cfg Config
	log *slog.Logger
}

// New checks the configuration.
func New(cfg Config) (*Server, error) {
	if !strings.HasPrefix(cfg.Upstream, "http://") && !strings.HasPrefix(cfg.Upstream, "https://") {
		return nil, fmt.Errorf("privaterpc: --upstream %q: want the node's http:// or https:// JSON-RPC URL", cfg.Upstream)
	}
	if cfg.UpstreamWS != "" && !strings.HasPrefix(cfg.UpstreamWS, "ws://") && !strings.HasPrefix(cfg.UpstreamWS, "wss://") {
		return nil, fmt.Errorf("privaterpc: --upstream-ws %q: want a ws:// or wss:// URL", cfg.UpstreamWS)
	}
	if cfg.Balances == nil {
		return nil, errors.New("privaterpc: no private balance lookup configured")
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 5 << 20
	}
	return &Server{cfg: cfg, log: cfg.Logger}, nil
}

// ServeHTTP answers JSON-RPC over HTTP POST, and upgrades WebSocket
// requests (see ws.go).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if isWebSocket(r) {
		s.serveWS(w, r)
		return
	}
	// Web pages (the EIP-1193 provider in runtime/wallet/static/provider.js)
	// call it from their own origin, public sites included (Chrome's
	// Private Network Access asks before a public page reaches loopback).
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Headers", "Content-Type")
	h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	if r.Header.Get("Access-Control-Request-Private-Network") == "true" {
		h.Set("Access-Control-Allow-Private-Network", "true")
	}
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "plinko rpc: POST JSON-RPC requests (or connect over WebSocket)", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, s.cfg.MaxBody+1))
	if err != nil {
		http.Error(w, "plinko rpc: reading the request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if int64(len(body)) > s.cfg.MaxBody {
		http.Error(w, fmt.Sprintf("plinko rpc: request larger than %d bytes", s.cfg.MaxBody), http.StatusRequestEntityTooLarge)
		return
	}
	out := s.handle(r.Context(), body)
	w.Header().Set("Content-Type", "application/json")
	if out != nil {
		w.Write(out)
	}
}

type request struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params,omitempty"`
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type response struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

func errorResponse(id json.RawMessage, code int, msg string) []byte {
	if id == nil {
		id = json.RawMessage("null")
	}
	b, _ := json.Marshal(response{JSONRPC: "2.0", ID: id, Error: &rpcError{Code: code, Message: msg}})
	return b
}

// handle answers one HTTP body or WebSocket message: a call or a batch.
// The result is nil when nothing is to be sent (only notifications).
func (s *Server) handle(ctx context.Context, body []byte) []byte {
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		var elems []json.RawMessage
		if err := json.Unmarshal(body, &elems); err != nil {
			return errorResponse(nil, codeParse, "parse error: "+err.Error())
		}
		if len(elems) == 0 {
			return errorResponse(nil, codeInvalidReq, "empty batch")
		}
		return s.batch(ctx, elems)
	}
	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		return errorResponse(nil, codeParse, "parse error: "+err.Error())
	}
	if out, ok := s.local(ctx, req); ok {
		if req.ID == nil {
			return nil
		}
		return out
	}
	out, err := s.post(ctx, body)
	if err != nil {
		return errorResponse(req.ID, CodeUpstream, err.Error())
	}
	return out
}

// local answers a call here (a private lookup, or a refusal); ok is false
// for a call to forward.
func (s *Server) local(ctx context.Context, req request) (out []byte, ok bool) {
	if req.Method == "" {
		return errorResponse(req.ID, codeInvalidReq, "invalid request: no method"), true
	}
	if req.Method == "plinko_status" {
		// How a page's provider tells plinko rpc from a plain node.
		result, _ := json.Marshal(map[string]any{"private": true})
		b, _ := json.Marshal(response{JSONRPC: "2.0", ID: req.ID, Result: result})
		return b, true
	}
	switch classify(req.Method, req.Params) {
	case private:
		if users, tokens, ok := checkerCall(req.Params); ok && req.Method == "eth_call" {
			return s.checkerAnswer(ctx, req, users, tokens), true
		}
		out, forward := s.balance(ctx, req)
		return out, !forward
	case leaky:
		if s.cfg.ForwardLeaky {
			s.log.Warn("forwarded a call that carries an address (--forward-leaky)", "method", req.Method)
			return nil, false
		}
		s.log.Info("refused a call that carries an address", "method", req.Method)
		return errorResponse(req.ID, CodeLeaky, "plinko rpc refuses "+req.Method+
			" with an address in it: forwarding it would tell the upstream node which address you care about (start plinko rpc with --forward-leaky to allow it)"), true
	}
	if req.Method == "eth_subscribe" || req.Method == "eth_unsubscribe" {
		return errorResponse(req.ID, codeInvalidReq, "subscriptions need the WebSocket endpoint and --upstream-ws"), true
	}
	return nil, false
}

// balanceCall is a parsed eth_getBalance.
type balanceCall struct {
	req    request
	addr   common.Address
	number uint64 // the block asked for; with latest false only
	latest bool
}

// parseBalance reads an eth_getBalance call; out is the answer when it is
// answered without a lookup (bad parameters, a block not served), with
// forward true when --forward-unserved sends it on.
func (s *Server) parseBalance(req request) (call balanceCall, out []byte, forward bool) {
	call.req = req
	var params []json.RawMessage
	if err := json.Unmarshal(req.Params, &params); err != nil || len(params) < 1 || len(params) > 2 {
		return call, errorResponse(req.ID, codeParams, "eth_getBalance takes [address, block]"), false
	}
	if err := json.Unmarshal(params[0], &call.addr); err != nil {
		return call, errorResponse(req.ID, codeParams, "eth_getBalance: the first parameter is not an address"), false
	}
	call.latest = true
	if len(params) == 2 {
		var tag string
		if err := json.Unmarshal(params[1], &tag); err != nil {
			out, forward = s.unserved(req, "a block given as an object")
			return call, out, forward
		}
		if n, err := hexutil.DecodeUint64(tag); err == nil {
			call.latest, call.number = false, n
		} else if tag != "latest" {
			out, forward = s.unserved(req, fmt.Sprintf("block %q", tag))
			return call, out, forward
		}
	}
	return call, nil, false
}

// answer is the response to call given its private lookup.
func (s *Server) answer(call balanceCall, bal Balance) (out []byte, forward bool) {
	if !call.latest && call.number != bal.Block {
		return s.unserved(call.req, fmt.Sprintf("block %d (the private database is at block %d)", call.number, bal.Block))
	}
	result, _ := json.Marshal((*hexutil.Big)(bal.Wei))
	b, _ := json.Marshal(response{JSONRPC: "2.0", ID: call.req.ID, Result: result})
	return b, false
}

// balance answers one eth_getBalance privately; forward is true when the
// block asked for cannot be served privately and ForwardUnserved allows it.
func (s *Server) balance(ctx context.Context, req request) (out []byte, forward bool) {
	call, out, forward := s.parseBalance(req)
	if out != nil || forward {
		return out, forward
	}
	bals, err := s.cfg.Balances.BalancesOf(ctx, []common.Address{call.addr})
	if err != nil {
		return errorResponse(req.ID, CodeLookup, "private lookup failed: "+err.Error()), false
	}
	return s.answer(call, bals[0])
}

func (s *Server) unserved(req request, what string) ([]byte, bool) {
	if s.cfg.ForwardUnserved {
		s.log.Warn("forwarded eth_getBalance for a block the private lookup cannot answer (--forward-unserved)")
		return nil, true
	}
	return errorResponse(req.ID, CodeUnserved, "plinko rpc answers eth_getBalance privately for \"latest\" (the newest block its hints know) only; "+
		what+" cannot be answered privately, and forwarding would tell the upstream the address (start with --forward-unserved to allow it)"), false
}

// batch answers the local calls here and forwards the rest as one batch,
// then puts the answers back in the order asked.
func (s *Server) batch(ctx context.Context, elems []json.RawMessage) []byte {
	out := make([]json.RawMessage, len(elems))
	// A call to forward: its bytes, its place in the batch, its id.
	type forwarded struct {
		raw, id json.RawMessage
		at      int
	}
	var fwd []forwarded
	// The batch's eth_getBalance calls: one portfolio lookup for all.
	var calls []balanceCall
	var callAt []int
	for i, e := range elems {
		var req request
		if err := json.Unmarshal(e, &req); err != nil {
			out[i] = errorResponse(nil, codeInvalidReq, "invalid request in batch: "+err.Error())
			continue
		}
		if req.Method == "eth_getBalance" {
			call, r, forward := s.parseBalance(req)
			switch {
			case forward:
				fwd = append(fwd, forwarded{e, req.ID, i})
			case r != nil:
				out[i] = r
			default:
				calls, callAt = append(calls, call), append(callAt, i)
			}
			continue
		}
		if r, ok := s.local(ctx, req); ok {
			if req.ID != nil {
				out[i] = r
			}
			continue
		}
		fwd = append(fwd, forwarded{e, req.ID, i})
	}
	if len(calls) > 0 {
		addrs := make([]common.Address, len(calls))
		for k, c := range calls {
			addrs[k] = c.addr
		}
		bals, err := s.cfg.Balances.BalancesOf(ctx, addrs)
		for k, c := range calls {
			if err != nil {
				out[callAt[k]] = errorResponse(c.req.ID, CodeLookup, "private lookup failed: "+err.Error())
				continue
			}
			r, forward := s.answer(c, bals[k])
			if forward {
				raw, _ := json.Marshal(c.req)
				fwd = append(fwd, forwarded{raw, c.req.ID, callAt[k]})
				continue
			}
			out[callAt[k]] = r
		}
	}
	if len(fwd) > 0 {
		raws := make([]json.RawMessage, len(fwd))
		for k, f := range fwd {
			raws[k] = f.raw
		}
		body, _ := json.Marshal(raws)
		resp, err := s.post(ctx, body)
		var answers []json.RawMessage
		if err == nil {
			if uerr := json.Unmarshal(resp, &answers); uerr != nil {
				err = fmt.Errorf("upstream answered a batch with %.200s", resp)
			}
		}
		byID := map[string]json.RawMessage{}
		for _, a := range answers {
			var r struct {
				ID json.RawMessage `json:"id"`
			}
			if json.Unmarshal(a, &r) == nil {
				byID[string(bytes.TrimSpace(r.ID))] = a
			}
		}
		for _, f := range fwd {
			if f.id == nil {
				continue // a notification
			}
			if a, ok := byID[string(bytes.TrimSpace(f.id))]; ok {
				out[f.at] = a
			} else if err != nil {
				out[f.at] = errorResponse(f.id, CodeUpstream, err.Error())
			} else {
				out[f.at] = errorResponse(f.id, CodeUpstream, "the upstream node did not answer this call of the batch")
			}
		}
	}
	var kept []json.RawMessage
	for _, o := range out {
		if o != nil {
			kept = append(kept, o)
		}
	}
	if len(kept) == 0 {
		return nil
	}
	b, _ := json.Marshal(kept)
	return b
}

// post forwards a body to the upstream as it is, and returns its answer.
func (s *Server) post(ctx context.Context, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.Upstream, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.cfg.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", s.cfg.Upstream, unwrapURL(err))
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("upstream %s: reading the answer: %w", s.cfg.Upstream, err)
	}
	if resp.StatusCode != http.StatusOK && !json.Valid(out) {
		return nil, fmt.Errorf("upstream %s: %s: %.200s", s.cfg.Upstream, resp.Status, bytes.TrimSpace(out))
	}
	return out, nil
}

// unwrapURL drops net/http's `Post "URL": `: the message names it once.
func unwrapURL(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
