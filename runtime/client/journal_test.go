package client

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// TestJournalAcrossRestarts: lookups and new blocks go to the journal; a
// client restarted from the directory at any point holds exactly the live
// client's hints; a full journal is compacted into a whole state.
func TestJournalAcrossRestarts(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t, testAccounts)
	store := NewDirStore(filepath.Join(t.TempDir(), "state"))
	c := e.newClient(store)
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	state0, _ := store.Load(ctx)
	r := rand.New(rand.NewPCG(4, 4))
	for round := range 6 {
		e.advance(30, 3, r)
		for range 3 {
			e.checkLookup(c, e.accounts[r.IntN(len(e.accounts))], true)
		}
		live, _ := c.s.pl.MarshalBinary()
		if got := e.savedHints(store); !bytes.Equal(got, live) {
			t.Fatalf("round %d: restarted hints differ from the live client's", round)
		}
	}
	if st, _ := store.Load(ctx); !bytes.Equal(st, state0) {
		t.Fatal("the whole state was rewritten although the journal had room")
	}
	recs, _ := store.Journal(ctx)
	if len(recs) == 0 {
		t.Fatal("nothing journaled")
	}
	// Lower the limit: the next save compacts into a whole state.
	defer func(v int) { maxJournalBytes = v }(maxJournalBytes)
	maxJournalBytes = 1
	e.checkLookup(c, e.accounts[1], true)
	if st, _ := store.Load(ctx); bytes.Equal(st, state0) {
		t.Fatal("a full journal was not compacted")
	}
	live, _ := c.s.pl.MarshalBinary()
	if got := e.savedHints(store); !bytes.Equal(got, live) {
		t.Fatal("hints after compaction differ")
	}
	// A restarted client keeps working from the journal it replays.
	maxJournalBytes = 1 << 20
	c2 := e.newClient(store)
	for range 5 {
		e.checkLookup(c2, e.accounts[r.IntN(len(e.accounts))], true)
	}
	if e.snapshotGets.Load() != 1 {
		t.Fatalf("%d snapshot downloads, want 1", e.snapshotGets.Load())
	}
}

// TestJournalTornTail: a crash during an append leaves part of a frame; it
// is dropped (its query was never sent) and cut off, and appends go on.
func TestJournalTornTail(t *testing.T) {
	e := newTestEnv(t, 500)
	store := NewDirStore(filepath.Join(t.TempDir(), "state"))
	c := e.newClient(store)
	e.checkLookup(c, e.accounts[1], true)
	want := e.savedHints(store)
	f, err := os.OpenFile(filepath.Join(store.Dir, journalFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{200, 0, 0, 0, 1, 2, 3}) // a frame promising 200 bytes, 3 written
	f.Close()
	if got := e.savedHints(store); !bytes.Equal(got, want) {
		t.Fatal("a torn tail changed the restored hints")
	}
	c2 := e.newClient(store)
	e.checkLookup(c2, e.accounts[2], true)
	live, _ := c2.s.pl.MarshalBinary()
	if got := e.savedHints(store); !bytes.Equal(got, live) {
		t.Fatal("records appended after a torn tail are lost")
	}
	if e.snapshotGets.Load() != 1 {
		t.Fatal("a torn tail caused a rebuild")
	}
}

// TestJournalDamaged: a damaged or missing record of the current state
// discards the whole state (hints rebuilt with a fresh key), so that a hint
// a sent query used is never used again; records of an older state are
// skipped.
func TestJournalDamaged(t *testing.T) {
	ctx := context.Background()
	for _, damage := range []string{"flipped", "missing"} {
		t.Run(damage, func(t *testing.T) {
			e := newTestEnv(t, 500)
			store := NewDirStore(filepath.Join(t.TempDir(), "state"))
			c := e.newClient(store)
			e.checkLookup(c, e.accounts[1], true)
			e.checkLookup(c, e.accounts[2], true)
			recs, _ := store.Journal(ctx)
			if len(recs) != 4 {
				t.Fatalf("%d records after two lookups, want 4", len(recs))
			}
			state, _ := store.Load(ctx)
			if err := store.Save(ctx, state); err != nil { // clears the journal
				t.Fatal(err)
			}
			for i, rec := range recs {
				switch {
				case damage == "flipped" && i == 1:
					rec = bytes.Clone(rec)
					rec[len(rec)/2] ^= 1
				case damage == "missing" && i == 1:
					continue
				}
				if err := store.Append(ctx, rec); err != nil {
					t.Fatal(err)
				}
			}
			c2 := e.newClient(store)
			e.checkLookup(c2, e.accounts[3], true)
			if e.snapshotGets.Load() != 2 {
				t.Fatalf("%d snapshot downloads: a damaged journal must discard the state (want 2)", e.snapshotGets.Load())
			}
		})
	}
	t.Run("stale", func(t *testing.T) {
		e := newTestEnv(t, 500)
		store := NewDirStore(filepath.Join(t.TempDir(), "state"))
		c := e.newClient(store)
		e.checkLookup(c, e.accounts[1], true)
		old, _ := store.Journal(ctx)
		// A whole save whose journal clean-up did not happen (a crash).
		prev := maxJournalBytes
		maxJournalBytes = 1
		e.checkLookup(c, e.accounts[2], true)
		maxJournalBytes = prev
		for _, rec := range old {
			store.Append(ctx, rec)
		}
		live, _ := c.s.pl.MarshalBinary()
		if got := e.savedHints(store); !bytes.Equal(got, live) {
			t.Fatal("records of an older state were applied")
		}
		c2 := e.newClient(store)
		e.checkLookup(c2, e.accounts[3], true)
		// The first save after finding stale records is a whole one (it
		// clears them); the reconstruction after it is journaled.
		if recs, _ := store.Journal(ctx); len(recs) != 1 {
			t.Fatalf("%d journal records after the next lookup, want 1 (stale ones cleared)", len(recs))
		}
		live, _ = c2.s.pl.MarshalBinary()
		if got := e.savedHints(store); !bytes.Equal(got, live) {
			t.Fatal("hints after clearing stale records differ")
		}
		if e.snapshotGets.Load() != 1 {
			t.Fatal("stale records caused a rebuild")
		}
	})
}

// FuzzJournalRecord: hostile records never panic the decoder.
func FuzzJournalRecord(f *testing.F) {
	r := journalRecord{Seq: 3, Epoch: 9, Block: 9, Plinko: []byte("PLKJ...")}
	f.Add(r.marshal())
	f.Add([]byte(journalMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, err := unmarshalJournalRecord(b); err == nil && !bytes.Equal(got.marshal(), b) {
			t.Fatal("a record decoded but does not encode back to itself")
		}
	})
}
