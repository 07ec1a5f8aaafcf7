package plinko

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"testing"
)

// batch builds a lookup's batch and sends it through the wire format;
// alter, if not nil, may change the answers before the client sees them.
func (w *world) batch(indices []uint64, alter func(as []*Answer)) ([][]byte, error) {
	w.t.Helper()
	b, err := w.cl.Batch(indices)
	if err != nil {
		return nil, err
	}
	if len(b.Queries) != len(indices)+ChecksPerBatch {
		w.t.Fatalf("%d queries for %d indices", len(b.Queries), len(indices))
	}
	as := w.answer(b)
	if alter != nil {
		alter(as)
	}
	return w.cl.ReconstructBatch(b, as)
}

// answer is the server's answers to a batch, through the wire format.
func (w *world) answer(b *Batch) []*Answer {
	w.t.Helper()
	body, err := EncodeQueries(b.Queries)
	if err != nil {
		w.t.Fatal(err)
	}
	qs, err := DecodeQueries(w.p, body)
	if err != nil {
		w.t.Fatal(err)
	}
	as := make([]*Answer, len(qs))
	for i, q := range qs {
		if as[i], err = w.srv.Answer(q, w.ep); err != nil {
			w.t.Fatal(err)
		}
	}
	return as
}

// lookupBatch is batch without tampering, checking the values.
func (w *world) lookupBatch(indices []uint64) {
	w.t.Helper()
	vs, err := w.batch(indices, nil)
	if err != nil {
		w.t.Fatalf("batch %v: %v", indices, err)
	}
	w.checkValues(indices, vs)
}

func (w *world) checkValues(indices []uint64, vs [][]byte) {
	w.t.Helper()
	e := w.p.EntrySize
	for i, x := range indices {
		if !bytes.Equal(vs[i], w.want[int(x)*e:int(x+1)*e]) {
			w.t.Fatalf("index %d: got %x, want %x", x, vs[i], w.want[int(x)*e:int(x+1)*e])
		}
	}
}

// repair queries the owed indices again, three at a time, as runtime/client does.
func (w *world) repair(rng *mrand.Rand) {
	w.t.Helper()
	owed := w.cl.Owed()
	for len(owed) > 0 {
		k := min(3, len(owed))
		idx := append([]uint64(nil), owed[:k]...)
		for len(idx) < 3 {
			idx = append(idx, rng.Uint64N(w.p.N))
		}
		w.lookupBatch(idx)
		owed = owed[k:]
	}
	if owed := w.cl.Owed(); len(owed) != 0 {
		w.t.Fatalf("still owed after the repair: %v", owed)
	}
}

// TestBatchSession: lookups as runtime/client sends them (three indices and
// a check), with repeats, updates between building and answering (the
// answer is then ahead of the hints), abandoned batches and their repair,
// and journal replay of all of it, give the right values throughout.
func TestBatchSession(t *testing.T) {
	for _, k := range kinds {
		for _, entry := range []int{8, 16, 24} { // 24: the keyword entries
			t.Run(fmt.Sprintf("%v/entry=%d", k, entry), func(t *testing.T) {
				w := newWorld(t, 3000, entry, 31, WithOffsets(k), WithBackups(600))
				rng := mrand.New(mrand.NewPCG(13, 14))
				pool := []uint64{1, 2, 999, 1500, 2999}
				pick := func() uint64 {
					if rng.IntN(2) == 0 {
						return pool[rng.IntN(len(pool))] // a repeat, later a decoy
					}
					return rng.Uint64N(w.p.N)
				}
				base, _ := w.cl.MarshalBinary()
				w.cl.Checkpoint()
				var recs [][]byte
				for step := range 60 {
					idx := []uint64{pick(), pick(), pick()}
					switch step % 5 {
					case 0: // abandoned after sending
						if _, err := w.cl.Batch(idx); err != nil {
							t.Fatal(err)
						}
						if len(w.cl.Owed()) == 0 {
							t.Fatal("an abandoned batch owes nothing")
						}
					case 1: // the database moves on while the answer is computed
						b, err := w.cl.Batch(idx)
						if err != nil {
							t.Fatal(err)
						}
						ep := w.ep
						w.update(rng, 1+rng.IntN(20))
						// the server answers at the new epoch; the client, at
						// the old one, asks for the deltas first
						as := w.answer(b)
						w.cl.SetEpoch(ep)
						if _, err := w.cl.ReconstructBatch(b, as); !errors.Is(err, ErrEpochAhead) {
							t.Fatalf("answer ahead of the hints: %v", err)
						}
						w.cl.SetEpoch(w.ep)
						vs, err := w.cl.ReconstructBatch(b, as)
						if err != nil {
							t.Fatal(err)
						}
						w.checkValues(idx, vs)
					default:
						w.repair(rng)
						w.lookupBatch(idx)
					}
					if rec, ok := w.cl.TakeJournal(); !ok {
						t.Fatal("journal unavailable")
					} else if rec != nil {
						recs = append(recs, rec)
					}
				}
				w.cl = w.replay("", base, recs)
				w.repair(rng)
				for range 20 {
					w.lookupBatch([]uint64{pick(), pick(), pick()})
				}
			})
		}
	}
}

