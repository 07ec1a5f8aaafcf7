package plinko

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"runtime"
	"sync"
	"testing"
)

// The cross-query privacy test. A world is a whole client session as the
// server sees it: hints from the snapshot, a first lookup of three
// targets, then a run of later lookups (three indices each, batched with
// their check as Batch sends them; drawn from a small pool so that repeats
// become decoys; one in four abandoned after sending, and repaired before
// the next lookup as runtime/client does). Two worlds differ only in the
// first lookup's targets. The feature is what a curious server would
// count: how often later queries carry each first target's offset in its
// block. If the session leaks anything about the first targets through
// the hints it leaves behind, the counts differ between the worlds.
//
// The parameters are tiny (4 blocks of 16 entries, lambda 16: each offset
// is in about 8 regular hints), so that one consumed hint moves the
// counts by a visible amount.

// sessionParams: N = 64, W = 16, C = 4, lambda 16, 256 backups.
func sessionParams(t testing.TB, k OffsetKind) Params {
	p, err := NewParams(64, 8, WithBlockSize(16), WithLambda(16), WithBackups(256), WithOffsets(k))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sessionLeak is a deliberately broken client the test must flag.
type sessionLeak uint8

const (
	sessionHonest       sessionLeak = iota
	sessionNoRejoin                 // replacements never rejoin the pool (main before the fix, in effect)
	sessionNeverRepairs             // abandoned queries' replacements are never completed
)

type sessionOp struct {
	indices []uint64
	abandon bool
}

// sessionRun plays one session and returns, for each index of watch, how
// many later queries carried its offset in its block.
func sessionRun(t testing.TB, p Params, db []byte, srv *Server, first sessionOp, ops []sessionOp, watch []uint64, leak sessionLeak, seed [32]byte) []int {
	// It runs on a worker goroutine: failures are t.Errorf, then stop.
	failed := false
	fail := func(format string, args ...any) {
		t.Errorf(format, args...)
		failed = true
	}
	cl, err := NewClient(p, seedReader{mrand.NewChaCha8(seed)})
	if err == nil {
		err = cl.HintInit(bytes.NewReader(db), nil)
	}
	if err != nil {
		t.Error(err)
		return nil
	}
	hits := make([]int, len(watch))
	observe := func(b *Batch) {
		for _, q := range b.Queries {
			wire, _ := q.MarshalBinary()
			seen, err := DecodeQuery(p, wire) // exactly the server's view
			if err != nil {
				fail("decoding query: %v", err)
				return
			}
			for i, x := range watch {
				if seen.Offsets[x/uint64(p.W)] == uint32(x%uint64(p.W)) {
					hits[i]++
				}
			}
		}
	}
	run := func(indices []uint64, abandon, record bool) {
		b, err := cl.Batch(indices)
		for try := 0; try < 5 && errors.Is(err, ErrNoHint); try++ {
			// As runtime/client does: refresh the hints, build again
			// (at these tiny parameters an index misses every hint
			// about once in 3000).
			if err := cl.HintInit(bytes.NewReader(db), nil); err != nil {
				fail("refresh: %v", err)
				return
			}
			b, err = cl.Batch(indices)
		}
		if err != nil {
			fail("batch: %v", err)
			return
		}
		if record {
			observe(b)
		}
		if abandon {
			return
		}
		as := make([]*Answer, len(b.Queries))
		for i, q := range b.Queries {
			if as[i], err = srv.Answer(q, 0); err != nil {
				fail("answer: %v", err)
				return
			}
		}
		vs, err := cl.ReconstructBatch(b, as)
		if err != nil {
			fail("reconstruct: %v", err)
			return
		}
		for i, x := range indices {
			if !bytes.Equal(vs[i], db[x*8:x*8+8]) {
				fail("index %d: wrong value", x)
				return
			}
		}
		if leak == sessionNoRejoin {
			for j := range cl.prom {
				cl.prom[j].used = true
			}
		}
	}
	run(first.indices, first.abandon, false)
	if first.abandon { // a retry that fails too, as on a flaky network
		run(first.indices, true, false)
	}
	rng := mrand.New(mrand.NewChaCha8(seed))
	for _, op := range ops {
		if failed {
			return nil
		}
		if owed := cl.Owed(); len(owed) > 0 && leak != sessionNeverRepairs {
			// runtime/client's repair: a lookup-shaped batch of the owed
			// indices, padded with random ones.
			for len(owed) > 0 {
				k := min(3, len(owed))
				idx := append([]uint64(nil), owed[:k]...)
				for len(idx) < 3 {
					idx = append(idx, rng.Uint64N(p.N))
				}
				run(idx, false, true)
				owed = owed[k:]
			}
		}
		run(op.indices, op.abandon, true)
	}
	return hits
}

// sessionStat plays sessions of one world and returns the per-session
// statistic: hits of world A's first targets minus hits of world B's.
func sessionStat(t testing.TB, k OffsetKind, first sessionOp, a, b []uint64, leak sessionLeak, sessions int, seed uint64) []float64 {
	p := sessionParams(t, k)
	db := make([]byte, p.DBSize())
	mrand.NewChaCha8([32]byte{99}).Read(db[:p.N*8])
	srv, err := NewServer(p, db)
	if err != nil {
		t.Fatal(err)
	}
	watch := append(append([]uint64(nil), a...), b...)
	// The later lookups draw from a pool of 10 indices that holds one
	// first target of each world, so repeats and decoys happen.
	pool := []uint64{a[0], b[0], 5, 17, 22, 30, 41, 46, 53, 60}
	out := make([]float64, sessions)
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() { // sessions are independent: split them over the cores
			defer wg.Done()
			for s := w; s < sessions; s += workers {
				rng := mrand.New(mrand.NewPCG(seed, uint64(s)))
				var key [32]byte
				for i := range key {
					key[i] = byte(rng.Uint32())
				}
				ops := make([]sessionOp, 8)
				for i := range ops {
					ops[i].indices = []uint64{pool[rng.IntN(len(pool))], pool[rng.IntN(len(pool))], pool[rng.IntN(len(pool))]}
					ops[i].abandon = rng.IntN(4) == 0
				}
				h := sessionRun(t, p, db, srv, first, ops, watch, leak, key)
				d := 0
				for i := range a {
					d += h[i] - h[len(a)+i]
				}
				out[s] = float64(d)
			}
		}()
	}
	wg.Wait()
	return out
}

