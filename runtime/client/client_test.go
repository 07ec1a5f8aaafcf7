package client

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plinko-pir/plinko/runtime/dataset"
)

const testAccounts = 3000

func unknownAccount(r *rand.Rand) account {
	var a account
	for j := range a.Address {
		a.Address[j] = byte(r.Uint32())
	}
	return a
}

func TestFirstSyncAndLookups(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t, testAccounts)
	c := e.newClient(nil)
	var progressed = map[string]bool{}
	c.cfg.OnProgress = func(p Progress) { progressed[p.Stage] = true }
	if c.Status().Synced {
		t.Fatal("synced before Sync")
	}
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	st := c.Status()
	if !st.Synced || st.Epoch != testStartBlock || st.Block != testStartBlock || st.Entries != e.kw.TableSize || st.QueriesLeft < 3 {
		t.Fatalf("status after sync: %+v", st)
	}
	if !progressed[StageDownload] || !progressed[StageHints] {
		t.Fatalf("progress stages reported: %v", progressed)
	}
	r := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < 5; i++ {
		e.checkLookup(c, e.accounts[r.IntN(len(e.accounts))], true)
	}
	e.checkLookup(c, unknownAccount(r), false)
	for i, n := range e.queries {
		if n != queriesPerRequest {
			t.Fatalf("request %d carried %d queries, want always %d", i, n, queriesPerRequest)
		}
	}
	if left := c.Status().QueriesLeft; left != st.QueriesLeft-6*queriesPerLookup { // checks use no backups
		t.Fatalf("queries left %d after 6 lookups, from %d", left, st.QueriesLeft)
	}
	if got := e.snapshotGets.Load(); got != 1 {
		t.Fatalf("%d snapshot downloads, want 1", got)
	}
}

func TestLookupWithoutSyncSyncs(t *testing.T) {
	e := newTestEnv(t, 500)
	c := e.newClient(nil)
	e.checkLookup(c, e.accounts[3], true)
}

func TestDecoyOnRepeatedLookup(t *testing.T) {
	e := newTestEnv(t, 500)
	c := e.newClient(nil)
	a := e.accounts[7]
	for i := 0; i < 4; i++ {
		e.checkLookup(c, a, true)
	}
	if len(e.queries) != 4 {
		t.Fatalf("%d requests for 4 lookups", len(e.queries))
	}
	for _, n := range e.queries {
		if n != queriesPerRequest {
			t.Fatalf("a repeated lookup sent %d queries, want %d (decoys included)", n, queriesPerRequest)
		}
	}
}

func TestDeltasApplied(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t, testAccounts)
	c := e.newClient(nil)
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(2, 2))
	for i := 0; i < 3; i++ {
		e.advance(40, 5, r)
	}
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if st := c.Status(); st.Epoch != e.epoch || st.Block != e.block || st.BlockHash != [32]byte(e.hash) {
		t.Fatalf("status after deltas: %+v, want epoch %d", st, e.epoch)
	}
	// Changed, unchanged and newly inserted accounts all read correctly.
	for _, a := range e.accounts[len(e.accounts)-15:] {
		e.checkLookup(c, a, true)
	}
	for i := 0; i < 10; i++ {
		e.checkLookup(c, e.accounts[r.IntN(len(e.accounts))], true)
	}
	if e.snapshotGets.Load() != 1 {
		t.Fatal("deltas caused a second snapshot download")
	}
}

func TestAnswerFromLaterEpoch(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t, testAccounts)
	c := e.newClient(nil)
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 3))
	e.advance(200, 10, r)
	e.advance(200, 10, r)
	// No Sync: the answer comes from two epochs ahead; the client must
	// apply the deltas up to exactly that epoch before reconstructing.
	for _, a := range e.accounts[len(e.accounts)-20:] {
		e.checkLookup(c, a, true)
	}
	if st := c.Status(); st.Epoch != e.epoch {
		t.Fatalf("hints at epoch %d after a later answer, want %d", st.Epoch, e.epoch)
	}
}

func TestServerBehindRetriedOnce(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t, testAccounts)
	r := rand.New(rand.NewPCG(4, 4))
	e.advance(100, 0, r)
	c := e.newClient(nil)
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	e.lagOnce = true
	e.mu.Unlock()
	e.checkLookup(c, e.accounts[1], true)
	if len(e.queries) != 2 {
		t.Fatalf("%d requests, want the lagging answer retried once", len(e.queries))
	}
}

