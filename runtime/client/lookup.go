package client

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"time"

	"github.com/plinko-pir/plinko/runtime/keyword"
	"github.com/plinko-pir/plinko/runtime/plinko"
)

// QueryPath is the pir-server's query endpoint, relative to Config.PIR.
const QueryPath = "/v1/query"

// queryContentType labels the binary query batch.
const queryContentType = "application/octet-stream"

// Lookup finds addr's balance privately: it sends the Plinko queries for the
// address's three keyword positions in one request (always three, found or
// not; a position already answered is replaced by a decoy inside the scheme)
// with one check query whose answers the client knows, brings the hints to
// the answer's epoch and reconstructs the entries. An answer that fails the
// check is refused (ErrTampered) and nothing from it is kept.
// A client without hints syncs first; one whose queries run out refreshes.
func (c *Client) Lookup(ctx context.Context, addr [20]byte) (Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ready(ctx); err != nil {
		return Result{}, err
	}
	// Positions depend on the keyword parameters, which change when the
	// hints are rebuilt for a new layout: recompute them for every attempt.
	var tag keyword.Tag
	entries, res, err := c.queryIndices(ctx, func(s *session) ([]uint64, error) {
		t, pos := s.kw.Locate(addr)
		tag = t
		return pos[:], nil
	})
	if err != nil {
		return Result{}, err
	}
	res.Wei, res.Found = keyword.Match(tag, [keyword.Ways][]byte(entries))
	return res, nil
}

