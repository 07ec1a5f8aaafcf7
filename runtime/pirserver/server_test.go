package pirserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plinko-pir/plinko/runtime/cdn"
	"github.com/plinko-pir/plinko/runtime/dataset"
	"github.com/plinko-pir/plinko/runtime/keyword"
	"github.com/plinko-pir/plinko/runtime/plinko"
)

// published is a dataset directory the test writes like the pipeline does
// (snapshot.Write, then deltas and head.json), with the expected database
// at every epoch.
type published struct {
	t      testing.TB
	dir    dataset.Dir
	man    *dataset.Manifest
	params plinko.Params
	rng    *mrand.Rand

	mu     sync.Mutex
	epoch  uint64
	dbs    map[uint64][]byte // padded database by epoch
	deltas map[uint64]*dataset.Delta
}

const firstEpoch = 100

func publish(t testing.TB, accounts int) *published {
	t.Helper()
	rng := mrand.New(mrand.NewPCG(uint64(accounts), 1))
	accs := make([]keyword.Account, accounts)
	for i := range accs {
		for j := range accs[i].Key {
			accs[i].Key[j] = byte(rng.Uint32())
		}
		accs[i].Balance.SetUint64(rng.Uint64N(1e12) + 1)
	}
	size, err := keyword.TableSizeFor(uint64(accounts), keyword.DefaultLoad)
	if err != nil {
		t.Fatal(err)
	}
	kp := keyword.Params{TableSize: size}
	kp.Seed[0] = 7
	table, err := keyword.Build(kp, accs)
	if err != nil {
		t.Fatal(err)
	}
	p := &published{t: t, dir: dataset.Dir(t.TempDir()), rng: rng, epoch: firstEpoch,
		dbs: map[uint64][]byte{}, deltas: map[uint64]*dataset.Delta{}}
	var hash dataset.Hash
	hash[0] = 1
	p.man = p.writeSnapshot(firstEpoch, hash, kp, table.Bytes())
	p.writeHead(firstEpoch + 1)
	var err2 error
	if p.params, err2 = plinko.NewParams(p.man.N, int(p.man.EntrySize)); err2 != nil {
		t.Fatal(err2)
	}
	if p.dbs[firstEpoch], err = p.dir.ReadSnapshot(p.man); err != nil {
		t.Fatal(err)
	}
	return p
}

// advance publishes the delta of one epoch changing k random entries.
func (p *published) advance(k int) *dataset.Delta {
	p.mu.Lock()
	defer p.mu.Unlock()
	prev := p.dbs[p.epoch]
	next := bytes.Clone(prev)
	d := &dataset.Delta{ChainID: 1337, Epoch: p.epoch + 1, BlockNumber: p.epoch + 1, EntrySize: int(p.man.EntrySize)}
	d.BlockHash[0], d.BlockHash[1] = 2, byte(d.Epoch)
	seen := map[uint64]bool{}
	for len(d.Records) < k {
		i := p.rng.Uint64N(p.man.N)
		if seen[i] {
			continue
		}
		seen[i] = true
		x := make([]byte, d.EntrySize)
		rand.Read(x)
		d.Records = append(d.Records, dataset.Record{Index: i, XOR: x})
	}
	sortRecords(d.Records)
	if err := d.Apply(next); err != nil {
		p.t.Fatal(err)
	}
	if err := p.dir.WriteDelta(d); err != nil {
		p.t.Fatal(err)
	}
	p.epoch++
	p.dbs[p.epoch] = next
	p.deltas[p.epoch] = d
	p.writeHead(firstEpoch + 1)
	return d
}

// writeSnapshot publishes entries as the snapshot and manifest of epoch,
// laid out as plinko.NewParams says (what hint-gen does).
func (p *published) writeSnapshot(epoch uint64, hash dataset.Hash, kp keyword.Params, entries []byte) *dataset.Manifest {
	params, err := plinko.NewParams(kp.TableSize, keyword.EntrySize)
	if err != nil {
		p.t.Fatal(err)
	}
	f, err := p.dir.WriteSnapshot(entries, uint64(params.DBSize()-len(entries)))
	if err != nil {
		p.t.Fatal(err)
	}
	m := &dataset.Manifest{FormatVersion: dataset.FormatVersion, ChainID: 1337, Epoch: epoch, BlockNumber: epoch, BlockHash: hash,
		N: kp.TableSize, W: uint64(params.W), C: uint64(params.C), EntrySize: keyword.EntrySize,
		Keyword: dataset.KeywordOf(kp), Files: []dataset.File{f}}
	if err := p.dir.WriteManifest(m); err != nil {
		p.t.Fatal(err)
	}
	return m
}