func TestCorruptedSnapshotRefused(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t, 500)
	man, err := e.dir.ReadManifest()
	if err != nil {
		t.Fatal(err)
	}
	path := e.dir.Path(man.Snapshot().Name)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x10
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	store := NewDirStore(filepath.Join(t.TempDir(), "state"))
	c := e.newClient(store)
	if err := c.Sync(ctx); !errors.Is(err, ErrSnapshotChecksum) {
		t.Fatalf("sync of a corrupted snapshot: %v", err)
	}
	if c.Status().Synced {
		t.Fatal("hints kept from a corrupted snapshot")
	}
	if saved, _ := store.Load(ctx); saved != nil {
		t.Fatal("state saved from a corrupted snapshot")
	}
	if _, err := c.Lookup(ctx, e.accounts[0].Address); !errors.Is(err, ErrSnapshotChecksum) {
		t.Fatalf("lookup with a corrupted snapshot: %v", err)
	}
	if len(e.queries) != 0 {
		t.Fatal("queries sent without valid hints")
	}
}

func TestTruncatedSnapshotRefused(t *testing.T) {
	e := newTestEnv(t, 500)
	man, err := e.dir.ReadManifest()
	if err != nil {
		t.Fatal(err)
	}
	path := e.dir.Path(man.Snapshot().Name)
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, b[:len(b)-100], 0o644); err != nil {
		t.Fatal(err)
	}
	c := e.newClient(nil)
	if err := c.Sync(context.Background()); !errors.Is(err, ErrSnapshotChecksum) {
		t.Fatalf("sync of a truncated snapshot: %v", err)
	}
	if c.Status().Synced {
		t.Fatal("hints kept from a truncated snapshot")
	}
}

func TestStateAcrossRestarts(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t, testAccounts)
	store := NewDirStore(filepath.Join(t.TempDir(), "state"))
	c1 := e.newClient(store)
	e.checkLookup(c1, e.accounts[5], true)
	left := c1.Status().QueriesLeft

	r := rand.New(rand.NewPCG(5, 5))
	e.advance(50, 3, r)
	c2 := e.newClient(store) // a new process: state comes from disk
	if err := c2.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.snapshotGets.Load(); got != 1 {
		t.Fatalf("restart downloaded the snapshot again (%d downloads)", got)
	}
	if st := c2.Status(); st.QueriesLeft != left || st.Epoch != e.epoch {
		t.Fatalf("restored status %+v, want %d queries left at epoch %d", st, left, e.epoch)
	}
	e.checkLookup(c2, e.accounts[len(e.accounts)-1], true)
	e.checkLookup(c2, e.accounts[5], true)

	// A corrupted state file is dropped and rebuilt, never used.
	raw, _ := os.ReadFile(store.Path())
	raw[len(raw)/3] ^= 1
	os.WriteFile(store.Path(), raw, 0o600)
	c3 := e.newClient(store)
	e.checkLookup(c3, e.accounts[9], true)
	if got := e.snapshotGets.Load(); got != 2 {
		t.Fatalf("corrupt state: %d snapshot downloads, want a rebuild (2)", got)
	}
}

// TestQueryPersistedBeforeSend checks at the server, while the query is in
// flight, that the saved state (state + journal) already has the query's
// hints consumed, and that the journal, not the whole state, carried it.
func TestQueryPersistedBeforeSend(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t, 500)
	store := NewDirStore(filepath.Join(t.TempDir(), "state"))
	c := e.newClient(store)
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	before := e.savedHints(store)
	stateBefore, _ := store.Load(ctx)
	var during []byte
	var duringRecs int
	e.onQuery = func() {
		during = e.savedHints(store)
		recs, _ := store.Journal(ctx)
		duringRecs = len(recs)
	}
	e.checkLookup(c, e.accounts[2], true)
	after := e.savedHints(store)
	if during == nil || bytes.Equal(during, before) {
		t.Fatal("the state saved while the query was in flight is the state from before the query")
	}
	if bytes.Equal(during, after) {
		t.Fatal("state not saved after reconstruction")
	}
	if stateAfter, _ := store.Load(ctx); !bytes.Equal(stateAfter, stateBefore) {
		t.Fatal("a lookup rewrote the whole state; the journal should carry it")
	}
	if recs, _ := store.Journal(ctx); duringRecs != 1 || len(recs) != 2 {
		t.Fatalf("journal records: %d while the query was in flight, %d after; want 1 and 2", duringRecs, len(recs))
	}
	// The saved client goes on working after a restart (journal replayed).
	c2 := e.newClient(store)
	e.checkLookup(c2, e.accounts[3], true)
	if got := e.savedHints(store); bytes.Equal(got, after) {
		t.Fatal("the restarted client's lookup was not saved")
	}
}

