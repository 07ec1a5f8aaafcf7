package plinko

import (
	"bytes"
	"crypto/sha256"
	mrand "math/rand/v2"
	"testing"
)

// fuzzParams are the layouts the decoders are fuzzed against.
func fuzzParams(t testing.TB) []Params {
	var ps []Params
	for _, c := range []struct {
		n uint64
		e int
	}{{1000, 8}, {37, 16}, {1 << 23, 8}} {
		p, err := NewParams(c.n, c.e)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

func fuzzWorld(t testing.TB) *world { return newWorld(t, 1000, 8, 77, WithBackups(16)) }

func FuzzDecodeQuery(f *testing.F) {
	w := fuzzWorld(f)
	for _, x := range []uint64{0, 999} {
		q, _ := w.cl.Query(x)
		b, _ := q.MarshalBinary()
		f.Add(b)
		b[len(b)-1] ^= 0x80
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{1, 6, 0, 0, 0, 0, 0, 0, 0, 0})
	ps := fuzzParams(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, p := range ps {
			q, err := DecodeQuery(p, b)
			if err != nil {
				continue
			}
			out, err := q.MarshalBinary()
			if err != nil || !bytes.Equal(out, b) {
				t.Fatalf("query does not re-encode to its input: %v", err)
			}
			if p.N == w.p.N && p.EntrySize == w.p.EntrySize {
				if _, err := w.srv.Answer(q, ^uint64(0)); err != nil {
					t.Fatalf("valid query not answered: %v", err)
				}
			}
		}
	})
}

func FuzzDecodeAnswer(f *testing.F) {
	w := fuzzWorld(f)
	q, _ := w.cl.Query(5)
	a, _ := w.srv.Answer(q, 3)
	b, _ := a.MarshalBinary()
	f.Add(b)
	f.Add(b[:len(b)-1])
	f.Add([]byte{2})
	ps := fuzzParams(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, p := range ps {
			a, err := DecodeAnswer(p, b)
			if err != nil {
				continue
			}
			out, err := a.MarshalBinary()
			if err != nil || !bytes.Equal(out, b) {
				t.Fatalf("answer does not re-encode to its input: %v", err)
			}
		}
	})
}

func FuzzDecodeBatch(f *testing.F) {
	w := fuzzWorld(f)
	var qs []*Query
	var as []*Answer
	for _, x := range []uint64{1, 2, 3} {
		q, _ := w.cl.Query(x)
		a, _ := w.srv.Answer(q, 0)
		qs, as = append(qs, q), append(as, a)
	}
	qb, _ := EncodeQueries(qs)
	ab, _ := EncodeAnswers(as)
	f.Add(qb)
	f.Add(ab)
	f.Add([]byte{1, 0})
	f.Add([]byte{1, 255})
	f.Add([]byte{2, 0, 0})
	f.Add([]byte{2, 1, 0})
	f.Add([]byte{2, 0xff, 0xff})
	ps := fuzzParams(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, p := range ps {
			if qs, err := DecodeQueries(p, b); err == nil {
				out, err := EncodeQueries(qs)
				if err != nil || !bytes.Equal(out, b) {
					t.Fatal("query batch does not re-encode to its input")
				}
			}
			if as, err := DecodeAnswers(p, b); err == nil {
				out, err := EncodeAnswers(as)
				if err != nil || !bytes.Equal(out, b) {
					t.Fatal("answer batch does not re-encode to its input")
				}
			}
		}
	})
}

// FuzzLoadClient feeds LoadClient both the raw input and the input with a
// valid checksum appended, so the parser behind the checksum is fuzzed too.
func FuzzLoadClient(f *testing.F) {
	w := newWorld(f, 300, 8, 78, WithBackups(6), WithLambda(8))
	for _, x := range []uint64{1, 2, 1} {
		w.lookup(x)
	}
	st, _ := w.cl.MarshalBinary()
	f.Add(st)
	for x := uint64(5); ; x++ { // abandoned: owed replacements (lambda 8 misses some)
		if _, err := w.cl.Batch([]uint64{x}); err == nil {
			break
		}
	}
	owed, _ := w.cl.MarshalBinary()
	f.Add(owed)
	f.Add(st[:len(st)-sha256.Size])
	p, _ := NewParams(10, 16)
	empty, _ := NewClient(p, seeded(5))
	es, _ := empty.MarshalBinary()
	f.Add(es)
	f.Add(es[:len(es)-sha256.Size])
	f.Add([]byte("PLKC"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sum := sha256.Sum256(b)
		for _, in := range [][]byte{b, append(bytes.Clone(b), sum[:]...)} {
			cl, err := LoadClient(in, WithRand(seeded(1)))
			if err != nil {
				continue
			}
			out, err := cl.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := LoadClient(out); err != nil {
				t.Fatalf("re-encoded state refused: %v", err)
			}
			if cl.Ready() && cl.QueriesLeft() > 0 {
				if q, err := cl.Query(cl.Params().N - 1); err == nil {
					_, _ = q.MarshalBinary()
				}
				_ = cl.Owed()
				_, _ = cl.Batch([]uint64{0})
			}
		}
	})
}

// FuzzApplyJournal feeds ApplyJournal records (raw, and with a valid
// checksum appended) on top of a state with lookups, decoys, an abandoned
// batch and owed replacements: a record is applied whole or refused, never
// a panic, and what it leaves saves and loads again.
func FuzzApplyJournal(f *testing.F) {
	w := newWorld(f, 300, 8, 79, WithBackups(40), WithLambda(8))
	w.lookupBatch([]uint64{1, 2, 3})
	base, _ := w.cl.MarshalBinary()
	w.cl.Checkpoint()
	if _, err := w.cl.Batch([]uint64{4, 1, 9}); err != nil {
		f.Fatal(err)
	}
	rec1, _ := w.cl.TakeJournal()
	w.lookupBatch([]uint64{1, 4, 250})
	w.update(mrand.New(mrand.NewPCG(1, 2)), 3)
	rec2, _ := w.cl.TakeJournal()
	for _, r := range [][]byte{rec1, rec2, append(bytes.Clone(rec1), rec2...)} {
		f.Add(r)
		f.Add(r[:len(r)-sha256.Size])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sum := sha256.Sum256(b)
		for _, in := range [][]byte{b, append(bytes.Clone(b), sum[:]...)} {
			cl, err := LoadClient(base, WithRand(seeded(1)))
			if err != nil {
				t.Fatal(err)
			}
			if err := cl.ApplyJournal(in); err != nil {
				continue
			}
			out, err := cl.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := LoadClient(out); err != nil {
				t.Fatalf("state after a journal record refused: %v", err)
			}
			_ = cl.Owed()
			_, _ = cl.Batch([]uint64{7})
		}
	})
}