// welchZ is the two-sample z statistic of the means, and the smallest
// difference of means it would report at z = 5 (its power).
func welchZ(x, y []float64) (z, minDiff float64) {
	mean := func(v []float64) float64 {
		s := 0.0
		for _, e := range v {
			s += e
		}
		return s / float64(len(v))
	}
	variance := func(v []float64, m float64) float64 {
		s := 0.0
		for _, e := range v {
			s += (e - m) * (e - m)
		}
		return s / float64(len(v)-1)
	}
	mx, my := mean(x), mean(y)
	se := math.Sqrt(variance(x, mx)/float64(len(x)) + variance(y, my)/float64(len(y)))
	return math.Abs(mx-my) / se, 5 * se
}

// TestPrivacyAcrossSession: the two worlds are indistinguishable to the
// server over whole sessions, whether the first lookup was answered or
// abandoned after sending, while each deliberately broken client is
// flagged by the same statistic and threshold.
//
// Power (logged by each run): with 8000 sessions per world the standard
// error of the difference of the mean per-session statistic is about
// 0.06, so the test flags at z > 5 a shift of 0.3 hits per session. A
// session sends about 36 later queries, so that is a change of 0.008 in
// the summed per-query rate of the six watched offsets (each near 1/16),
// about 0.0014 per offset: 2% of its rate. The client before this test
// (first unused hint in preimage order, replacements only as a fallback,
// no repair) scored z = 6.4 (honest, first lookup answered).
func TestPrivacyAcrossSession(t *testing.T) {
	sessions := 8000
	if testing.Short() {
		sessions = 2000
	}
	a := []uint64{3, 20, 37}  // world A's first lookup: blocks 0, 1, 2
	b := []uint64{12, 29, 58} // world B's: blocks 0, 1, 3, other offsets
	for _, tc := range []struct {
		kind    OffsetKind
		leak    sessionLeak
		abandon bool // the first lookup is sent twice and never answered
		name    string
	}{
		{OffsetIPRF, sessionHonest, false, "honest"},
		{OffsetAESScan, sessionHonest, false, "honest"},
		{OffsetIPRF, sessionHonest, true, "honest, first lookup abandoned"},
		{OffsetIPRF, sessionNoRejoin, false, "replacements never rejoin"},
		{OffsetIPRF, sessionNeverRepairs, true, "abandoned lookups never repaired"},
	} {
		t.Run(fmt.Sprintf("%v/%s", tc.kind, tc.name), func(t *testing.T) {
			if testing.Short() && tc.leak != sessionHonest {
				t.Skip("-short: too few sessions to flag the broken clients")
			}
			wa := sessionStat(t, tc.kind, sessionOp{a, tc.abandon}, a, b, tc.leak, sessions, 1)
			wb := sessionStat(t, tc.kind, sessionOp{b, tc.abandon}, a, b, tc.leak, sessions, 2)
			if t.Failed() {
				return
			}
			z, minDiff := welchZ(wa, wb)
			t.Logf("z = %.2f over %d sessions per world; flags a shift of %.3f hits per session at z > 5", z, sessions, minDiff)
			if tc.leak == sessionHonest && z > 5 {
				t.Fatalf("later queries depend on the first lookup's targets: z = %.2f", z)
			}
			if tc.leak != sessionHonest && z <= 5 {
				t.Fatalf("broken client not detected: z = %.2f", z)
			}
		})
	}
}