// savedHints is what a client restarted from store would hold: the plinko
// state after replaying the journal.
func (e *testEnv) savedHints(store Store) []byte {
	e.t.Helper()
	c := e.newClient(store)
	if err := c.load(context.Background()); err != nil || c.s == nil {
		e.t.Fatalf("loading the saved client: %v", err)
	}
	b, err := c.s.pl.MarshalBinary()
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func TestResyncAfterPruning(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t, testAccounts)
	store := NewDirStore(filepath.Join(t.TempDir(), "state"))
	c := e.newClient(store)
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(6, 6))
	e.advance(30, 2, r)
	e.advance(30, 2, r)
	e.prune() // new snapshot at the head, old deltas gone
	e.advance(30, 2, r)
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.snapshotGets.Load(); got != 2 {
		t.Fatalf("%d snapshot downloads, want a resync (2)", got)
	}
	if st := c.Status(); st.Epoch != e.epoch {
		t.Fatalf("epoch %d after resync, want %d", st.Epoch, e.epoch)
	}
	for _, a := range e.accounts[len(e.accounts)-6:] {
		e.checkLookup(c, a, true)
	}
}

// TestLookupAcrossPruning: hints from before a prune, no Sync: the answer
// comes from an epoch the deltas no longer reach, so the client rebuilds its
// hints and asks again.
func TestLookupAcrossPruning(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t, 800)
	c := e.newClient(nil)
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(8, 8))
	e.advance(20, 2, r)
	e.prune()
	e.advance(20, 2, r)
	e.checkLookup(c, e.accounts[len(e.accounts)-3], true)
	if got := e.snapshotGets.Load(); got != 2 {
		t.Fatalf("%d snapshot downloads, want a rebuild (2)", got)
	}
	if len(e.queries) != 2 {
		t.Fatalf("%d requests, want the query asked again after the rebuild", len(e.queries))
	}
}

// TestLookupAfterLayoutChange: the operator rebuilt the database with a
// bigger table; the pir-server refuses queries from the old layout, and the
// client rebuilds its hints for the new one and asks again.
func TestLookupAfterLayoutChange(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t, 500)
	c := e.newClient(nil)
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	oldC := e.params.C
	e.relayout(4000)
	if e.params.C == oldC {
		t.Fatal("relayout kept the block count; the test needs another layout")
	}
	e.checkLookup(c, e.accounts[10], true)
	if got := e.snapshotGets.Load(); got != 2 {
		t.Fatalf("%d snapshot downloads, want a rebuild (2)", got)
	}
	if st := c.Status(); st.Entries != e.kw.TableSize {
		t.Fatalf("hints for %d entries, want %d", st.Entries, e.kw.TableSize)
	}
}

// TestLayoutChangeBehindDeltas: a database rebuilt (new seed, same size and
// so the same query format) at an epoch the old deltas still reach. Only the
// manifest tells; applying the deltas and reconstructing would read garbage.
func TestLayoutChangeBehindDeltas(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t, 500)
	c := e.newClient(nil)
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	e.advance(10, 0, rand.New(rand.NewPCG(1, 9)))
	oldParams := e.params
	e.relayoutAt(500, false)
	if e.params != oldParams {
		t.Fatal("the test needs the same query format")
	}
	for _, a := range e.accounts[:5] {
		e.checkLookup(c, a, true)
	}
	if got := e.snapshotGets.Load(); got != 2 {
		t.Fatalf("%d snapshot downloads, want a rebuild (2)", got)
	}
}

