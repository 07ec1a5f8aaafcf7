package sealed

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/plinko-pir/plinko/runtime/client"
)

// Keys hands a Store its key. sealedWith is the source named in the saved
// state's header, or 0 when nothing sealed is saved yet and the Keys choose.
type Keys interface {
	Key(ctx context.Context, sealedWith Source) (Key, error)
}

// Fixed is Keys that always hands out k (tests, the browser).
func Fixed(k Key) Keys { return fixed{k} }

type fixed struct{ k Key }

func (f fixed) Key(_ context.Context, src Source) (Key, error) {
	if src != 0 && src != f.k.Source() {
		return nil, fmt.Errorf("state sealed with %s, %s given: %w", src, f.k.Source(), ErrKeyUnavailable)
	}
	return f.k, nil
}

// Store seals what the client saves in the Store it wraps. New returns a
// *JournalStore when the wrapped Store keeps a journal.
type Store struct {
	inner client.Store
	keys  Keys

	mu  sync.Mutex
	key Key      // chosen on first use, then kept
	cur *current // the state the journal follows; nil: none known
}

// current is the saved state the journal follows: its id, its data key, and
// the sequence number the next record gets (known once counted).
type current struct {
	id      [idSize]byte
	dk      []byte
	next    uint32
	counted bool
}

// JournalStore is a Store over a client.JournalStore.
type JournalStore struct{ *Store }

var (
	_ client.Store        = (*Store)(nil)
	_ client.JournalStore = (*JournalStore)(nil)
)

// New wraps inner; keys supply the key when it is first needed (so a
// passphrase is asked for only when a state is there to open or save).
func New(inner client.Store, keys Keys) client.Store {
	s := &Store{inner: inner, keys: keys}
	if _, ok := inner.(client.JournalStore); ok {
		return &JournalStore{s}
	}
	return s
}

// keyFor returns the store's key, checking it fits a state sealed with src.
func (s *Store) keyFor(ctx context.Context, src Source) (Key, error) {
	if s.key != nil {
		if src != 0 && src != s.key.Source() {
			return nil, fmt.Errorf("state sealed with %s, this store uses %s: %w", src, s.key.Source(), ErrKeyUnavailable)
		}
		return s.key, nil
	}
	k, err := s.keys.Key(ctx, src)
	if err != nil {
		return nil, err
	}
	s.key = k
	return k, nil
}

// Load opens the saved state. Damage or tampering is client.ErrCorruptState
// (the client discards the state); a key that does not fit is another error
// (the client stops: the right key may still open it).
func (s *Store) Load(ctx context.Context) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur = nil
	b, err := s.inner.Load(ctx)
	if err != nil || b == nil {
		return nil, err
	}
	if !isSealed(b) {
		return nil, fmt.Errorf("%w: %w", ErrPlaintext, client.ErrCorruptState)
	}
	p, err := parseState(b)
	if err != nil {
		return nil, err
	}
	k, err := s.keyFor(ctx, p.Source)
	if err != nil {
		return nil, fmt.Errorf("opening the saved state: %w", err)
	}
	dk, err := k.Unwrap(ctx, p.KDF, p.Wrapped, p.wrapAAD)
	if err != nil {
		return nil, fmt.Errorf("opening the saved state (sealed with %s): %w", p.Source, err)
	}
	state, err := open(dk, p.nonce, p.ct, p.aad, "state")
	if err != nil {
		return nil, err
	}
	s.cur = &current{id: p.ID, dk: dk}
	return state, nil
}

// Save seals state under a fresh data key and id, and saves it (the inner
// Store clears the journal).
func (s *Store) Save(ctx context.Context, state []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur = nil // until the save is known to have landed
	k, err := s.keyFor(ctx, 0)
	if err != nil {
		return fmt.Errorf("sealing the state: %w", err)
	}
	c := &current{dk: make([]byte, dataKeySize), counted: true}
	nonce := make([]byte, nonceSize)
	if err := readRand(c.id[:], c.dk, nonce); err != nil {
		return err
	}
	kdf, err := k.KDF()
	if err != nil {
		return fmt.Errorf("sealing the state: %w", err)
	}
	h := &stateHeader{Source: k.Source(), KDF: kdf, ID: c.id}
	if h.Wrapped, err = k.Wrap(ctx, kdf, c.dk, h.prefix()); err != nil {
		return fmt.Errorf("wrapping the state's key: %w", err)
	}
	if len(h.Wrapped) == 0 || len(h.Wrapped) > maxWrapped {
		return fmt.Errorf("wrapped state key of %d bytes", len(h.Wrapped))
	}
	b, err := sealState(h, c.dk, nonce, state)
	if err != nil {
		return fmt.Errorf("sealing the state: %w", err)
	}
	if err := s.inner.Save(ctx, b); err != nil {
		return err
	}
	s.cur = c
	return nil
}

// Append seals rec as the next record after the current state.
func (j *JournalStore) Append(ctx context.Context, rec []byte) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	c := j.cur
	if c == nil {
		return errors.New("sealed journal: no saved state to append to")
	}
	inner := j.inner.(client.JournalStore)
	if !c.counted {
		if _, err := j.journal(ctx, inner); err != nil {
			return err
		}
	}
	nonce := make([]byte, nonceSize)
	if err := readRand(nonce); err != nil {
		return err
	}
	b, err := sealJournal(c.id, c.next, c.dk, nonce, rec)
	if err != nil {
		return fmt.Errorf("sealing a journal record: %w", err)
	}
	if err := inner.Append(ctx, b); err != nil {
		c.counted = false // it may have landed: count again before the next
		return err
	}
	c.next++
	return nil
}

// Journal opens the records appended after the current state. Records of
// another state (left by a crash between saving a state and clearing the
// journal) are skipped; a record of this state out of sequence or failing
// authentication is client.ErrCorruptState.
func (j *JournalStore) Journal(ctx context.Context) ([][]byte, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.journal(ctx, j.inner.(client.JournalStore))
}

func (j *JournalStore) journal(ctx context.Context, inner client.JournalStore) ([][]byte, error) {
	recs, err := inner.Journal(ctx)
	if err != nil {
		return nil, err
	}
	c := j.cur
	if c == nil {
		if len(recs) == 0 {
			return nil, nil
		}
		return nil, errors.New("sealed journal: records but no saved state")
	}
	var out [][]byte
	var seq uint32
	for _, b := range recs {
		r, err := parseJournal(b)
		if err != nil {
			return nil, err
		}
		if r.id != c.id {
			continue
		}
		if r.seq != seq {
			return nil, corrupt("journal record %d where %d was due", r.seq, seq)
		}
		rec, err := open(c.dk, r.nonce, r.ct, r.aad, fmt.Sprintf("journal record %d", seq))
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
		seq++
	}
	c.next, c.counted = seq, true
	return out, nil
}

// readRand fills each buffer from crypto/rand.
func readRand(bufs ...[]byte) error {
	for _, b := range bufs {
		if _, err := io.ReadFull(rand.Reader, b); err != nil {
			return fmt.Errorf("drawing random bytes: %w", err)
		}
	}
	return nil
}
