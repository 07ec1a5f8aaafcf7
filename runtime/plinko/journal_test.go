package plinko

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"testing"
)

// TestJournalReplay: a state saved at a checkpoint plus the journal records
// taken since gives exactly the live client (same saved bytes), through
// lookups, decoys, promotions, updates and epochs, over several checkpoints;
// the replayed client then keeps answering correctly.
func TestJournalReplay(t *testing.T) {
	for _, k := range kinds {
		for _, entry := range []int{8, 16} {
			t.Run(fmt.Sprintf("%v/entry=%d", k, entry), func(t *testing.T) {
				w := newWorld(t, 3000, entry, 21, WithOffsets(k), WithBackups(300))
				if _, ok := w.cl.TakeJournal(); ok {
					t.Fatal("fresh hints journaled: a whole state must be saved first")
				}
				rng := mrand.New(mrand.NewPCG(11, 12))
				for round := range 4 {
					base, err := w.cl.MarshalBinary()
					if err != nil {
						t.Fatal(err)
					}
					w.cl.Checkpoint()
					var recs [][]byte
					for step := range 12 {
						switch step % 4 {
						case 0, 1:
							w.lookup(rng.Uint64N(w.p.N))
						case 2:
							w.lookup(7) // a decoy after the first time
						case 3:
							w.update(rng, 1+rng.IntN(30))
						}
						if rng.IntN(3) == 0 {
							rec, ok := w.cl.TakeJournal()
							if !ok {
								t.Fatal("journal unavailable")
							}
							if rec != nil {
								recs = append(recs, rec)
							}
						}
					}
					if rec, _ := w.cl.TakeJournal(); rec != nil {
						recs = append(recs, rec)
					}
					w.cl = w.replay(fmt.Sprintf("round %d: ", round), base, recs) // go on with the replayed client
					w.cl.Checkpoint()
				}
				for range 20 {
					w.lookup(rng.Uint64N(w.p.N))
				}
			})
		}
	}
}

// TestJournalRefused: records that do not verify or do not fit the client
// are refused, and nothing of them is applied.
func TestJournalRefused(t *testing.T) {
	w := newWorld(t, 1000, 8, 22, WithBackups(50))
	base, _ := w.cl.MarshalBinary()
	w.cl.Checkpoint()
	w.lookup(5)
	w.lookup(6)
	rec, ok := w.cl.TakeJournal()
	if !ok || rec == nil {
		t.Fatal("no journal record after two lookups")
	}
	check := func(name string, rec []byte) {
		t.Helper()
		re, err := LoadClient(base)
		if err != nil {
			t.Fatal(err)
		}
		before, _ := re.MarshalBinary()
		if err := re.ApplyJournal(rec); !errors.Is(err, ErrJournal) {
			t.Fatalf("%s: %v", name, err)
		}
		after, _ := re.MarshalBinary()
		if !bytes.Equal(before, after) {
			t.Fatalf("%s: a refused record changed the client", name)
		}
	}
	flipped := bytes.Clone(rec)
	flipped[len(flipped)/2] ^= 1
	check("flipped bit", flipped)
	check("truncated", rec[:len(rec)-1])
	check("empty", nil)
	// A promotion past the last backup: the same record replayed onto a
	// client whose backups are used up.
	w2 := newWorld(t, 1000, 8, 23, WithBackups(2))
	w2.cl.Checkpoint()
	w2.lookup(1)
	w2.lookup(2)
	rec2, _ := w2.cl.TakeJournal()
	full, _ := w2.cl.MarshalBinary()
	re, _ := LoadClient(full)
	if err := re.ApplyJournal(rec2); !errors.Is(err, ErrJournal) {
		t.Fatalf("record applied twice: %v", err)
	}
	// Fresh hints cannot be journaled.
	if err := w.cl.HintInit(bytes.NewReader(w.db), nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := w.cl.TakeJournal(); ok {
		t.Fatal("journal offered after HintInit")
	}
}

// TestStateFloatDigest: a state whose iPRF hints were built with other
// floating-point math (another architecture or Go version) is refused, so
// that the hints are rebuilt rather than silently answering wrong; the
// AES-PRF, which uses no floating point, does not care.
func TestStateFloatDigest(t *testing.T) {
	for _, k := range kinds {
		w := newWorld(t, 1000, 8, 25, WithOffsets(k), WithBackups(10))
		state, err := w.cl.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := LoadClient(state); err != nil {
			t.Fatalf("%v: own state refused: %v", k, err)
		}
		at := 4 + 1 + 8 + 2 + 1 + 4 + 2 + 4 + 1 // the digest's offset
		other := bytes.Clone(state)
		other[at] ^= 1
		sum := sha256.Sum256(other[:len(other)-sha256.Size])
		copy(other[len(other)-sha256.Size:], sum[:])
		_, err = LoadClient(other)
		if k == OffsetIPRF && !errors.Is(err, ErrBadState) {
			t.Fatalf("iPRF state from other float math accepted: %v", err)
		}
		if k == OffsetAESScan && err != nil {
			t.Fatalf("AES-PRF state refused for its float digest: %v", err)
		}
	}
}