// LookupMany looks several addresses up (a portfolio), in as few requests
// as fit the pir-server's body limit: each request holds the positions of
// its addresses (3 each, a position shared by two only once), padded with
// random indices to the positions of PadAddresses(k) addresses, plus the
// check. The pir-server learns each request's size class, and nothing
// about which addresses, how many below the pad, or whether any repeat.
// Results are in the order of addrs; each names the block it was read at.
func (c *Client) LookupMany(ctx context.Context, addrs [][20]byte) ([]Result, error) {
	if len(addrs) == 0 {
		return nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ready(ctx); err != nil {
		return nil, err
	}
	per := requestClass(c.s.params)
	out := make([]Result, 0, len(addrs))
	for len(addrs) > 0 {
		k := min(len(addrs), per)
		res, err := c.lookupMany(ctx, addrs[:k])
		if err != nil {
			return nil, err
		}
		out = append(out, res...)
		addrs = addrs[k:]
	}
	return out, nil
}

// maxQueryBody is the largest request LookupMany sends: the pir-server's
// default body limit (pirserver.DefaultMaxBodyBytes).
const maxQueryBody = 2 << 20

// requestClass is the largest size class whose request fits maxQueryBody
// under p: 100 addresses up to about n = 2^24, 20 at mainnet's 2^28.
func requestClass(p plinko.Params) int {
	best := 1
	for _, class := range sizeClasses {
		if plinko.BatchHeaderSize+(keyword.Ways*class+plinko.ChecksPerBatch)*p.QuerySize() <= maxQueryBody {
			best = class
		}
	}
	return best
}

// lookupMany is one request of LookupMany (len(addrs) <= MaxLookupMany).
func (c *Client) lookupMany(ctx context.Context, addrs [][20]byte) ([]Result, error) {
	tags := make([]keyword.Tag, len(addrs))
	pos := make([][keyword.Ways]uint64, len(addrs))
	var idx []uint64
	entries, res, err := c.queryIndices(ctx, func(s *session) ([]uint64, error) {
		seen := map[uint64]bool{}
		idx = idx[:0]
		for i, a := range addrs {
			tags[i], pos[i] = s.kw.Locate(a)
			for _, x := range pos[i] {
				if !seen[x] {
					seen[x] = true
					idx = append(idx, x)
				}
			}
		}
		for want := keyword.Ways * PadAddresses(len(addrs)); len(idx) < want; {
			x, err := randIndex(c.rand, s.params.N)
			if err != nil {
				return nil, err
			}
			if !seen[x] {
				seen[x] = true
				idx = append(idx, x)
			}
		}
		return idx, nil
	})
	if err != nil {
		return nil, err
	}
	at := make(map[uint64][]byte, len(idx))
	for i, x := range idx {
		at[x] = entries[i]
	}
	out := make([]Result, len(addrs))
	for i := range addrs {
		var three [keyword.Ways][]byte
		for w, x := range pos[i] {
			three[w] = at[x]
		}
		out[i] = res
		out[i].Wei, out[i].Found = keyword.Match(tags[i], three)
	}
	return out, nil
}

// MaxLookupMany is the most addresses one request of LookupMany holds.
const MaxLookupMany = 100

// sizeClasses are the request sizes, in addresses, LookupMany pads to.
var sizeClasses = []int{1, 5, 20, MaxLookupMany}

// PadAddresses is the size class a request of n <= MaxLookupMany addresses
// is padded to: 1, 5, 20 or 100. The pir-server learns the class; each
// costs 3 queries per address of the class (from the hint budget), plus
// the check.
func PadAddresses(n int) int {
	for _, class := range sizeClasses {
		if n <= class {
			return class
		}
	}
	return MaxLookupMany
}

// Known answers a lookup of addr from the client's own state, with no
// request at all, when earlier lookups read all its positions (the deltas
// keep those entries current): the balance at the hints' block, as exact
// as a private lookup. ok is false when a lookup is needed. It does not
// sync: callers keep the hints fresh on a schedule of their own (plinko
// rpc syncs every block time), so that what the CDN sees does not follow
// the user's polling either.
func (c *Client) Known(addr [20]byte) (res Result, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.s
	if s == nil {
		return Result{}, false
	}
	tag, pos := s.kw.Locate(addr)
	var three [keyword.Ways][]byte
	for w, x := range pos {
		e, ok := s.pl.Cached(x)
		if !ok {
			return Result{}, false
		}
		three[w] = e
	}
	res = Result{ChainID: s.man.ChainID, Epoch: s.epoch, Block: s.block, BlockHash: s.blockHash}
	res.Wei, res.Found = keyword.Match(tag, three)
	return res, true
}

// Cover sends one request shaped like a lookup, for random indices: cover
// traffic on a schedule that does not depend on what the user looks up.
// It uses 3 queries of the hint budget, like a lookup.
func (c *Client) Cover(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ready(ctx); err != nil {
		return err
	}
	_, _, err := c.queryIndices(ctx, func(s *session) ([]uint64, error) {
		idx := make([]uint64, 0, queriesPerLookup)
		for len(idx) < queriesPerLookup {
			x, err := randIndex(c.rand, s.params.N)
			if err != nil {
				return nil, err
			}
			if !slices.Contains(idx, x) {
				idx = append(idx, x)
			}
		}
		return idx, nil
	})
	return err
}

// LookupIndex privately reads the raw entry at one database index (one
// query). It is for deployment checks (plinko verify) that compare an entry
// against the snapshot; wallets use Lookup.
func (c *Client) LookupIndex(ctx context.Context, index uint64) ([]byte, Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ready(ctx); err != nil {
		return nil, Result{}, err
	}
	entries, res, err := c.queryIndices(ctx, func(s *session) ([]uint64, error) {
		if index >= s.params.N {
			return nil, fmt.Errorf("index %d outside the database of %d entries", index, s.params.N)
		}
		return []uint64{index}, nil
	})
	if err != nil {
		return nil, Result{}, err
	}
	return entries[0], res, nil
}

// ready makes sure hints exist and can answer a lookup.
func (c *Client) ready(ctx context.Context) error {
	if err := c.load(ctx); err != nil {
		return err
	}
	if c.s == nil || c.s.pl.QueriesLeft() < queriesPerLookup {
		return c.sync(ctx)
	}
	return nil
}

// repair completes the replacement hints of queries that were sent and never
// answered (a network error, a refused answer, a crash), before the next
// lookup: until then the hint pool is not the one the scheme's privacy
// argument assumes. Each repair is shaped like a lookup (three indices, the
// owed ones padded with random ones, and a check), so the server cannot tell
// it from one.
func (c *Client) repair(ctx context.Context) error {
	for {
		owed := c.s.pl.Owed()
		if len(owed) == 0 {
			return nil
		}
		idx := owed[:min(len(owed), queriesPerLookup)]
		cur := c.s
		if _, _, err := c.queryOnce(ctx, func(s *session) ([]uint64, error) {
			if s != cur || s.pl.QueriesLeft() < queriesPerLookup {
				return nil, errRepairRefreshed
			}
			out := append([]uint64(nil), idx...)
			for len(out) < queriesPerLookup {
				x, err := randIndex(c.rand, s.params.N)
				if err != nil {
					return nil, err
				}
				out = append(out, x)
			}
			return out, nil
		}); err != nil {
			if errors.Is(err, errRepairRefreshed) {
				return nil // fresh hints owe nothing
			}
			return fmt.Errorf("completing an earlier unanswered query: %w", err)
		}
	}
}

// errRepairRefreshed: the hints were rebuilt, so nothing is owed any more.
var errRepairRefreshed = errors.New("hints refreshed during repair")

// randIndex draws a uniform index below n.
func randIndex(r io.Reader, n uint64) (uint64, error) {
	v, err := rand.Int(r, new(big.Int).SetUint64(n))
	if err != nil {
		return 0, fmt.Errorf("drawing a padding index: %w", err)
	}
	return v.Uint64(), nil
}

// queryIndices runs one batch of private queries and returns the entries,
// with the epoch they were read at. A pir-server behind the hints' epoch
// gets one more try with fresh queries, a moment later; an answer from an
// epoch whose deltas are gone, or a query refused after the database changed
// layout, gets one more try with rebuilt hints.
func (c *Client) queryIndices(ctx context.Context, positions positionsFunc) ([][]byte, Result, error) {
	if err := c.repair(ctx); err != nil {
		return nil, Result{}, err
	}
	for attempt := 0; ; attempt++ {
		entries, res, err := c.queryOnce(ctx, positions)
		if attempt > 0 {
			return entries, res, err
		}
		switch {
		case errors.Is(err, ErrServerBehind):
			c.log.Info("pir-server is behind the hints' epoch; retrying once")
			select {
			case <-time.After(retryBehind):
			case <-ctx.Done():
				return nil, Result{}, ctx.Err()
			}
			continue
		case errors.Is(err, errBadRequest), errors.Is(err, errLayoutChanged):
			// A query the pir-server cannot parse, or an answer from after
			// a layout change: if a snapshot with another layout was
			// published, rebuild for it and ask again.
			raw, man, merr := c.fetchManifest(ctx)
			if merr != nil || c.s.sameLayout(man) {
				return entries, res, err
			}
			c.log.Info("the published database changed layout; rebuilding hints and asking again")
			if err := c.rebuild(ctx, raw, man); err != nil {
				return nil, Result{}, err
			}
			continue
		case errors.Is(err, errDeltaGone):
			// The answer is from an epoch the hints cannot reach by deltas.
			c.log.Info("deltas to the answer's epoch are gone; rebuilding hints and asking again")
			if err := c.refresh(ctx); err != nil {
				return nil, Result{}, err
			}
			continue
		}
		return entries, res, err
	}
}

// retryBehind is the pause before asking a lagging pir-server again.
const retryBehind = 500 * time.Millisecond

// errLayoutChanged: the published database now has another layout than the
// hints (a rebuilt keyword table); deltas cannot bridge that.
var errLayoutChanged = errors.New("the published database changed layout")

// positionsFunc names the database indices to query under a session's
// parameters.
type positionsFunc func(s *session) ([]uint64, error)

// buildBatch makes one query per index plus the check. Running out of hints
// (all backups used, or no unused hint covering an index) rebuilds the hints
// once.
func (c *Client) buildBatch(ctx context.Context, positions positionsFunc) (*plinko.Batch, error) {
	for attempt := 0; ; attempt++ {
		idx, err := positions(c.s)
		if err != nil {
			return nil, err
		}
		if c.s.pl.QueriesLeft() < len(idx) {
			if err := c.refresh(ctx); err != nil {
				return nil, err
			}
			if idx, err = positions(c.s); err != nil {
				return nil, err
			}
		}
		b, err := c.s.pl.Batch(idx)
		if err == nil {
			return b, nil
		}
		if attempt > 0 || !errors.Is(err, plinko.ErrNoHint) && !errors.Is(err, plinko.ErrNeedRefresh) {
			return nil, fmt.Errorf("building query: %w", err)
		}
		if err := c.refresh(ctx); err != nil {
			return nil, err
		}
	}
}

// refresh rebuilds the hints from the current snapshot with a fresh key.
func (c *Client) refresh(ctx context.Context) error {
	raw, man, err := c.fetchManifest(ctx)
	if err != nil {
		return err
	}
	c.log.Info("refreshing hints from the snapshot")
	return c.rebuild(ctx, raw, man)
}

func (c *Client) queryOnce(ctx context.Context, positions positionsFunc) ([][]byte, Result, error) {
	b, err := c.buildBatch(ctx, positions)
	if err != nil {
		return nil, Result{}, err
	}
	s := c.s
	// The queries consumed hints: persist that before anything is sent.
	if err := c.save(ctx); err != nil {
		return nil, Result{}, err
	}
	body, err := plinko.EncodeQueries(b.Queries)
	if err != nil {
		return nil, Result{}, fmt.Errorf("encoding queries: %w", err)
	}
	raw, err := c.post(ctx, joinURL(c.cfg.PIR, QueryPath), queryContentType, body, maxAnswerSize)
	if err != nil {
		return nil, Result{}, fmt.Errorf("private query: %w", err)
	}
	answers, err := plinko.DecodeAnswers(s.params, raw)
	if err != nil {
		return nil, Result{}, fmt.Errorf("decoding answer: %w", err)
	}
	if len(answers) != len(b.Queries) {
		return nil, Result{}, fmt.Errorf("pir-server answered %d of %d queries", len(answers), len(b.Queries))
	}
	epoch := answers[0].Epoch
	for _, a := range answers {
		if a.Epoch != epoch {
			return nil, Result{}, fmt.Errorf("pir-server answered one request from epochs %d and %d: %w", epoch, a.Epoch, ErrServer)
		}
	}
	entries, err := s.pl.ReconstructBatch(b, answers)
	if errors.Is(err, plinko.ErrEpochAhead) {
		// Deltas only bridge epochs of one layout: make sure the
		// database was not rebuilt with another one meanwhile.
		_, man, merr := c.fetchManifest(ctx)
		if merr != nil {
			return nil, Result{}, merr
		}
		if !s.sameLayout(man) {
			return nil, Result{}, fmt.Errorf("answer at epoch %d: %w", epoch, errLayoutChanged)
		}
		// Bring the hints to exactly the answer's epoch (not further).
		if err := c.catchUp(ctx, epoch); err != nil {
			return nil, Result{}, fmt.Errorf("applying deltas up to the answer's epoch %d: %w", epoch, err)
		}
		entries, err = s.pl.ReconstructBatch(b, answers)
	}
	switch {
	case errors.Is(err, plinko.ErrAnswerStale):
		return nil, Result{}, fmt.Errorf("answer at epoch %d, hints at %d: %w", epoch, s.epoch, ErrServerBehind)
	case errors.Is(err, plinko.ErrTampered):
		// Nothing of the answers is kept (what the batch consumed was saved
		// before sending; its replacements stay owed). No retry: the same
		// server would be asked.
		return nil, Result{}, fmt.Errorf("the pir-server at %s returned an answer that disagrees with the published snapshot, so it altered answers; no balance is shown: %w", c.cfg.PIR, ErrTampered)
	case err != nil:
		return nil, Result{}, fmt.Errorf("reconstructing entries: %w", err)
	}
	if err := c.save(ctx); err != nil {
		return nil, Result{}, err
	}
	return entries, Result{ChainID: s.man.ChainID, Epoch: s.epoch, Block: s.block, BlockHash: s.blockHash}, nil
}
