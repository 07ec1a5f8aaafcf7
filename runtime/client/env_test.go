package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/holiman/uint256"

	"github.com/plinko-pir/plinko/runtime/cdn"
	"github.com/plinko-pir/plinko/runtime/client/clienttest"
	"github.com/plinko-pir/plinko/runtime/dataset"
	"github.com/plinko-pir/plinko/runtime/keyword"
	"github.com/plinko-pir/plinko/runtime/plinko"
)

// testEnv is a small published deployment on loopback: a dataset directory
// served by the real cdn package, and a real plinko.Server behind a net/http
// handler speaking the query wire format.
type testEnv struct {
	t        testing.TB
	dir      dataset.Dir
	kw       keyword.Params
	params   plinko.Params
	table    *keyword.Table
	accounts []account
	epoch    uint64
	block    uint64
	hash     dataset.Hash

	cdnURL, pirURL string
	snapshotGets   atomic.Int64

	mu      sync.Mutex
	server  *plinko.Server
	db      []byte // padded, at epoch
	lagging *plinko.Server
	lagEp   uint64
	lagOnce bool   // answer the next query from the lagging server
	queries []int  // queries per request, as the server saw them
	onQuery func() // called when a query arrives, before answering
}

const testStartBlock = 100

// testChainID is the chain the env's files name.
const testChainID = clienttest.ChainID

// account is one funded address of the env with its exact balance.
type account struct {
	Address [20]byte
	Balance uint256.Int
}

// randomWei is a non-zero balance of any width an entry holds.
var randomWei = clienttest.RandomWei

func randomAccount(r *rand.Rand) account {
	var a account
	for j := range a.Address {
		a.Address[j] = byte(r.Uint32())
	}
	a.Balance = randomWei(r)
	return a
}

// keywordAccounts keys accounts by trie key, as db-gen does.
func keywordAccounts(accs []account) []keyword.Account {
	out := make([]keyword.Account, len(accs))
	for i, a := range accs {
		out[i] = keyword.Account{Key: keyword.KeyOf(a.Address), Balance: a.Balance}
	}
	return out
}

func newTestEnv(t testing.TB, accounts int) *testEnv {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(accounts), 7))
	e := &testEnv{t: t, dir: dataset.Dir(t.TempDir()), epoch: testStartBlock, block: testStartBlock}
	e.hash[0] = 1
	for i := 0; i < accounts; i++ {
		e.accounts = append(e.accounts, randomAccount(r))
	}
	m, err := keyword.TableSizeFor(uint64(accounts), keyword.DefaultLoad)
	if err != nil {
		t.Fatal(err)
	}
	e.kw = keyword.Params{TableSize: m}
	e.kw.Seed[0] = 42
	e.table, err = keyword.Build(e.kw, keywordAccounts(e.accounts))
	if err != nil {
		t.Fatal(err)
	}
	e.params, err = plinko.NewParams(m, keyword.EntrySize)
	if err != nil {
		t.Fatal(err)
	}
	e.publishSnapshot()
	if err := e.dir.WriteHead(&dataset.Head{FormatVersion: dataset.FormatVersion, ChainID: testChainID, Epoch: e.epoch, BlockNumber: e.block,
		BlockHash: e.hash, SnapshotEpoch: e.epoch, OldestDelta: e.epoch + 1}); err != nil {
		t.Fatal(err)
	}
	e.startCDN()
	e.startPIR()
	return e
}

// publishSnapshot writes the current table as snapshot and manifest, and
// (re)starts the pir-server's database from it.
func (e *testEnv) publishSnapshot() {
	t := e.t
	pad := (uint64(e.params.C)*uint64(e.params.W) - e.kw.TableSize) * keyword.EntrySize
	f, err := e.dir.WriteSnapshot(e.table.Bytes(), pad)
	if err != nil {
		t.Fatal(err)
	}
	man := &dataset.Manifest{FormatVersion: dataset.FormatVersion, ChainID: testChainID, Epoch: e.epoch, BlockNumber: e.block, BlockHash: e.hash,
		N: e.kw.TableSize, W: uint64(e.params.W), C: uint64(e.params.C), EntrySize: keyword.EntrySize,
		Keyword: dataset.KeywordOf(e.kw), Files: []dataset.File{f}}
	if err := e.dir.WriteManifest(man); err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.db = append(bytes.Clone(e.table.Bytes()), make([]byte, pad)...)
	srv, err := plinko.NewServer(e.params, bytes.Clone(e.db))
	if err != nil {
		t.Fatal(err)
	}
	e.server = srv
}