// TestTamperDetected: a server that alters answers is caught by the check
// query with the probability PRIVACY.md states (every altered batch when
// it alters every answer; t/4 of them when it alters t of a lookup's 4),
// the client keeps nothing from a refused batch, and its hints stay
// consistent: honest answers afterwards give the right values.
func TestTamperDetected(t *testing.T) {
	flip := func(a *Answer) { // a few bytes of the value half, framing intact
		a.R0[len(a.R0)-1] ^= 0x5a
		a.R1[len(a.R1)-1] ^= 0x5a
	}
	w := newWorld(t, 1<<14, 16, 41, WithBackups(4096))
	rng := mrand.New(mrand.NewPCG(15, 16))
	lookups := 0
	run := func(alter func([]*Answer), check bool) error {
		lookups++
		if lookups%150 == 0 { // stay within the backups
			if err := w.cl.HintInit(bytes.NewReader(w.db), nil); err != nil {
				t.Fatal(err)
			}
			w.cl.SetEpoch(w.ep)
		}
		idx := []uint64{rng.Uint64N(w.p.N), rng.Uint64N(w.p.N), rng.Uint64N(w.p.N)}
		cache := len(w.cl.cache)
		vs, err := w.batch(idx, alter)
		if err != nil {
			if len(w.cl.cache) != cache {
				t.Fatal("a refused batch added to the cache")
			}
			return err
		}
		if check {
			w.checkValues(idx, vs)
		}
		return nil
	}
	t.Run("every answer", func(t *testing.T) {
		for range 50 {
			if err := run(func(as []*Answer) {
				for _, a := range as {
					flip(a)
				}
			}, true); !errors.Is(err, ErrTampered) {
				t.Fatalf("altered batch accepted: %v", err)
			}
		}
		w.repair(rng)
	})
	t.Run("one batch in ten", func(t *testing.T) {
		for i := range 100 {
			var alter func([]*Answer)
			if i%10 == 0 {
				alter = func(as []*Answer) {
					for _, a := range as {
						flip(a)
					}
				}
			}
			err := run(alter, true)
			if (alter != nil) != errors.Is(err, ErrTampered) {
				t.Fatalf("batch %d (altered %v): %v", i, alter != nil, err)
			}
			if err != nil && !errors.Is(err, ErrTampered) {
				t.Fatal(err)
			}
			w.repair(rng)
		}
	})
	t.Run("one answer of four", func(t *testing.T) {
		// Detection is 1/4 per altered batch: the altered answer is the
		// check with probability 1/4, since the server cannot tell which
		// one it is. An altered real answer goes unnoticed and its wrong
		// value is promoted into a hint, so the world is rebuilt after.
		w = newWorld(t, 1<<12, 8, 42, WithBackups(4096)) // cheap to rebuild
		lookups = 1
		const n = 600
		caught := 0
		for range n {
			err := run(func(as []*Answer) { flip(as[rng.IntN(len(as))]) }, false)
			switch {
			case errors.Is(err, ErrTampered):
				caught++
			case err != nil:
				t.Fatal(err)
			default: // a wrong value was promoted: start from fresh hints
				if err := w.cl.HintInit(bytes.NewReader(w.db), nil); err != nil {
					t.Fatal(err)
				}
				w.cl.SetEpoch(w.ep)
			}
		}
		z := (float64(caught) - n/4.0) / math.Sqrt(n*0.25*0.75)
		t.Logf("caught %d of %d batches with one altered answer (z = %.2f from 1/4)", caught, n, z)
		if math.Abs(z) > 5 {
			t.Fatalf("detection rate %d/%d is not 1/4", caught, n)
		}
	})
}

// TestHintChoiceUniform: a query draws its hint uniformly from every unused
// hint covering the target, promoted ones included. The same saved state
// is loaded with fresh randomness many times and queried for one index
// whose candidates include promoted hints; the picks must be uniform.
func TestHintChoiceUniform(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			w := newWorld(t, 256, 8, 51, WithBlockSize(16), WithLambda(32), WithOffsets(k), WithBackups(512))
			rng := mrand.New(mrand.NewPCG(17, 18))
			for range 60 {
				w.lookupBatch([]uint64{rng.Uint64N(w.p.N), rng.Uint64N(w.p.N), rng.Uint64N(w.p.N)})
			}
			// An index not looked up whose candidates include promoted hints.
			target, promoted := uint64(0), 0
			var cands []hintRef
			for x := range w.p.N {
				if w.cl.cache[x] != nil {
					continue
				}
				c, err := w.cl.candidates(uint32(x/uint64(w.p.W)), uint32(x%uint64(w.p.W)))
				if err != nil {
					t.Fatal(err)
				}
				np := 0
				for _, h := range c {
					if h.promoted {
						np++
					}
				}
				if np > promoted {
					target, promoted, cands = x, np, c
				}
			}
			if promoted == 0 {
				t.Fatal("no index is covered by a promoted hint")
			}
			state, _ := w.cl.MarshalBinary()
			counts := map[hintRef]int{}
			const trials = 6000
			for i := range trials {
				cl, err := LoadClient(state, WithRand(seedReader{mrand.NewChaCha8([32]byte{byte(i), byte(i >> 8), 9})}))
				if err != nil {
					t.Fatal(err)
				}
				q, err := cl.Query(target)
				if err != nil {
					t.Fatal(err)
				}
				counts[hintRef{q.pend.promoted, q.pend.hint}]++
			}
			stat := 0.0
			exp := float64(trials) / float64(len(cands))
			for _, h := range cands {
				d := float64(counts[h]) - exp
				stat += d * d / exp
				delete(counts, h)
			}
			if len(counts) != 0 {
				t.Fatalf("picked hints that are not candidates: %v", counts)
			}
			df := float64(len(cands) - 1)
			z := (math.Cbrt(stat/df) - (1 - 2/(9*df))) / math.Sqrt(2/(9*df))
			t.Logf("%d candidates (%d promoted), chi-square z = %.2f", len(cands), promoted, z)
			if z > 5 {
				t.Fatalf("hint choice is not uniform: z = %.2f", z)
			}
		})
	}
}