func (p *published) writeHead(oldest uint64) {
	h := &dataset.Head{FormatVersion: dataset.FormatVersion, ChainID: 1337, Epoch: p.epoch, BlockNumber: p.epoch,
		SnapshotEpoch: p.man.Epoch, OldestDelta: oldest}
	h.BlockHash[0], h.BlockHash[1] = 2, byte(p.epoch)
	if err := p.dir.WriteHead(h); err != nil {
		p.t.Fatal(err)
	}
}

func sortRecords(r []dataset.Record) {
	for i := 1; i < len(r); i++ {
		for j := i; j > 0 && r[j].Index < r[j-1].Index; j-- {
			r[j], r[j-1] = r[j-1], r[j]
		}
	}
}

func (p *published) entry(epoch, i uint64) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	es := p.man.EntrySize
	return p.dbs[epoch][i*es : (i+1)*es]
}

// startServer serves the source on 127.0.0.1:0.
func startServer(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	if cfg.Poll == 0 {
		cfg.Poll = 10 * time.Millisecond
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return s, "http://" + ln.Addr().String()
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitEpoch(t testing.TB, s *Server, epoch uint64) {
	waitFor(t, fmt.Sprintf("epoch %d", epoch), func() bool {
		e, ok := s.Current()
		return ok && e.Epoch >= epoch
	})
}

// testClient is a real Plinko client whose hints follow the published deltas.
type testClient struct {
	t     testing.TB
	pub   *published
	cl    *plinko.Client
	epoch uint64
}

func newTestClient(t testing.TB, pub *published) *testClient {
	t.Helper()
	cl, err := plinko.NewClient(pub.params, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub.mu.Lock()
	snap := pub.dbs[firstEpoch]
	pub.mu.Unlock()
	if err := cl.HintInit(bytes.NewReader(snap), nil); err != nil {
		t.Fatal(err)
	}
	cl.SetEpoch(firstEpoch)
	return &testClient{t: t, pub: pub, cl: cl, epoch: firstEpoch}
}

// refresh rebuilds the hints from the first snapshot (what a real client
// does when its backups run out); catchUp brings them forward again.
func (c *testClient) refresh() {
	c.pub.mu.Lock()
	snap := c.pub.dbs[firstEpoch]
	c.pub.mu.Unlock()
	if err := c.cl.HintInit(bytes.NewReader(snap), nil); err != nil {
		c.t.Fatal(err)
	}
	c.epoch = firstEpoch
	c.cl.SetEpoch(firstEpoch)
	c.t.Logf("backups used up: hints rebuilt")
}

func (c *testClient) catchUp(to uint64) {
	for c.epoch < to {
		c.pub.mu.Lock()
		d := c.pub.deltas[c.epoch+1]
		c.pub.mu.Unlock()
		for _, r := range d.Records {
			if err := c.cl.ApplyDelta(r.Index, r.XOR); err != nil {
				c.t.Fatal(err)
			}
		}
		c.epoch++
		c.cl.SetEpoch(c.epoch)
	}
}

// lookup privately reads the entries at idx and returns them with the
// answer's epoch, bringing the hints to that epoch first.
func (c *testClient) lookup(url string, idx ...uint64) ([][]byte, uint64, error) {
	if c.cl.QueriesLeft() < len(idx) {
		c.refresh() // a fast loop can use up every backup hint
	}
	qs := make([]*plinko.Query, len(idx))
	for i, x := range idx {
		q, err := c.cl.Query(x)
		if err != nil {
			return nil, 0, err
		}
		qs[i] = q
	}
	body, err := plinko.EncodeQueries(qs)
	if err != nil {
		return nil, 0, err
	}
	resp, err := testHTTP.Post(url+QueryPath, "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, 0, fmt.Errorf("status %d: %s", resp.StatusCode, raw)
	}
	as, err := plinko.DecodeAnswers(c.pub.params, raw)
	if err != nil {
		return nil, 0, err
	}
	epoch := as[0].Epoch
	for _, a := range as {
		if a.Epoch != epoch {
			return nil, 0, fmt.Errorf("one batch answered at epochs %d and %d", epoch, a.Epoch)
		}
	}
	if resp.Header.Get(EpochHeader) != fmt.Sprint(epoch) {
		return nil, 0, fmt.Errorf("header epoch %q, answer epoch %d", resp.Header.Get(EpochHeader), epoch)
	}
	c.catchUp(epoch)
	out := make([][]byte, len(qs))
	for i := range qs {
		if out[i], err = c.cl.Reconstruct(qs[i], as[i]); err != nil {
			return nil, 0, err
		}
	}
	return out, epoch, nil
}

func (c *testClient) check(url string, idx ...uint64) uint64 {
	c.t.Helper()
	got, epoch, err := c.lookup(url, idx...)
	if err != nil {
		c.t.Fatal(err)
	}
	for i, x := range idx {
		if want := c.pub.entry(epoch, x); !bytes.Equal(got[i], want) {
			c.t.Fatalf("entry %d at epoch %d: got %x, want %x", x, epoch, got[i], want)
		}
	}
	return epoch
}

func httpDo(t testing.TB, method, url string, body []byte) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	resp, err := testHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestAnswersFollowDeltas(t *testing.T) {
	pub := publish(t, 3000)
	s, url := startServer(t, Config{Source: string(pub.dir)})
	waitEpoch(t, s, firstEpoch)
	c := newTestClient(t, pub)
	for i := 0; i < 5; i++ {
		if e := c.check(url, pub.rng.Uint64N(pub.man.N), pub.rng.Uint64N(pub.man.N), 0); e != firstEpoch {
			t.Fatalf("epoch %d", e)
		}
	}
	for k := 0; k < 3; k++ {
		d := pub.advance(50)
		waitEpoch(t, s, d.Epoch)
		// Read exactly the changed entries: stale data would show.
		if e := c.check(url, d.Records[0].Index, d.Records[1].Index, d.Records[2].Index); e != d.Epoch {
			t.Fatalf("answered at %d, want %d", e, d.Epoch)
		}
	}
	code, body, _ := httpDo(t, "GET", url+EpochPath, nil)
	if code != 200 || !strings.Contains(body, fmt.Sprintf(`"epoch":%d`, pub.epoch)) {
		t.Errorf("epoch endpoint: %d %s", code, body)
	}
	if code, body, _ := httpDo(t, "GET", url+"/readyz", nil); code != 200 {
		t.Errorf("readyz %d %s", code, body)
	}
	_, metrics, _ := httpDo(t, "GET", url+"/metrics", nil)
	for _, want := range []string{"plinko_pir_queries_total 24", fmt.Sprintf("plinko_pir_epoch %d", pub.epoch),
		"plinko_pir_deltas_applied_total 3", "plinko_pir_query_duration_seconds_count 8"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// Every answer is computed on exactly one epoch, even while deltas land as
// fast as the follower can apply them.
func TestAnswersAtomicUnderDeltas(t *testing.T) {
	pub := publish(t, 3000)
	s, url := startServer(t, Config{Source: string(pub.dir), Poll: time.Millisecond})
	waitEpoch(t, s, firstEpoch)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(15 * time.Millisecond):
			}
			pub.advance(100)
		}
	}()
	c := newTestClient(t, pub)
	epochs := map[uint64]bool{}
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; len(epochs) < 8 && time.Now().Before(deadline); i++ {
		// Hot indices: the ones the newest delta changed.
		pub.mu.Lock()
		d := pub.deltas[pub.epoch]
		pub.mu.Unlock()
		idx := []uint64{uint64(i), 1, 2}
		if d != nil {
			idx = []uint64{d.Records[0].Index, d.Records[1].Index, d.Records[len(d.Records)-1].Index}
		}
		epochs[c.check(url, idx...)] = true
	}
	close(stop)
	wg.Wait()
	if len(epochs) < 5 {
		t.Errorf("lookups saw only %d epochs; the test did not overlap deltas", len(epochs))
	}
}

func TestQueryFromTheFuture(t *testing.T) {
	pub := publish(t, 1000)
	s, url := startServer(t, Config{Source: string(pub.dir), AheadWait: 100 * time.Millisecond})
	waitEpoch(t, s, firstEpoch)
	ahead := newTestClient(t, pub)
	d := pub.advance(5)
	waitEpoch(t, s, d.Epoch)
	ahead.catchUp(d.Epoch) // the hints are at the new epoch ...
	// ... and the server is pointed back at an older state: a fresh server
	// on a directory without that delta.
	old := publish(t, 1000)
	s2, url2 := startServer(t, Config{Source: string(old.dir), AheadWait: 100 * time.Millisecond})
	waitEpoch(t, s2, firstEpoch)
	q, err := ahead.cl.Query(3)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := plinko.EncodeQueries([]*plinko.Query{q})
	code, msg, hdr := httpDo(t, "POST", url2+QueryPath, body)
	if code != http.StatusTooEarly || !strings.Contains(msg, "ahead of the served epoch 100") || hdr.Get("Retry-After") == "" {
		t.Errorf("query from the future: %d %q", code, msg)
	}
	// The right server answers it.
	if code, msg, _ := httpDo(t, "POST", url+QueryPath, body); code != 200 {
		t.Errorf("in-sync server: %d %s", code, msg)
	}
	_ = s
}

func TestQueryWaitsForTheNextEpoch(t *testing.T) {
	pub := publish(t, 1000)
	// Slow polling: the server learns about the delta only after a while.
	s, url := startServer(t, Config{Source: string(pub.dir), Poll: 300 * time.Millisecond, AheadWait: 3 * time.Second})
	waitEpoch(t, s, firstEpoch)
	c := newTestClient(t, pub)
	d := pub.advance(5)
	c.catchUp(d.Epoch)
	if e := c.check(url, d.Records[0].Index); e != d.Epoch {
		t.Errorf("answered at %d, want %d", e, d.Epoch)
	}
}

func TestRefusals(t *testing.T) {
	pub := publish(t, 1000)
	s, url := startServer(t, Config{Source: string(pub.dir), MaxBodyBytes: 64 << 10})
	waitEpoch(t, s, firstEpoch)
	c := newTestClient(t, pub)
	q, _ := c.cl.Query(1)
	good, _ := plinko.EncodeQueries([]*plinko.Query{q})
	cases := []struct {
		method, path string
		body         []byte
		code         int
		msg          string
	}{
		{"POST", QueryPath, nil, 400, "empty body"},
		{"POST", QueryPath, []byte("hello"), 400, "malformed query batch"},
		{"POST", QueryPath, good[:len(good)-1], 400, "malformed query batch"},
		{"POST", QueryPath, append(bytes.Clone(good), 0), 400, "malformed query batch"},
		{"GET", QueryPath, nil, 405, "POST"},
		{"PUT", "/healthz", nil, 405, "GET"},
		{"GET", "/v1/index?i=3", nil, 404, "not found"},
		{"GET", "/../etc/passwd", nil, 404, "not found"},
	}
	for _, c := range cases {
		code, msg, hdr := httpDo(t, c.method, url+c.path, c.body)
		if code != c.code || !strings.Contains(msg, c.msg) {
			t.Errorf("%s %s (%d bytes): %d %q, want %d %q", c.method, c.path, len(c.body), code, msg, c.code, c.msg)
		}
		if hdr.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s %s: no CORS header", c.method, c.path)
		}
	}
	// Oversized: the server answers 413 as soon as it has the headers and
	// closes, so the client may not get to write the body (raw connection).
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", QueryPath, 65<<10)
	conn.Write(make([]byte, 65<<10))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	conn.Close()
	if resp.StatusCode != 413 || !strings.Contains(string(msg), "larger than 65536 bytes") || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("oversized body: %d %q", resp.StatusCode, msg)
	}
	code, _, hdr := httpDo(t, "OPTIONS", url+QueryPath, nil)
	if code != 204 || !strings.Contains(hdr.Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("preflight %d %v", code, hdr)
	}
	_, metrics, _ := httpDo(t, "GET", url+"/metrics", nil)
	if !strings.Contains(metrics, `plinko_pir_errors_total{reason="malformed"} 4`) ||
		!strings.Contains(metrics, `plinko_pir_errors_total{reason="too_large"} 1`) {
		t.Errorf("error metrics wrong:\n%s", grep(metrics, "errors_total"))
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestNotReadyUntilPublished(t *testing.T) {
	dir := t.TempDir()
	s, url := startServer(t, Config{Source: dir})
	if code, _, _ := httpDo(t, "GET", url+"/healthz", nil); code != 200 {
		t.Errorf("healthz %d", code)
	}
	if code, _, _ := httpDo(t, "GET", url+"/readyz", nil); code != 503 {
		t.Errorf("readyz before the snapshot: %d", code)
	}
	if code, msg, _ := httpDo(t, "POST", url+QueryPath, []byte{1, 1, 0}); code != 503 || !strings.Contains(msg, "no snapshot") {
		t.Errorf("query before the snapshot: %d %q", code, msg)
	}
	_ = s
}

// A corrupt delta is refused whole: the epoch stays, /readyz turns 503 after
// ReadyLag, and the good file (rewritten atomically) is applied.
func TestCorruptDeltaRefused(t *testing.T) {
	pub := publish(t, 1000)
	s, url := startServer(t, Config{Source: string(pub.dir), ReadyLag: 50 * time.Millisecond})
	waitEpoch(t, s, firstEpoch)
	d := pub.advance(20)
	good, _ := d.MarshalBinary()
	bad := bytes.Clone(good)
	bad[len(bad)/2] ^= 1
	// Overwrite with the corrupt version (the server may have applied the
	// good one already in a race; start over on a fresh server then).
	if err := dataset.WriteFile(pub.dir.DeltaPath(d.Epoch), bad); err != nil {
		t.Fatal(err)
	}
	s2, url2 := startServer(t, Config{Source: string(pub.dir), ReadyLag: 50 * time.Millisecond})
	waitEpoch(t, s2, firstEpoch)
	time.Sleep(200 * time.Millisecond)
	if e, _ := s2.Current(); e.Epoch != firstEpoch {
		t.Fatalf("corrupt delta applied: epoch %d", e.Epoch)
	}
	if code, msg, _ := httpDo(t, "GET", url2+"/readyz", nil); code != 503 || !strings.Contains(msg, "newest published 101") {
		t.Errorf("readyz while stuck: %d %q", code, msg)
	}
	// A well-formed delta of another chain is refused the same way.
	other := *d
	other.ChainID = 5
	if err := pub.dir.WriteDelta(&other); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if e, _ := s2.Current(); e.Epoch != firstEpoch {
		t.Fatalf("delta of chain 5 applied to chain 1337: epoch %d", e.Epoch)
	}
	// Still answers, correctly, at the old epoch.
	c := newTestClient(t, pub)
	if e := c.check(url2, d.Records[0].Index); e != firstEpoch {
		t.Errorf("answered at %d", e)
	}
	if err := dataset.WriteFile(pub.dir.DeltaPath(d.Epoch), good); err != nil {
		t.Fatal(err)
	}
	waitEpoch(t, s2, d.Epoch)
	if code, _, _ := httpDo(t, "GET", url2+"/readyz", nil); code != 200 {
		t.Errorf("readyz after repair: %d", code)
	}
	_, metrics, _ := httpDo(t, "GET", url2+"/metrics", nil)
	if strings.Contains(metrics, "plinko_pir_delta_errors_total 0") {
		t.Error("delta error not counted")
	}
	_, _ = s, url
}

// A newer snapshot whose deltas do not reach back to the served epoch is
// loaded; a stale or corrupt snapshot never is.
func TestSnapshotReload(t *testing.T) {
	pub := publish(t, 1000)
	// Slow polling: the pipeline moves on between two looks.
	s, url := startServer(t, Config{Source: string(pub.dir), Poll: 2 * time.Second})
	waitEpoch(t, s, firstEpoch)
	// Epochs 101..103, a snapshot at 103, one more delta, and the deltas
	// before the snapshot pruned: only a reload can reach 104.
	for i := 0; i < 3; i++ {
		pub.advance(10)
	}
	var hash dataset.Hash
	hash[0], hash[1] = 2, byte(pub.epoch)
	pub.man = pub.writeSnapshot(pub.epoch, hash, mustKeyword(t, pub.man), pub.dbs[pub.epoch][:pub.man.N*pub.man.EntrySize])
	d := pub.advance(10)
	pub.writeHead(d.Epoch)
	for e := uint64(firstEpoch + 1); e < d.Epoch; e++ {
		os.Remove(pub.dir.DeltaPath(e))
	}
	if e, _ := s.Current(); e.Epoch != firstEpoch {
		t.Skip("the server looked in between; nothing to reload")
	}
	waitEpoch(t, s, d.Epoch)
	c := newTestClient(t, pub)
	c.catchUp(d.Epoch)
	if e := c.check(url, d.Records[0].Index, d.Records[1].Index); e != d.Epoch {
		t.Errorf("answered at %d", e)
	}
	_, metrics, _ := httpDo(t, "GET", url+"/metrics", nil)
	if !strings.Contains(metrics, "plinko_pir_snapshot_loads_total 2") {
		t.Errorf("no reload:\n%s", grep(metrics, "snapshot_loads"))
	}
}

func mustKeyword(t testing.TB, m *dataset.Manifest) keyword.Params {
	p, err := m.Keyword.Params()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The pir-server follows a CDN (the real cdn package) instead of a directory.
func TestFollowsCDN(t *testing.T) {
	pub := publish(t, 1000)
	cs, err := cdn.New(cdn.Config{Dir: string(pub.dir), GzipDir: "-"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); cs.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done; cs.Close() })

	s, url := startServer(t, Config{Source: "http://" + ln.Addr().String() + "/manifest.json", Poll: 20 * time.Millisecond})
	waitEpoch(t, s, firstEpoch)
	d := pub.advance(30)
	waitEpoch(t, s, d.Epoch)
	c := newTestClient(t, pub)
	if e := c.check(url, d.Records[0].Index, d.Records[5].Index); e != d.Epoch {
		t.Errorf("answered at %d", e)
	}
}

// testHTTP bounds every request, so a stuck server fails a test instead of
// hanging it.
var testHTTP = &http.Client{Timeout: 30 * time.Second}

// TestAheadWaitersBounded: queries claiming a future epoch wait for it only
// while a waiting slot is free; past MaxAheadWaiters they get 425 at once,
// so nobody can hold the server's connections with made-up epochs.
func TestAheadWaitersBounded(t *testing.T) {
	pub := publish(t, 1000)
	old := newTestClient(t, pub)
	d := pub.advance(5) // the client's hints move on; the server serves a copy without that delta
	old.catchUp(d.Epoch)
	back := publish(t, 1000)
	s2, url2 := startServer(t, Config{Source: string(back.dir), AheadWait: 2 * time.Second, MaxAheadWaiters: 1})
	waitEpoch(t, s2, firstEpoch)
	q1, _ := old.cl.Query(3)
	q2, _ := old.cl.Query(4)
	b1, _ := plinko.EncodeQueries([]*plinko.Query{q1})
	b2, _ := plinko.EncodeQueries([]*plinko.Query{q2})
	first := make(chan int)
	go func() { code, _, _ := httpDo(t, "POST", url2+QueryPath, b1); first <- code }()
	time.Sleep(300 * time.Millisecond) // the first now holds the one slot
	start := time.Now()
	code, msg, _ := httpDo(t, "POST", url2+QueryPath, b2)
	if code != http.StatusTooEarly || time.Since(start) > time.Second {
		t.Fatalf("second ahead query: %d %q after %v, want 425 at once", code, msg, time.Since(start))
	}
	if code := <-first; code != http.StatusTooEarly {
		t.Fatalf("first ahead query: %d, want 425 after waiting", code)
	}
}
