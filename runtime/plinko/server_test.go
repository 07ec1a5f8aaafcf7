package plinko

import (
	"bytes"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"testing"
)

// randomQuery is a well-formed query with random mask and offsets: the
// server's work is the same as for a real one.
func randomQuery(p Params, r *mrand.Rand) *Query {
	q := &Query{Mask: make([]byte, (p.C+7)/8), Offsets: make([]uint32, p.C), logW: p.LogW}
	for i := range q.Offsets {
		q.Offsets[i] = uint32(r.IntN(p.W))
	}
	for i := range q.Mask {
		q.Mask[i] = byte(r.Uint32())
	}
	return q
}

// TestAnswerBatch: a batch answered in one pass equals the queries answered
// one by one, for every entry size; a bad query anywhere refuses the batch.
func TestAnswerBatch(t *testing.T) {
	r := mrand.New(mrand.NewPCG(3, 4))
	for _, entry := range []int{8, 16, 32} {
		w := newWorld(t, 5000, entry, 31)
		for n := 1; n <= MaxBatch; n++ {
			qs := make([]*Query, n)
			for i := range qs {
				qs[i] = randomQuery(w.p, r)
			}
			as, err := w.srv.AnswerBatch(qs, 7)
			if err != nil {
				t.Fatal(err)
			}
			for i, q := range qs {
				a, _ := w.srv.Answer(q, 7)
				if as[i].Epoch != 7 || !bytes.Equal(a.R0, as[i].R0) || !bytes.Equal(a.R1, as[i].R1) {
					t.Fatalf("entry %d, batch of %d: answer %d differs from Answer", entry, n, i)
				}
			}
		}
		// Real queries through the batch path reconstruct the right values.
		for x := range uint64(20) {
			q, err := w.cl.Query(x * 211)
			if err != nil {
				t.Fatal(err)
			}
			as, err := w.srv.AnswerBatch([]*Query{q}, 0)
			if err != nil {
				t.Fatal(err)
			}
			v, err := w.cl.Reconstruct(q, as[0])
			if err != nil || !bytes.Equal(v, w.want[int(x*211)*entry:][:entry]) {
				t.Fatalf("entry %d: index %d through AnswerBatch: %x, %v", entry, x*211, v, err)
			}
		}
		bad := randomQuery(w.p, r)
		bad.Offsets[3] = uint32(w.p.W)
		if _, err := w.srv.AnswerBatch([]*Query{randomQuery(w.p, r), bad}, 0); !errors.Is(err, ErrMalformed) {
			t.Fatalf("offset outside a block: %v", err)
		}
		ahead := randomQuery(w.p, r)
		ahead.Epoch = 9
		if _, err := w.srv.AnswerBatch([]*Query{ahead}, 8); !errors.Is(err, ErrQueryAhead) {
			t.Fatalf("query ahead: %v", err)
		}
	}
}

// BenchmarkPlinkoAnswerBatch: one lookup's three queries at n = 2^23 with
// 16-byte entries, answered one by one and in one pass (random queries;
// the database is ordinary heap memory here, huge pages in the pir-server).
func BenchmarkPlinkoAnswerBatch(b *testing.B) {
	p, err := NewParams(1<<23, 16)
	if err != nil {
		b.Fatal(err)
	}
	db := make([]byte, p.DBSize())
	r := mrand.New(mrand.NewPCG(1, 2))
	for i := 0; i+8 <= len(db); i += 8 {
		db[i] = byte(r.Uint32())
	}
	srv, err := NewServer(p, db)
	if err != nil {
		b.Fatal(err)
	}
	const nb = 256
	batches := make([][]*Query, nb)
	for i := range batches {
		batches[i] = []*Query{randomQuery(p, r), randomQuery(p, r), randomQuery(p, r)}
	}
	for _, mode := range []string{"one-by-one", "one-pass"} {
		b.Run(fmt.Sprintf("n=2^23/entry=16/queries=3/%s", mode), func(b *testing.B) {
			c0 := cpuTime()
			for i := range b.N {
				qs := batches[i%nb]
				if mode == "one-pass" {
					if _, err := srv.AnswerBatch(qs, 0); err != nil {
						b.Fatal(err)
					}
					continue
				}
				for _, q := range qs {
					if _, err := srv.Answer(q, 0); err != nil {
						b.Fatal(err)
					}
				}
			}
			reportCPU(b, c0)
		})
	}
}
