package sealed

import (
	"context"
	"errors"
	"testing"

	"github.com/plinko-pir/plinko/runtime/client"
)

// FuzzOpen feeds arbitrary bytes to the decoders as a saved state and as a
// journal record after a good state. They must never panic, never return
// data that was not sealed under the key, and fail only with the errors the
// client branches on. The seeds (a sealed state, a record, their prefixes)
// run in the normal test suite; go test -fuzz=FuzzOpen -fuzztime=30s
// explores further.
func FuzzOpen(f *testing.F) {
	k := testKey(f, 1)
	seed := &rawStore{}
	ctx := context.Background()
	s := New(seed, Fixed(k)).(*JournalStore)
	if err := s.Save(ctx, []byte("the state")); err != nil {
		f.Fatal(err)
	}
	if err := s.Append(ctx, []byte("record 0")); err != nil {
		f.Fatal(err)
	}
	for _, b := range [][]byte{seed.state, seed.journal[0], seed.state[:statePrefix+2], seed.journal[0][:journalFixed], nil, []byte(magic)} {
		f.Add(b)
	}
	pass, _ := NewPassphrase([]byte("x"), fastArgon)
	ps := &rawStore{}
	if err := New(ps, Fixed(pass)).Save(ctx, []byte("p")); err != nil {
		f.Fatal(err)
	}
	f.Add(ps.state)
	f.Fuzz(func(t *testing.T, b []byte) {
		ok := func(err error) bool {
			return errors.Is(err, client.ErrCorruptState) || errors.Is(err, ErrWrongKey) || errors.Is(err, ErrKeyUnavailable)
		}
		st, err := New(&rawStore{state: b}, Fixed(k)).Load(ctx)
		switch {
		case err != nil && !ok(err):
			t.Fatalf("state: unexpected error %v", err)
		case err == nil && st != nil && string(st) != "the state":
			t.Fatalf("state: opened to %q", st)
		}
		j := New(&rawStore{state: seed.state, journal: [][]byte{b}}, Fixed(k)).(*JournalStore)
		if _, err := j.Load(ctx); err != nil {
			t.Fatal(err)
		}
		recs, err := j.Journal(ctx)
		switch {
		case err != nil && !ok(err):
			t.Fatalf("record: unexpected error %v", err)
		case err == nil && len(recs) == 1 && string(recs[0]) != "record 0":
			t.Fatalf("record: opened to %q", recs[0])
		}
	})
}
