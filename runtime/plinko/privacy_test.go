package plinko

import (
	"bytes"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"testing"
)

// leakMode names the classic mistakes the privacy test must catch; the
// test applies them to honest queries (applyLeak).
type leakMode uint8

const (
	leakNone         leakMode = iota
	leakTargetOffset          // the target's offset in the dummy set
	leakFixedOrder            // the real set always sent first
)

// applyLeak breaks an honest query for target the way leak says.
func applyLeak(q *Query, leak leakMode, target uint64, p Params) {
	switch leak {
	case leakTargetOffset:
		q.Offsets[target/uint64(p.W)] = uint32(target % uint64(p.W))
	case leakFixedOrder:
		if q.pend.realSet1 {
			for i := range p.C {
				q.Mask[i>>3] ^= 1 << (i & 7)
			}
			q.pend.realSet1 = false
		}
	}
}

// serverView collects histograms of what the server sees for queries to a
// fixed target: the offsets sent for two blocks, the set bits of those two
// blocks, and the whole mask.
type serverView struct {
	off0, off1 []int
	bits       [4]int
	mask       []int
}

func collectView(t *testing.T, k OffsetKind, target uint64, leak leakMode, trials int, seed uint64) *serverView {
	p, err := NewParams(128, 8, WithBlockSize(16), WithLambda(64), WithBackups(4), WithOffsets(k))
	if err != nil {
		t.Fatal(err)
	}
	if p.C != 8 {
		t.Fatalf("C = %d", p.C)
	}
	db := make([]byte, p.DBSize())
	v := &serverView{off0: make([]int, p.W), off1: make([]int, p.W), mask: make([]int, 256)}
	rng := mrand.New(mrand.NewPCG(seed, 0))
	for range trials {
		var s [32]byte
		for i := range s {
			s[i] = byte(rng.Uint32())
		}
		cl, err := NewClient(p, seedReader{mrand.NewChaCha8(s)})
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.HintInit(bytes.NewReader(db), nil); err != nil {
			t.Fatal(err)
		}
		// One unrelated lookup first: its replacement joins the pool (at
		// these sizes it rarely covers the target; TestPrivacyAcrossSession
		// is the test of promoted hints and of whole sessions).
		q, err := cl.Query(rng.Uint64N(p.N))
		if err != nil {
			t.Fatal(err)
		}
		ans := &Answer{R0: make([]byte, 8), R1: make([]byte, 8)}
		if _, err := cl.Reconstruct(q, ans); err != nil {
			t.Fatal(err)
		}
		if q, err = cl.Query(target); err != nil {
			t.Fatal(err)
		}
		applyLeak(q, leak, target, p)
		wire, _ := q.MarshalBinary()
		seen, err := DecodeQuery(p, wire) // exactly the server's view
		if err != nil {
			t.Fatal(err)
		}
		v.off0[seen.Offsets[1]]++
		v.off1[seen.Offsets[6]]++
		b := 0
		if seen.InSet1(1) {
			b |= 1
		}
		if seen.InSet1(6) {
			b |= 2
		}
		v.bits[b]++
		v.mask[seen.Mask[0]]++
	}
	return v
}

// chiSquareZ compares two histograms of equal totals (two-sample
// chi-square) and returns the Wilson-Hilferty normal score of the statistic.
func chiSquareZ(h0, h1 []int) float64 {
	stat, df := 0.0, -1
	for i := range h0 {
		s := float64(h0[i] + h1[i])
		if s == 0 {
			continue
		}
		d := float64(h0[i] - h1[i])
		stat += d * d / s
		df++
	}
	if df < 1 {
		return 0
	}
	k := float64(df)
	return (math.Cbrt(stat/k) - (1 - 2/(9*k))) / math.Sqrt(2/(9*k))
}

// distinguish returns the largest z-score over the features.
func distinguish(a, b *serverView) (float64, string) {
	worst, name := math.Inf(-1), ""
	for _, f := range []struct {
		name   string
		h0, h1 []int
	}{
		{"offset of block 1", a.off0, b.off0},
		{"offset of block 6", a.off1, b.off1},
		{"sets of blocks 1 and 6", a.bits[:], b.bits[:]},
		{"mask", a.mask, b.mask},
	} {
		if z := chiSquareZ(f.h0, f.h1); z > worst {
			worst, name = z, f.name
		}
	}
	return worst, name
}

// TestPrivacyServerView: for two targets in different blocks (index 19 =
// block 1 offset 3, index 107 = block 6 offset 11) the server's views are
// statistically indistinguishable, while each deliberately leaking variant
// is flagged by the same test with the same threshold.
func TestPrivacyServerView(t *testing.T) {
	const trials, threshold = 2000, 5.0 // z > 5: p below 3e-7 per feature
	for _, k := range kinds {
		for _, tc := range []struct {
			leak leakMode
			name string
		}{{leakNone, "honest"}, {leakTargetOffset, "target offset in dummy set"}, {leakFixedOrder, "fixed set order"}} {
			t.Run(fmt.Sprintf("%v/%s", k, tc.name), func(t *testing.T) {
				a := collectView(t, k, 19, tc.leak, trials, 1)
				b := collectView(t, k, 107, tc.leak, trials, 2)
				z, feat := distinguish(a, b)
				t.Logf("largest z = %.2f (%s)", z, feat)
				if tc.leak == leakNone && z > threshold {
					t.Fatalf("server view depends on the target: z = %.2f on %s", z, feat)
				}
				if tc.leak != leakNone && z <= threshold {
					t.Fatalf("leaking variant not detected: z = %.2f", z)
				}
			})
		}
	}
}
