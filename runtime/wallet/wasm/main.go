//go:build js && wasm

// Command wasm is the wallet's PIR client in the browser: runtime/client
// compiled to WebAssembly, run inside the page's Web Worker (worker.js). It
// keeps its state in IndexedDB, sealed (sealkey.go), and draws the plinko keystream from WebCrypto.
// The worker calls the functions this main hands to self.plinkoReady; each
// returns a Promise and runs on its own goroutine, so it may block on fetch,
// IndexedDB and WebCrypto promises.
package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall/js"
	"time"

	"github.com/plinko-pir/plinko/runtime/client"
	"github.com/plinko-pir/plinko/runtime/client/sealed"
	"github.com/plinko-pir/plinko/runtime/wallet/webcrypto"
)

// wallet is the state behind the exported functions.
type wallet struct {
	mu     sync.Mutex
	cfg    walletConfig
	idb    *idbStore    // nil: nothing persistent (no WebCrypto or Web Locks)
	store  client.Store // idb, sealed; nil: memory only
	client *client.Client
	synced bool // a Sync finished in this worker

	// progress bookkeeping for the current Sync (guarded by pmu)
	pmu           sync.Mutex
	firstDownload time.Time
	downloaded    int64
	deltas        int64
}

type walletConfig struct {
	CDN string `json:"cdn"`
	PIR string `json:"pir"`
	// Passphrase seals new state instead of the stored key (optional).
	Passphrase string `json:"passphrase"`
	// ChainID, when set (the wallet's config.json), is the only chain the
	// client accepts; 0 pins the chain of the saved state or first manifest.
	ChainID uint64 `json:"chainId"`
}

func main() {
	w := &wallet{}
	api := js.Global().Get("Object").New()
	api.Set("init", js.FuncOf(func(_ js.Value, args []js.Value) any {
		return promise(func() (any, error) { return nil, w.init(argString(args, 0)) })
	}))
	api.Set("sync", js.FuncOf(func(_ js.Value, args []js.Value) any {
		return promise(w.sync)
	}))
	api.Set("lookup", js.FuncOf(func(_ js.Value, args []js.Value) any {
		addr := argString(args, 0)
		return promise(func() (any, error) { return w.lookup(addr) })
	}))
	api.Set("forget", js.FuncOf(func(_ js.Value, args []js.Value) any {
		return promise(func() (any, error) { return nil, w.forget() })
	}))
	api.Set("selftest", js.FuncOf(func(_ js.Value, args []js.Value) any {
		return promise(selftest)
	}))
	api.Set("bench", js.FuncOf(func(_ js.Value, args []js.Value) any {
		params := argString(args, 0)
		return promise(func() (any, error) { return bench(params) })
	}))
	js.Global().Call("plinkoReady", api)
	select {}
}

func argString(args []js.Value, i int) string {
	if i < len(args) && args[i].Type() == js.TypeString {
		return args[i].String()
	}
	return ""
}

