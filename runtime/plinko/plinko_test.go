package plinko

import (
	"bytes"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"testing"
)

var kinds = []OffsetKind{OffsetIPRF, OffsetAESScan}

func TestParams(t *testing.T) {
	for _, tc := range []struct {
		n    uint64
		w, c int
	}{
		{1, 2, 2}, {2, 4, 2}, {3, 4, 2}, {1000, 64, 16}, {1<<16 + 3, 1024, 66},
		{1 << 23, 8192, 1024}, {1<<23 + 1, 8192, 1026}, {1 << 28, 1 << 15, 1 << 13},
	} {
		p, err := NewParams(tc.n, 8)
		if err != nil {
			t.Fatalf("n=%d: %v", tc.n, err)
		}
		if p.W != tc.w || p.C != tc.c || p.Lambda != 128 || p.Q != DefaultBackups {
			t.Errorf("n=%d: W=%d C=%d lambda=%d q=%d, want W=%d C=%d", tc.n, p.W, p.C, p.Lambda, p.Q, tc.w, tc.c)
		}
	}
	p, _ := NewParams(1<<23, 8)
	if p.QuerySize() > 2048 || p.AnswerSize() > 64 {
		t.Errorf("n=2^23: query %d bytes, answer %d bytes", p.QuerySize(), p.AnswerSize())
	}
	for _, bad := range []struct {
		n    uint64
		e    int
		opts []Option
	}{
		{0, 8, nil}, {1<<28 + 1, 8, nil}, {10, 4, nil}, {10, 12, nil}, {10, 8, []Option{WithLambda(0)}},
		{10, 8, []Option{WithBackups(0)}}, {10, 8, []Option{WithBlockSize(6)}}, {10, 8, []Option{WithOffsets(9)}},
		{1 << 28, 8, []Option{WithBlockSize(1 << 16)}},
	} {
		if _, err := NewParams(bad.n, bad.e, bad.opts...); err == nil {
			t.Errorf("NewParams(%d, %d) accepted", bad.n, bad.e)
		}
	}
}

// TestOffsetFunctions checks, for both implementations, that bulk fill,
// single evaluation, half and inversion agree (including a domain big
// enough for the iPRF's compact ball->bin index, and a non-power-of-two
// domain that cycle-walks).
func TestOffsetFunctions(t *testing.T) {
	for _, k := range kinds {
		for _, opts := range [][]Option{
			{WithLambda(16), WithBackups(100)},
			{WithLambda(128), WithBackups(4096)},
			{WithLambda(5), WithBackups(1)},
		} {
			p, err := NewParams(5000, 8, append(opts, WithOffsets(k))...)
			if err != nil {
				t.Fatal(err)
			}
			pr, err := newPRF(bytes.Repeat([]byte{3}, 32), &StdKeystream{})
			if err != nil {
				t.Fatal(err)
			}
			for _, backup := range []bool{false, true} {
				f, _ := newOffsetFunc(k, p, pr, backup)
				domain := p.Regular()
				if backup {
					domain = p.Q
				}
				for _, a := range []uint32{0, 1, uint32(p.C - 1)} {
					fl, err := f.prepare(a)
					if err != nil {
						t.Fatal(err)
					}
					vals := make([]uint16, domain)
					if err := fl.fill(0, vals); err != nil {
						t.Fatal(err)
					}
					if inv, ok := fl.(*iprfFiller); ok {
						// The bulk inverse: ball y of bin v belongs to a hint
						// j with F(a, j) = v, and every hint has one ball.
						st := inv.starts
						js := make([]uint32, domain)
						inv.invert(0, js)
						seen := make([]bool, domain)
						v := 0
						for y, j := range js {
							for int(st[v+1]) <= y {
								v++
							}
							if seen[j] || int(vals[j])&(2*p.W-1) != v {
								t.Fatalf("%v: ball %d inverts to hint %d (seen %v), value %d, want bin %d", k, y, j, seen[j], vals[j], v)
							}
							seen[j] = true
						}
					}
					part := make([]uint16, domain/3)
					if err := fl.fill(uint32(domain/3), part); err != nil {
						t.Fatal(err)
					}
					mask := uint32(2*p.W - 1)
					inv := map[uint32][]uint32{}
					for j := range domain {
						v := uint32(vals[j]) & mask
						inv[v] = append(inv[v], uint32(j))
						if j%97 == 0 || domain < 5000 {
							if e := f.eval(a, uint32(j)); e != v {
								t.Fatalf("%v backup=%v block %d hint %d: eval %d, fill %d", k, backup, a, j, e, v)
							}
							off, ok := f.half(a, uint32(j), v >= uint32(p.W))
							if !ok || off != v%uint32(p.W) {
								t.Fatalf("%v: half disagrees", k)
							}
							if _, ok := f.half(a, uint32(j), v < uint32(p.W)); ok {
								t.Fatalf("%v: half accepts the wrong side", k)
							}
						}
						if j >= domain/3 && j < domain/3+len(part) && uint32(part[j-domain/3])&mask != v {
							t.Fatalf("%v: fill at an offset disagrees", k)
						}
					}
					for _, v := range []uint32{0, 1, uint32(p.W), mask, 77 % mask} {
						var got []uint32
						if err := f.preimages(a, []uint32{v}, func(j, vv uint32) bool {
							if vv != v {
								t.Fatalf("preimages reported value %d for %d", vv, v)
							}
							got = append(got, j)
							return true
						}); err != nil {
							t.Fatal(err)
						}
						slices.Sort(got)
						if !slices.Equal(got, inv[v]) {
							t.Fatalf("%v backup=%v block %d value %d: preimages %v, want %v", k, backup, a, v, got, inv[v])
						}
					}
				}
			}
		}
	}
}