func TestIncompatibleManifestRefused(t *testing.T) {
	e := newTestEnv(t, 500)
	man, err := e.dir.ReadManifest()
	if err != nil {
		t.Fatal(err)
	}
	man.W, man.C = man.W*2, man.C/2 // a layout this client would not choose
	if man.C == 0 {
		t.Skip("database too small to change its layout")
	}
	if err := e.dir.WriteManifest(man); err != nil {
		t.Fatal(err)
	}
	c := e.newClient(nil)
	if err := c.Sync(context.Background()); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("sync with another layout: %v", err)
	}
}

// TestOtherChainRefused: a client pinned to a chain (by Config.ChainID, by
// the first manifest it saw, or by its saved state after a restart) refuses
// a manifest, head or delta of another chain with ErrWrongChain, downloads
// no snapshot for it and keeps its hints.
func TestOtherChainRefused(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t, 500)

	// Configured: nothing of the deployment's chain is used.
	c := e.newClientWith(Config{ChainID: 1})
	if err := c.Sync(ctx); !errors.Is(err, ErrWrongChain) || !strings.Contains(err.Error(), "chain 31337") || !strings.Contains(err.Error(), "chain 1") {
		t.Fatalf("client of chain 1, deployment of %d: %v", testChainID, err)
	}
	if _, err := c.Lookup(ctx, e.accounts[0].Address); !errors.Is(err, ErrWrongChain) {
		t.Fatalf("lookup: %v", err)
	}
	if got := e.snapshotGets.Load(); got != 0 {
		t.Fatalf("%d snapshots downloaded for another chain", got)
	}

	// A delta of another chain (head still of the right one).
	store := NewDirStore(filepath.Join(t.TempDir(), "state"))
	c1 := e.newClient(store)
	e.checkLookup(c1, e.accounts[1], true)
	if st := c1.Status(); st.ChainID != testChainID {
		t.Fatalf("status chain %d", st.ChainID)
	}
	e.advance(10, 0, rand.New(rand.NewPCG(8, 8)))
	d, err := e.dir.ReadDelta(e.epoch)
	if err != nil {
		t.Fatal(err)
	}
	good := *d
	d.ChainID = 5
	if err := e.dir.WriteDelta(d); err != nil {
		t.Fatal(err)
	}
	if err := c1.Sync(ctx); !errors.Is(err, ErrWrongChain) {
		t.Fatalf("delta of chain 5: %v", err)
	}
	if err := e.dir.WriteDelta(&good); err != nil {
		t.Fatal(err)
	}
	e.checkLookup(c1, e.accounts[2], true)

	// The deployment switches chains: the running client and a restarted
	// one (pinned by its saved state) refuse it.
	man, err := e.dir.ReadManifest()
	if err != nil {
		t.Fatal(err)
	}
	man.ChainID = 5
	head, err := e.dir.ReadHead()
	if err != nil {
		t.Fatal(err)
	}
	head.ChainID = 5
	if err := e.dir.WriteManifest(man); err != nil {
		t.Fatal(err)
	}
	if err := e.dir.WriteHead(head); err != nil {
		t.Fatal(err)
	}
	before := e.snapshotGets.Load()
	if err := c1.Sync(ctx); !errors.Is(err, ErrWrongChain) {
		t.Fatalf("running client, manifest of chain 5: %v", err)
	}
	c2 := e.newClient(store)
	if err := c2.Sync(ctx); !errors.Is(err, ErrWrongChain) {
		t.Fatalf("restarted client, manifest of chain 5: %v", err)
	}
	if st := c2.Status(); !st.Synced || st.ChainID != testChainID {
		t.Fatalf("restarted client lost its hints: %+v", st)
	}
	if got := e.snapshotGets.Load(); got != before {
		t.Fatalf("snapshot of another chain downloaded")
	}
	// A client given the saved state but configured for another chain
	// refuses the state too.
	c3 := e.newClientWith(Config{Store: store, ChainID: 5})
	if err := c3.Sync(ctx); !errors.Is(err, ErrWrongChain) || !strings.Contains(err.Error(), "saved state") {
		t.Fatalf("state of chain %d, configured 5: %v", testChainID, err)
	}
}