func (w *wallet) init(cfgJSON string) error {
	var cfg walletConfig
	if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
		return fmt.Errorf("wallet config: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cfg = cfg
	// One saved state per deployment: the CDN URL names it. It is kept only
	// sealed (WebCrypto) and only under an exclusive Web Lock (one tab at a
	// time); where either is missing (plain HTTP) nothing is kept.
	w.idb, w.store = nil, nil
	if js.Global().Get("plinkoPersistent").Truthy() {
		w.idb = &idbStore{key: "client:" + cfg.CDN}
		w.store = sealed.New(w.idb, browserKeys{name: w.idb.key, pass: []byte(cfg.Passphrase)})
	} else {
		js.Global().Call("plinkoNotice", "This page is not served over HTTPS, so the browser gives it no WebCrypto or Web Locks and the wallet keeps nothing between visits: each visit downloads the snapshot again.")
	}
	return w.newClient()
}

func (w *wallet) newClient() error {
	cfg := client.Config{
		CDN:        w.cfg.CDN,
		PIR:        w.cfg.PIR,
		Store:      w.store,
		OnProgress: w.onProgress,
		ChainID:    w.cfg.ChainID,
	}
	// The browser's hardware AES when it has WebCrypto; Go's software AES
	// otherwise (same bytes, several times slower).
	if webcrypto.Available() {
		cfg.Keystream = webcrypto.NewSource().NewCTR
	}
	c, err := client.New(cfg)
	if err != nil {
		return err
	}
	w.client = c
	w.synced = false
	return nil
}

func (w *wallet) onProgress(p client.Progress) {
	w.pmu.Lock()
	switch p.Stage {
	case client.StageDownload:
		if w.firstDownload.IsZero() {
			w.firstDownload = time.Now()
		}
		w.downloaded = p.Done
	case client.StageDeltas:
		if p.Done > 0 { // one report per delta applied
			w.deltas++
		}
	}
	w.pmu.Unlock()
	js.Global().Call("plinkoProgress", p.Stage, float64(p.Done), float64(p.Total))
}

type syncReply struct {
	Status        statusJSON `json:"status"`
	FromStorage   bool       `json:"fromStorage"`
	SnapshotBytes int64      `json:"snapshotBytes"`
	HintsMillis   int64      `json:"hintsMillis"`
	DeltasApplied int64      `json:"deltasApplied"`
}

type statusJSON struct {
	Synced      bool   `json:"synced"`
	ChainID     uint64 `json:"chainId"`
	Epoch       uint64 `json:"epoch"`
	Block       uint64 `json:"block"`
	BlockHash   string `json:"blockHash"`
	QueriesLeft int    `json:"queriesLeft"`
	Entries     uint64 `json:"entries"`
}

func statusOf(st client.Status) statusJSON {
	return statusJSON{
		Synced: st.Synced, ChainID: st.ChainID, Epoch: st.Epoch, Block: st.Block, BlockHash: "0x" + hex.EncodeToString(st.BlockHash[:]),
		QueriesLeft: st.QueriesLeft, Entries: st.Entries,
	}
}

func (w *wallet) sync() (any, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.client == nil {
		return nil, errors.New("the wallet is not initialized")
	}
	w.pmu.Lock()
	w.firstDownload, w.downloaded, w.deltas = time.Time{}, 0, 0
	w.pmu.Unlock()
	first := !w.synced
	if err := w.client.Sync(context.Background()); err != nil {
		return nil, err
	}
	w.synced = true
	w.pmu.Lock()
	r := syncReply{Status: statusOf(w.client.Status()), SnapshotBytes: w.downloaded, DeltasApplied: w.deltas}
	if !w.firstDownload.IsZero() {
		r.HintsMillis = time.Since(w.firstDownload).Milliseconds()
	}
	r.FromStorage = first && w.firstDownload.IsZero()
	w.pmu.Unlock()
	return jsonString(r)
}

type lookupReply struct {
	Result struct {
		Wei       string `json:"wei"` // exact, decimal: what eth_getBalance gives
		Eth       string `json:"eth"` // the same in ETH, exact (client.FormatEther)
		Found     bool   `json:"found"`
		ChainID   uint64 `json:"chainId"`
		Epoch     uint64 `json:"epoch"`
		Block     uint64 `json:"block"`
		BlockHash string `json:"blockHash"`
	} `json:"result"`
	Status        statusJSON `json:"status"`
	DeltasApplied int64      `json:"deltasApplied"` // a lookup catches up first
}

func (w *wallet) lookup(address string) (any, error) {
	addr, err := parseAddress(address)
	if err != nil {
		return nil, &kindError{kind: "input", err: err}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.client == nil {
		return nil, errors.New("the wallet is not initialized")
	}
	w.pmu.Lock()
	w.deltas = 0
	w.pmu.Unlock()
	res, err := w.client.Lookup(context.Background(), addr)
	if err != nil {
		return nil, err
	}
	var r lookupReply
	w.pmu.Lock()
	r.DeltasApplied = w.deltas
	w.pmu.Unlock()
	r.Result.Wei = res.Wei.Dec()
	r.Result.Eth = client.FormatEther(&res.Wei)
	r.Result.Found = res.Found
	r.Result.ChainID = res.ChainID
	r.Result.Epoch = res.Epoch
	r.Result.Block = res.Block
	r.Result.BlockHash = "0x" + hex.EncodeToString(res.BlockHash[:])
	r.Status = statusOf(w.client.Status())
	return jsonString(r)
}

// forget deletes the saved state and starts over with a fresh client.
func (w *wallet) forget() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.idb != nil {
		if err := w.idb.Remove(context.Background()); err != nil {
			return err
		}
	}
	return w.newClient()
}

func parseAddress(s string) ([20]byte, error) {
	var a [20]byte
	s = strings.TrimSpace(s)
	if len(s) != 42 || (s[:2] != "0x" && s[:2] != "0X") {
		return a, errors.New("an address is 0x followed by 40 hexadecimal characters")
	}
	if _, err := hex.Decode(a[:], []byte(s[2:])); err != nil {
		return a, errors.New("an address is 0x followed by 40 hexadecimal characters")
	}
	return a, nil
}

func jsonString(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// kindError carries the error kind the page explains to the user.
type kindError struct {
	kind string
	err  error
}

func (e *kindError) Error() string { return e.err.Error() }
func (e *kindError) Unwrap() error { return e.err }

// errorKind maps an error to what the page tells the user to do.
func errorKind(err error) string {
	var ke *kindError
	switch {
	case errors.As(err, &ke):
		return ke.kind
	case errors.Is(err, sealed.ErrNeedPassphrase), errors.Is(err, sealed.ErrWrongKey):
		return "passphrase"
	case errors.Is(err, client.ErrSnapshotChecksum):
		return "checksum"
	case errors.Is(err, errOtherTab):
		return "tab"
	case errors.Is(err, client.ErrStorage), errors.Is(err, errQuota):
		return "storage"
	case errors.Is(err, client.ErrCorruptState):
		return "corrupt"
	case errors.Is(err, client.ErrIncompatible):
		return "incompatible"
	case errors.Is(err, client.ErrWrongChain):
		return "chain"
	case errors.Is(err, client.ErrTampered):
		return "tampered"
	case errors.Is(err, client.ErrServerBehind):
		return "behind"
	case errors.Is(err, client.ErrServer):
		return "server"
	case strings.Contains(err.Error(), "fetch() failed"), strings.Contains(err.Error(), "Failed to fetch"),
		strings.Contains(err.Error(), "NetworkError"):
		return "unreachable"
	}
	return "other"
}

// promise runs fn on a new goroutine (it may block on JavaScript promises,
// which needs the event loop free) and returns a Promise of its result. A
// failure rejects with {kind, message}.
func promise(fn func() (any, error)) js.Value {
	executor := js.FuncOf(func(_ js.Value, args []js.Value) any {
		resolve, reject := args[0], args[1]
		go func() {
			var v any
			var err error
			func() {
				// A panic (a failing browser API deep in a cipher.Stream)
				// becomes a rejected promise, not a dead worker.
				defer func() {
					if r := recover(); r != nil {
						err = fmt.Errorf("internal error: %v", r)
					}
				}()
				v, err = fn()
			}()
			if err != nil {
				reject.Invoke(js.ValueOf(map[string]any{"kind": errorKind(err), "message": err.Error()}))
				return
			}
			resolve.Invoke(v)
		}()
		return nil
	})
	defer executor.Release()
	return js.Global().Get("Promise").New(executor)
}

// await blocks the calling goroutine (never the one JavaScript called into)
// until p settles.
func await(ctx context.Context, p js.Value) (js.Value, error) {
	type settled struct {
		v   js.Value
		err error
	}
	ch := make(chan settled, 1)
	var onOK, onErr js.Func
	release := func() { onOK.Release(); onErr.Release() }
	onOK = js.FuncOf(func(_ js.Value, args []js.Value) any {
		v := js.Undefined()
		if len(args) > 0 {
			v = args[0]
		}
		ch <- settled{v: v}
		release()
		return nil
	})
	onErr = js.FuncOf(func(_ js.Value, args []js.Value) any {
		err := errors.New("javascript promise rejected")
		if len(args) > 0 {
			err = jsError(args[0])
		}
		ch <- settled{err: err}
		release()
		return nil
	})
	p.Call("then", onOK, onErr)
	select {
	case s := <-ch:
		return s.v, s.err
	case <-ctx.Done():
		return js.Undefined(), ctx.Err()
	}
}

// errQuota marks a browser storage quota failure.
var errQuota = errors.New("browser storage is full")

// errOtherTab: another tab of this browser holds the wallet's state.
var errOtherTab = errors.New("the wallet is open in another tab")

func jsError(v js.Value) error {
	if v.Type() != js.TypeObject {
		return fmt.Errorf("%v", v)
	}
	msg := v.Get("message")
	text := v.Call("toString").String()
	if msg.Type() == js.TypeString {
		text = msg.String()
	}
	if tab := v.Get("tab"); tab.Type() == js.TypeBoolean && tab.Bool() {
		return fmt.Errorf("%w: %s", errOtherTab, text)
	}
	if q := v.Get("quota"); q.Type() == js.TypeBoolean && q.Bool() {
		return fmt.Errorf("%w: %s", errQuota, text)
	}
	if name := v.Get("name"); name.Type() == js.TypeString && name.String() == "QuotaExceededError" {
		return fmt.Errorf("%w: %s", errQuota, text)
	}
	return errors.New(text)
}