func TestProtocolAllSizes(t *testing.T) {
	for _, k := range kinds {
		for _, n := range []uint64{1, 2, 3, 5, 17, 255, 1001} {
			t.Run(fmt.Sprintf("%v/n=%d", k, n), func(t *testing.T) {
				w := newWorld(t, n, 8, byte(n), WithOffsets(k), WithBackups(int(2*n+2)))
				for x := range n {
					w.lookup(x)
				}
				for x := range n { // every index again: decoys + cache
					w.lookup(x)
				}
			})
		}
	}
}

func TestProtocolLarge(t *testing.T) {
	n := uint64(1<<16 + 3)
	for _, k := range kinds {
		for _, entry := range []int{8, 16} {
			t.Run(fmt.Sprintf("%v/entry=%d", k, entry), func(t *testing.T) {
				w := newWorld(t, n, entry, 9, WithOffsets(k))
				rng := mrand.New(mrand.NewPCG(1, uint64(k)))
				xs := []uint64{0, 1, n - 1, n - 2, uint64(w.p.W) - 1, uint64(w.p.W)}
				for range 300 {
					xs = append(xs, rng.Uint64N(n))
				}
				for _, x := range xs {
					w.lookup(x)
				}
			})
		}
	}
}

// TestHintsCoverEveryIndex checks the 2^16+3 database through the hints
// themselves: every index is covered by some regular hint (lambda = 128),
// and sampled hints' parities equal the XOR of their sets.
func TestHintsCoverEveryIndex(t *testing.T) {
	n := uint64(1<<16 + 3)
	for _, k := range kinds {
		w := newWorld(t, n, 8, 4, WithOffsets(k))
		p, cl := w.p, w.cl
		vals := make([]uint16, p.Regular())
		for a := range uint32(p.C) {
			f, err := cl.reg.prepare(a)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.fill(0, vals); err != nil {
				t.Fatal(err)
			}
			covered := make([]int, p.W)
			for _, v := range vals {
				if int(v)&(2*p.W-1) < p.W {
					covered[int(v)&(p.W-1)]++
				}
			}
			for b, c := range covered {
				if x := uint64(a)*uint64(p.W) + uint64(b); x < n && c == 0 {
					t.Fatalf("%v: index %d has no hint", k, x)
				}
			}
		}
		for j := uint32(0); j < uint32(p.Regular()); j += 37 {
			var acc uint64
			for a := range uint32(p.C) {
				if off, ok := cl.reg.half(a, j, false); ok {
					i := uint64(a)*uint64(p.W) + uint64(off)
					acc ^= leU64(w.db[i*8:])
				}
			}
			if acc != cl.parity[j] {
				t.Fatalf("%v: hint %d parity %x, want %x", k, j, cl.parity[j], acc)
			}
		}
	}
}

