package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/plinko-pir/plinko/runtime/client/clienttest"
	"github.com/plinko-pir/plinko/runtime/keyword"
	"github.com/plinko-pir/plinko/runtime/plinko"
)

// recordingProxy stands in front of the real pir-server: it keeps every
// request's queries as the server saw them, and can alter answers or fail a
// request after the server has seen it (an answer lost on the way back).
type recordingProxy struct {
	url    string
	params func() plinko.Params

	mu       sync.Mutex
	requests [][]*plinko.Query
	alter    func(n int, as []*plinko.Answer) // n: the request's number, from 0
	drop     func(n int) bool                 // answer 503 instead
}

// proxiedClient starts a deployment of accounts funded accounts and a
// client whose pir-server is behind a recording proxy.
func proxiedClient(t *testing.T, accounts int) (*clienttest.Deployment, *recordingProxy, *Client) {
	t.Helper()
	d := clienttest.Start(t, clienttest.Options{Accounts: accounts})
	px := newRecordingProxy(t, d)
	c, err := New(Config{CDN: d.CDN, PIR: px.url})
	if err != nil {
		t.Fatal(err)
	}
	return d, px, c
}

func newRecordingProxy(t *testing.T, d *clienttest.Deployment) *recordingProxy {
	t.Helper()
	target, err := url.Parse(d.PIR)
	if err != nil {
		t.Fatal(err)
	}
	p := &recordingProxy{params: paramsOf(t, d)}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(r *http.Response) error {
		if r.Request.URL.Path != QueryPath || r.StatusCode != http.StatusOK {
			return nil
		}
		n := r.Request.Context().Value(requestNumber{}).(int)
		p.mu.Lock()
		alter, drop := p.alter, p.drop
		p.mu.Unlock()
		if drop != nil && drop(n) {
			r.Body.Close()
			r.StatusCode, r.Status = http.StatusServiceUnavailable, "503 Service Unavailable"
			r.Body = io.NopCloser(strings.NewReader("dropped by the test proxy"))
			r.Header.Del("Content-Length")
			r.ContentLength = -1
			return nil
		}
		if alter == nil {
			return nil
		}
		raw, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return err
		}
		as, err := plinko.DecodeAnswers(p.params(), raw)
		if err != nil {
			return err
		}
		alter(n, as)
		out, err := plinko.EncodeAnswers(as)
		if err != nil {
			return err
		}
		r.Body = io.NopCloser(bytes.NewReader(out))
		r.ContentLength = int64(len(out))
		r.Header.Del("Content-Length")
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == QueryPath {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			qs, err := plinko.DecodeQueries(p.params(), body)
			if err != nil {
				t.Errorf("the client sent a batch the server cannot decode: %v", err)
			}
			p.mu.Lock()
			n := len(p.requests)
			p.requests = append(p.requests, qs)
			p.mu.Unlock()
			r = r.WithContext(context.WithValue(r.Context(), requestNumber{}, n))
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

type requestNumber struct{}

// queriesPerRequest is what one request to the pir-server carries: the
// lookup's queries and the check (plinko.Batch).
const queriesPerRequest = queriesPerLookup + plinko.ChecksPerBatch

func (p *recordingProxy) take() [][]*plinko.Query {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.requests
	p.requests = nil
	return out
}

// flipValues alters a few bytes of the value half of every parity: the
// framing stays intact, so only a check can notice.
func flipValues(as []*plinko.Answer) {
	for _, a := range as {
		a.R0[len(a.R0)-1] ^= 0x5a
		a.R1[len(a.R1)-1] ^= 0x5a
	}
}

func paramsOf(t *testing.T, d *clienttest.Deployment) func() plinko.Params {
	man, err := d.Dir.ReadManifest()
	if err != nil {
		t.Fatal(err)
	}
	p, err := plinkoParams(man, 0)
	if err != nil {
		t.Fatal(err)
	}
	return func() plinko.Params { return p }
}

// TestTamperingServerRefused: a pir-server (here a proxy in front of the
// real one) that alters the value bytes of its answers gets no balance
// shown: every altered lookup fails with ErrTampered naming the server,
// whether it alters every answer or one request in ten, and the lookups it
// leaves alone still give the right balances.
func TestTamperingServerRefused(t *testing.T) {
	ctx := context.Background()
	d, px, c := proxiedClient(t, 600)
	r := rand.New(rand.NewPCG(3, 4))
	lookup := func() (clienttest.Account, Result, error) {
		a := d.Accounts[r.IntN(len(d.Accounts))]
		res, err := c.Lookup(ctx, a.Address)
		return a, res, err
	}

	px.mu.Lock()
	px.alter = func(_ int, as []*plinko.Answer) { flipValues(as) }
	px.mu.Unlock()
	for i := 0; i < 10; i++ {
		_, res, err := lookup()
		if !errors.Is(err, ErrTampered) || !strings.Contains(err.Error(), px.url) {
			t.Fatalf("lookup %d through a lying server: %+v, %v", i, res, err)
		}
		if res != (Result{}) {
			t.Fatalf("a refused lookup returned %+v", res)
		}
	}

	px.mu.Lock()
	first := len(px.requests)
	px.alter = func(n int, as []*plinko.Answer) {
		if (n-first)%10 == 9 {
			flipValues(as)
		}
	}
	px.mu.Unlock()
	refused := 0
	for i := 0; i < 60; i++ {
		a, res, err := lookup()
		switch {
		case errors.Is(err, ErrTampered):
			refused++
		case err != nil:
			t.Fatal(err)
		case !res.Found || !res.Wei.Eq(&a.Wei):
			t.Fatalf("wrong balance after refusals: %+v, want %s", res, a.Wei.Dec())
		}
	}
	// Each refusal leaves owed replacements that the next lookup repairs
	// with one more request, so the one-in-ten requests hit lookups and
	// repairs alike; every altered request must have been refused.
	altered := (len(px.take()) - first) / 10
	t.Logf("%d lookups refused, %d requests altered", refused, altered)
	if refused == 0 || refused < altered-1 {
		t.Fatalf("%d refusals for %d altered requests", refused, altered)
	}
}

// TestLostAnswerRepaired: an answer lost after the pir-server computed it
// (the server saw the queries; the client never got their values) leaves
// owed replacements; the next lookup first sends a repair request shaped
// exactly like a lookup, and every request carries the same number of
// queries of the same size.
func TestLostAnswerRepaired(t *testing.T) {
	ctx := context.Background()
	d, px, c := proxiedClient(t, 600)
	a, b := d.Accounts[1], d.Accounts[2]
	px.mu.Lock()
	px.drop = func(n int) bool { return n == 0 }
	px.mu.Unlock()
	if _, err := c.Lookup(ctx, a.Address); err == nil {
		t.Fatal("lookup through a dropped answer succeeded")
	}
	if owed := c.s.pl.Owed(); len(owed) == 0 {
		t.Fatal("a lost answer left nothing owed")
	}
	res, err := c.Lookup(ctx, b.Address)
	if err != nil || !res.Found || !res.Wei.Eq(&b.Wei) {
		t.Fatalf("lookup after the lost answer: %+v, %v", res, err)
	}
	if owed := c.s.pl.Owed(); len(owed) != 0 {
		t.Fatalf("owed after the repair: %d", len(owed))
	}
	reqs := px.take()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3 (lost, repair, lookup)", len(reqs))
	}
	for i, qs := range reqs {
		if len(qs) != queriesPerRequest {
			t.Fatalf("request %d carried %d queries, want %d", i, len(qs), queriesPerRequest)
		}
	}
}

// TestServerViewAcrossSession is the cross-query test of
// runtime/plinko/session_privacy_test.go over the real client, the real
// pir-server and cdn, at the deployed parameters: many sessions (each a
// fresh client: sync, then lookups through Lookup as wallets send them,
// with repeats that become decoys and a lost answer), in two worlds whose
// first lookup differs. The statistic is how often later requests carry
// the first lookup's keyword positions' offsets, world A's minus world
// B's, per session; its z-score must stay below 5. The test logs its
// power: the smallest shift of the per-session mean it flags at z > 5.
func TestServerViewAcrossSession(t *testing.T) {
	sessions := 200
	if testing.Short() {
		sessions = 60
	}
	ctx := context.Background()
	d := clienttest.Start(t, clienttest.Options{Accounts: 300})
	px := newRecordingProxy(t, d)
	p := px.params()
	man, err := d.Dir.ReadManifest()
	if err != nil {
		t.Fatal(err)
	}
	kw, err := man.Keyword.Params()
	if err != nil {
		t.Fatal(err)
	}
	addrA, addrB := d.Accounts[0].Address, d.Accounts[1].Address
	_, posA := kw.Locate(addrA)
	_, posB := kw.Locate(addrB)
	hits := func(qs []*plinko.Query, pos [keyword.Ways]uint64) int {
		n := 0
		for _, q := range qs {
			for _, x := range pos {
				if q.Offsets[x/uint64(p.W)] == uint32(x%uint64(p.W)) {
					n++
				}
			}
		}
		return n
	}
	world := func(first [20]byte, seed uint64) []float64 {
		out := make([]float64, sessions)
		for s := range out {
			r := rand.New(rand.NewPCG(seed, uint64(s)))
			c, err := New(Config{CDN: d.CDN, PIR: px.url})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Lookup(ctx, first); err != nil {
				t.Fatal(err)
			}
			px.take()
			lost := r.IntN(6)
			px.mu.Lock()
			px.drop = func(n int) bool { return n == lost }
			px.mu.Unlock()
			pool := [][20]byte{addrA, addrB, d.Accounts[2].Address, d.Accounts[3].Address, d.Accounts[4].Address}
			for i := 0; i < 6; i++ {
				_, err := c.Lookup(ctx, pool[r.IntN(len(pool))])
				if err != nil && i != lost {
					t.Fatal(err)
				}
			}
			px.mu.Lock()
			px.drop = nil
			px.mu.Unlock()
			h := 0
			for _, qs := range px.take() {
				h += hits(qs, posA) - hits(qs, posB)
			}
			out[s] = float64(h)
		}
		return out
	}
	wa := world(addrA, 1)
	wb := world(addrB, 2)
	z, minShift := meanZ(wa, wb)
	t.Logf("z = %.2f over %d sessions per world; flags a shift of %.2f hits per session at z > 5", z, sessions, minShift)
	if z > 5 {
		t.Fatalf("later requests depend on the first lookup: z = %.2f", z)
	}
}

// meanZ is the two-sample z statistic of the means and the smallest
// difference it would flag at z = 5.
func meanZ(x, y []float64) (z, minDiff float64) {
	stats := func(v []float64) (m, s2 float64) {
		for _, e := range v {
			m += e
		}
		m /= float64(len(v))
		for _, e := range v {
			s2 += (e - m) * (e - m)
		}
		return m, s2 / float64(len(v)-1)
	}
	mx, vx := stats(x)
	my, vy := stats(y)
	se := math.Sqrt(vx/float64(len(x)) + vy/float64(len(y)))
	if se == 0 {
		return 0, 0
	}
	return math.Abs(mx-my) / se, 5 * se
}
