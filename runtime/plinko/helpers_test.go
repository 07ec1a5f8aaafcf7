package plinko

import (
	"bytes"
	"crypto/aes"
	"encoding/binary"
	mrand "math/rand/v2"
	"sync"
	"testing"
)

// seedReader is a deterministic randomness source for reproducible tests.
type seedReader struct{ r *mrand.ChaCha8 }

func (s seedReader) Read(b []byte) (int, error) { return s.r.Read(b) }

func seeded(n byte) seedReader { return seedReader{mrand.NewChaCha8([32]byte{n})} }

// world is a server and a client over one random database, plus a plain
// copy of the database to check answers against.
type world struct {
	t    testing.TB
	p    Params
	db   []byte // what the server holds
	want []byte // independent copy, updated alongside
	srv  *Server
	cl   *Client
	ep   uint64
}

func newWorld(t testing.TB, n uint64, entry int, seed byte, opts ...Option) *world {
	t.Helper()
	p, err := NewParams(n, entry, opts...)
	if err != nil {
		t.Fatal(err)
	}
	rng := seeded(seed)
	db := make([]byte, p.DBSize())
	rng.Read(db[:int(n)*entry])
	srv, err := NewServer(p, db)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := NewClient(p, seeded(seed+100))
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.HintInit(bytes.NewReader(db), nil); err != nil {
		t.Fatal(err)
	}
	return &world{t: t, p: p, db: db, want: bytes.Clone(db), srv: srv, cl: cl}
}

// lookup runs the whole protocol through the wire format and checks the value.
func (w *world) lookup(x uint64) {
	w.t.Helper()
	q, err := w.cl.Query(x)
	if err != nil {
		w.t.Fatalf("query %d: %v", x, err)
	}
	qb, err := q.MarshalBinary()
	if err != nil {
		w.t.Fatal(err)
	}
	if len(qb) != w.p.QuerySize() {
		w.t.Fatalf("query of %d bytes, want %d", len(qb), w.p.QuerySize())
	}
	q2, err := DecodeQuery(w.p, qb)
	if err != nil {
		w.t.Fatal(err)
	}
	ans, err := w.srv.Answer(q2, w.ep)
	if err != nil {
		w.t.Fatal(err)
	}
	ab, _ := ans.MarshalBinary()
	a2, err := DecodeAnswer(w.p, ab)
	if err != nil {
		w.t.Fatal(err)
	}
	v, err := w.cl.Reconstruct(q, a2)
	if err != nil {
		w.t.Fatalf("reconstruct %d: %v", x, err)
	}
	e := w.p.EntrySize
	if !bytes.Equal(v, w.want[int(x)*e:int(x+1)*e]) {
		w.t.Fatalf("index %d: got %x, want %x", x, v, w.want[int(x)*e:int(x+1)*e])
	}
}

// replay loads the state base, applies the journal records recs taken
// since, and checks that the result saves exactly as the live client.
func (w *world) replay(what string, base []byte, recs [][]byte) *Client {
	w.t.Helper()
	re, err := LoadClient(base)
	if err != nil {
		w.t.Fatal(err)
	}
	for i, rec := range recs {
		if err := re.ApplyJournal(rec); err != nil {
			w.t.Fatalf("%srecord %d: %v", what, i, err)
		}
	}
	got, _ := re.MarshalBinary()
	want, _ := w.cl.MarshalBinary()
	if !bytes.Equal(got, want) {
		w.t.Fatalf("%sreplayed state differs from the live client", what)
	}
	return re
}

// update applies random deltas to the server, the reference and the client.
func (w *world) update(rng *mrand.Rand, k int) {
	w.t.Helper()
	e := w.p.EntrySize
	ds := make([]Delta, k)
	for i := range ds {
		x := rng.Uint64N(w.p.N)
		if i > 0 && rng.IntN(4) == 0 {
			x = ds[rng.IntN(i)].Index // repeated index in one batch
		}
		d := make([]byte, e)
		for j := range d {
			d[j] = byte(rng.Uint32())
		}
		ds[i] = Delta{Index: x, XOR: d}
		if err := w.srv.ApplyDelta(x, d); err != nil {
			w.t.Fatal(err)
		}
		for j := range d {
			w.want[int(x)*e+j] ^= d[j]
		}
	}
	if err := w.cl.ApplyDeltas(ds); err != nil {
		w.t.Fatal(err)
	}
	w.ep++
	w.cl.SetEpoch(w.ep)
}

// blockKeystream is an independent AES-CTR built from single-block
// encryptions, following the documented counter rule, that counts requests.
type blockKeystream struct {
	mu           sync.Mutex
	calls, bytes int
}

func (k *blockKeystream) Fill(key []byte, iv [16]byte, dst []byte) error {
	k.mu.Lock()
	k.calls++
	k.bytes += len(dst)
	k.mu.Unlock()
	b, err := aes.NewCipher(key)
	if err != nil {
		return err
	}
	hi, lo := binary.BigEndian.Uint64(iv[:8]), binary.BigEndian.Uint64(iv[8:])
	var in, out [16]byte
	for off := 0; off < len(dst); off += 16 {
		binary.BigEndian.PutUint64(in[:8], hi)
		binary.BigEndian.PutUint64(in[8:], lo)
		b.Encrypt(out[:], in[:])
		copy(dst[off:], out[:])
		lo++
		if lo == 0 {
			hi++
		}
	}
	return nil
}