func TestRefreshWhenQueriesRunOut(t *testing.T) {
	e := newTestEnv(t, 500)
	c := e.newClientWith(Config{Backups: 7})
	for i := 0; i < 5; i++ { // 15 queries on a budget of 7: two refreshes
		e.checkLookup(c, e.accounts[i], true)
	}
	if got := e.snapshotGets.Load(); got != 3 {
		t.Fatalf("%d snapshot downloads for 15 queries with 7 per set of hints, want 3", got)
	}
	if left := c.Status().QueriesLeft; left != 7-3 {
		t.Fatalf("queries left %d, want 4", left)
	}
}

func TestNewNeedsURLs(t *testing.T) {
	if _, err := New(Config{PIR: "http://x"}); err == nil {
		t.Fatal("missing CDN accepted")
	}
	if _, err := New(Config{CDN: "http://x"}); err == nil {
		t.Fatal("missing PIR accepted")
	}
}

var _ = dataset.ManifestName

// readerStream is a cipher.Stream that also reads out its keystream, like
// the wallet's WebCrypto stream.
type readerStream struct{ cipher.Stream }

func (r readerStream) Read(p []byte) (int, error) {
	clear(p)
	r.XORKeyStream(p, p)
	return len(p), nil
}

// TestKeystreamOption: hints built with a caller's AES-CTR keystream (both
// ways the adapter takes it) answer lookups, also after a restart.
func TestKeystreamOption(t *testing.T) {
	e := newTestEnv(t, 500)
	calls := 0
	for _, asReader := range []bool{false, true} {
		ks := func(key, iv []byte) (cipher.Stream, error) {
			calls++
			b, err := aes.NewCipher(key)
			if err != nil {
				return nil, err
			}
			s := cipher.NewCTR(b, iv)
			if asReader {
				return readerStream{s}, nil
			}
			return s, nil
		}
		store := &MemStore{}
		c := e.newClientWith(Config{Store: store, Keystream: ks})
		e.checkLookup(c, e.accounts[1], true)
		c2 := e.newClientWith(Config{Store: store, Keystream: ks})
		e.checkLookup(c2, e.accounts[2], true)
	}
	if calls == 0 {
		t.Fatal("the keystream was never used")
	}
}

// TestNotFoundSaysItOnce: a 404 reads "<url>: 404 Not Found", not the
// status followed by the sentinels' words again, and still matches them.
func TestNotFoundSaysItOnce(t *testing.T) {
	resp := &http.Response{StatusCode: http.StatusNotFound, Status: "404 Not Found", Body: io.NopCloser(strings.NewReader("not found\n"))}
	err := statusError("http://127.0.0.1:1/manifest.json", resp)
	if got, want := err.Error(), "http://127.0.0.1:1/manifest.json: 404 Not Found"; got != want {
		t.Fatalf("error text %q, want %q", got, want)
	}
	if !errors.Is(err, ErrServer) || !errors.Is(err, errNotFound) {
		t.Fatalf("404 error lost its sentinels: %v", err)
	}
}

// TestStalledServer: a server that accepts the connection and never
// answers costs StallTimeout twice (one retry), then an error naming its
// URL, instead of hanging; one that sends slowly but steadily is waited
// for however long the whole transfer takes (an idle timeout, not a total
// one).
func TestStalledServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	var conns []net.Conn
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // accepted, never answered
			mu.Unlock()
		}
	}()
	url := "http://" + ln.Addr().String()
	c, err := New(Config{CDN: url, PIR: url, StallTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = c.Sync(context.Background())
	if !errors.Is(err, errStalled) || !strings.Contains(err.Error(), url) || time.Since(start) > 3*time.Second {
		t.Fatalf("sync against a silent server: %v after %v", err, time.Since(start))
	}

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 10; i++ { // 1 s in all, never 200 ms without a byte
			w.Write([]byte("x"))
			w.(http.Flusher).Flush()
			time.Sleep(100 * time.Millisecond)
		}
	}))
	defer slow.Close()
	c2, _ := New(Config{CDN: slow.URL, PIR: slow.URL, StallTimeout: 300 * time.Millisecond})
	b, err := c2.getBytes(context.Background(), slow.URL+"/slow", 100)
	if err != nil || string(b) != "xxxxxxxxxx" {
		t.Fatalf("slow but steady transfer: %q, %v", b, err)
	}
}