func leU64(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

func TestUpdatesInterleaved(t *testing.T) {
	for _, k := range kinds {
		for _, entry := range []int{8, 32} {
			t.Run(fmt.Sprintf("%v/entry=%d", k, entry), func(t *testing.T) {
				w := newWorld(t, 3000, entry, 11, WithOffsets(k), WithBackups(400))
				rng := mrand.New(mrand.NewPCG(5, 6))
				hot := []uint64{7, 2999, 1500}
				for step := range 120 {
					w.update(rng, 1+rng.IntN(40))
					w.lookup(rng.Uint64N(w.p.N))
					w.lookup(hot[step%len(hot)]) // cached after the first time
				}
			})
		}
	}
}

func TestRefresh(t *testing.T) {
	for _, k := range kinds {
		w := newWorld(t, 500, 8, 12, WithOffsets(k), WithBackups(8))
		rng := mrand.New(mrand.NewPCG(7, 8))
		for round := range 3 {
			for range 8 {
				w.lookup(rng.Uint64N(w.p.N))
			}
			if w.cl.QueriesLeft() != 0 {
				t.Fatalf("queries left %d", w.cl.QueriesLeft())
			}
			if _, err := w.cl.Query(1); !errors.Is(err, ErrNeedRefresh) {
				t.Fatalf("round %d: query past q: %v", round, err)
			}
			w.update(rng, 5) // applied to the old hints, then refreshed away
			if err := w.cl.HintInit(bytes.NewReader(w.db), nil); err != nil {
				t.Fatal(err)
			}
			w.cl.SetEpoch(w.ep)
			if w.cl.QueriesLeft() != 8 {
				t.Fatal("refresh did not restore the backups")
			}
		}
	}
}

// TestRefreshWithQueriesInFlight: queries built before any answer arrives
// (a batch) each promise a backup, so the last backups cannot be promised
// twice; the panic this guards against took a pir-server test down.
func TestRefreshWithQueriesInFlight(t *testing.T) {
	for _, k := range kinds {
		w := newWorld(t, 500, 8, 14, WithOffsets(k), WithBackups(5))
		w.lookup(3)
		w.lookup(4)
		var qs []*Query
		for i := range 3 {
			q, err := w.cl.Query(uint64(100 + i))
			if err != nil {
				t.Fatalf("%v: query %d of a batch with 3 backups left: %v", k, i, err)
			}
			qs = append(qs, q)
		}
		if left := w.cl.QueriesLeft(); left != 0 {
			t.Fatalf("%v: %d queries left with 3 in flight", k, left)
		}
		if _, err := w.cl.Query(200); !errors.Is(err, ErrNeedRefresh) {
			t.Fatalf("%v: a fourth query in flight: %v", k, err)
		}
		for i, q := range qs {
			ans, _ := w.srv.Answer(q, w.ep)
			v, err := w.cl.Reconstruct(q, ans)
			x := uint64(100 + i)
			if err != nil || !bytes.Equal(v, w.want[x*8:x*8+8]) {
				t.Fatalf("%v: entry %d: %x %v", k, x, v, err)
			}
		}
		if _, err := w.cl.Query(1); !errors.Is(err, ErrNeedRefresh) {
			t.Fatalf("%v: query past q: %v", k, err)
		}
	}
}

func TestSameIndexManyTimes(t *testing.T) {
	for _, k := range kinds {
		w := newWorld(t, 2000, 16, 13, WithOffsets(k), WithBackups(200))
		rng := mrand.New(mrand.NewPCG(9, 10))
		for i := range 100 {
			q, err := w.cl.Query(42)
			if err != nil {
				t.Fatal(err)
			}
			if (i > 0) != q.pend.decoy {
				t.Fatalf("query %d: decoy=%v", i, q.pend.decoy)
			}
			ans, _ := w.srv.Answer(q, w.ep)
			v, err := w.cl.Reconstruct(q, ans)
			if err != nil || !bytes.Equal(v, w.want[42*16:43*16]) {
				t.Fatalf("query %d: %x %v", i, v, err)
			}
			if i%10 == 0 {
				w.update(rng, 3)
				ds := []Delta{{Index: 42, XOR: bytes.Repeat([]byte{byte(i + 1)}, 16)}}
				w.srv.ApplyDelta(42, ds[0].XOR)
				for j := range 16 {
					w.want[42*16+j] ^= byte(i + 1)
				}
				w.cl.ApplyDeltas(ds)
			}
		}
	}
}

func TestEpochs(t *testing.T) {
	for _, k := range kinds {
		w := newWorld(t, 700, 8, 14, WithOffsets(k))
		rng := mrand.New(mrand.NewPCG(11, 12))
		w.ep = 5
		w.cl.SetEpoch(5)
		q, err := w.cl.Query(300)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.srv.Answer(q, 4); !errors.Is(err, ErrQueryAhead) {
			t.Fatalf("server answered a query from the future: %v", err)
		}
		// The server moves on 3 epochs, touching index 300 and its neighbours.
		var missed [][]Delta
		for range 3 {
			var ds []Delta
			for _, x := range []uint64{300, 301, rng.Uint64N(700), rng.Uint64N(700)} {
				d := make([]byte, 8)
				d[0], d[7] = byte(rng.Uint32()), 1
				ds = append(ds, Delta{x, d})
				w.srv.ApplyDelta(x, d)
				for j := range d {
					w.want[int(x)*8+j] ^= d[j]
				}
			}
			missed = append(missed, ds)
		}
		ans, err := w.srv.Answer(q, 8)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.cl.Reconstruct(q, ans); !errors.Is(err, ErrEpochAhead) {
			t.Fatalf("want ErrEpochAhead, got %v", err)
		}
		for i, ds := range missed {
			if err := w.cl.ApplyDeltas(ds); err != nil {
				t.Fatal(err)
			}
			w.cl.SetEpoch(uint64(6 + i))
		}
		v, err := w.cl.Reconstruct(q, ans)
		if err != nil || !bytes.Equal(v, w.want[300*8:301*8]) {
			t.Fatalf("after catching up: %x %v, want %x", v, err, w.want[300*8:301*8])
		}
		if _, err := w.cl.Reconstruct(q, ans); !errors.Is(err, ErrQueryUsed) {
			t.Fatalf("reconstructed twice: %v", err)
		}
		w.ep = 8
		// An answer older than the hints is refused.
		q2, _ := w.cl.Query(5)
		old := &Answer{Epoch: 7, R0: make([]byte, 8), R1: make([]byte, 8)}
		if _, err := w.cl.Reconstruct(q2, old); !errors.Is(err, ErrAnswerStale) {
			t.Fatalf("stale answer: %v", err)
		}
		w.lookup(5)
		w.lookup(300)
	}
}

func TestStateRoundTrip(t *testing.T) {
	for _, k := range kinds {
		w := newWorld(t, 900, 16, 15, WithOffsets(k), WithBackups(50))
		rng := mrand.New(mrand.NewPCG(13, 14))
		for i := range 20 {
			w.lookup(uint64(i * 31 % 900))
		}
		w.update(rng, 30)
		st, err := w.cl.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		cl2, err := LoadClient(st, WithRand(seeded(99)))
		if err != nil {
			t.Fatal(err)
		}
		st2, _ := cl2.MarshalBinary()
		if !bytes.Equal(st, st2) {
			t.Fatal("state changed across save/load")
		}
		w.cl = cl2
		if cl2.QueriesLeft() != 30 || cl2.Epoch() != w.ep {
			t.Fatalf("loaded client: %d queries left, epoch %d", cl2.QueriesLeft(), cl2.Epoch())
		}
		for i := range 25 {
			w.update(rng, 4)
			w.lookup(uint64(i * 17 % 900))
		}
		for _, i := range []int{0, 10, len(st) / 2, len(st) - 1} {
			bad := bytes.Clone(st)
			bad[i] ^= 1
			if _, err := LoadClient(bad); !errors.Is(err, ErrBadState) {
				t.Fatalf("corrupt byte %d accepted: %v", i, err)
			}
		}
		if _, err := LoadClient(st[:len(st)-1]); err == nil {
			t.Fatal("truncated state accepted")
		}
	}
	// A client without hints round-trips too.
	p, _ := NewParams(10, 8)
	cl, _ := NewClient(p, seeded(1))
	st, _ := cl.MarshalBinary()
	cl2, err := LoadClient(st)
	if err != nil || cl2.Ready() {
		t.Fatalf("empty client: %v", err)
	}
	if _, err := cl2.Query(1); !errors.Is(err, ErrNoHints) {
		t.Fatal(err)
	}
}

func TestWireAndBatch(t *testing.T) {
	w := newWorld(t, 3333, 16, 16)
	var qs []*Query
	var as []*Answer
	for _, x := range []uint64{1, 2000, 3332} {
		q, err := w.cl.Query(x)
		if err != nil {
			t.Fatal(err)
		}
		qs = append(qs, q)
	}
	b, err := EncodeQueries(qs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeQueries(w.p, b)
	if err != nil || len(got) != 3 {
		t.Fatal(err)
	}
	for i, q := range got {
		if !slices.Equal(q.Offsets, qs[i].Offsets) || !bytes.Equal(q.Mask, qs[i].Mask) || q.Epoch != qs[i].Epoch {
			t.Fatal("query changed on the wire")
		}
		a, err := w.srv.Answer(q, 0)
		if err != nil {
			t.Fatal(err)
		}
		as = append(as, a)
	}
	ab, _ := EncodeAnswers(as)
	as2, err := DecodeAnswers(w.p, ab)
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range []uint64{1, 2000, 3332} {
		v, err := w.cl.Reconstruct(qs[i], as2[i])
		if err != nil || !bytes.Equal(v, w.want[x*16:x*16+16]) {
			t.Fatal("batch lookup failed", err)
		}
	}
	if _, err := EncodeQueries(nil); err == nil {
		t.Fatal("empty batch encoded")
	}
	if _, err := EncodeQueries(make([]*Query, MaxBatch+1)); err == nil {
		t.Fatal("oversized batch encoded")
	}
	if _, err := DecodeQueries(w.p, b[:len(b)-1]); !errors.Is(err, ErrMalformed) {
		t.Fatal("truncated batch decoded")
	}
}

// TestKeystreamPluggable: an independent AES-CTR following the documented
// derivation gives identical hints, and HintInit asks for large requests.
func TestKeystreamPluggable(t *testing.T) {
	for _, k := range kinds {
		p, _ := NewParams(4000, 8, WithOffsets(k), WithBackups(64))
		db := make([]byte, p.DBSize())
		seeded(3).Read(db[:4000*8])
		ks := &blockKeystream{}
		c1, _ := NewClient(p, seeded(20))
		c2, _ := NewClient(p, seeded(20), WithKeystream(ks), WithWorkers(2))
		if err := c1.HintInit(bytes.NewReader(db), nil); err != nil {
			t.Fatal(err)
		}
		var last uint64
		if err := c2.HintInit(bytes.NewReader(db), func(done, total uint64) {
			if done <= last || total != uint64(p.DBSize()) {
				t.Fatalf("progress %d/%d after %d", done, total, last)
			}
			last = done
		}); err != nil {
			t.Fatal(err)
		}
		if last != uint64(p.DBSize()) {
			t.Fatal("progress did not reach the total")
		}
		s1, _ := c1.MarshalBinary()
		s2, _ := c2.MarshalBinary()
		if !bytes.Equal(s1, s2) {
			t.Fatalf("%v: hints differ with the independent keystream", k)
		}
		if avg := ks.bytes / ks.calls; avg < 256 {
			t.Fatalf("%v: keystream requests average %d bytes", k, avg)
		}
	}
}

func TestHintInitShortSnapshot(t *testing.T) {
	p, _ := NewParams(4000, 8)
	cl, _ := NewClient(p, seeded(1))
	if err := cl.HintInit(bytes.NewReader(make([]byte, p.DBSize()-1)), nil); err == nil {
		t.Fatal("short snapshot accepted")
	}
	if cl.Ready() {
		t.Fatal("client ready after a failed HintInit")
	}
	// A failed refresh leaves working hints in place.
	w := newWorld(t, 4000, 8, 21)
	w.lookup(17)
	before, _ := w.cl.MarshalBinary()
	if err := w.cl.HintInit(bytes.NewReader(w.db[:len(w.db)/2]), nil); err == nil {
		t.Fatal("half a snapshot accepted")
	}
	after, _ := w.cl.MarshalBinary()
	if !bytes.Equal(before, after) {
		t.Fatal("a failed refresh changed the client")
	}
	w.lookup(17)
	w.lookup(3999)
	if _, err := NewServer(p, make([]byte, 5)); err == nil {
		t.Fatal("server accepted a short database")
	}
}

// TestWorkersAgree: hint generation on one, two or three workers builds
// identical hints (the workers split the hints of every block).
func TestWorkersAgree(t *testing.T) {
	for _, k := range kinds {
		for _, lambda := range []int{128, 5, 37} {
			p, _ := NewParams(4000, 16, WithLambda(lambda), WithBackups(33), WithOffsets(k))
			db := make([]byte, p.DBSize())
			seeded(8).Read(db[:4000*16])
			var first []byte
			for _, workers := range []int{1, 2, 3} {
				cl, _ := NewClient(p, seeded(30), WithWorkers(workers))
				if err := cl.HintInit(bytes.NewReader(db), nil); err != nil {
					t.Fatal(err)
				}
				st, _ := cl.MarshalBinary()
				if first == nil {
					first = st
				} else if !bytes.Equal(st, first) {
					t.Fatalf("%v lambda %d: %d workers build different hints", k, lambda, workers)
				}
			}
		}
	}
}
