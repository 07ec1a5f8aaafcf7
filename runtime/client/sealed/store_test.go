package sealed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/plinko-pir/plinko/runtime/client"
)

// rawStore is a client.JournalStore whose bytes the tests can read and
// tamper with.
type rawStore struct {
	state   []byte
	journal [][]byte
}

func (r *rawStore) Load(context.Context) ([]byte, error) { return bytes.Clone(r.state), nil }
func (r *rawStore) Save(_ context.Context, b []byte) error {
	r.state, r.journal = bytes.Clone(b), nil
	return nil
}
func (r *rawStore) Append(_ context.Context, b []byte) error {
	r.journal = append(r.journal, bytes.Clone(b))
	return nil
}
func (r *rawStore) Journal(context.Context) ([][]byte, error) {
	out := make([][]byte, len(r.journal))
	for i, b := range r.journal {
		out[i] = bytes.Clone(b)
	}
	return out, nil
}

func testKey(t testing.TB, fill byte) Key {
	t.Helper()
	k, err := NewRawKey(SourceKeyFile, bytes.Repeat([]byte{fill}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// filled saves a state and n records through a sealed store over raw.
func filled(t *testing.T, raw *rawStore, k Key, n int) *JournalStore {
	t.Helper()
	ctx := context.Background()
	s := New(raw, Fixed(k)).(*JournalStore)
	if err := s.Save(ctx, []byte("the state")); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := s.Append(ctx, fmt.Appendf(nil, "record %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestRoundTripAcrossRestarts(t *testing.T) {
	ctx := context.Background()
	raw := &rawStore{}
	k := testKey(t, 1)
	filled(t, raw, k, 3)
	if bytes.Contains(raw.state, []byte("the state")) || bytes.Contains(raw.journal[0], []byte("record")) {
		t.Fatal("plaintext stored")
	}
	s := New(raw, Fixed(k)).(*JournalStore)
	st, err := s.Load(ctx)
	if err != nil || string(st) != "the state" {
		t.Fatalf("Load = %q, %v", st, err)
	}
	// Appending before reading the journal continues its sequence.
	if err := s.Append(ctx, []byte("record 3")); err != nil {
		t.Fatal(err)
	}
	recs, err := s.Journal(ctx)
	if err != nil || len(recs) != 4 {
		t.Fatalf("Journal = %d records, %v", len(recs), err)
	}
	for i, r := range recs {
		if string(r) != fmt.Sprintf("record %d", i) {
			t.Fatalf("record %d = %q", i, r)
		}
	}
	// A Store over a plain Store is no JournalStore.
	if _, ok := New(&onlyStore{}, Fixed(k)).(client.JournalStore); ok {
		t.Fatal("a Store without a journal became a JournalStore")
	}
}

type onlyStore struct{ b []byte }

func (o *onlyStore) Load(context.Context) ([]byte, error)   { return o.b, nil }
func (o *onlyStore) Save(_ context.Context, b []byte) error { o.b = b; return nil }

// TestTamperingRefused: states and records cannot be swapped, reordered,
// moved to another state or altered; each is refused as corrupt state (the
// client discards it) and never opened.
func TestTamperingRefused(t *testing.T) {
	ctx := context.Background()
	k := testKey(t, 1)
	cases := map[string]func(r *rawStore){
		"record as state":   func(r *rawStore) { r.state = r.journal[0] },
		"state as record":   func(r *rawStore) { r.journal[1] = r.state },
		"records reordered": func(r *rawStore) { r.journal[0], r.journal[1] = r.journal[1], r.journal[0] },
		"record dropped":    func(r *rawStore) { r.journal = r.journal[1:] },
		"record repeated":   func(r *rawStore) { r.journal[1] = r.journal[0] },
		"record flipped":    func(r *rawStore) { r.journal[2][len(r.journal[2])-1] ^= 1 },
		"record seq edited": func(r *rawStore) { r.journal[0][prefixSize+idSize] ^= 1 },
		"record from another state": func(r *rawStore) {
			other := &rawStore{}
			filled(t, other, k, 1)
			r.journal[0] = other.journal[0]
		},
		"state body flipped": func(r *rawStore) { r.state[len(r.state)-20] ^= 1 },
		"state truncated":    func(r *rawStore) { r.state = r.state[:statePrefix] },
		"plaintext state":    func(r *rawStore) { r.state = []byte("PLKOCLST....") },
	}
	for name, tamper := range cases {
		t.Run(name, func(t *testing.T) {
			raw := &rawStore{}
			filled(t, raw, k, 3)
			tamper(raw)
			s := New(raw, Fixed(k)).(*JournalStore)
			st, err := s.Load(ctx)
			if err == nil {
				_, err = s.Journal(ctx)
			}
			if !errors.Is(err, client.ErrCorruptState) {
				t.Fatalf("got %q, %v; want ErrCorruptState", st, err)
			}
		})
	}
}

// TestRecordOfOlderStateSkipped: a crash between a state's save and the
// journal's removal leaves the old state's records; they are not this
// state's and are skipped.
func TestRecordOfOlderStateSkipped(t *testing.T) {
	ctx := context.Background()
	k := testKey(t, 1)
	raw := &rawStore{}
	s := filled(t, raw, k, 2)
	old := raw.journal
	if err := s.Save(ctx, []byte("newer")); err != nil {
		t.Fatal(err)
	}
	raw.journal = old
	if err := s.Append(ctx, []byte("new record")); err != nil {
		t.Fatal(err)
	}
	s2 := New(raw, Fixed(k)).(*JournalStore)
	if st, err := s2.Load(ctx); err != nil || string(st) != "newer" {
		t.Fatalf("Load = %q, %v", st, err)
	}
	recs, err := s2.Journal(ctx)
	if err != nil || len(recs) != 1 || string(recs[0]) != "new record" {
		t.Fatalf("Journal = %q, %v", recs, err)
	}
}

// TestHeaderTamperingRefused: every byte of the header is authenticated;
// changing any is an error (corrupt, or a key that no longer fits), and the
// state is never returned.
func TestHeaderTamperingRefused(t *testing.T) {
	ctx := context.Background()
	k := testKey(t, 1)
	raw := &rawStore{}
	filled(t, raw, k, 0)
	good := raw.state
	for i := range statePrefix + 2 + nonceSize + nonceSize + dataKeySize + tagSize {
		raw.state = bytes.Clone(good)
		raw.state[i] ^= 0x40
		if st, err := New(raw, Fixed(k)).Load(ctx); err == nil {
			t.Fatalf("byte %d changed: Load = %q, nil", i, st)
		}
	}
}

func TestWrongKeyIsNotCorruption(t *testing.T) {
	ctx := context.Background()
	raw := &rawStore{}
	filled(t, raw, testKey(t, 1), 1)
	_, err := New(raw, Fixed(testKey(t, 2))).Load(ctx)
	if !errors.Is(err, ErrWrongKey) || errors.Is(err, client.ErrCorruptState) {
		t.Fatalf("wrong key: %v; want ErrWrongKey and not ErrCorruptState", err)
	}
	kr, _ := NewRawKey(SourceKeyring, bytes.Repeat([]byte{1}, 32))
	if _, err := New(raw, Fixed(kr)).Load(ctx); !errors.Is(err, ErrKeyUnavailable) {
		t.Fatalf("another source: %v; want ErrKeyUnavailable", err)
	}
}

var fastArgon = Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}

func TestPassphrase(t *testing.T) {
	ctx := context.Background()
	good, _ := NewPassphrase([]byte("correct horse"), fastArgon)
	raw := &rawStore{}
	s := filled(t, raw, good, 2)
	first := raw.state
	if err := s.Save(ctx, []byte("again")); err != nil {
		t.Fatal(err)
	}
	// The salt (and so the derivation) is kept across saves.
	if !bytes.Equal(first[prefixSize+2+9:][:saltSize], raw.state[prefixSize+2+9:][:saltSize]) {
		t.Fatal("a second save drew a new salt")
	}
	again, _ := NewPassphrase([]byte("correct horse"), fastArgon)
	if st, err := New(raw, Fixed(again)).Load(ctx); err != nil || string(st) != "again" {
		t.Fatalf("Load = %q, %v", st, err)
	}
	wrong, _ := NewPassphrase([]byte("battery staple"), fastArgon)
	_, err := New(raw, Fixed(wrong)).Load(ctx)
	if !errors.Is(err, ErrWrongKey) || errors.Is(err, client.ErrCorruptState) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	t.Logf("wrong passphrase: %v", err)
	if _, err := NewPassphrase(nil, fastArgon); err == nil {
		t.Fatal("empty passphrase accepted")
	}
}
