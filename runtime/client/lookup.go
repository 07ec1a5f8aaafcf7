package client

import (
	"context"
	"errors"
	"fmt"
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
// not; a position already answered is replaced by a decoy inside the scheme),
// brings the hints to the answer's epoch and reconstructs the entries.
// A client without hints syncs first; one whose queries run out refreshes.
func (c *Client) Lookup(ctx context.Context, addr [20]byte) (Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ready(ctx); err != nil {
		return Result{}, err
	}
	// Positions depend on the keyword parameters, which change when the
	// hints are rebuilt for a new layout: recompute them for every attempt.
	var tag uint64
	entries, res, err := c.queryIndices(ctx, func(s *session) ([]uint64, error) {
		t, pos := s.kw.Locate(addr)
		tag = t
		return pos[:], nil
	})
	if err != nil {
		return Result{}, err
	}
	res.Gwei, res.Found = keyword.Match(tag, [keyword.Ways][]byte(entries))
	return res, nil
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

// queryIndices runs one batch of private queries and returns the entries,
// with the epoch they were read at. A pir-server behind the hints' epoch
// gets one more try with fresh queries, a moment later; an answer from an
// epoch whose deltas are gone, or a query refused after the database changed
// layout, gets one more try with rebuilt hints.
func (c *Client) queryIndices(ctx context.Context, positions positionsFunc) ([][]byte, Result, error) {
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

// buildQueries makes one query per index. Running out of hints (all backups
// used, or no unused hint covering an index) rebuilds the hints once.
func (c *Client) buildQueries(ctx context.Context, positions positionsFunc) ([]*plinko.Query, error) {
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
		qs := make([]*plinko.Query, len(idx))
		for i, x := range idx {
			if qs[i], err = c.s.pl.Query(x); err != nil {
				break
			}
		}
		if err == nil {
			return qs, nil
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
	qs, err := c.buildQueries(ctx, positions)
	if err != nil {
		return nil, Result{}, err
	}
	s := c.s
	// The queries consumed hints: persist that before anything is sent.
	if err := c.save(ctx); err != nil {
		return nil, Result{}, err
	}
	body, err := plinko.EncodeQueries(qs)
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
	if len(answers) != len(qs) {
		return nil, Result{}, fmt.Errorf("pir-server answered %d of %d queries", len(answers), len(qs))
	}
	entries := make([][]byte, len(qs))
	for i := range qs {
		v, err := s.pl.Reconstruct(qs[i], answers[i])
		if errors.Is(err, plinko.ErrEpochAhead) {
			// Deltas only bridge epochs of one layout: make sure the
			// database was not rebuilt with another one meanwhile.
			_, man, merr := c.fetchManifest(ctx)
			if merr != nil {
				return nil, Result{}, merr
			}
			if !s.sameLayout(man) {
				return nil, Result{}, fmt.Errorf("answer at epoch %d: %w", answers[i].Epoch, errLayoutChanged)
			}
			// Bring the hints to exactly the answer's epoch (not further).
			if err := c.catchUp(ctx, answers[i].Epoch); err != nil {
				return nil, Result{}, fmt.Errorf("applying deltas up to the answer's epoch %d: %w", answers[i].Epoch, err)
			}
			v, err = s.pl.Reconstruct(qs[i], answers[i])
		}
		if errors.Is(err, plinko.ErrAnswerStale) {
			return nil, Result{}, fmt.Errorf("answer at epoch %d, hints at %d: %w", answers[i].Epoch, s.epoch, ErrServerBehind)
		}
		if err != nil {
			return nil, Result{}, fmt.Errorf("reconstructing entry: %w", err)
		}
		entries[i] = v
	}
	if err := c.save(ctx); err != nil {
		return nil, Result{}, err
	}
	return entries, Result{Epoch: s.epoch, Block: s.block, BlockHash: s.blockHash}, nil
}