func (e *testEnv) startCDN() {
	srv, err := cdn.New(cdn.Config{Dir: string(e.dir), GzipDir: "-"})
	if err != nil {
		e.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ctx, ln) }()
	// Count snapshot downloads through a tiny proxy-free trick: a second
	// listener would change URLs, so count on the client side instead.
	e.cdnURL = "http://" + ln.Addr().String()
	e.t.Cleanup(func() { cancel(); <-done; srv.Close() })
}

// startPIR serves POST /v1/query with a real plinko.Server.
func (e *testEnv) startPIR() {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != QueryPath {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.onQuery != nil {
			e.onQuery()
		}
		qs, err := plinko.DecodeQueries(e.params, body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		e.queries = append(e.queries, len(qs))
		srv, epoch := e.server, e.epoch
		if e.lagOnce {
			srv, epoch = e.lagging, e.lagEp
			e.lagOnce = false
		}
		as := make([]*plinko.Answer, len(qs))
		for i, q := range qs {
			if as[i], err = srv.Answer(q, epoch); err != nil {
				break
			}
		}
		if errors.Is(err, plinko.ErrQueryAhead) {
			// What pir-server says when its database is behind the hints.
			http.Error(w, err.Error(), http.StatusTooEarly)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out, err := plinko.EncodeAnswers(as)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(out)
	})
	ts := httptest.NewServer(h)
	e.pirURL = ts.URL
	e.t.Cleanup(ts.Close)
}

// advance publishes one epoch: balances of some accounts change, some new
// accounts appear; the delta goes to the CDN and the server applies it.
func (e *testEnv) advance(changes, inserts int, r *rand.Rand) {
	t := e.t
	before := bytes.Clone(e.table.Bytes())
	for i := 0; i < changes; i++ {
		a := &e.accounts[r.IntN(len(e.accounts))]
		a.Balance = randomWei(r)
		tag, _ := e.kw.Locate(a.Address)
		pos, ok := e.table.Find(tag)
		if !ok {
			t.Fatal("account missing from table")
		}
		if err := e.table.SetBalance(pos, &a.Balance); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < inserts; i++ {
		a := randomAccount(r)
		tag, _ := e.kw.Locate(a.Address)
		if _, err := e.table.Insert(tag, &a.Balance); err != nil {
			t.Fatal(err)
		}
		e.accounts = append(e.accounts, a)
	}
	after := e.table.Bytes()
	d := &dataset.Delta{ChainID: testChainID, Epoch: e.epoch + 1, BlockNumber: e.block + 1, ParentHash: e.hash, EntrySize: keyword.EntrySize}
	d.BlockHash[0], d.BlockHash[1] = 2, byte(d.Epoch)
	for i := uint64(0); i < e.kw.TableSize; i++ {
		x := make([]byte, keyword.EntrySize)
		nz := false
		for j := range x {
			x[j] = before[i*keyword.EntrySize+uint64(j)] ^ after[i*keyword.EntrySize+uint64(j)]
			nz = nz || x[j] != 0
		}
		if nz {
			d.Records = append(d.Records, dataset.Record{Index: i, XOR: x})
		}
	}
	if err := e.dir.WriteDelta(d); err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	lag, err := plinko.NewServer(e.params, bytes.Clone(e.db))
	if err != nil {
		t.Fatal(err)
	}
	e.lagging, e.lagEp = lag, e.epoch
	for _, rec := range d.Records {
		if err := e.server.ApplyDelta(rec.Index, rec.XOR); err != nil {
			t.Fatal(err)
		}
		copy(e.db[rec.Index*keyword.EntrySize:], after[rec.Index*keyword.EntrySize:(rec.Index+1)*keyword.EntrySize])
	}
	e.epoch, e.block, e.hash = d.Epoch, d.BlockNumber, d.BlockHash
	e.mu.Unlock()
	oldest := uint64(testStartBlock + 1)
	if h, err := e.dir.ReadHead(); err == nil {
		oldest = h.OldestDelta
	}
	man, err := e.dir.ReadManifest()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.dir.WriteHead(&dataset.Head{FormatVersion: dataset.FormatVersion, ChainID: testChainID, Epoch: e.epoch, BlockNumber: e.block,
		BlockHash: e.hash, SnapshotEpoch: man.Epoch, OldestDelta: oldest}); err != nil {
		t.Fatal(err)
	}
}

// prune publishes a snapshot of the current state and deletes every delta
// up to it, as the updater does.
func (e *testEnv) prune() {
	t := e.t
	e.publishSnapshot()
	epochs, err := e.dir.DeltaEpochs()
	if err != nil {
		t.Fatal(err)
	}
	for _, ep := range epochs {
		if err := os.Remove(e.dir.DeltaPath(ep)); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.dir.WriteHead(&dataset.Head{FormatVersion: dataset.FormatVersion, ChainID: testChainID, Epoch: e.epoch, BlockNumber: e.block,
		BlockHash: e.hash, SnapshotEpoch: e.epoch, OldestDelta: e.epoch + 1}); err != nil {
		t.Fatal(err)
	}
}

// relayout publishes, at the next epoch, a new keyword table for accounts
// random accounts: another table size and seed, so another layout; the
// pir-server switches to it and old deltas are gone.
func (e *testEnv) relayout(accounts int) { e.relayoutAt(accounts, true) }

// relayoutAt with next false replaces the database at the current epoch and
// leaves the deltas published: the case where only the manifest tells.
func (e *testEnv) relayoutAt(accounts int, next bool) {
	t := e.t
	r := rand.New(rand.NewPCG(uint64(accounts), 99))
	e.accounts = e.accounts[:0]
	for i := 0; i < accounts; i++ {
		e.accounts = append(e.accounts, randomAccount(r))
	}
	m, err := keyword.TableSizeFor(uint64(accounts), keyword.DefaultLoad)
	if err != nil {
		t.Fatal(err)
	}
	kw := keyword.Params{TableSize: m}
	kw.Seed[0] = 43
	table, err := keyword.Build(kw, keywordAccounts(e.accounts))
	if err != nil {
		t.Fatal(err)
	}
	params, err := plinko.NewParams(m, keyword.EntrySize)
	if err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	e.kw, e.table, e.params = kw, table, params
	if next {
		e.epoch, e.block = e.epoch+1, e.block+1
		e.hash[0] = 3
	}
	e.mu.Unlock()
	if next {
		e.prune()
		return
	}
	e.publishSnapshot()
}

// countingTransport counts snapshot downloads.
type countingTransport struct {
	snapshots *atomic.Int64
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if bytes.HasPrefix([]byte(r.URL.Path), []byte("/snapshot-")) {
		c.snapshots.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func (e *testEnv) newClient(store Store) *Client {
	return e.newClientWith(Config{Store: store})
}

// newClientWith fills in the env's URLs and a counting HTTP client.
func (e *testEnv) newClientWith(cfg Config) *Client {
	e.t.Helper()
	cfg.CDN, cfg.PIR = e.cdnURL, e.pirURL
	cfg.HTTP = &http.Client{Transport: countingTransport{&e.snapshotGets}}
	c, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// checkLookup looks a up and compares with the env's truth at its epoch.
func (e *testEnv) checkLookup(c *Client, a account, wantFound bool) Result {
	e.t.Helper()
	res, err := c.Lookup(context.Background(), a.Address)
	if err != nil {
		e.t.Fatalf("lookup: %v", err)
	}
	e.mu.Lock()
	ep := e.epoch
	e.mu.Unlock()
	if res.Epoch != ep {
		e.t.Fatalf("answer epoch %d, server at %d", res.Epoch, ep)
	}
	if res.Found != wantFound || (wantFound && !res.Wei.Eq(&a.Balance)) || (!wantFound && !res.Wei.IsZero()) || res.ChainID != testChainID {
		e.t.Fatalf("lookup = found %v, %s wei, chain %d; want found %v, %s wei", res.Found, res.Wei.Dec(), res.ChainID, wantFound, a.Balance.Dec())
	}
	return res
}
