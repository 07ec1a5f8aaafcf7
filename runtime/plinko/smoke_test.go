package plinko

import (
	"bytes"
	mrand "math/rand/v2"
	"testing"
)

type seedReader struct{ r *mrand.ChaCha8 }

func (s seedReader) Read(b []byte) (int, error) { return s.r.Read(b) }

func TestSmoke(t *testing.T) {
	for _, k := range []OffsetKind{OffsetIPRF, OffsetAESScan} {
		p, err := NewParams(1000, 8, WithOffsets(k), WithLambda(16), WithBackups(64))
		if err != nil {
			t.Fatal(err)
		}
		rng := seedReader{mrand.NewChaCha8([32]byte{1})}
		db := make([]byte, p.DBSize())
		rng.Read(db[:int(p.N)*8])
		srv, _ := NewServer(p, db)
		cl, err := NewClient(p, rng)
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.HintInit(bytes.NewReader(db), nil); err != nil {
			t.Fatal(err)
		}
		for i := uint64(0); i < 40; i++ {
			q, err := cl.Query(i * 7 % p.N)
			if err != nil {
				t.Fatal(k, i, err)
			}
			a, _ := srv.Answer(q, 0)
			v, err := cl.Reconstruct(q, a)
			if err != nil {
				t.Fatal(err)
			}
			x := i * 7 % p.N
			if !bytes.Equal(v, db[x*8:x*8+8]) {
				t.Fatalf("%v index %d wrong", k, x)
			}
		}
	}
}
