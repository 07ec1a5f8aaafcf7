// Package client is the Plinko PIR client: it keeps hints built from the
// public snapshot, keeps them fresh with per-epoch xor deltas, and looks
// balances up privately. It is used by `plinko balance`, `plinko verify` and
// the wallet's WebAssembly, so the core uses only net/http (fetch in wasm) and
// keeps its state behind the Store interface (a directory for the CLI,
// IndexedDB in the browser). No cgo, no go-ethereum.
//
// Usage:
//
//	c, err := client.New(client.Config{CDN: cdnURL, PIR: pirURL, Store: client.NewDirStore(dir)})
//	err = c.Sync(ctx)                      // first time: stream snapshot, build hints; later: apply deltas
//	res, err := c.Lookup(ctx, addr)        // res.Wei (exact), res.Found, res.ChainID, res.Epoch, res.Block, res.BlockHash
//	many, err := c.LookupMany(ctx, addrs)  // a portfolio in one request, padded to 1, 5, 20 or 100 addresses
//	res, ok := c.Known(addr)               // an address looked up before, from the client's state: no request
//	err = c.Cover(ctx)                     // a lookup-shaped request for random indices (cover traffic)
//	st := c.Status()                       // chain, epoch, block, queries left
//
// These are the API a Go program embeds (the examples in example_test.go
// run against a whole deployment on loopback: look up one address, look up
// many, follow new blocks); plinko balance and plinko rpc are built on it.
//
// What leaves the machine: GET requests for manifest.json, head.json, the
// snapshot and deltas/<epoch>.delta (the same for every client), and POST
// /v1/query bodies that hold Plinko queries. A lookup always sends exactly
// four queries (the address's three cuckoo positions, a decoy for a position
// already answered from the cache, and a check whose answers the client
// knows), found or not; an answer that fails the check is refused
// (ErrTampered). A request whose answer was lost is repaired before the next
// lookup with one more request of the same shape. The address, the positions
// and anything derived from them are never sent otherwise, never logged and
// never put in a URL.
//
// Crash safety: a query consumes a hint. The client saves its state (with the
// hint marked used) BEFORE the query is sent, so a crash can lose hints but
// never reuse one. A state that fails to verify is discarded and rebuilt
// from the snapshot with a fresh key.
//
// At rest: the state holds the PIR key and the cache of looked-up entries,
// so the Store should be wrapped in runtime/client/sealed, which encrypts it
// (plinko balance and the wallet do; a bare DirStore keeps it in the clear).
package client
