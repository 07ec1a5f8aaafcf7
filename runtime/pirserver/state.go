package pirserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/plinko-pir/plinko/runtime/dataset"
)

// dbState is one database held in memory at one epoch. Its engine and epoch
// change only under Server.mu's write lock, so every answer sees exactly one
// epoch.
type dbState struct {
	eng       *engine
	manifest  *dataset.Manifest
	epoch     uint64
	block     uint64
	blockHash dataset.Hash
}

// Epoch describes the database state answers are computed on.
type Epoch struct {
	Epoch       uint64       `json:"epoch"`
	BlockNumber uint64       `json:"block_number"`
	BlockHash   dataset.Hash `json:"block_hash"`
}

// Current returns the epoch being served; ok is false before the first
// snapshot is loaded.
func (s *Server) Current() (e Epoch, ok bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.st == nil {
		return Epoch{}, false
	}
	return Epoch{Epoch: s.st.epoch, BlockNumber: s.st.block, BlockHash: s.st.blockHash}, true
}

// follow keeps the in-memory database in sync with the source until ctx is
// cancelled: first snapshot, then every delta in epoch order, and a reload
// when the manifest names a newer snapshot than the state or a new layout.
func (s *Server) follow(ctx context.Context) {
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	var lastErr string
	for {
		err := s.syncOnce(ctx)
		switch {
		case err == nil:
			lastErr = ""
		case ctx.Err() != nil:
			return
		default:
			s.metrics.followErrors.Inc()
			if msg := err.Error(); msg != lastErr { // say each new problem once
				lastErr = msg
				if errors.Is(err, errNoManifest) {
					s.log.Info("waiting for the dataset", "source", s.src.String(), "err", err)
				} else {
					s.log.Warn("following the dataset", "source", s.src.String(), "err", err)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// syncOnce brings the state up to the newest published epoch.
func (s *Server) syncOnce(ctx context.Context) error {
	m, _, err := s.src.manifest(ctx)
	if err != nil {
		return err
	}
	head, err := s.src.head(ctx)
	if errors.Is(err, os.ErrNotExist) {
		head = nil // the updater has not started: the manifest is the newest
	} else if err != nil {
		return fmt.Errorf("reading head: %w", err)
	}
	newest := m.Epoch
	if head != nil && head.Epoch > newest {
		newest = head.Epoch
	}
	cur := s.state()
	if cur == nil || s.needsReload(cur, m, head) {
		st, err := s.load(ctx, m)
		if err != nil {
			return err
		}
		// Catch the new state up before anyone sees it; if a delta is
		// missing or bad, the state is still whole at the epoch it reached.
		catchErr := s.catchUp(ctx, st, newest, false)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.install(st, cur)
		cur = st
		if catchErr != nil {
			s.noteNewest(newest)
			return catchErr
		}
	}
	s.noteNewest(newest)
	return s.catchUp(ctx, cur, newest, true)
}

// needsReload: the manifest's snapshot is newer than the state, has another
// layout, or the published history went backwards (a dataset rebuilt from
// scratch, e.g. a new chain).
func (s *Server) needsReload(cur *dbState, m *dataset.Manifest, head *dataset.Head) bool {
	if !sameLayout(cur.manifest, m) {
		return true
	}
	// A newer snapshot than the state: reload only if the published deltas
	// cannot bridge the gap (deltas are cheaper than 128 MiB).
	if m.Epoch > s.epochOf(cur) && (head == nil || head.OldestDelta > s.epochOf(cur)+1) {
		return true
	}
	if head != nil && head.Epoch < s.epochOf(cur) {
		return true
	}
	return false
}

func sameLayout(a, b *dataset.Manifest) bool {
	return a.N == b.N && a.W == b.W && a.C == b.C && a.EntrySize == b.EntrySize && a.Keyword == b.Keyword
}

// load reads and verifies the manifest's snapshot into a new state.
func (s *Server) load(ctx context.Context, m *dataset.Manifest) (*dbState, error) {
	start := time.Now()
	p, err := layout(m)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", m.Snapshot().Name, err)
	}
	// Read straight into the database buffer: one copy of the snapshot in
	// memory, never two.
	data, free := allocDB(p.DBSize())
	if err := s.src.snapshot(ctx, m, data); err != nil {
		free()
		return nil, fmt.Errorf("loading snapshot %s: %w", m.Snapshot().Name, err)
	}
	eng, err := newEngine(p, data, free)
	if err != nil {
		free()
		return nil, fmt.Errorf("preparing snapshot %s: %w", m.Snapshot().Name, err)
	}
	s.metrics.snapshotLoads.Inc()
	s.log.Info("snapshot loaded", "epoch", m.Epoch, "block", m.BlockNumber, "n", m.N,
		"bytes", len(data), "took", time.Since(start).Round(time.Millisecond))
	return &dbState{eng: eng, manifest: m, epoch: m.Epoch, block: m.BlockNumber, blockHash: m.BlockHash}, nil
}

// install makes st the served state unless the served state moved past it
// meanwhile (only a rebuilt dataset may go backwards: prev is what the
// decision to reload was made on).
func (s *Server) install(st, prev *dbState) {
	s.mu.Lock()
	old := s.st
	if old != nil && old != prev && old.epoch > st.epoch {
		s.mu.Unlock()
		st.eng.free()
		return
	}
	s.st = st
	s.advancedLocked()
	s.metrics.setEpoch(st.epoch, st.block)
	s.mu.Unlock()
	// Queries hold the read lock for as long as they use a state, so once
	// the write lock was taken nobody reads the old database any more.
	if old != nil {
		old.eng.free()
	}
}

// catchUp applies deltas st.epoch+1 .. to, in order. With live set, st is
// the served state and each delta is applied under the write lock.
func (s *Server) catchUp(ctx context.Context, st *dbState, to uint64, live bool) error {
	for e := s.epochOf(st) + 1; e <= to; e++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		d, err := s.src.delta(ctx, e)
		if err != nil {
			s.metrics.deltaErrors.Inc()
			return fmt.Errorf("epoch %d: %w", e, err)
		}
		if err := checkDelta(st.manifest, d); err != nil {
			s.metrics.deltaErrors.Inc()
			return fmt.Errorf("epoch %d: %w", e, err)
		}
		if live {
			s.mu.Lock()
			if s.st != st { // replaced meanwhile (cannot happen: one follower)
				s.mu.Unlock()
				return nil
			}
		}
		var applyErr error
		for _, r := range d.Records {
			if err := st.eng.apply(r.Index, r.XOR); err != nil && applyErr == nil {
				applyErr = err
			}
		}
		if applyErr != nil {
			// Cannot happen after checkDelta; if it does, the database is
			// half-applied: stop answering and reload from the snapshot.
			if live {
				s.st = nil
				s.mu.Unlock()
			}
			return fmt.Errorf("epoch %d: applying delta: %w", e, applyErr)
		}
		st.epoch, st.block, st.blockHash = d.Epoch, d.BlockNumber, d.BlockHash
		if live {
			s.advancedLocked()
			s.metrics.setEpoch(st.epoch, st.block)
			s.mu.Unlock()
		}
		s.metrics.deltasApplied.Inc()
		s.log.Debug("delta applied", "epoch", d.Epoch, "block", d.BlockNumber, "records", len(d.Records))
	}
	return nil
}

// checkDelta refuses a delta that does not fit the state, before any of it
// is applied.
func checkDelta(m *dataset.Manifest, d *dataset.Delta) error {
	if uint64(d.EntrySize) != m.EntrySize {
		return fmt.Errorf("delta entry size %d, database has %d", d.EntrySize, m.EntrySize)
	}
	if d.ChainID != m.ChainID {
		return fmt.Errorf("delta of chain %d, database of chain %d", d.ChainID, m.ChainID)
	}
	for _, r := range d.Records {
		if r.Index >= m.N {
			return fmt.Errorf("delta touches entry %d of a %d-entry database", r.Index, m.N)
		}
	}
	return nil
}

func (s *Server) state() *dbState {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.st
}

// epochOf reads st's epoch under the lock (the follower writes it).
func (s *Server) epochOf(st *dbState) uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return st.epoch
}

// advancedLocked wakes queries waiting for a newer epoch. Holds mu.
func (s *Server) advancedLocked() {
	close(s.advanced)
	s.advanced = make(chan struct{})
	if s.st != nil && s.st.epoch >= s.newest.Load() {
		s.behindSince.Store(0)
	}
}

// noteNewest records the newest published epoch for /readyz.
func (s *Server) noteNewest(e uint64) {
	s.newest.Store(e)
	s.metrics.newest.Set(float64(e))
	s.mu.RLock()
	behind := s.st == nil || s.st.epoch < e
	s.mu.RUnlock()
	if behind {
		s.behindSince.CompareAndSwap(0, time.Now().UnixNano())
	} else {
		s.behindSince.Store(0)
	}
}

// waitAhead waits up to AheadWait for the served epoch to reach want, if one
// of the MaxAheadWaiters slots is free; otherwise it reports false at once.
func (s *Server) waitAhead(ctx context.Context, want uint64) bool {
	select {
	case s.aheadSlots <- struct{}{}:
		defer func() { <-s.aheadSlots }()
		return s.waitEpoch(ctx, want, s.cfg.AheadWait)
	default:
		return false
	}
}

// waitEpoch waits until the served epoch reaches want, at most d.
func (s *Server) waitEpoch(ctx context.Context, want uint64, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		s.mu.RLock()
		ok := s.st != nil && s.st.epoch >= want
		ch := s.advanced
		s.mu.RUnlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-timer.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}
